"""One suite, both back-ends: every ``storage``/``live`` test runs on local and on S3."""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from lms import create_app
from lms.config import load_settings
from lms.storage import Storage, StorageError, UploadedPart, new_key
from lms.storage.base import InvalidKey, NotFound, check_key
from lms.storage.local import LocalStorage
from lms.storage.s3 import S3Storage, content_disposition
from tests.storage.conftest import LiveApp, Weed, app_overrides, free_ports

MiB = 1024 * 1024
BODY = bytes(range(256)) * 40  # 10 KiB, every byte value
BAD_KEYS = ["../etc/passwd", "/etc/passwd", "", "media/../../etc/passwd", "media\\x", "a//b"]


def put(storage: Storage, data: bytes = BODY, filename: str = "notes.bin") -> str:
    key = new_key("test", filename)
    storage.put(key, io.BytesIO(data), "application/octet-stream")
    return key


def with_query(url: str, **changes: str | None) -> str:
    """The URL with some query parameters replaced (or removed when None)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def flip(text: str) -> str:
    """The same string with its last character changed."""
    return text[:-1] + ("A" if text[-1] != "A" else "B")


def signature_param(storage: Storage) -> str:
    return "s" if isinstance(storage, LocalStorage) else "X-Amz-Signature"


def unsigned_statuses(storage: Storage) -> tuple[int, ...]:
    # S3 answers 400 (malformed authorisation) to a presigned URL stripped of its signature.
    return (403,) if isinstance(storage, LocalStorage) else (400, 403)


# -- whole objects ---------------------------------------------------------


def test_put_returns_size_and_sha256(storage: Storage) -> None:
    key = new_key("media", "lecture.mp4")
    stored = storage.put(key, io.BytesIO(BODY), "video/mp4")
    assert stored.key == key
    assert stored.size == len(BODY)
    assert stored.sha256 == hashlib.sha256(BODY).hexdigest()

    empty = storage.put(new_key("media", "empty.txt"), io.BytesIO(b""))
    assert (empty.size, empty.sha256) == (0, hashlib.sha256(b"").hexdigest())


def test_put_large_stream(storage: Storage) -> None:
    # Bigger than the S3 multipart threshold, so boto3 uploads it in parts.
    data = os.urandom(17 * MiB)
    stored = storage.put(new_key("media", "big.bin"), io.BytesIO(data))
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()


def test_open_exists_size_delete(storage: Storage) -> None:
    key = put(storage)
    assert storage.exists(key)
    assert storage.size(key) == len(BODY)
    with storage.open(key) as handle:
        assert handle.read() == BODY

    storage.delete(key)
    assert not storage.exists(key)
    with pytest.raises(NotFound):
        storage.size(key)
    with pytest.raises(NotFound):
        storage.open(key)
    storage.delete(key)  # deleting a missing object is fine


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_rejected(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidKey):
        storage.put(key, io.BytesIO(b"x"))
    for call in (storage.open, storage.exists, storage.size, storage.delete, storage.url):
        with pytest.raises(InvalidKey):
            call(key)
    with pytest.raises(InvalidKey):
        storage.start_multipart(key)


@pytest.mark.parametrize(
    "filename",
    ["../../etc/passwd", "/etc/passwd", "C:\\Windows\\evil.exe", "..", ".hidden", "日本語.pdf", ""],
)
def test_new_key_takes_no_path_from_filename(filename: str) -> None:
    key = new_key("media", filename)
    assert check_key(key) == key
    prefix, token, name = key.split("/")
    assert prefix == "media" and len(token) == 32
    assert name not in ("", ".", "..") and "/" not in name and "\\" not in name
    assert new_key("media", filename) != key  # unguessable: fresh every time


def test_local_root_confinement(tmp_path: Path) -> None:
    settings = load_settings({"LMS_INSTANCE_PATH": str(tmp_path), "LMS_SECRET_KEY": "k"})
    storage = LocalStorage.from_settings(settings)
    assert storage.root == tmp_path / "storage" and storage.root.is_dir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (storage.root / "media").symlink_to(outside)  # a link planted inside the root
    with pytest.raises(InvalidKey):
        storage.put("media/abc/x.txt", io.BytesIO(b"x"))
    assert not any(outside.iterdir())


# -- signed download URLs --------------------------------------------------


def test_signed_url_full_body(live: LiveApp) -> None:
    key = put(live.storage)
    response = requests.get(live.absolute(live.storage.url(key)), timeout=10)
    assert response.status_code == 200
    assert response.content == BODY
    assert response.headers["Content-Length"] == str(len(BODY))


def test_range_request(live: LiveApp) -> None:
    url = live.absolute(live.storage.url(put(live.storage)))
    response = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10)
    assert response.status_code == 206
    assert response.content == BODY[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(BODY)}"

    tail = requests.get(url, headers={"Range": "bytes=-5"}, timeout=10)
    assert (tail.status_code, tail.content) == (206, BODY[-5:])


def test_unsatisfiable_range(live: LiveApp) -> None:
    url = live.absolute(live.storage.url(put(live.storage)))
    response = requests.get(url, headers={"Range": f"bytes={len(BODY) + 10}-"}, timeout=10)
    assert response.status_code == 416


def test_etag_and_conditional_get(live: LiveApp) -> None:
    url = live.absolute(live.storage.url(put(live.storage)))
    first = requests.get(url, timeout=10)
    etag = first.headers.get("ETag")
    assert etag
    if isinstance(live.storage, LocalStorage):
        again = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
        assert again.status_code == 304 and again.content == b""
        since = first.headers["Last-Modified"]
        again = requests.get(url, headers={"If-Modified-Since": since}, timeout=10)
        assert again.status_code == 304
        assert "private" in first.headers["Cache-Control"]


# Local back-end only: an S3 presigned GET URL is signed for GET only.
@pytest.mark.parametrize("live", ["local"], indirect=True)
def test_head_request(live: LiveApp) -> None:
    url = live.absolute(live.storage.url(put(live.storage)))
    response = requests.head(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(BODY))
    assert response.content == b""


def test_content_disposition_and_type(live: LiveApp) -> None:
    key = put(live.storage)
    url = live.storage.url(
        key, filename="Week 1 – 日本語.pdf", inline=False, content_type="application/pdf"
    )
    response = requests.get(live.absolute(url), timeout=10)
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "filename*=UTF-8''Week%201%20%E2%80%93%20%E6%97%A5%E6%9C%AC%E8%AA%9E.pdf" in disposition
    assert 'filename="Week 1' in disposition  # the ASCII fallback for old clients
    assert response.headers["Content-Type"].startswith("application/pdf")

    inline = requests.get(live.absolute(live.storage.url(key, filename="a.txt")), timeout=10)
    assert inline.headers["Content-Disposition"].startswith("inline")
    assert re.search(r'filename="?a\.txt"?(;|$)', inline.headers["Content-Disposition"])


def test_content_disposition_helper() -> None:
    assert content_disposition("a.pdf", inline=True) == 'inline; filename="a.pdf"'
    value = content_disposition('é "x".pdf', inline=False)
    assert value == "attachment; filename=\"e x.pdf\"; filename*=UTF-8''%C3%A9%20%22x%22.pdf"


def test_expired_url_forbidden(live: LiveApp) -> None:
    url = live.absolute(live.storage.url(put(live.storage), expires_in=1))
    time.sleep(2.1)
    assert requests.get(url, timeout=10).status_code == 403


# Local back-end only: local signing only.
@pytest.mark.parametrize("live", ["local"], indirect=True)
def test_local_expiry_is_signed(live: LiveApp) -> None:
    url = live.absolute(live.storage.url(put(live.storage)))
    past = with_query(url, e=str(int(time.time()) - 10))
    assert requests.get(past, timeout=10).status_code == 403
    later = with_query(url, e=str(int(time.time()) + 99999))  # extending it breaks the signature
    assert requests.get(later, timeout=10).status_code == 403


def test_tampered_url_forbidden(live: LiveApp) -> None:
    key = put(live.storage)
    other = put(live.storage)
    url = live.absolute(live.storage.url(key, filename="a.txt"))
    sig = signature_param(live.storage)
    signature = dict(parse_qsl(urlsplit(url).query))[sig]

    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(with_query(url, **{sig: flip(signature)}), timeout=10).status_code == 403
    unsigned = requests.get(with_query(url, **{sig: None}), timeout=10)
    assert unsigned.status_code in unsigned_statuses(live.storage)
    # The same signature on another object's key, or with another key character.
    assert requests.get(url.replace(key, other), timeout=10).status_code == 403
    assert requests.get(url.replace(key, flip(key)), timeout=10).status_code == 403
    if isinstance(live.storage, LocalStorage):
        # The download name and disposition are covered by the signature too.
        assert requests.get(with_query(url, fn="evil.html"), timeout=10).status_code == 403
        assert requests.get(with_query(url, dl="1"), timeout=10).status_code == 403
        assert requests.get(with_query(url, ct="text/html"), timeout=10).status_code == 403


# Local back-end only: S3 answers 404 itself.
@pytest.mark.parametrize("live", ["local"], indirect=True)
def test_missing_object_is_404(live: LiveApp) -> None:
    url = live.absolute(live.storage.url(new_key("test", "gone.txt")))
    assert requests.get(url, timeout=10).status_code == 404


# -- multipart uploads -----------------------------------------------------


def upload_parts(live: LiveApp, key: str, upload_id: str, parts: dict[int, bytes]) -> list[str]:
    etags = []
    for number, data in parts.items():
        url = live.absolute(live.storage.part_url(key, upload_id, number))
        response = requests.put(url, data=data, timeout=30)
        assert response.status_code == 200, response.text
        etags.append(response.headers["ETag"])
    return etags


def test_multipart_upload_and_resume(live: LiveApp) -> None:
    storage = live.storage
    first, second, last = os.urandom(5 * MiB), os.urandom(5 * MiB), b"the end"
    key = new_key("media", "lecture.mp4")
    upload_id = storage.start_multipart(key, "video/mp4")
    assert storage.list_parts(key, upload_id) == []

    etags = upload_parts(live, key, upload_id, {1: first, 2: second})
    assert etags[0] == f'"{hashlib.md5(first).hexdigest()}"'  # noqa: S324 - S3's ETag

    # Resume: the client lost its state and asks which parts arrived.
    listed = storage.list_parts(key, upload_id)
    assert [(p.part_number, p.etag) for p in listed] == [(1, etags[0]), (2, etags[1])]
    etags += upload_parts(live, key, upload_id, {3: last})

    # Out of order on purpose: the parts are assembled by number.
    parts = [UploadedPart(3, etags[2]), UploadedPart(1, etags[0]), UploadedPart(2, etags[1])]
    stored = storage.complete_multipart(key, upload_id, parts)
    body = first + second + last
    assert stored.size == len(body)
    # On S3 the checksum is left to the media job: reading the object back is too slow.
    expected = None if storage.kind == "s3" else hashlib.sha256(body).hexdigest()
    assert stored.sha256 == expected
    assert storage.size(key) == len(body)
    url = live.absolute(storage.url(key))
    response = requests.get(url, headers={"Range": f"bytes={5 * MiB}-{5 * MiB + 9}"}, timeout=10)
    assert response.content == second[:10]


def test_multipart_reupload_replaces_part(live: LiveApp) -> None:
    storage = live.storage
    key = new_key("media", "x.bin")
    upload_id = storage.start_multipart(key)
    upload_parts(live, key, upload_id, {1: b"first try"})
    if not isinstance(storage, LocalStorage):
        time.sleep(1.1)  # SeaweedFS keeps both tries; only a later LastModified tells them apart
    (etag,) = upload_parts(live, key, upload_id, {1: b"second try"})
    assert [p.etag for p in storage.list_parts(key, upload_id)] == [etag]
    stored = storage.complete_multipart(key, upload_id, [UploadedPart(1, etag)])
    with storage.open(key) as handle:
        assert handle.read() == b"second try"
    assert stored.size == len(b"second try")


def test_multipart_wrong_etag_rejected(live: LiveApp) -> None:
    storage = live.storage
    key = new_key("media", "x.bin")
    upload_id = storage.start_multipart(key)
    upload_parts(live, key, upload_id, {1: b"abc"})
    with pytest.raises(StorageError):
        storage.complete_multipart(key, upload_id, [UploadedPart(1, '"' + "0" * 32 + '"')])
    with pytest.raises(StorageError):
        storage.complete_multipart(key, upload_id, [])
    storage.abort_multipart(key, upload_id)


def test_multipart_abort(live: LiveApp) -> None:
    storage = live.storage
    key = new_key("media", "x.bin")
    upload_id = storage.start_multipart(key)
    part_url = live.absolute(storage.part_url(key, upload_id, 1))
    upload_parts(live, key, upload_id, {1: b"abc"})
    storage.abort_multipart(key, upload_id)

    with pytest.raises(NotFound):
        storage.list_parts(key, upload_id)
    assert requests.put(part_url, data=b"late", timeout=10).status_code == 404
    assert not storage.exists(key)
    storage.abort_multipart(key, upload_id)  # aborting twice is fine
    if isinstance(storage, LocalStorage):
        assert not (storage.root / ".uploads" / upload_id).exists()


def test_part_url_tampering_forbidden(live: LiveApp) -> None:
    storage = live.storage
    key = new_key("media", "x.bin")
    upload_id = storage.start_multipart(key)
    url = live.absolute(storage.part_url(key, upload_id, 1))
    sig = signature_param(storage)
    signature = dict(parse_qsl(urlsplit(url).query))[sig]
    tampered = with_query(url, **{sig: flip(signature)})
    assert requests.put(tampered, data=b"x", timeout=10).status_code == 403
    unsigned = requests.put(with_query(url, **{sig: None}), data=b"x", timeout=10)
    assert unsigned.status_code in unsigned_statuses(storage)
    if isinstance(storage, LocalStorage):
        other_part = url.replace(f"/{upload_id}/1?", f"/{upload_id}/2?")
        assert requests.put(other_part, data=b"x", timeout=10).status_code == 403
    assert storage.list_parts(key, upload_id) == []
    storage.abort_multipart(key, upload_id)


# Local back-end only: local back-end only.
@pytest.mark.parametrize("live", ["local"], indirect=True)
def test_local_part_size_cap(live: LiveApp) -> None:
    storage = live.storage
    storage.max_part_size = 1024
    key = new_key("media", "x.bin")
    upload_id = storage.start_multipart(key)
    url = live.absolute(storage.part_url(key, upload_id, 1))
    assert requests.put(url, data=b"x" * 1025, timeout=10).status_code == 413
    # Without a Content-Length (chunked), the cap applies while reading.
    chunked = requests.put(url, data=iter([b"x" * 1000, b"x" * 1000]), timeout=10)
    assert chunked.status_code == 413
    assert requests.put(url, data=b"x" * 1024, timeout=10).status_code == 200
    assert [p.part_number for p in storage.list_parts(key, upload_id)] == [1]


def test_local_part_larger_than_max_content_length(tmp_path: Path) -> None:
    overrides = {**app_overrides(tmp_path, "local"), "LMS_MAX_REQUEST_MB": 1}
    app = create_app(overrides)
    storage = app.extensions["lms.storage"]
    key = new_key("media", "x.bin")
    upload_id = storage.start_multipart(key)
    data = os.urandom(2 * MiB)
    response = app.test_client().put(storage.part_url(key, upload_id, 1), data=data)
    assert response.status_code == 200
    stored = storage.complete_multipart(key, upload_id, [UploadedPart(1, response.headers["ETag"])])
    assert stored.sha256 == hashlib.sha256(data).hexdigest()


def test_local_routes_404_with_s3(tmp_path: Path, weed: Weed) -> None:
    app = create_app(app_overrides(tmp_path, "s3", weed))
    client = app.test_client()
    assert client.get("/files/test/abc/x.txt?e=1&s=x").status_code == 404
    assert client.put("/files-upload/" + "a" * 32 + "/1?e=1&s=x", data=b"x").status_code == 404


# -- health checks ---------------------------------------------------------


def test_check_passes(storage: Storage) -> None:
    storage.check()


def test_check_fails_when_local_root_unusable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = load_settings(
        {"LMS_INSTANCE_PATH": str(tmp_path), "LMS_STORAGE_PATH": str(blocker / "storage")}
    )
    storage = LocalStorage.from_settings(settings)
    with pytest.raises(StorageError, match="not writable"):
        storage.check()
    with pytest.raises(StorageError):
        storage.put(new_key("test"), io.BytesIO(b"x"))


def test_check_fails_when_s3_unreachable(tmp_path: Path) -> None:
    (port,) = free_ports(1)  # nothing listens there once the probe socket is closed
    settings = load_settings(
        {
            "LMS_INSTANCE_PATH": str(tmp_path),
            "LMS_STORAGE": "s3",
            "LMS_S3_BUCKET": "kenshu",
            "LMS_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "LMS_S3_ACCESS_KEY": "x",
            "LMS_S3_SECRET_KEY": "y",
        }
    )
    with pytest.raises(StorageError, match=f"127.0.0.1:{port}"):
        S3Storage.from_settings(settings).check()


def test_check_fails_for_missing_bucket_or_bad_keys(tmp_path: Path, weed: Weed) -> None:
    base = app_overrides(tmp_path, "s3", weed)
    missing = load_settings({**base, "LMS_S3_BUCKET": "no-such-bucket"})
    with pytest.raises(StorageError, match="does not exist"):
        S3Storage.from_settings(missing).check()
    wrong = load_settings({**base, "LMS_S3_SECRET_KEY": "wrong"})
    with pytest.raises(StorageError, match="denied"):
        S3Storage.from_settings(wrong).check()
