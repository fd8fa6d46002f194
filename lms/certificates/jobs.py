"""The background job that makes a record's PDF and puts it in object storage.

Failures are of two sorts, as for media:

- the certificate cannot be made at all (a name in a script no font has): final at
  once, the certificate becomes FAILED with the reason shown to the trainee;
- anything else (storage unreachable, a bug): Huey retries with a growing delay while
  the certificate stays PENDING; on the last attempt it becomes FAILED with the reason.

The job carries the token of the request it serves: when a newer request took over
meanwhile, its result is thrown away (and its object deleted).
"""

from __future__ import annotations

import io
import logging

from flask import current_app

from lms.certificates import services
from lms.certificates.fonts import MissingGlyphs
from lms.certificates.models import Certificate, CertificateError, CertificateStatus
from lms.certificates.pdf import render
from lms.db import after_commit, new_session
from lms.jobs import job
from lms.storage import StorageError, get_storage, new_key

log = logging.getLogger(__name__)

DEFAULT_ISSUER = "Kenshu — Clean Authority of Tokyo"


def _issuer() -> str:
    return current_app.config.get("CREDENTIALS_ISSUER_NAME") or DEFAULT_ISSUER


@job(retries=2, retry_delay=10)
def build_certificate(certificate_id: int, token: str, *, final_attempt: bool = True) -> None:
    """Render the record's certificate, store it, and mark it READY (or FAILED, with why)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    storage = get_storage()
    with new_session() as session:
        certificate = session.get(Certificate, certificate_id)
        if (
            certificate is None
            or certificate.token != token
            or certificate.status != CertificateStatus.PENDING
        ):
            log.info("certificate %s: nothing to build (gone or asked again)", certificate_id)
            return
        record = certificate.record
        language = services.trainee_language(record.user)
        try:
            document = services.document_for(
                record,
                issuer=_issuer(),
                url=services.verify_url(app, record.verification_code),
            )
            data = render(document)
            key = new_key("certificates", services.filename(record))
            stored = storage.put(key, io.BytesIO(data), services.CONTENT_TYPE)
        except MissingGlyphs as error:
            log.info("certificate %s: no font for %r", certificate_id, error.characters)
            session.rollback()
            services.mark_failed(
                session, certificate_id, token, CertificateError.MISSING_GLYPHS, error.characters
            )
            session.commit()
            return
        except Exception as error:
            session.rollback()
            if not final_attempt:
                log.warning("certificate %s: attempt failed, will retry: %r", certificate_id, error)
                raise
            log.exception("certificate %s: failed for good", certificate_id)
            storage_down = isinstance(error, StorageError)
            code = CertificateError.STORAGE if storage_down else CertificateError.SERVER
            services.mark_failed(session, certificate_id, token, code)
            session.commit()
            return
        finished = services.mark_ready(session, certificate_id, token, stored, language)
        if not finished.applied:
            session.rollback()
            storage.delete(stored.key)  # a newer request took over: this one is not needed
            return
        if finished.replaced_key:
            old = finished.replaced_key
            after_commit(session, lambda: storage.delete(old))
        session.commit()
