"""The downloaded CSV and XLSX lists open in LibreOffice Calc with the right rows.

LibreOffice converts each file headlessly to a UTF-8 CSV, which is compared with the
rows the database holds. For the CSV download no character set is given to LibreOffice,
as when a person opens the file: it has to recognise UTF-8 itself (the byte-order mark).
In CI (``CI=true``) a missing ``soffice`` fails the test instead of skipping it.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI, login
from tests.exports.conftest import World

# Comma-separated, double quotes, UTF-8 (76): how LibreOffice writes the converted file.
CSV_OUT = "csv:Text - txt - csv (StarCalc):44,34,76"

EXPECTED = [  # email, name in own script, country, status, completion date, hours
    ("hanako@example.org", "山田 花子", "JP", "valid", "2026-03-01", "12.5"),
    ("somchai@example.org", "สมชาย ใจดี", "TH", "revoked", "2026-03-15", "12.5"),
    ("maria@example.org", "", "BR", "valid", "2026-04-02", "12.5"),
    ("ahmed@example.org", "أحمد حسن", "EG", "valid", "2026-04-30", "7.25"),
]


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found:
        return found
    if IN_CI:
        pytest.fail("CI=true but LibreOffice (soffice) is not installed; .ci/run installs it")
    pytest.skip("LibreOffice (soffice) is not installed")


def convert(
    binary: str, source: Path, profile: Path, infilter: str | None = None
) -> list[list[str]]:
    outdir = source.parent / f"converted-{source.suffix[1:]}"
    command = [
        binary,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
    ]
    if infilter:
        command.append(f"--infilter={infilter}")
    command += ["--convert-to", CSV_OUT, "--outdir", str(outdir), str(source)]
    subprocess.run(command, check=True, capture_output=True, timeout=180)
    converted = outdir / f"{source.stem}.csv"
    assert converted.exists(), f"LibreOffice did not convert {source.name}"
    with converted.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def pick(table: list[list[str]]) -> list[tuple[str, ...]]:
    header = table[0]
    columns = [
        header.index(name)
        for name in (
            "Email",
            "Name in own script",
            "Country",
            "Record status",
            "Completion date",
            "Study hours",
        )
    ]
    return [tuple(line[i] for i in columns) for line in table[1:] if any(line)]


def test_csv_and_xlsx_open_in_libreoffice(app, world: World, tmp_path: Path):
    binary = soffice()
    client = app.test_client()
    assert login(client, world.staff_email).status_code == 302
    base = f"/sponsor/programmes/{world.programme_id}/completions"
    csv_file = tmp_path / "from-csv.csv"
    csv_file.write_bytes(client.get(f"{base}.csv").get_data())
    xlsx_file = tmp_path / "from-xlsx.xlsx"
    xlsx_file.write_bytes(client.get(f"{base}.xlsx").get_data())
    profile = tmp_path / "lo-profile"

    # Separator and quote given, character set left to LibreOffice to detect.
    from_csv = convert(binary, csv_file, profile, infilter="CSV:44,34,")
    from_xlsx = convert(binary, xlsx_file, profile)

    for table in (from_csv, from_xlsx):
        assert table[0][0] == "Trainee name"  # the byte-order mark is not in the first cell
        assert pick(table) == EXPECTED
        codes = {
            line[table[0].index("Email")]: line[table[0].index("Verification code")]
            for line in table[1:]
        }
        assert codes == {email: world.codes[email] for email, *_rest in EXPECTED}
