"""Uploaded media: the original object, its renditions and its captions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db import Base, utcnow


class MediaKind(StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    DOCUMENT = "document"  # a PDF handout


class MediaStatus(StrEnum):
    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class MediaAsset(Base):
    __tablename__ = "media_assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    # The lesson this file was uploaded for. It becomes the lesson's media (lessons.media_id)
    # only once it is READY, so a replacement never takes the working file away before then.
    # No foreign key on purpose: lessons.media_id already links the two tables, and a second
    # path would make Lesson.media ambiguous; lessons are archived, never deleted, and the
    # course's cascade removes both.
    lesson_id: Mapped[int | None] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(400), unique=True)  # the original, kept
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=MediaStatus.UPLOADING)
    progress: Mapped[float] = mapped_column(default=0.0)  # 0..1 while processing
    error: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    poster_key: Mapped[str | None] = mapped_column(String(400))
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # codecs, bit rate, pages
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="Rendition.bitrate"
    )
    captions: Mapped[list[Caption]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="Caption.language"
    )
    upload: Mapped[MediaUpload | None] = relationship(
        back_populates="asset", cascade="all, delete-orphan"
    )


class MediaUpload(Base):
    """An unfinished multipart upload, kept so that a reload can resume it."""

    __tablename__ = "media_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(
        ForeignKey("media_assets.id", ondelete="CASCADE"), unique=True
    )
    upload_id: Mapped[str] = mapped_column(String(400))
    part_size: Mapped[int] = mapped_column(BigInteger)
    total_size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    asset: Mapped[MediaAsset] = relationship(back_populates="upload")


class Rendition(Base):
    __tablename__ = "media_renditions"
    __table_args__ = (UniqueConstraint("asset_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("media_assets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(20))  # 240p, 360p, 720p, audio
    key: Mapped[str] = mapped_column(String(400), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    bitrate: Mapped[int] = mapped_column(default=0)  # bits per second, for picking one

    asset: Mapped[MediaAsset] = relationship(back_populates="renditions")


class Caption(Base):
    __tablename__ = "media_captions"
    __table_args__ = (UniqueConstraint("asset_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("media_assets.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(400), unique=True)  # stored as WebVTT
    cue_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    asset: Mapped[MediaAsset] = relationship(back_populates="captions")
