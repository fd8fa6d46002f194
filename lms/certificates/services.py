"""Certificates: what the page says, asking for a build, and who may download it.

A certificate is asked for whenever a record is issued or reissued (a receiver of
:data:`lms.credentials.services.record_issued`, in the issuing unit of work): the row
becomes PENDING and the build job is queued once that unit of work commits, so a
rolled-back completion queues nothing. A trainee (for a missing or failed certificate)
or an admin (at any time) can ask again.

The page is in English and in the trainee's language: the language they use Kenshu in
(``User.locale``), when the interface is translated into it; otherwise English alone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date
from babel.numbers import format_decimal
from flask import Flask, has_app_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext as _nl
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lms.accounts.models import Role, User
from lms.audit.services import record as audit
from lms.certificates.models import Certificate, CertificateError, CertificateStatus
from lms.certificates.pdf import MAX_COURSES, Bilingual, CertificateDocument
from lms.credentials.models import CompletionRecord
from lms.credentials.scores import format_score
from lms.credentials.services import record_issued
from lms.db import insert_if_absent, utcnow
from lms.i18n import LANGUAGES
from lms.jobs import enqueue_after_commit
from lms.storage import Storage, StoredObject

JOB = "build_certificate"
CONTENT_TYPE = "application/pdf"

TITLE = _l("Certificate of Completion")
CERTIFY = _l("This is to certify that")
COMPLETED = _l("has completed the training programme")
COMPLETED_ON = _l("Completed on")
STUDY_HOURS = _l("Study hours")
ISSUED_ON = _l("Issued on")
COURSES = _l("Courses completed")
CODE_LABEL = _l("Verification code")
VERIFY_HINT = _l("Scan the code or open the address to check this certificate.")

REASONS = {
    CertificateError.MISSING_GLYPHS: _l(
        "The certificate could not be made: no font can show these characters of the "
        "name or the programme: %(characters)s. An administrator can correct the text "
        "and make the certificate again."
    ),
    CertificateError.STORAGE: _l(
        "The certificate could not be saved because the storage could not be reached. "
        "Try again in a while."
    ),
    CertificateError.SERVER: _l(
        "An error on the server stopped the certificate. Try again in a while; if it "
        "happens again, please tell the training office."
    ),
}


# --- the page --------------------------------------------------------------------------


def trainee_language(user: User) -> str:
    """The language besides English on the trainee's certificate ("en": English alone)."""
    return user.locale if user.locale in LANGUAGES else "en"


def _in(language: str, message: Any) -> str:
    with force_locale(language):
        return str(message)


def _both(language: str, message: Any) -> Bilingual:
    return Bilingual(_in("en", message), _in(language, message) if language != "en" else "")


def _local_date(moment: datetime, user: User) -> Any:
    try:
        return moment.astimezone(ZoneInfo(user.timezone or "UTC")).date()
    except (ZoneInfoNotFoundError, ValueError):
        return moment.date()


def _date(language: str, moment: datetime, user: User) -> Bilingual:
    day = _local_date(moment, user)
    local = format_date(day, format="long", locale=language) if language != "en" else ""
    return Bilingual(format_date(day, format="long", locale="en"), local)


def verify_url(app: Flask, code: str) -> str:
    """The public check page of ``code`` under ``LMS_BASE_URL`` (jobs have no request)."""
    base = urlsplit(app.config["LMS_SETTINGS"].base_url)
    adapter = app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build("credentials.verify_code", {"code": code}, force_external=True)


def document_for(record: CompletionRecord, *, issuer: str, url: str) -> CertificateDocument:
    """Everything the certificate of ``record`` says, in English and the trainee's language."""
    user, programme = record.user, record.programme
    language = trainee_language(user)
    courses = [
        f"{course['code']} — {course['title']}"
        + (f" ({format_score(course['score'])}%)" if course.get("score") is not None else "")
        for course in record.courses or []
    ]
    hidden = len(courses) - MAX_COURSES
    more = (
        _both(language, _nl("and %(num)d more course", "and %(num)d more courses", hidden))
        if hidden > 0
        else None
    )
    hours = Bilingual(
        format_decimal(record.study_hours, locale="en"),
        format_decimal(record.study_hours, locale=language) if language != "en" else "",
    )
    return CertificateDocument(
        issuer=issuer,
        title=_both(language, TITLE),
        certify=_both(language, CERTIFY),
        name=user.name or user.email,
        native_name=(user.native_name or "").strip(),
        completed=_both(language, COMPLETED),
        programme=f"{programme.title} ({programme.code})",
        sponsored_by=_both(language, _l("sponsored by %(sponsor)s", sponsor=record.sponsor.name)),
        facts=[
            (_both(language, COMPLETED_ON), _date(language, record.completed_at, user)),
            (_both(language, STUDY_HOURS), hours),
            (_both(language, ISSUED_ON), _date(language, record.issued_at, user)),
        ],
        courses_heading=_both(language, COURSES),
        courses=courses,
        more_courses=more,
        code_label=_both(language, CODE_LABEL),
        code=record.verification_code,
        verify_url=url,
        verify_hint=_both(language, VERIFY_HINT),
        record_line=_in("en", _l("Record %(id)s", id=record.public_id)),
        language=language,
        issued_at=record.issued_at,
        keywords=(record.verification_code, programme.code),
    )


