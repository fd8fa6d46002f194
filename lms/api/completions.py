"""Pages of a programme's completion list for the API, read through the shared exporter.

The rows themselves come from :func:`lms.exports.completions.completion_rows` (the same
columns, sponsor check and values as the portal's downloads). This module adds what an
API pull needs on top: keyset pages (``after_id``/``limit``), ``changed_since`` for
incremental pulls, and each record's ``issued_at``/``revoked_at``.

**changed_since** selects the records issued *or revoked* at or after a moment, so a
sponsor's system that pulls every night sees new records and revocations (a reissue is
both: a new record, and the old one revoked). The ids of the page are chosen here by
that condition; their rows are then read by the exporter over that id range and the
others skipped. Most pulls fetch a compact range of new ids; a revocation of an old
record widens the range, which the exporter streams in constant memory.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lms.credentials.models import CompletionRecord
from lms.exports.completions import CompletionFilters, completion_rows
from lms.programs.models import Programme

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_CURSOR_VERSION = "v1:"


def encode_cursor(after_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_VERSION}{after_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The record id a cursor continues after, None for anything we did not hand out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    number = text.removeprefix(_CURSOR_VERSION)
    if not text.startswith(_CURSOR_VERSION) or not number.isdigit() or len(number) > 18:
        return None
    return int(number)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_after_id: int | None  # None: this was the last page


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def course_scores(courses: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The record's courses with their scores (null for a course without one)."""
    return [
        {
            "course_id": c.get("course_id"),
            "code": c.get("code") or "",
            "title": c.get("title") or "",
            "score": c.get("score") if isinstance(c.get("score"), int | float) else None,
        }
        for c in courses or []
    ]


_Extra = tuple[datetime, datetime | None, list[dict[str, Any]]]


def _times(session: Session, ids: list[int]) -> dict[int, _Extra]:
    """Per record id: issued_at, revoked_at and the courses (for their scores)."""
    if not ids:
        return {}
    rows = session.execute(
        select(
            CompletionRecord.id,
            CompletionRecord.issued_at,
            CompletionRecord.revoked_at,
            CompletionRecord.courses,
        ).where(CompletionRecord.id.in_(ids))
    )
    return {row.id: (row.issued_at, row.revoked_at, row.courses) for row in rows}


def _with_times(
    row: dict[str, Any],
    issued: datetime,
    revoked: datetime | None,
    courses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    updated = max(issued, revoked) if revoked is not None else issued
    return {
        **row,
        "course_scores": course_scores(courses),
        "issued_at": _iso(issued),
        "revoked_at": _iso(revoked),
        "updated_at": _iso(updated),
    }


def _changed_ids(
    session: Session,
    *,
    sponsor_id: int,
    programme_id: int,
    since: datetime,
    after_id: int | None,
    limit: int,
) -> list[int]:
    query = (
        select(CompletionRecord.id)
        .join(Programme, Programme.id == CompletionRecord.programme_id)
        .where(
            CompletionRecord.sponsor_id == sponsor_id,
            Programme.sponsor_id == sponsor_id,
            CompletionRecord.programme_id == programme_id,
            or_(CompletionRecord.issued_at >= since, CompletionRecord.revoked_at >= since),
        )
        .order_by(CompletionRecord.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(CompletionRecord.id > after_id)
    return list(session.scalars(query))


def completion_page(
    session: Session,
    *,
    sponsor_id: int,
    programme_id: int,
    after_id: int | None,
    limit: int,
    changed_since: datetime | None,
    base_url: str,
) -> Page:
    """Up to ``limit`` records of the programme after ``after_id``, in id order, all
    statuses (revoked records carry ``status: "revoked"``)."""
    everything = CompletionFilters()
    if changed_since is None:
        rows = list(
            completion_rows(
                session,
                sponsor_id=sponsor_id,
                programme_id=programme_id,
                filters=everything,
                after_id=after_id,
                limit=limit + 1,
                base_url=base_url,
            )
        )
    else:
        ids = _changed_ids(
            session,
            sponsor_id=sponsor_id,
            programme_id=programme_id,
            since=changed_since,
            after_id=after_id,
            limit=limit + 1,
        )
        wanted = set(ids)
        rows = []
        if ids:
            stream = completion_rows(
                session,
                sponsor_id=sponsor_id,
                programme_id=programme_id,
                filters=everything,
                after_id=ids[0] - 1,
                base_url=base_url,
            )
            try:
                for row in stream:
                    if row["id"] in wanted:
                        rows.append(row)
                    if row["id"] >= ids[-1]:
                        break
            finally:
                stream.close()
    more = len(rows) > limit
    rows = rows[:limit]
    times = _times(session, [row["id"] for row in rows])
    page_rows = [_with_times(row, *times[row["id"]]) for row in rows if row["id"] in times]
    return Page(page_rows, rows[-1]["id"] if more and rows else None)


def one_record(
    session: Session, record: CompletionRecord, *, base_url: str
) -> dict[str, Any] | None:
    """The record as a completion row, or None if its programme is no longer its
    sponsor's (the exporter's sponsor check decides, as for lists)."""
    stream = completion_rows(
        session,
        sponsor_id=record.sponsor_id,
        programme_id=record.programme_id,
        filters=CompletionFilters(),
        after_id=record.id - 1,
        limit=1,
        base_url=base_url,
    )
    try:
        row = next(stream, None)
    finally:
        stream.close()
    if row is None or row["id"] != record.id:
        return None
    return _with_times(row, record.issued_at, record.revoked_at, record.courses)
