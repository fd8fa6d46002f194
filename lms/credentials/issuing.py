"""Signed credentials for completion records, and what is published to check them.

Every :class:`CompletionRecord` gets an Open Badges 3.0 ``OpenBadgeCredential`` signed as
``vc+jwt`` (:mod:`lms.credentials.badges`). It is signed when the record is issued or
reissued and stored on the record, so the trainee always downloads the bytes that were
issued, and a key rotation later does not change them: the retired key stays in the
published key set. A record issued where no signer was at hand (a command without an
application) is signed on its first download.

Published, without login, at stable URLs under ``base_url`` (``LMS_BASE_URL``, never the
request's host, which a client chooses):

- ``/credentials/issuer``: the issuer's OB 3.0 ``Profile``, also a controller document
  listing the keys (the JWS ``kid`` is ``<issuer URL>#<key id>``);
- ``/credentials/keys``: the same keys as a JWKS plus Multikey methods;
- ``/credentials/status/<n>``: a ``BitstringStatusListCredential`` for records whose
  position (from their id) falls in list ``n``; revoking a record sets its bit.

Nothing here reads Flask globals: the caller passes a :class:`CredentialSettings`
(:func:`settings_for` builds one from an application).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.credentials import badges, keys
from lms.credentials.badges import Achievement, Issuer, StatusEntry
from lms.credentials.models import CompletionRecord

log = logging.getLogger(__name__)

DEFAULT_ISSUER_NAME = "Kenshu — Clean Authority of Tokyo"
ISSUER_PATH = "/credentials/issuer"
KEYS_PATH = "/credentials/keys"
STATUS_PATH = "/credentials/status/{list_id}"
VERIFY_PATH = "/verify/{code}"
STATUS_LIST_SIZE = badges.STATUS_LIST_MIN_ENTRIES


@dataclass(frozen=True)
class CredentialSettings:
    base_url: str
    issuer_name: str
    key_dir: Path
    key_file: Path | None = None

    @property
    def issuer_url(self) -> str:
        return self.base_url + ISSUER_PATH

    def status_list_url(self, list_id: int) -> str:
        return self.base_url + STATUS_PATH.format(list_id=list_id)

    def issuer(self) -> Issuer:
        return Issuer(id=self.issuer_url, name=self.issuer_name, url=self.base_url)

    def signing_key(self) -> keys.SigningKey:
        """The key that signs now: the configured file, or the instance's current key."""
        if self.key_file is not None:
            key = keys.load_key_file(self.key_file)
            keys.remember_public_key(self.key_dir, key)
            return key
        return keys.load_or_create(self.key_dir)

    def public_keys(self) -> list[keys.PublicKey]:
        """Every key that signed or signs credentials, the retired ones included."""
        current = self.signing_key()  # creates the first key, so the set is never empty
        published = keys.public_keys(self.key_dir)
        if all(k.key_id != current.key_id for k in published):
            published.append(current.public)
        return published


def settings_for(app: Flask) -> CredentialSettings:
    settings = app.config["LMS_SETTINGS"]
    return CredentialSettings(
        base_url=settings.base_url,
        issuer_name=app.config.get("CREDENTIALS_ISSUER_NAME") or DEFAULT_ISSUER_NAME,
        key_dir=Path(app.instance_path) / keys.KEY_DIR_NAME,
        key_file=settings.signing_key_file,
    )


def status_position(record_id: int) -> tuple[int, int]:
    """(status list number, from 1; index in that list) of a record's revocation bit."""
    list_id, index = divmod(record_id - 1, STATUS_LIST_SIZE)
    return list_id + 1, index


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_record_credential(record: CompletionRecord, settings: CredentialSettings) -> dict:
    """The unsigned credential of a record: what the trainee achieved, and where to check."""
    programme, sponsor, user = record.programme, record.sponsor, record.user
    list_id, index = status_position(record.id)
    courses = "; ".join(f"{c['code']} {c['title']}" for c in record.courses) or "-"
    # A stable URI per programme that needs no page of its own.
    programme_uri = uuid.uuid5(uuid.NAMESPACE_URL, f"{settings.base_url}/programmes/{programme.id}")
    achievement = Achievement(
        id=f"urn:uuid:{programme_uri}",
        name=programme.title,
        description=(
            f"Training programme {programme.code}, sponsored by {sponsor.name}: "
            f"{len(record.courses)} course(s), {record.study_hours:g} study hours."
        ),
        criteria=f"Completed the required courses of the programme: {courses}.",
    )
    completed = _aware(record.completed_at).astimezone(UTC)
    verify_url = settings.base_url + VERIFY_PATH.format(code=record.verification_code)
    descriptions, results = _course_results(record, settings)
    credential = badges.build_credential(
        issuer=settings.issuer(),
        achievement=achievement,
        recipient_name=user.name or user.email,
        other_names=[user.native_name] if user.native_name else [],
        recipient_email=user.email,
        # Published in the credential anyway; derived so that signing again gives the
        # same bytes (a second download racing the first stores the same token).
        email_salt=hashlib.sha256(f"email-salt:{record.public_id}".encode()).hexdigest()[:32],
        credential_id=f"urn:uuid:{record.public_id}",
        valid_from=_aware(record.issued_at).replace(microsecond=0),
        status=StatusEntry(settings.status_list_url(list_id), index),
        name=programme.title,
        subject_extra={
            "activityEndDate": f"{completed:%Y-%m-%dT%H:%M:%SZ}",
            **({"result": results} if results else {}),
        },
        evidence=[
            {
                "id": verify_url,
                "type": ["Evidence"],
                "name": "Public verification page",
                "narrative": f"Verification code {record.verification_code}",
            }
        ],
    )
    if descriptions:
        credential["credentialSubject"]["achievement"]["resultDescription"] = descriptions
    return credential


