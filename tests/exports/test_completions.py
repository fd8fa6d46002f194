"""The shared completion rows and writers: columns, filters, sponsor scope, CSV and XLSX.

Runs on SQLite and PostgreSQL (the ``app`` fixture is parametrised over both).
"""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest
from flask import Flask

from lms.db import new_session
from lms.exports.completions import (
    BATCH_SIZE,
    COLUMNS,
    CompletionFilters,
    completion_rows,
    write_csv,
    write_xlsx,
)
from tests.exports.conftest import World

BASE = "https://lms.example/"


def rows(app: Flask, world: World, programme_id=None, sponsor_id=None, **kwargs):
    filters = kwargs.pop("filters", CompletionFilters())
    with new_session(app) as session:
        return list(
            completion_rows(
                session,
                sponsor_id=sponsor_id or world.sponsor_id,
                programme_id=programme_id,
                filters=filters,
                base_url=BASE,
                **kwargs,
            )
        )


def emails(found) -> list[str]:
    return [row["email"] for row in found]


def test_rows_carry_every_column_in_record_order(app, world):
    found = rows(app, world, world.programme_id)
    assert emails(found) == [
        "hanako@example.org",
        "somchai@example.org",
        "maria@example.org",
        "ahmed@example.org",
    ]
    assert [row["id"] for row in found] == sorted(row["id"] for row in found)
    hanako = found[0]
    assert set(hanako) == {key for key, _header in COLUMNS} | {"id"}
    assert hanako["trainee_name"] == "Hanako Yamada"
    assert hanako["native_name"] == "山田 花子"
    assert hanako["country"] == "JP"
    assert hanako["organisation"] == "東京都環境局"
    assert hanako["programme_code"] == "JP-2026-01"
    assert hanako["programme_title"] == "Waste management 2026"
    assert hanako["courses_completed"] == "WM101 Landfill basics; WM102 Composting"
    assert hanako["scores"] == "WM101: 92; WM102: 85"
    assert hanako["hours"] == 12.5
    assert hanako["completion_date"] == "2026-03-01"
    assert hanako["status"] == "valid"
    code = world.codes["hanako@example.org"]
    assert hanako["verification_code"] == code
    assert hanako["verification_url"] == f"https://lms.example/verify/{code}"
    assert len(hanako["record_id"]) == 36  # the public UUID, not the guessable row id
    # A record without scores has none: nothing is made up.
    assert found[2]["scores"] == ""
    assert found[1]["status"] == "revoked"


def test_sponsor_scope_never_crosses(app, world):
    # All the sponsor's programmes, and none of the other sponsor's.
    assert sorted(emails(rows(app, world))) == sorted(
        [
            "hanako@example.org",
            "somchai@example.org",
            "maria@example.org",
            "ahmed@example.org",
            "kenji@example.org",
        ]
    )
    # Another sponsor's programme id with this sponsor's scope: no rows at all.
    assert rows(app, world, world.other_programme_id) == []
    assert emails(rows(app, world, world.other_programme_id, world.other_sponsor_id)) == [
        "pedro@example.org"
    ]
    assert rows(app, world, world.programme_id, world.other_sponsor_id) == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (CompletionFilters(since=date(2026, 3, 15)), ["somchai", "maria", "ahmed"]),
        # Both ends are included; the last moment of the day counts.
        (CompletionFilters(until=date(2026, 3, 15)), ["hanako", "somchai"]),
        (
            CompletionFilters(since=date(2026, 3, 2), until=date(2026, 4, 2)),
            ["somchai", "maria"],
        ),
        (CompletionFilters(status="valid"), ["hanako", "maria", "ahmed"]),
        (CompletionFilters(status="revoked"), ["somchai"]),
        (CompletionFilters(country="th"), ["somchai"]),
        (CompletionFilters(country="BR", status="valid"), ["maria"]),
        (CompletionFilters(since=date(2027, 1, 1)), []),
    ],
)
def test_filters(app, world, filters, expected):
    found = rows(app, world, world.programme_id, filters=filters)
    assert emails(found) == [f"{name}@example.org" for name in expected]


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        CompletionFilters(status="everything")


def test_keyset_pages(app, world):
    first = rows(app, world, world.programme_id, limit=2)
    assert emails(first) == ["hanako@example.org", "somchai@example.org"]
    rest = rows(app, world, world.programme_id, after_id=first[-1]["id"], limit=10)
    assert emails(rest) == ["maria@example.org", "ahmed@example.org"]
    assert rows(app, world, world.programme_id, after_id=rest[-1]["id"]) == []


def test_csv_has_a_bom_a_header_and_names_intact(app, world):
    chunks = list(write_csv(rows(app, world, world.programme_id)))
    data = "".join(chunks).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert parsed[0] == [str(header) for _key, header in COLUMNS]
    assert parsed[0][0] == "Trainee name"
    assert len(parsed) == 5
    by_email = {line[2]: line for line in parsed[1:]}
    assert by_email["hanako@example.org"][1] == "山田 花子"
    assert by_email["somchai@example.org"][1] == "สมชาย ใจดี"
    assert by_email["ahmed@example.org"][1] == "أحمد حسن"
    # A value that would run as a formula in a spreadsheet is kept as text.
    assert by_email["maria@example.org"][4] == '\'=HYPERLINK("http://evil.example")'


def test_csv_streams_in_chunks():
    row = {key: "x" for key, _header in COLUMNS}
    produced = write_csv(row for _ in range(BATCH_SIZE * 2 + 5))
    first = next(produced)  # rows are written as they come, not all at the end
    assert first.startswith("\ufeff") and first.count("\r\n") == BATCH_SIZE + 1
    rest = list(produced)
    assert len(rest) == 2 and rest[-1].count("\r\n") == 5


def test_xlsx_reads_back_with_openpyxl(app, world, tmp_path):
    path = tmp_path / "list.xlsx"
    path.write_bytes(b"".join(write_xlsx(rows(app, world, world.programme_id))))
    sheet = openpyxl.load_workbook(path, read_only=True).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == [str(header) for _key, header in COLUMNS]
    assert len(values) == 5
    hanako = dict(zip([key for key, _h in COLUMNS], values[1], strict=True))
    assert hanako["native_name"] == "山田 花子"
    assert hanako["hours"] == 12.5
    assert hanako["completion_date"].date() == date(2026, 3, 1)
    maria = dict(zip([key for key, _h in COLUMNS], values[3], strict=True))
    # Strings are never turned into formulas in the workbook.
    assert maria["organisation"] == '=HYPERLINK("http://evil.example")'
    assert values[2][1] == "สมชาย ใจดี"


def test_xlsx_temporary_file_is_removed(app, world, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    produced = write_xlsx(rows(app, world, world.programme_id))
    next(produced)
    assert list(tmp_path.glob("lms-export-*.xlsx"))
    produced.close()  # the client went away
    assert not list(tmp_path.glob("lms-export-*.xlsx"))
