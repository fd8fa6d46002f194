"""Signed-URL routes for the local back-end (S3 serves its own presigned URLs).

No login here: the HMAC signature in the query string is the authorisation,
exactly like an S3 presigned URL, so a ``<video>`` tag or a plain ``PUT`` works.
"""

from __future__ import annotations

import mimetypes
import posixpath
import time

from flask import Blueprint, Response, abort, request, send_file

from lms.extensions import csrf
from lms.storage import get_storage
from lms.storage.base import InvalidKey, NotFound
from lms.storage.local import BadSignature, LocalStorage, PartTooLarge

bp = Blueprint("storage", __name__)


def _local_storage() -> LocalStorage:
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        abort(404)
    return storage


@bp.get("/files/<path:key>")
def serve(key: str) -> Response:
    storage = _local_storage()
    try:
        signed = storage.verify_download(key, request.args.items(multi=True))
    except BadSignature:
        abort(403)
    try:
        path = storage.path(key)
    except InvalidKey:
        abort(404)
    if not path.is_file():
        abort(404)
    # Signed names come from our own database, but a control character would break the header.
    name = "".join(c for c in signed.filename or "" if c.isprintable()) or posixpath.basename(key)
    mimetype = signed.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    # Cache no longer than the URL lives, and only in the browser: the URL is a credential.
    max_age = max(int(signed.expires - time.time()), 0)
    try:
        response = send_file(
            path,
            mimetype=mimetype,
            as_attachment=not signed.inline,
            download_name=name,
            conditional=True,
            etag=True,
            max_age=max_age,
        )
    except FileNotFoundError:  # deleted since the check above
        abort(404)
    response.cache_control.public = False
    response.cache_control.private = True
    return response


@bp.put("/files-upload/<upload_id>/<int:part_number>")
@csrf.exempt  # authorised by the signed URL, sent by fetch/XHR without a form token
def upload_part(upload_id: str, part_number: int) -> Response:
    storage = _local_storage()
    try:
        storage.verify_part(upload_id, part_number, request.args.items(multi=True))
    except BadSignature:
        abort(403)
    limit = storage.max_part_size
    if request.content_length is not None and request.content_length > limit:
        abort(413)
    # A part may exceed the app-wide MAX_CONTENT_LENGTH; write_part enforces its own cap.
    request.max_content_length = limit
    try:
        part = storage.write_part(upload_id, part_number, request.stream, limit)
    except PartTooLarge:
        abort(413)
    except NotFound:
        abort(404)
    response = Response(status=200)
    response.headers["ETag"] = part.etag
    return response