def _course_results(
    record: CompletionRecord, settings: CredentialSettings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OB 3.0 ``ResultDescription`` (on the achievement) and ``Result`` (on the subject)
    per course with a score: a ``Percent`` from 0 to 100 (see lms.credentials.scores).
    Courses without a score get neither: nothing is made up."""
    descriptions, results = [], []
    for course in record.courses or []:
        score = course.get("score")
        if not isinstance(score, int | float):
            continue
        key = f"{settings.base_url}/courses/{course.get('course_id')}/score"
        description_id = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, key)}"
        descriptions.append(
            {
                "id": description_id,
                "type": ["ResultDescription"],
                "name": f"{course.get('code')} {course.get('title')}: course score (percent)",
                "resultType": "Percent",
                "valueMin": "0",
                "valueMax": "100",
            }
        )
        results.append(
            {"type": ["Result"], "resultDescription": description_id, "value": f"{score:g}"}
        )
    return descriptions, results


def sign_record(record: CompletionRecord, settings: CredentialSettings) -> str:
    """Sign the record's credential with the current key and keep it on the record."""
    record.credential_jwt = badges.sign_credential(
        build_record_credential(record, settings), settings.signing_key()
    )
    return record.credential_jwt


def try_sign_record(record: CompletionRecord, settings: CredentialSettings) -> None:
    """Sign at issue if possible; a key problem must not undo the trainee's completion
    (the credential is then signed on its first download, once the key is fixed)."""
    try:
        sign_record(record, settings)
    except (keys.SigningKeyError, OSError) as error:
        # The error names a file or a problem, never key material.
        log.warning("credential of record %s not signed at issue: %s", record.id, error)


def credential_token(record: CompletionRecord, settings: CredentialSettings) -> str:
    """The record's signed credential, signing it now if it never was."""
    return record.credential_jwt or sign_record(record, settings)


def issuer_profile(settings: CredentialSettings) -> dict[str, Any]:
    """The OB 3.0 ``Profile`` at the issuer URL, with its keys (a controller document)."""
    key_set = keys.key_set_document(settings.issuer_url, settings.public_keys())
    return {
        "@context": [badges.VC_CONTEXT_V2, badges.OB_CONTEXT],
        **settings.issuer().profile(),
        "verificationMethod": key_set["verificationMethod"],
        "assertionMethod": key_set["assertionMethod"],
    }


def key_set(settings: CredentialSettings) -> dict[str, Any]:
    """JWKS (``keys``) and Multikey methods of every key, current and retired."""
    return keys.key_set_document(settings.issuer_url, settings.public_keys())


def status_list_exists(session: Session, list_id: int) -> bool:
    """List 1 always exists; later lists once a record's position falls in them."""
    if list_id == 1:
        return True
    if list_id < 1:
        return False
    highest = session.scalar(select(func.max(CompletionRecord.id))) or 0
    return highest > 0 and status_position(highest)[0] >= list_id


def status_list_token(session: Session, list_id: int, settings: CredentialSettings) -> str:
    """The signed status list ``list_id`` as it stands now.

    ``validFrom`` is the latest revocation in the list (the last time it changed), so the
    same state gives the same bytes (Ed25519 signatures are deterministic) and caches and
    ``ETag`` revalidation work.
    """
    first = (list_id - 1) * STATUS_LIST_SIZE + 1
    rows = session.execute(
        select(CompletionRecord.id, CompletionRecord.revoked_at).where(
            CompletionRecord.id.between(first, first + STATUS_LIST_SIZE - 1),
            CompletionRecord.revoked_at.is_not(None),
        )
    ).all()
    key = settings.signing_key()
    changed = max((_aware(at) for _, at in rows), default=key.created)
    return badges.status_list_credential(
        [status_position(record_id)[1] for record_id, _ in rows],
        key=key,
        list_url=settings.status_list_url(list_id),
        issuer=settings.issuer(),
        size=STATUS_LIST_SIZE,
        valid_from=changed.replace(microsecond=0),
    )
