"""Subscribing to, and sending, the weekly digest of new completions.

**Who.** Active sponsor staff (role ``sponsor`` with a sponsor) subscribe for their own
sponsor. When a digest is due, the subscriber is checked again: someone deactivated, no
longer sponsor staff, or now with another sponsor gets nothing (and the subscription of
someone moved to another sponsor never lists the new sponsor's rows either).

**What.** The records of the sponsor's programmes issued since the last digest and still
valid, read through :func:`lms.exports.completions.completion_rows` (the sponsor check
and the columns of the portal's lists) and attached as the portal's CSV
(:func:`~lms.exports.completions.write_csv`: UTF-8 with a byte-order mark). No new
completions: no email.

**When, and only once.** A digest is due once per ISO week (from Monday 00:00 UTC): the
job runs every hour and sends the digests not yet sent this week, so a worker that was
down on Monday catches up. Each digest is *claimed* first by a conditional
``UPDATE ... SET last_sent_at = now WHERE id = ? AND last_sent_at = <the value read>``
committed before the email goes: of two workers, one updates the row and sends, the
other updates nothing and skips. If sending fails, the claim is undone (same
compare-and-set) so that the next run tries again.

**Window.** A digest lists records issued in ``[previous claim - LAG, this claim - LAG)``:
consecutive windows meet exactly, and the lag leaves time for a unit of work that was
issuing a record while the digest was claimed to commit (its ``issued_at`` is set before
it commits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from lms.accounts.models import Role, User
from lms.audit.services import record as audit
from lms.credentials.models import CompletionRecord
from lms.db import insert_if_absent, utcnow
from lms.digests.models import CompletionDigestSubscription
from lms.exports.completions import CompletionFilters, completion_rows, headers, write_csv
from lms.i18n import LANGUAGES
from lms.mail import Attachment, Mailer
from lms.programs.models import Programme, Sponsor

#: Time left for a record being issued while a digest is claimed to be committed.
LAG = timedelta(minutes=10)

#: Lines listed in the email's text; the attachment always has every row.
MAX_LISTED = 50


# --- subscribing ---------------------------------------------------------------------------


def may_subscribe(user: User) -> bool:
    """Active sponsor staff with a sponsor: the only people a digest is sent to."""
    return bool(user.active and user.has_role(Role.SPONSOR) and user.sponsor_id is not None)


def subscription_of(session: Session, user_id: int) -> CompletionDigestSubscription | None:
    return session.scalar(
        select(CompletionDigestSubscription).where(CompletionDigestSubscription.user_id == user_id)
    )


def subscribe(session: Session, user: User, ip: str = "") -> bool:
    """Subscribe ``user`` for their sponsor; False if they already were (idempotent)."""
    if not may_subscribe(user):
        raise PermissionError("only sponsor staff subscribe to the completion digest")
    assert user.sponsor_id is not None
    new_id = insert_if_absent(
        session,
        CompletionDigestSubscription,
        {"user_id": user.id, "sponsor_id": user.sponsor_id, "created_at": utcnow()},
        ["user_id"],
    )
    if new_id is None:
        existing = subscription_of(session, user.id)
        if existing is not None and existing.sponsor_id != user.sponsor_id:
            # Moved to another sponsor: start afresh for the new one.
            existing.sponsor_id = user.sponsor_id
            existing.created_at = utcnow()
            existing.last_sent_at = None
            session.flush()
        return False
    audit(
        session,
        "digests.subscribe",
        actor_id=user.id,
        subject=f"user:{user.id}",
        ip=ip,
        sponsor_id=user.sponsor_id,
    )
    return True


def unsubscribe(session: Session, user: User, ip: str = "") -> bool:
    """End ``user``'s subscription; False if there was none."""
    removed = session.execute(
        delete(CompletionDigestSubscription).where(CompletionDigestSubscription.user_id == user.id)
    ).rowcount  # type: ignore[attr-defined]
    if removed:
        audit(session, "digests.unsubscribe", actor_id=user.id, subject=f"user:{user.id}", ip=ip)
    return bool(removed)


# --- sending -------------------------------------------------------------------------------


