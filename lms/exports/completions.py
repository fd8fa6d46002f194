"""Completion lists of a sponsor's programmes: the shared interface.

The sponsor portal's downloads (``lms.exports.views``) and the API (``lms.api``) both
read completion records through this module, so that the columns, the filters, the
sponsor check and the streaming are defined once:

- :data:`COLUMNS`: the ordered ``(key, header)`` pairs of a row (headers are lazy
  translated strings);
- :class:`CompletionFilters`: completion date range, record status, trainee country;
- :func:`completion_rows`: the rows, one dict per record, ordered by record id and
  streamed from the database (a server-side cursor on PostgreSQL), so memory does not
  grow with the number of rows; ``after_id``/``limit`` give keyset pagination;
- :func:`write_csv` and :func:`write_xlsx`: the rows as file chunks, also streamed.

**Sponsor scope.** ``sponsor_id`` is required: only records of programmes that belong
to that sponsor (now) *and* that were issued for it are ever read. Callers check that
the viewer belongs to the sponsor; this module makes a wrong ``programme_id`` give no
rows rather than another sponsor's.

**Values.** Every value is a string or a number (JSON- and CSV-ready). Dates are UTC ISO
dates. Scores come from ``CompletionRecord.courses`` (a course entry's ``score``) when
the record holds one, and are left empty otherwise: nothing is made up.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.credentials.models import CompletionRecord
from lms.credentials.scores import format_score
from lms.programs.models import Programme

#: The columns of a completion list, in order: (key of the row dict, header).
COLUMNS: list[tuple[str, Any]] = [
    ("trainee_name", _l("Trainee name")),
    ("native_name", _l("Name in own script")),
    ("email", _l("Email")),
    ("country", _l("Country")),
    ("organisation", _l("Organisation")),
    ("programme_code", _l("Programme code")),
    ("programme_title", _l("Programme")),
    ("courses_completed", _l("Courses completed")),
    ("scores", _l("Scores")),
    ("hours", _l("Study hours")),
    ("completion_date", _l("Completion date")),
    ("status", _l("Record status")),
    ("record_id", _l("Record ID")),
    ("verification_code", _l("Verification code")),
    ("verification_url", _l("Verification URL")),
]

#: Record statuses a list can be filtered by, with their labels.
STATUSES: dict[str, Any] = {"valid": _l("Valid"), "revoked": _l("Revoked")}

#: Rows fetched from the database at a time (and buffered per chunk written).
BATCH_SIZE = 1000

#: Column widths in the workbook (characters); the others get 18.
_XLSX_WIDTHS = {
    "email": 28,
    "organisation": 28,
    "programme_title": 30,
    "courses_completed": 40,
    "country": 8,
    "hours": 10,
    "completion_date": 12,
    "status": 10,
    "record_id": 38,
    "verification_code": 22,
    "verification_url": 50,
}

#: Bytes read from the finished XLSX file per chunk sent.
FILE_CHUNK = 64 * 1024


@dataclass(frozen=True)
class CompletionFilters:
    """Which records: completed from ``since`` to ``until`` (UTC dates, both included),
    ``status`` "valid" or "revoked" (None: both), trainee ``country`` (ISO 3166 alpha-2)."""

    since: date | None = None
    until: date | None = None
    status: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def completion_query(
    *,
    sponsor_id: int,
    programme_id: int | None,
    filters: CompletionFilters,
    after_id: int | None = None,
    limit: int | None = None,
) -> Select[Any]:
    """The SELECT behind :func:`completion_rows` (plain columns, no ORM objects)."""
    query = (
        select(
            CompletionRecord.id,
            CompletionRecord.public_id,
            CompletionRecord.verification_code,
            CompletionRecord.completed_at,
            CompletionRecord.study_hours,
            CompletionRecord.courses,
            CompletionRecord.revoked_at,
            User.name,
            User.native_name,
            User.email,
            User.country,
            User.organisation,
            Programme.code,
            Programme.title,
        )
        .join(User, User.id == CompletionRecord.user_id)
        .join(Programme, Programme.id == CompletionRecord.programme_id)
        .where(
            CompletionRecord.sponsor_id == sponsor_id,
            Programme.sponsor_id == sponsor_id,
        )
        .order_by(CompletionRecord.id)
    )
    if programme_id is not None:
        query = query.where(CompletionRecord.programme_id == programme_id)
    if filters.since is not None:
        query = query.where(CompletionRecord.completed_at >= _start_of(filters.since))
    if filters.until is not None:
        query = query.where(
            CompletionRecord.completed_at < _start_of(filters.until + timedelta(days=1))
        )
    if filters.status == "valid":
        query = query.where(CompletionRecord.revoked_at.is_(None))
    elif filters.status == "revoked":
        query = query.where(CompletionRecord.revoked_at.is_not(None))
    if filters.country:
        query = query.where(User.country == filters.country.strip().upper())
    if after_id is not None:
        query = query.where(CompletionRecord.id > after_id)
    if limit is not None:
        query = query.limit(limit)
    return query


def _courses_text(courses: Iterable[dict[str, Any]]) -> str:
    return "; ".join(
        " ".join(part for part in (str(c.get("code") or ""), str(c.get("title") or "")) if part)
        for c in courses
    )


def _scores_text(courses: Iterable[dict[str, Any]]) -> str:
    """Only the scores the record holds, e.g. ``WM101: 85; WM102: 87.5`` (percentages);
    empty when it holds none."""
    return "; ".join(
        f"{c.get('code') or c.get('title') or ''}: {format_score(float(c['score']))}"
        for c in courses
        if c.get("score") is not None and c.get("score") != ""
    )


def completion_rows(
    session: Session,
    *,
    sponsor_id: int,
    programme_id: int | None,
    filters: CompletionFilters,
    after_id: int | None = None,
    limit: int | None = None,
    base_url: str,
) -> Iterator[dict[str, Any]]:
    """The completion list, one dict per record (keys of :data:`COLUMNS`, plus ``id``,
    the internal record id to pass as ``after_id`` for the next page).

    Streamed in batches of :data:`BATCH_SIZE` (``yield_per``: a server-side cursor on
    PostgreSQL, SQLite's lazy cursor), so the caller holds one batch at a time. The
    ``session`` must stay open until the iterator is exhausted or closed.
    ``base_url`` is the site's root (``https://lms.example/``) for verification URLs.
    """
    verify_root = base_url.rstrip("/") + "/verify/"
    query = completion_query(
        sponsor_id=sponsor_id,
        programme_id=programme_id,
        filters=filters,
        after_id=after_id,
        limit=limit,
    )
    result = session.execute(query.execution_options(yield_per=BATCH_SIZE))
    try:
        for (
            record_id,
            public_id,
            code,
            completed_at,
            hours,
            courses,
            revoked_at,
            name,
            native_name,
            email,
            country,
            organisation,
            programme_code,
            programme_title,
        ) in result:
            courses = courses or []
            yield {
                "id": record_id,
                "trainee_name": name,
                "native_name": native_name or "",
                "email": email,
                "country": country or "",
                "organisation": organisation or "",
                "programme_code": programme_code,
                "programme_title": programme_title,
                "courses_completed": _courses_text(courses),
                "scores": _scores_text(courses),
                "hours": hours,
                "completion_date": completed_at.astimezone(UTC).date().isoformat(),
                "status": "revoked" if revoked_at is not None else "valid",
                "record_id": public_id,
                "verification_code": code,
                "verification_url": verify_root + code,
            }
    finally:
        result.close()


# --- writers ----------------------------------------------------------------------------

#: The columns whose text people type (names, organisations): only these can start
#: with a formula; the others are codes, numbers and dates made here.
_TYPED = frozenset(
    {"trainee_name", "native_name", "email", "organisation", "programme_title", "courses_completed"}
)

#: What a spreadsheet would run as a formula at the start of a cell (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet will show as text, never evaluate (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def headers() -> list[str]:
    """The column headers in the current language."""
    return [str(header) for _key, header in COLUMNS]


def write_csv(rows: Iterable[dict[str, Any]], header: list[str] | None = None) -> Iterator[str]:
    """The rows as CSV text chunks: UTF-8 byte-order mark, header line, then the rows.

    ``header``: the column headers, by default :func:`headers` in the current language
    when the first chunk is made (pass them when the chunks are made after the request).

    The BOM makes Excel read the file as UTF-8 (Japanese and Thai names intact). Chunks
    hold up to :data:`BATCH_SIZE` rows, so memory does not grow with the list.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(header if header is not None else headers())
    keys = [key for key, _header in COLUMNS]
    pending = 0
    for row in rows:
        writer.writerow([_safe_cell(row[key]) if key in _TYPED else row[key] for key in keys])
        pending += 1
        if pending >= BATCH_SIZE:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def write_xlsx(
    rows: Iterable[dict[str, Any]],
    header: list[str] | None = None,
    *,
    sheet_name: str = "Completions",
) -> Iterator[bytes]:
    """The rows as an XLSX workbook, in chunks of bytes.

    XlsxWriter's ``constant_memory`` mode writes each row to a temporary file as soon
    as the next row starts, and stores strings inline (no shared-strings table held in
    memory), so memory stays flat however long the list. An XLSX file is a zip whose
    directory comes last, so the workbook is finished in a temporary file first and
    then sent in :data:`FILE_CHUNK` pieces; the file is removed when the iterator ends
    or is closed (client gone).
    """
    import xlsxwriter  # noqa: PLC0415 - only the XLSX download needs it

    handle, path = tempfile.mkstemp(prefix="lms-export-", suffix=".xlsx")
    os.close(handle)
    try:
        workbook = xlsxwriter.Workbook(
            path,
            {
                "constant_memory": True,
                "tmpdir": tempfile.gettempdir(),
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        sheet = workbook.add_worksheet(sheet_name[:31])
        keys = [key for key, _header in COLUMNS]
        bold = workbook.add_format({"bold": True})
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        for column, key in enumerate(keys):
            sheet.set_column(column, column, _XLSX_WIDTHS.get(key, 18))
        sheet.write_row(0, 0, header if header is not None else headers(), bold)
        sheet.freeze_panes(1, 0)
        for index, row in enumerate(rows, start=1):
            for column, key in enumerate(keys):
                value = row[key]
                if key == "completion_date" and value:
                    sheet.write_datetime(index, column, date.fromisoformat(value), day)
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    sheet.write_number(index, column, value)
                else:
                    sheet.write_string(index, column, str(value or ""))
        workbook.close()
        with open(path, "rb") as finished:
            while chunk := finished.read(FILE_CHUNK):
                yield chunk
    finally:
        os.unlink(path)
