"""Accounts: passwords, tokens sent by email, invitations, roles.

Services take the database session, the acting user and the mailer as
arguments; they flush and never commit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import available_timezones

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from babel import Locale
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.accounts.models import Role, TokenPurpose, User, UserRole, UserToken, new_session_token
from lms.audit.services import record
from lms.db import utcnow
from lms.i18n import LANGUAGES
from lms.programs.models import Enrolment, Programme

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()  # Argon2id, memory-hard
# Verified against when the email is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
# CLDR territories that are not countries: unions, macro-regions, pseudo-locales, "unknown".
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"})
COUNTRY_CODES = frozenset(
    c for c in Locale("en").territories if len(c) == 2 and c.isalpha() and c not in _NOT_COUNTRIES
)
TIMEZONES = frozenset(available_timezones())


class AccountError(Exception):
    """A domain error whose message is shown to the user (already translated lazily)."""

    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


class TokenError(AccountError):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    try:
        return normalise_email(validate_email(email.strip(), check_deliverability=False).normalized)
    except EmailNotValidError:
        raise AccountError(_l("This is not a valid email address.")) from None


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            _l("Choose a password of at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
        )
    return _hasher.hash(password)


def password_matches(user: User | None, password: str) -> bool:
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    return ok and user is not None and user.password_hash is not None


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.session_token = new_session_token()  # every other session ends


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def authenticate(session: Session, email: str, password: str, *, ip: str = "") -> User | None:
    user = find_user_by_email(session, email)
    if password_matches(user, password) and user is not None and user.active:
        if _hasher.check_needs_rehash(user.password_hash or ""):
            user.password_hash = _hasher.hash(password)
        user.last_login_at = utcnow()
        record(session, "login", actor_id=user.id, subject=user.email, ip=ip)
        return user
    record(
        session,
        "login_failed",
        actor_id=user.id if user else None,
        subject=normalise_email(email)[:254],
        ip=ip,
        reason="inactive" if user is not None and not user.active else "credentials",
    )
    return None


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    roles: Iterable[Role | str] = (Role.TRAINEE,),
    password: str | None = None,
    native_name: str = "",
    country: str = "",
    organisation: str = "",
    locale: str | None = None,
    timezone: str = "UTC",
    sponsor_id: int | None = None,
) -> User:
    email = check_email(email)
    if find_user_by_email(session, email) is not None:
        raise AccountError(_l("An account with this email address already exists."))
    user = User(
        email=email,
        name=name.strip(),
        native_name=native_name.strip(),
        country=country.upper(),
        organisation=organisation.strip(),
        locale=locale,
        timezone=timezone,
        sponsor_id=sponsor_id,
    )
    user.roles = [UserRole(role=str(Role(r))) for r in sorted({str(r) for r in roles})]
    if password is not None:
        set_password(user, password)
    session.add(user)
    session.flush()
    return user


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(session: Session, user: User, purpose: TokenPurpose, lifetime: timedelta) -> str:
    """A new single-use secret for an emailed link; earlier unused ones stop working."""
    now = utcnow()
    for old in session.scalars(
        select(UserToken).where(
            UserToken.user_id == user.id,
            UserToken.purpose == purpose,
            UserToken.used_at.is_(None),
        )
    ):
        old.used_at = now
    raw = secrets.token_urlsafe(32)
    session.add(
        UserToken(
            user_id=user.id,
            purpose=str(purpose),
            token_hash=_hash_token(raw),
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return raw


def peek_token(session: Session, raw: str, purpose: TokenPurpose) -> UserToken:
    """The valid token behind ``raw``, or a :class:`TokenError` saying why not."""
    token = session.scalar(
        select(UserToken).where(
            UserToken.token_hash == _hash_token(raw), UserToken.purpose == str(purpose)
        )
    )
    if token is None:
        raise TokenError(_l("This link is not valid. Please ask for a new one."))
    if token.used_at is not None:
        raise TokenError(_l("This link has already been used. Please ask for a new one."))
    if token.expires_at <= utcnow():
        raise TokenError(_l("This link has expired. Please ask for a new one."))
    if not token.user.active:
        raise TokenError(_l("This account is deactivated."))
    return token


def redeem_token(
    session: Session, raw: str, purpose: TokenPurpose, new_password: str, *, ip: str = ""
) -> User:
    token = peek_token(session, raw, purpose)
    user = token.user
    set_password(user, new_password)
    # Mark used with a guarded UPDATE so two concurrent redemptions cannot both win.
    claimed = session.execute(
        UserToken.__table__.update()
        .where(UserToken.id == token.id, UserToken.used_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount
    if claimed != 1:
        raise TokenError(_l("This link has already been used. Please ask for a new one."))
    session.expire(token)
    action = "password_reset" if purpose == TokenPurpose.RESET else "invitation_accepted"
    record(session, action, actor_id=user.id, subject=user.email, ip=ip)
    return user


def change_password(session: Session, user: User, current: str, new: str, *, ip: str = "") -> None:
    if not password_matches(user, current):
        raise AccountError(_l("Your current password is not correct."))
    set_password(user, new)
    record(session, "password_changed", actor_id=user.id, subject=user.email, ip=ip)


@dataclass
class ProfileData:
    name: str
    native_name: str
    country: str
    organisation: str
    locale: str | None
    timezone: str


def update_profile(user: User, data: ProfileData) -> None:
    if data.country and data.country.upper() not in COUNTRY_CODES:
        raise AccountError(_l("Unknown country."))
    if data.timezone not in TIMEZONES:
        raise AccountError(_l("Unknown time zone."))
    if data.locale and data.locale not in LANGUAGES:
        raise AccountError(_l("Unknown language."))
    user.name = data.name.strip()
    user.native_name = data.native_name.strip()
    user.country = data.country.upper()
    user.organisation = data.organisation.strip()
    user.locale = data.locale or None
    user.timezone = data.timezone


def set_roles(
    session: Session,
    actor: User,
    user: User,
    roles: Iterable[str],
    *,
    sponsor_id: int | None,
    ip: str = "",
) -> None:
    wanted = {str(Role(r)) for r in roles}
    if Role.SPONSOR in wanted and sponsor_id is None:
        raise AccountError(_l("Sponsor staff must belong to a sponsor."))
    if actor.id == user.id and Role.ADMIN in user.role_names and Role.ADMIN not in wanted:
        raise AccountError(_l("You cannot remove your own administrator role."))
    before = sorted(user.role_names)
    user.roles = [r for r in user.roles if r.role in wanted] + [
        UserRole(role=r) for r in sorted(wanted - user.role_names)
    ]
    old_sponsor = user.sponsor_id
    user.sponsor_id = sponsor_id if Role.SPONSOR in wanted else None
    session.flush()
    if before != sorted(wanted) or old_sponsor != user.sponsor_id:
        record(
            session,
            "roles_changed",
            actor_id=actor.id,
            subject=user.email,
            ip=ip,
            before=before,
            after=sorted(wanted),
            sponsor_id=user.sponsor_id,
        )


def set_active(session: Session, actor: User, user: User, active: bool, *, ip: str = "") -> None:
    if actor.id == user.id and not active:
        raise AccountError(_l("You cannot deactivate your own account."))
    if user.active == active:
        return
    user.active = active
    if not active:
        user.session_token = new_session_token()  # logged out on their next request
    record(
        session,
        "user_activated" if active else "user_deactivated",
        actor_id=actor.id,
        subject=user.email,
        ip=ip,
    )


# --- invitations -------------------------------------------------------------------

INVITATION_COLUMNS = ("name", "email", "country", "organisation", "language", "programme")


@dataclass
class Invitee:
    name: str
    email: str
    country: str = ""
    organisation: str = ""
    language: str = ""
    programme_code: str = ""
    roles: list[str] = field(default_factory=lambda: [str(Role.TRAINEE)])
    sponsor_id: int | None = None


@dataclass
class CsvProblem:
    line: int
    message: str


class InvitationCsvError(AccountError):
    def __init__(self, problems: list[CsvProblem]) -> None:
        super().__init__(_l("The file has errors; nothing was imported."))
        self.problems = problems


def _validate_invitee(session: Session, invitee: Invitee, seen: set[str]) -> Invitee:
    if not invitee.name.strip():
        raise AccountError(_l("The name is missing."))
    invitee.email = check_email(invitee.email)
    if invitee.email in seen:
        raise AccountError(_l("This email address appears twice in the file."))
    if find_user_by_email(session, invitee.email) is not None:
        raise AccountError(_l("An account with this email address already exists."))
    invitee.country = invitee.country.strip().upper()
    if invitee.country and invitee.country not in COUNTRY_CODES:
        raise AccountError(_l("Unknown country code (use two letters, such as TH or KE)."))
    invitee.language = invitee.language.strip().lower()
    if invitee.language and invitee.language not in LANGUAGES:
        raise AccountError(
            _l("Unknown language (use one of: %(codes)s).", codes=", ".join(LANGUAGES))
        )
    invitee.programme_code = invitee.programme_code.strip()
    if invitee.programme_code and _programme_by_code(session, invitee.programme_code) is None:
        raise AccountError(_l("Unknown programme code."))
    return invitee


def _programme_by_code(session: Session, code: str) -> Programme | None:
    return session.scalar(select(Programme).where(func.lower(Programme.code) == code.lower()))


def parse_invitation_csv(session: Session, data: bytes) -> list[Invitee]:
    """Every row of the file, validated; any bad row fails the whole file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvitationCsvError(
            [CsvProblem(1, str(_l("The file is not UTF-8 text. Save it as CSV UTF-8.")))]
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("name", "email") if c not in header]
    if missing:
        raise InvitationCsvError(
            [
                CsvProblem(
                    1,
                    str(
                        _l(
                            "Missing columns: %(columns)s. Expected: %(expected)s.",
                            columns=", ".join(missing),
                            expected=", ".join(INVITATION_COLUMNS),
                        )
                    ),
                )
            ]
        )
    reader.fieldnames = header
    invitees: list[Invitee] = []
    problems: list[CsvProblem] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        if None in row:  # more cells than header columns
            problems.append(CsvProblem(line, str(_l("This row has too many cells."))))
            continue
        invitee = Invitee(
            name=(row.get("name") or "").strip(),
            email=(row.get("email") or "").strip(),
            country=row.get("country") or "",
            organisation=(row.get("organisation") or "").strip(),
            language=row.get("language") or "",
            programme_code=row.get("programme") or "",
        )
        try:
            invitees.append(_validate_invitee(session, invitee, seen))
            seen.add(invitee.email)
        except AccountError as error:
            problems.append(CsvProblem(line, str(error.message)))
    if problems:
        raise InvitationCsvError(problems)
    if not invitees:
        raise InvitationCsvError([CsvProblem(1, str(_l("The file has no rows to import.")))])
    return invitees


