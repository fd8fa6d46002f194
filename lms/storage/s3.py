"""Objects in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, ...).

Browsers download and upload parts straight from and to the bucket with
presigned URLs; the app never proxies the bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import unicodedata
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import quote

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

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
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the SigV4 limit
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def content_disposition(filename: str, inline: bool) -> str:
    """``inline``/``attachment`` with an ASCII fallback and an RFC 5987 UTF-8 name."""
    kind = "inline" if inline else "attachment"
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = "".join(c for c in ascii_name if c.isprintable() and c not in '"\\') or "download"
    value = f'{kind}; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


class _HashingReader:
    """Counts and hashes the bytes boto3 reads, so an upload needs a single pass."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._fileobj = fileobj
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fileobj.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


class S3Storage(Storage):
    kind = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        default_ttl: int = 3600,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.default_ttl = default_ttl
        config = Config(
            signature_version="s3v4",
            # Path-style works with SeaweedFS, MinIO and AWS alike, without wildcard DNS.
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            # Newer boto3 adds CRC checksums by default, which several S3 look-alikes reject.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )
        self._transfer = TransferConfig(
            multipart_threshold=16 * CHUNK, multipart_chunksize=16 * CHUNK
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        if not settings.s3_bucket:
            raise StorageError("LMS_STORAGE=s3 needs LMS_S3_BUCKET")
        return cls(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            default_ttl=settings.signed_url_ttl,
        )

    # -- errors ------------------------------------------------------------

    def _error(self, exc: Exception, action: str) -> StorageError:
        where = self.endpoint_url or "AWS S3"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = error.get("Message") or code
            if code in NOT_FOUND_CODES:
                return NotFound(f"{action}: not found ({message})")
            return StorageError(f"{action} failed on {where}, bucket {self.bucket}: {message}")
        return StorageError(f"{action} failed: cannot reach {where}: {exc}")

    def _call(self, action: str, method: str, **params: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, action) from exc

    def _presign(self, method: str, params: dict[str, Any], expires_in: int | None) -> str:
        ttl = self.default_ttl if expires_in is None else expires_in
        try:
            return self.client.generate_presigned_url(
                method,
                Params={"Bucket": self.bucket, **params},
                ExpiresIn=min(max(ttl, 1), MAX_PRESIGN_SECONDS),
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "signing a URL") from exc

    # -- whole objects -----------------------------------------------------

    def put(self, key: str, fileobj: BinaryIO, content_type: str | None = None) -> StoredObject:
        check_key(key)
        reader = _HashingReader(fileobj)
        extra = {"ContentType": content_type} if content_type else {}
        try:
            self.client.upload_fileobj(
                reader, self.bucket, key, ExtraArgs=extra, Config=self._transfer
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, f"uploading {key}") from exc
        except S3UploadFailedError as exc:  # s3transfer's wrapper around a ClientError
            raise StorageError(f"uploading {key} failed: {exc}") from exc
        return StoredObject(key=key, size=reader.size, sha256=reader.sha256.hexdigest())

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        return self._call(f"reading {key}", "get_object", Key=key)["Body"]

    def delete(self, key: str) -> None:
        check_key(key)
        self._call(f"deleting {key}", "delete_object", Key=key)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotFound:
            return False
        return True

    def size(self, key: str) -> int:
        check_key(key)
        return int(self._call(f"reading {key}", "head_object", Key=key)["ContentLength"])

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
        params: dict[str, Any] = {"Key": key}
        if filename or not inline:
            name = filename or posixpath.basename(key)
            params["ResponseContentDisposition"] = content_disposition(name, inline)
        if content_type:
            params["ResponseContentType"] = content_type
        return self._presign("get_object", params, expires_in)

    # -- multipart ---------------------------------------------------------

    def start_multipart(self, key: str, content_type: str | None = None) -> str:
        check_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        result = self._call(
            f"starting an upload of {key}", "create_multipart_upload", Key=key, **extra
        )
        return str(result["UploadId"])

    def part_url(
        self, key: str, upload_id: str, part_number: int, *, expires_in: int | None = None
    ) -> str:
        check_key(key)
        params = {"Key": key, "UploadId": upload_id, "PartNumber": part_number}
        return self._presign("upload_part", params, expires_in)

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        check_key(key)
        listed = self._raw_parts(key, upload_id)
        # SeaweedFS lists every attempt at a re-sent part; AWS keeps only the last one.
        newest: dict[int, dict[str, Any]] = {}
        for part in sorted(listed, key=lambda p: p.get("LastModified") or 0):
            newest[int(part["PartNumber"])] = part
        return [
            UploadedPart(part_number=number, etag=str(part["ETag"]))
            for number, part in sorted(newest.items())
        ]

    def complete_multipart(
        self, key: str, upload_id: str, parts: list[UploadedPart]
    ) -> StoredObject:
        check_key(key)
        if not parts:
            raise StorageError("a multipart upload needs at least one part")
        ordered = sorted(parts, key=lambda p: p.part_number)
        self._call(
            f"completing the upload of {key}",
            "complete_multipart_upload",
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": p.part_number, "ETag": p.etag} for p in ordered]
            },
        )
        # S3 knows no SHA-256 of a multipart object, and reading gigabytes back here would
        # hold the request for minutes: the processing job computes it as it downloads.
        return StoredObject(key=key, size=self.size(key), sha256=None)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        check_key(key)
        with contextlib.suppress(NotFound):  # already aborted or completed
            self._call(
                f"aborting the upload of {key}",
                "abort_multipart_upload",
                Key=key,
                UploadId=upload_id,
            )

    def list_uploads(self, started_before: datetime) -> list[PendingUpload]:
        """Incomplete multipart uploads initiated before ``started_before``.

        S3 gives only the start time; the newest part's time comes from listing the
        parts of those old enough to matter. Keys this app would never have made
        (another user of the bucket) are left out.
        """
        found: list[PendingUpload] = []
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket)
            uploads = [item for page in pages for item in page.get("Uploads", [])]
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "listing the multipart uploads") from exc
        for item in uploads:
            if item.get("Initiated") is None:  # an unknown age is never stale
                continue
            key, upload_id = str(item.get("Key", "")), str(item.get("UploadId", ""))
            started = _aware(item["Initiated"])
            if started >= started_before:
                continue
            try:
                check_key(key)
                parts = self._raw_parts(key, upload_id)
            except (InvalidKey, NotFound):  # not ours; or finished or aborted meanwhile
                continue
            times = [_aware(p["LastModified"]) for p in parts if p.get("LastModified")]
            found.append(PendingUpload(key, upload_id, started, max([started, *times])))
        return found

    def _raw_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = []
        try:
            pages = self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            )
            for page in pages:
                listed.extend(page.get("Parts", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, f"listing the parts of {key}") from exc
        return listed

    # -- health ------------------------------------------------------------

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            where = self.endpoint_url or "AWS S3"
            if status == 404:
                raise StorageError(f"bucket {self.bucket!r} does not exist on {where}") from exc
            if status == 403:
                raise StorageError(
                    f"access to bucket {self.bucket!r} on {where} is denied: "
                    "check LMS_S3_ACCESS_KEY and LMS_S3_SECRET_KEY"
                ) from exc
            raise self._error(exc, "checking the bucket") from exc
        except BotoCoreError as exc:
            raise self._error(exc, "checking the bucket") from exc