def period_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of ``now``'s ISO week: a digest is due once per such week."""
    day = now.astimezone(UTC).date()
    monday = day - timedelta(days=day.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


@dataclass
class SendReport:
    sent: int = 0  # emails sent
    empty: int = 0  # digests claimed with nothing new: no email
    skipped: int = 0  # subscribers who may no longer receive one
    taken: int = 0  # claimed by another worker first


def new_completion_rows(
    session: Session, sponsor_id: int, since: datetime, until: datetime, base_url: str
) -> list[dict[str, Any]]:
    """The sponsor's valid records issued in ``[since, until)``, as completion list rows."""
    ids = list(
        session.scalars(
            select(CompletionRecord.id)
            .join(Programme, Programme.id == CompletionRecord.programme_id)
            .where(
                CompletionRecord.sponsor_id == sponsor_id,
                Programme.sponsor_id == sponsor_id,
                CompletionRecord.issued_at >= since,
                CompletionRecord.issued_at < until,
                CompletionRecord.revoked_at.is_(None),
            )
            .order_by(CompletionRecord.id)
        )
    )
    if not ids:
        return []
    wanted, rows = set(ids), []
    stream = completion_rows(
        session,
        sponsor_id=sponsor_id,
        programme_id=None,
        filters=CompletionFilters(status="valid"),
        after_id=ids[0] - 1,
        base_url=base_url,
    )
    try:
        for row in stream:
            if row["id"] > ids[-1]:
                break
            if row["id"] in wanted:
                rows.append(row)
    finally:
        stream.close()
    return rows


def _claim(
    session: Session,
    subscription_id: int,
    previous: datetime | None,
    new: datetime | None,
    due_before: datetime | None,
) -> bool:
    """Compare-and-set ``last_sent_at`` from ``previous`` to ``new``; commits."""
    column = CompletionDigestSubscription.last_sent_at
    query = update(CompletionDigestSubscription).where(
        CompletionDigestSubscription.id == subscription_id,
        column.is_(None) if previous is None else column == previous,
    )
    if due_before is not None:  # the weekly run: only if not yet sent this week
        query = query.where(
            (column < due_before)
            | (column.is_(None) & (CompletionDigestSubscription.created_at < due_before))
        )
    changed = session.execute(
        query.values(last_sent_at=new).execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.commit()
    return changed == 1


def _language(user: User, default_locale: str) -> str:
    return user.locale if user.locale in LANGUAGES else default_locale


def _message(
    sponsor: Sponsor, rows: list[dict[str, Any]], since: datetime, portal_url: str
) -> tuple[str, str]:
    """Subject and text of a digest, in the current (forced) locale."""
    count = len(rows)
    subject = ngettext(
        "%(num)d new completion for %(sponsor)s",
        "%(num)d new completions for %(sponsor)s",
        count,
        sponsor=sponsor.name,
    )
    lines = [
        ngettext(
            "%(num)d trainee completed a programme of %(sponsor)s since %(date)s (UTC).",
            "%(num)d trainees completed programmes of %(sponsor)s since %(date)s (UTC).",
            count,
            sponsor=sponsor.name,
            date=since.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        ),
        "",
    ]
    for row in rows[:MAX_LISTED]:
        name = row["trainee_name"] + (f" ({row['native_name']})" if row["native_name"] else "")
        lines.append(
            f"- {name} — {row['programme_code']} {row['programme_title']} — "
            f"{row['completion_date']}"
        )
    if count > MAX_LISTED:
        lines.append(_("… and %(num)d more in the attached file.", num=count - MAX_LISTED))
    lines += [
        "",
        _("The attached CSV file lists every one of them with the portal's columns."),
        _("Sponsor portal: %(url)s", url=portal_url),
        _("To stop these emails, unsubscribe in the sponsor portal."),
    ]
    return subject, "\n".join(lines)


def send_digest(
    session: Session,
    subscription_id: int,
    *,
    mailer: Mailer,
    base_url: str,
    default_locale: str,
    now: datetime | None = None,
    force: bool = False,
) -> str:
    """Send one subscriber's digest if due (any time with ``force``): "sent", "empty",
    "skipped" (may not receive it) or "taken" (not due, or claimed by another worker).

    Commits ``session`` (the claim must be visible to other workers before mailing).
    """
    now = now or utcnow()
    subscription = session.get(CompletionDigestSubscription, subscription_id)
    if subscription is None:
        return "taken"
    user = session.get(User, subscription.user_id)
    if user is None or not may_subscribe(user) or user.sponsor_id != subscription.sponsor_id:
        return "skipped"
    previous = subscription.last_sent_at
    since = (previous or subscription.created_at) - LAG
    until = now - LAG
    sponsor, sponsor_id, user_id = subscription.sponsor, subscription.sponsor_id, user.id
    language, email = _language(user, default_locale), user.email
    due_before = None if force else period_start(now)
    if not _claim(session, subscription_id, previous, now, due_before):
        return "taken"
    rows = new_completion_rows(session, sponsor_id, since, until, base_url)
    if not rows:
        session.commit()
        return "empty"
    with force_locale(language):
        subject, body = _message(sponsor, rows, since, base_url.rstrip("/") + "/sponsor")
        csv_text = "".join(write_csv(rows, headers()))
    attachment = Attachment(
        f"completions-{until.astimezone(UTC):%Y-%m-%d}.csv",
        "text/csv",
        csv_text.encode("utf-8"),
    )
    try:
        mailer.send(email, subject, body, [attachment])
    except Exception:
        session.rollback()
        _claim(session, subscription_id, now, previous, None)  # the next run tries again
        raise
    audit(
        session,
        "digests.sent",
        subject=f"user:{user_id}",
        sponsor_id=sponsor_id,
        rows=len(rows),
        record_ids=[row["record_id"] for row in rows],
        since=since.isoformat(),
        until=until.isoformat(),
    )
    session.commit()
    return "sent"


def send_due_digests(
    session: Session,
    *,
    mailer: Mailer,
    base_url: str,
    default_locale: str,
    now: datetime | None = None,
    force: bool = False,
) -> SendReport:
    """Every subscriber's digest that is due (all of them with ``force``)."""
    now = now or utcnow()
    report = SendReport()
    ids = list(
        session.scalars(
            select(CompletionDigestSubscription.id).order_by(CompletionDigestSubscription.id)
        )
    )
    session.commit()
    for subscription_id in ids:
        outcome = send_digest(
            session,
            subscription_id,
            mailer=mailer,
            base_url=base_url,
            default_locale=default_locale,
            now=now,
            force=force,
        )
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report