SendInvitation = Callable[[User, str], None]


def invite(
    session: Session,
    actor: User,
    invitees: list[Invitee],
    *,
    lifetime: timedelta,
    send: SendInvitation,
    ip: str = "",
) -> list[User]:
    """Create the accounts and enrolments, then email each person a link to set a password.

    Everything is validated before anything is written, and mail goes out only
    after every row was created, so a failure leaves no half-imported batch.
    """
    seen: set[str] = set()
    for invitee in invitees:
        _validate_invitee(session, invitee, seen)
        seen.add(invitee.email)
    created: list[tuple[User, str]] = []
    for invitee in invitees:
        user = create_user(
            session,
            email=invitee.email,
            name=invitee.name,
            country=invitee.country,
            organisation=invitee.organisation,
            locale=invitee.language or None,
            roles=invitee.roles,
            sponsor_id=invitee.sponsor_id,
        )
        if invitee.programme_code:
            programme = _programme_by_code(session, invitee.programme_code)
            assert programme is not None  # validated above
            session.add(Enrolment(programme_id=programme.id, user_id=user.id))
        raw = issue_token(session, user, TokenPurpose.INVITATION, lifetime)
        record(
            session,
            "invitation_sent",
            actor_id=actor.id,
            subject=user.email,
            ip=ip,
            roles=sorted(user.role_names),
            programme=invitee.programme_code or None,
        )
        created.append((user, raw))
    session.flush()
    for user, raw in created:
        send(user, raw)
    return [user for user, _ in created]


def request_password_reset(
    session: Session, email: str, *, lifetime: timedelta, send: SendInvitation, ip: str = ""
) -> None:
    """Email a reset link if the account exists; the caller answers the same either way."""
    user = find_user_by_email(session, email)
    record(
        session,
        "password_reset_requested",
        actor_id=user.id if user else None,
        subject=normalise_email(email)[:254],
        ip=ip,
        known=user is not None,
    )
    if user is None or not user.active:
        return
    send(user, issue_token(session, user, TokenPurpose.RESET, lifetime))
