"""Creating, revoking and checking the sponsors' API tokens (no Flask globals here).

A secret looks like ``ksk_`` followed by 43 URL-safe characters (32 random bytes). The
``ksk_`` marker lets secret scanners and people recognise a leaked Kenshu token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from lms.accounts.models import Role, User
from lms.api.models import ApiToken
from lms.audit.services import record
from lms.db import utcnow

SECRET_MARKER = "ksk_"  # noqa: S105 - a public marker, not a secret
PREFIX_LENGTH = len(SECRET_MARKER) + 8
DEFAULT_LIFETIME_DAYS = 90
MAX_LIFETIME_DAYS = 365
NAME_MAX = 100
# last_used_at is written at most this often per token: one UPDATE a minute, not per call.
TOUCH_INTERVAL = timedelta(minutes=1)


class TokenError(Exception):
    def __init__(self, message: object, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


class TokenRefused(Exception):
    """The bearer token cannot be used; ``message`` says why, in the user's language."""

    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def can_manage_tokens(user: User) -> bool:
    """Sponsor staff manage their sponsor's tokens; admins may see and revoke any."""
    return user.has_role(Role.ADMIN) or (
        user.has_role(Role.SPONSOR) and user.sponsor_id is not None
    )


def visible_tokens(session: Session, user: User) -> list[ApiToken]:
    query = (
        select(ApiToken)
        .options(selectinload(ApiToken.created_by), selectinload(ApiToken.sponsor))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    if not user.has_role(Role.ADMIN):
        if not user.has_role(Role.SPONSOR) or user.sponsor_id is None:
            return []
        query = query.where(ApiToken.sponsor_id == user.sponsor_id)
    return list(session.scalars(query))


def load_token_for(session: Session, user: User, token_id: int) -> ApiToken | None:
    """The token if ``user`` may manage it; None for unknown and other sponsors' alike."""
    token = session.get(ApiToken, token_id)
    if token is None:
        return None
    if user.has_role(Role.ADMIN):
        return token
    if user.has_role(Role.SPONSOR) and user.sponsor_id == token.sponsor_id:
        return token
    return None


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(
    session: Session, actor: User, name: str, lifetime_days: int | None, *, ip: str = ""
) -> NewToken:
    if not actor.has_role(Role.SPONSOR) or actor.sponsor_id is None:
        raise TokenError(_l("Only staff of a sponsor can create API tokens."))
    name = (name or "").strip()
    if not name:
        raise TokenError(_l("Give the token a name."), "name")
    if len(name) > NAME_MAX:
        raise TokenError(
            _l("The name can be at most %(count)d characters.", count=NAME_MAX), "name"
        )
    days = DEFAULT_LIFETIME_DAYS if lifetime_days is None else lifetime_days
    if not 1 <= days <= MAX_LIFETIME_DAYS:
        raise TokenError(
            _l("A token is valid for 1 to %(days)d days.", days=MAX_LIFETIME_DAYS),
            "lifetime_days",
        )
    secret = SECRET_MARKER + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        sponsor_id=actor.sponsor_id,
        created_by_id=actor.id,
        name=name,
        token_hash=hash_secret(secret),
        prefix=secret[:PREFIX_LENGTH],
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(token)
    session.flush()
    record(
        session,
        "api_token_created",
        actor_id=actor.id,
        subject=token.prefix,
        ip=ip,
        token_id=token.id,
        sponsor_id=token.sponsor_id,
        name=name,
        expires_at=token.expires_at.isoformat(),
    )
    return NewToken(token, secret)


def revoke_token(session: Session, actor: User, token: ApiToken, *, ip: str = "") -> bool:
    """Revoke ``token``; False if it already was (nothing written)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    token.revoked_by_id = actor.id
    session.flush()
    record(
        session,
        "api_token_revoked",
        actor_id=actor.id,
        subject=token.prefix,
        ip=ip,
        token_id=token.id,
        sponsor_id=token.sponsor_id,
    )
    return True


def bearer_secret(authorization: str | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header, None without one."""
    if not authorization:
        return None
    scheme, _sep, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def authenticate(session: Session, secret: str, now: datetime | None = None) -> ApiToken:
    """The usable token behind ``secret``, or :class:`TokenRefused` saying why not."""
    now = now or utcnow()
    token = None
    if secret.startswith(SECRET_MARKER) and len(secret) < 200:
        token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
    if token is None:
        raise TokenRefused(_l("This API token is not valid."))
    if token.revoked_at is not None:
        raise TokenRefused(_l("This API token has been revoked."))
    if token.expires_at <= now:
        raise TokenRefused(_l("This API token has expired."))
    _touch(session, token, now)
    return token


def _touch(session: Session, token: ApiToken, now: datetime) -> None:
    """Record the use, at most once a minute: the WHERE clause skips the write otherwise,
    and two concurrent calls cannot both move the time back."""
    if token.last_used_at is not None and token.last_used_at > now - TOUCH_INTERVAL:
        return
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token.id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_INTERVAL),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    # Tell the identity map without marking the object dirty (no second UPDATE at flush).
    set_committed_value(token, "last_used_at", now)
