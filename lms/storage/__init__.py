"""Object storage: a local folder (default) or any S3-compatible store."""

from __future__ import annotations

from flask import Flask, current_app

from lms.config import Settings
from lms.storage.base import (
    InvalidKey,
    NotFound,
    PendingUpload,
    Storage,
    StorageError,
    StoredObject,
    UploadedPart,
    new_key,
)

__all__ = [
    "InvalidKey",
    "NotFound",
    "PendingUpload",
    "Storage",
    "StorageError",
    "StoredObject",
    "UploadedPart",
    "get_storage",
    "init_app",
    "make_storage",
    "new_key",
]


def make_storage(settings: Settings) -> Storage:
    if settings.storage == "s3":
        from lms.storage.s3 import S3Storage  # noqa: PLC0415

        return S3Storage.from_settings(settings)
    from lms.storage.local import LocalStorage  # noqa: PLC0415

    return LocalStorage.from_settings(settings)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["lms.storage"] = make_storage(settings)


def get_storage(app: Flask | None = None) -> Storage:
    return (app or current_app).extensions["lms.storage"]
