"""The PDF certificate of a completion record, and where its build stands.

One row per record (a reissued record is a new record, so it gets a certificate of its
own). ``token`` changes at every build request: a job finishing for an older request
finds a different token and leaves the row alone, so two builds racing never leave an
older PDF in place of a newer one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db import Base, utcnow


class CertificateStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class CertificateError(StrEnum):
    """Why a build failed; the message shown is chosen by the code (lms.certificates.services)."""

    MISSING_GLYPHS = "missing_glyphs"
    STORAGE = "storage"
    SERVER = "server"


class Certificate(Base):
    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("completion_records.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(20), default=CertificateStatus.PENDING)
    token: Mapped[str] = mapped_column(String(32))
    # The PDF in object storage (a key from lms.storage.new_key), once built.
    key: Mapped[str | None] = mapped_column(String(400))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16), default="en")
    error_code: Mapped[str | None] = mapped_column(String(40))
    # What the message names (the characters no font has); never a stack trace.
    error_detail: Mapped[str] = mapped_column(String(200), default="")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    built_at: Mapped[datetime | None]

    record: Mapped[CompletionRecord] = relationship()  # noqa: F821


from lms.credentials.models import CompletionRecord  # noqa: E402,F401