def filename(record: CompletionRecord) -> str:
    return f"certificate-{record.programme.code}-{record.verification_code}.pdf"


# --- builds ----------------------------------------------------------------------------


def certificate_of(session: Session, record_id: int) -> Certificate | None:
    return session.scalar(select(Certificate).where(Certificate.record_id == record_id))


def request_build(session: Session, record_id: int) -> Certificate:
    """Make the record's certificate PENDING with a new token; the job runs after commit."""
    token = secrets.token_hex(16)
    insert_if_absent(
        session,
        Certificate,
        {
            "record_id": record_id,
            "status": CertificateStatus.PENDING,
            "token": token,
            "error_detail": "",
            "language": "en",
            "requested_at": utcnow(),
        },
        ["record_id"],
    )
    certificate = certificate_of(session, record_id)
    assert certificate is not None
    session.refresh(certificate)
    certificate.status = CertificateStatus.PENDING
    certificate.token = token
    certificate.error_code = None
    certificate.error_detail = ""
    certificate.requested_at = utcnow()
    session.flush()
    enqueue_after_commit(session, JOB, certificate.id, token)
    return certificate


def _on_record_issued(record: CompletionRecord, session: Session, **_extra: Any) -> None:
    # Outside an application (a script without one) there is no queue to build it: the
    # trainee and admins are then offered to make the certificate.
    if has_app_context():
        request_build(session, record.id)


record_issued.connect(_on_record_issued)


@dataclass(frozen=True)
class Finished:
    applied: bool  # False: a newer request took over, this build is to be thrown away
    replaced_key: str | None  # the previous PDF, to delete once this is committed


def mark_ready(
    session: Session, certificate_id: int, token: str, stored: StoredObject, language: str
) -> Finished:
    previous = session.scalar(select(Certificate.key).where(Certificate.id == certificate_id))
    result = session.execute(
        update(Certificate)
        .where(Certificate.id == certificate_id, Certificate.token == token)
        .values(
            status=CertificateStatus.READY,
            key=stored.key,
            size=stored.size,
            sha256=stored.sha256,
            language=language,
            error_code=None,
            error_detail="",
            built_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    applied = result.rowcount == 1  # type: ignore[attr-defined]
    return Finished(applied, previous if applied and previous != stored.key else None)


def mark_failed(
    session: Session, certificate_id: int, token: str, code: CertificateError, detail: str = ""
) -> bool:
    result = session.execute(
        update(Certificate)
        .where(Certificate.id == certificate_id, Certificate.token == token)
        .values(status=CertificateStatus.FAILED, error_code=code, error_detail=detail[:200])
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def reason(certificate: Certificate) -> str:
    """Why the build failed, in the current locale."""
    try:
        message = REASONS[CertificateError(certificate.error_code)]
    except ValueError:
        message = REASONS[CertificateError.SERVER]
    return str(message) % {"characters": certificate.error_detail}


# --- who sees what ---------------------------------------------------------------------


def is_admin(user: User) -> bool:
    return user.has_role(Role.ADMIN)


def may_download(user: User, record: CompletionRecord) -> bool:
    """Admins, and the record's own trainee while the record is valid."""
    if user.has_role(Role.ADMIN):
        return True
    return record.user_id == user.id and record.revoked_at is None


def may_request(user: User, record: CompletionRecord, certificate: Certificate | None) -> bool:
    """Admins at any time; the trainee when there is none yet or it failed."""
    if user.has_role(Role.ADMIN):
        return True
    if record.user_id != user.id or record.revoked_at is not None:
        return False
    return certificate is None or certificate.status == CertificateStatus.FAILED


def download_url(
    session: Session, storage: Storage, user: User, record_id: int, ip: str = ""
) -> str | None:
    """A signed URL of the record's PDF for ``user`` (audited), or None: not theirs or not ready."""
    record = session.get(CompletionRecord, record_id)
    if record is None or not may_download(user, record):
        return None
    certificate = certificate_of(session, record_id)
    if certificate is None or certificate.status != CertificateStatus.READY or not certificate.key:
        return None
    audit(
        session,
        "certificates.download",
        actor_id=user.id,
        subject=f"completion_record:{record.id}",
        ip=ip,
        certificate_id=certificate.id,
        sha256=certificate.sha256,
    )
    return storage.url(
        certificate.key, filename=filename(record), inline=False, content_type=CONTENT_TYPE
    )
