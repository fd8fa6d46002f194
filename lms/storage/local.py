"""Objects as files under one folder, served by the app through signed URLs.

Signed URLs are path-only (``/files/<key>?e=...&s=...``); the views in
:mod:`lms.storage.views` check them. Multipart uploads mimic S3: the browser
PUTs raw parts to ``/files-upload/<upload_id>/<n>`` and gets an MD5 ETag back.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode

from lms.config import Settings
from lms.storage.base import (
    InvalidKey,
    NotFound,
    PendingUpload,
    Storage,
    StorageError,
    StoredObject,
    UploadedPart,
    check_key,
)

CHUNK = 1024 * 1024
MAX_PART_SIZE = 128 * 1024 * 1024
MAX_PARTS = 10_000  # as on S3
UPLOADS_DIR = ".uploads"  # keys start with [a-z0-9], so this never clashes with an object
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
PART_FILE = re.compile(r"^(\d{5})-([0-9a-f]{32})\.part$")
SIGNATURE_PARAM = "s"


class BadSignature(StorageError):
    """A signed URL was tampered with, has expired or carries no signature."""


class PartTooLarge(StorageError):
    """A multipart part is larger than :attr:`LocalStorage.max_part_size`."""


@dataclass(frozen=True)
class Download:
    """What a verified download URL allows."""

    key: str
    expires: int
    filename: str | None
    inline: bool
    content_type: str | None


def _unquote_etag(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')


class LocalStorage(Storage):
    kind = "local"

    def __init__(self, root: Path, secret_key: str, default_ttl: int = 3600) -> None:
        self.root = Path(root).resolve()
        self.default_ttl = default_ttl
        self.max_part_size = MAX_PART_SIZE
        # A key of its own, so that a URL signature is useless for anything else.
        self._signing_key = hmac.new(
            secret_key.encode(), b"kenshu.storage.local-url.v1", hashlib.sha256
        ).digest()
        # On failure check() reports it; the app can still start and show /healthz.
        with contextlib.suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStorage:
        root = settings.storage_path or settings.instance_path / "storage"
        return cls(root, settings.secret_key, settings.signed_url_ttl)

    # -- paths -------------------------------------------------------------

    def path(self, key: str) -> Path:
        """The file for ``key``; raises :class:`InvalidKey` for anything outside the root."""
        check_key(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKey(f"invalid storage key {key!r}")
        return path

    def _upload_dir(self, upload_id: str) -> Path:
        if not UPLOAD_ID.fullmatch(upload_id):
            raise NotFound(f"no multipart upload {upload_id!r}")
        return self.root / UPLOADS_DIR / upload_id

    def _upload_meta(self, upload_id: str, key: str | None = None) -> dict[str, str]:
        folder = self._upload_dir(upload_id)
        try:
            meta = json.loads((folder / "upload.json").read_text())
        except FileNotFoundError:
            raise NotFound(f"no multipart upload {upload_id!r}") from None
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read multipart upload {upload_id}: {exc}") from exc
        if key is not None and meta.get("key") != key:
            raise NotFound(f"multipart upload {upload_id!r} is not for key {key!r}")
        return meta

    # -- whole objects -----------------------------------------------------

    def _write(
        self, target: Path, chunks: Iterable[bytes], limit: int | None = None
    ) -> tuple[int, str, str]:
        """Stream to a temp file next to ``target`` and rename it into place.

        Returns size, SHA-256 and MD5; a reader never sees a half-written file.
        """
        sha256, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=target.parent)
        except OSError as exc:
            raise StorageError(f"cannot write to {target.parent}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as tmp:
                for chunk in chunks:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise PartTooLarge(f"more than {limit} bytes")
                    sha256.update(chunk)
                    md5.update(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, target)
        except BaseException as exc:
            Path(tmp_name).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise StorageError(f"cannot write {target.name}: {exc}") from exc
            raise
        return size, sha256.hexdigest(), md5.hexdigest()

    def put(self, key: str, fileobj: BinaryIO, content_type: str | None = None) -> StoredObject:
        size, sha256, _ = self._write(self.path(key), iter(lambda: fileobj.read(CHUNK), b""))
        return StoredObject(key=key, size=size, sha256=sha256)

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object {key!r}") from None
        except OSError as exc:
            raise StorageError(f"cannot open {key!r}: {exc}") from exc

    def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r}: {exc}") from exc
        # Keys look like prefix/<random>/name: the random folder belongs to this key alone.
        if path.parent.parent != self.root and path.parent != self.root:
            with contextlib.suppress(OSError):  # not empty or already gone
                path.parent.rmdir()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no object {key!r}") from None

    # -- signed URLs -------------------------------------------------------

    def _signature(self, path: str, params: Iterable[tuple[str, str]]) -> str:
        # Canonical form: every parameter but the signature, sorted, URL-encoded.
        message = path + "?" + urlencode(sorted(p for p in params if p[0] != SIGNATURE_PARAM))
        digest = hmac.new(self._signing_key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _signed(self, path: str, params: list[tuple[str, str]], expires_in: int | None) -> str:
        ttl = self.default_ttl if expires_in is None else expires_in
        params = [("e", str(int(time.time()) + max(ttl, 1))), *params]
        params.append((SIGNATURE_PARAM, self._signature(path, params)))
        return f"{path}?{urlencode(params)}"

    def _verify(self, path: str, params: Iterable[tuple[str, str]]) -> dict[str, str]:
        pairs = list(params)
        given = [value for name, value in pairs if name == SIGNATURE_PARAM]
        if len(given) != 1:
            raise BadSignature("missing signature")
        if not hmac.compare_digest(given[0].encode(), self._signature(path, pairs).encode()):
            raise BadSignature("bad signature")
        values = dict(pairs)
        if len(values) != len(pairs):
            raise BadSignature("repeated parameter")
        try:
            expires = int(values.get("e", ""))
        except ValueError:
            raise BadSignature("bad expiry") from None
        if expires < time.time():
            raise BadSignature("expired")
        return values

    @staticmethod
    def download_path(key: str) -> str:
        return f"/files/{key}"

    @staticmethod
    def part_path(upload_id: str, part_number: int) -> str:
        return f"/files-upload/{upload_id}/{part_number}"

    def url(
        self,
        key: str,
        *,
        expires_in: int | None = None,
        filename: str | None = None,
        inline: bool = True,
        content_type: str | None = None,
    ) -> str:
        check_key(key)
        params: list[tuple[str, str]] = []
        if filename:
            params.append(("fn", filename))
        if not inline:
            params.append(("dl", "1"))
        if content_type:
            params.append(("ct", content_type))
        return self._signed(self.download_path(key), params, expires_in)

    def verify_download(self, key: str, params: Iterable[tuple[str, str]]) -> Download:
        """Check a ``/files/<key>`` URL's query; raises :class:`BadSignature`."""
        values = self._verify(self.download_path(key), params)
        return Download(
            key=key,
            expires=int(values["e"]),
            filename=values.get("fn") or None,
            inline=values.get("dl") != "1",
            content_type=values.get("ct") or None,
        )

    # -- multipart ---------------------------------------------------------

    def start_multipart(self, key: str, content_type: str | None = None) -> str:
        self.path(key)
        upload_id = secrets.token_hex(16)
        folder = self._upload_dir(upload_id)
        meta = {"key": key, "content_type": content_type or "", "created": int(time.time())}
        try:
            folder.mkdir(parents=True)
            (folder / "upload.json").write_text(json.dumps(meta))
        except OSError as exc:
            raise StorageError(f"cannot start a multipart upload: {exc}") from exc
        return upload_id

    def part_url(
        self, key: str, upload_id: str, part_number: int, *, expires_in: int | None = None
    ) -> str:
        self._upload_meta(upload_id, key)
        if not 1 <= part_number <= MAX_PARTS:
            raise StorageError(f"part number must be between 1 and {MAX_PARTS}")
        return self._signed(self.part_path(upload_id, part_number), [], expires_in)

    def verify_part(
        self, upload_id: str, part_number: int, params: Iterable[tuple[str, str]]
    ) -> None:
        """Check a ``/files-upload/...`` URL's query; raises :class:`BadSignature`."""
        self._verify(self.part_path(upload_id, part_number), params)

    def write_part(
        self, upload_id: str, part_number: int, stream: BinaryIO, limit: int | None = None
    ) -> UploadedPart:
        """Store one part (replacing an earlier try); its ETag is the quoted MD5, as on S3."""
        if not 1 <= part_number <= MAX_PARTS:
            raise NotFound(f"no part {part_number}")
        self._upload_meta(upload_id)
        folder = self._upload_dir(upload_id)
        limit = self.max_part_size if limit is None else limit
        # Receive under a temporary name first: the MD5 is only known at the end.
        staging = folder / f"{part_number:05d}.receiving-{secrets.token_hex(4)}"
        _, _, md5 = self._write(staging, iter(lambda: stream.read(CHUNK), b""), limit)
        final = folder / f"{part_number:05d}-{md5}.part"
        try:
            os.replace(staging, final)
            for old in folder.glob(f"{part_number:05d}-*.part"):
                if old != final:
                    old.unlink(missing_ok=True)
        except FileNotFoundError:
            raise NotFound(f"multipart upload {upload_id!r} was aborted") from None
        except OSError as exc:
            raise StorageError(f"cannot store part {part_number}: {exc}") from exc
        return UploadedPart(part_number=part_number, etag=f'"{md5}"')

    def _part_files(self, upload_id: str) -> dict[int, tuple[str, Path]]:
        found: dict[int, tuple[str, Path]] = {}
        try:
            listing = [(p.stat().st_mtime, p) for p in self._upload_dir(upload_id).iterdir()]
        except FileNotFoundError:
            raise NotFound(f"multipart upload {upload_id!r} was aborted") from None
        for _, path in sorted(listing):
            match = PART_FILE.fullmatch(path.name)
            if match:  # the newest file wins if a retry raced an older one
                found[int(match[1])] = (match[2], path)
        return found

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        self._upload_meta(upload_id, key)
        return [
            UploadedPart(part_number=number, etag=f'"{md5}"')
            for number, (md5, _) in sorted(self._part_files(upload_id).items())
        ]

    def complete_multipart(
        self, key: str, upload_id: str, parts: list[UploadedPart]
    ) -> StoredObject:
        self._upload_meta(upload_id, key)
        if not parts:
            raise StorageError("a multipart upload needs at least one part")
        ordered = sorted(parts, key=lambda p: p.part_number)
        if len({p.part_number for p in ordered}) != len(ordered):
            raise StorageError("a part number is listed twice")
        available = self._part_files(upload_id)
        files: list[Path] = []
        for part in ordered:
            md5, path = available.get(part.part_number, ("", None))
            if path is None or _unquote_etag(part.etag) != md5:
                raise StorageError(f"part {part.part_number} is missing or has another ETag")
            files.append(path)

        def chunks() -> Iterable[bytes]:
            for path in files:
                with path.open("rb") as part_file:
                    yield from iter(lambda f=part_file: f.read(CHUNK), b"")

        size, sha256, _ = self._write(self.path(key), chunks())
        shutil.rmtree(self._upload_dir(upload_id), ignore_errors=True)
        return StoredObject(key=key, size=size, sha256=sha256)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self._upload_meta(upload_id, key)
        except NotFound:
            return
        shutil.rmtree(self._upload_dir(upload_id), ignore_errors=True)

    def list_uploads(self, started_before: datetime) -> list[PendingUpload]:
        """Upload folders started before ``started_before``, with their newest file's time.

        A folder whose ``upload.json`` is missing or unreadable (a crash while starting
        or aborting) is listed with an empty key and its folder's time as its start.
        """
        found: list[PendingUpload] = []
        try:
            folders = [
                f for f in (self.root / UPLOADS_DIR).iterdir() if UPLOAD_ID.fullmatch(f.name)
            ]
        except FileNotFoundError:
            return found
        except OSError as exc:
            raise StorageError(f"cannot list the multipart uploads: {exc}") from exc
        for folder in folders:
            try:
                times = [folder.stat().st_mtime]
                times += [child.stat().st_mtime for child in folder.iterdir()]
            except FileNotFoundError:  # finished or aborted meanwhile
                continue
            except OSError as exc:
                raise StorageError(f"cannot read multipart upload {folder.name}: {exc}") from exc
            try:
                meta = json.loads((folder / "upload.json").read_text())
                key, started = str(meta.get("key") or ""), float(meta["created"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                key, started = "", times[0]
            if started >= started_before.timestamp():
                continue
            found.append(
                PendingUpload(
                    key=key,
                    upload_id=folder.name,
                    started=datetime.fromtimestamp(started, UTC),
                    last_activity=datetime.fromtimestamp(max(started, *times), UTC),
                )
            )
        return found

    def discard_upload(self, upload: PendingUpload) -> None:
        # By id alone: a folder that lost its upload.json has no key to check against.
        shutil.rmtree(self._upload_dir(upload.upload_id), ignore_errors=True)

    # -- health ------------------------------------------------------------

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root, prefix=".check-"):
                pass
        except OSError as exc:
            raise StorageError(f"storage folder {self.root} is not writable: {exc}") from exc
