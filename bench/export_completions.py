"""Completion-list exports: time and peak memory at 10k and 100k rows, beside the database.

    .venv/bin/python bench/export_completions.py [--database sqlite|postgresql]
        [--database-url URL] [--rows 10000,100000] [--json]

What it does, in a temporary folder:

1. builds a world: one sponsor, one staff account, and per size a programme with that
   many trainees and completion records (names in Latin, Japanese, Thai and Arabic
   script; three courses per record). On PostgreSQL (``--database postgresql``) it
   creates a database of its own on the server named by ``--database-url``,
   ``LMS_BENCH_DATABASE_URL`` or ``LMS_TEST_DATABASE_URL`` and drops it at the end;
2. for each size and format (CSV, XLSX), starts a fresh Python process that builds the
   application, signs the sponsor's staff in through ``/login`` and downloads
   ``/sponsor/programmes/<id>/completions.<format>`` through the WSGI test client,
   reading the streamed body chunk by chunk as a browser would (no network: the
   figures are the application's, not the loopback's). The access check, the audit
   row and the count query are included;
3. runs the database's own bulk export of the same rows, joins and order:
   PostgreSQL ``COPY (SELECT ...) TO STDOUT WITH CSV HEADER`` read through psycopg in a
   fresh Python process, or on SQLite the ``sqlite3`` command-line shell in ``-csv``
   mode (when it is missing, Python's ``csv`` module over ``sqlite3``, and it says so);
4. prints, per run, the wall time of the export itself (from the request to the last
   byte; process start-up and imports excluded), the peak resident memory of the
   process (``ru_maxrss`` from ``wait4``) and its growth over the process's resident
   memory just before the export, the bytes produced, and the ratios to the database.

Figures depend on the machine: compare the ratios, and rerun on the target hardware.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-sponsor-password"  # noqa: S105 - a throw-away account in a temporary database
STAFF_EMAIL = "staff@sponsor.example"
BASE_URL = "https://lms.example"
NAMES = [  # (Latin, own script, country)
    ("Hanako Yamada", "山田 花子", "JP"),
    ("Somchai Jaidee", "สมชาย ใจดี", "TH"),
    ("Ahmed Hassan", "أحمد حسن", "EG"),
    ("Maria Silva", "", "BR"),
]
COURSES = [
    {"course_id": 1, "code": "WM101", "title": "Landfill basics"},
    {"course_id": 2, "code": "WM102", "title": "Composting and anaerobic digestion"},
    {"course_id": 3, "code": "WM103", "title": "Collection logistics"},
]


def _page_rss_kb() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_rss_kb() -> int:
    """This process's own peak resident memory (VmHWM). Not ``ru_maxrss`` from ``wait4``:
    Linux carries the parent's high-water mark over ``fork`` and ``exec``."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_peak_rss() -> None:
    """Start the peak (VmHWM) afresh, so that it is the export's, not the sign-in's
    (Argon2 takes 64 MiB for a moment). Linux 4.0+; without it the peak stays higher."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _report(began: float, size: int, lines: int, rss_before: int) -> None:
    elapsed = time.perf_counter() - began
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "bytes": size,
                "lines": lines,
                "rss_before_kb": rss_before,
                "peak_kb": _peak_rss_kb(),
            }
        )
    )


def _config(database_url: str, instance: Path) -> dict[str, object]:
    return {
        "LMS_DATABASE_URL": database_url,
        "LMS_INSTANCE_PATH": str(instance),
        "LMS_SECRET_KEY": secrets.token_hex(16),
        "LMS_BASE_URL": BASE_URL,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
    }


# --- the world -----------------------------------------------------------------------------------


@dataclass
class World:
    database_url: str
    instance: Path
    sqlite_path: Path | None
    sponsor_id: int
    programmes: dict[int, int]  # rows -> programme id
    drop: str | None = None
    admin_url: str | None = None


def _scratch_postgres(server_url: str) -> tuple[str, str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(server_url)
    name = f"kenshu_bench_export_{os.getpid()}_{secrets.token_hex(3)}"
    admin_url = base.render_as_string(hide_password=False)
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name, admin_url


def build_world(database: str, server_url: str | None, sizes: list[int], folder: Path) -> World:
    from sqlalchemy import func, select, text

    import lms.models  # noqa: F401 - every table on the metadata
    from lms import create_app
    from lms.accounts.models import Role, User, UserRole
    from lms.accounts.services import create_user
    from lms.credentials.codes import new_verification_code
    from lms.credentials.models import CompletionRecord
    from lms.db import Base, get_engine, new_session
    from lms.programs.models import Programme, Sponsor

    drop = admin_url = None
    sqlite_path = None
    if database == "postgresql":
        if not server_url:
            raise SystemExit("PostgreSQL needs --database-url or LMS_TEST_DATABASE_URL")
        database_url, drop, admin_url = _scratch_postgres(server_url)
    else:
        sqlite_path = folder / "bench.db"
        database_url = f"sqlite:///{sqlite_path}"
    instance = folder / "instance"
    app = create_app(_config(database_url, instance))
    engine = get_engine(app)
    Base.metadata.create_all(engine)
    programmes: dict[int, int] = {}
    with new_session(app) as session:
        sponsor = Sponsor(name="Bench Ministry", kind="ministry")
        session.add(sponsor)
        session.flush()
        create_user(
            session,
            email=STAFF_EMAIL,
            name="Bench Staff",
            roles=(Role.SPONSOR,),
            password=PASSWORD,
            sponsor_id=sponsor.id,
        )
        sponsor_id = sponsor.id
        for size in sizes:
            programme = Programme(
                code=f"BENCH-{size}",
                title=f"Bench programme of {size:,} graduates",
                sponsor_id=sponsor_id,
                starts_on=date(2026, 1, 1),
                ends_on=date(2026, 12, 31),
            )
            session.add(programme)
            session.flush()
            programmes[size] = programme.id
        session.commit()

    start = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    chunk = 5000
    with engine.connect() as connection:
        next_id = connection.scalar(select(func.max(User.id))) + 1
    for size, programme_id in programmes.items():
        for first in range(0, size, chunk):
            # Ids given here rather than returned: plain multi-row inserts are the fastest
            # way in on both databases (PostgreSQL's sequence is moved on below).
            ids = list(range(next_id, next_id + min(chunk, size - first)))
            next_id += len(ids)
            users = [
                {
                    "id": user_id,
                    "email": f"t{user_id}@trainees.example",
                    "password_hash": None,
                    "name": f"{NAMES[n % 4][0]} {n}",
                    "native_name": NAMES[n % 4][1],
                    "country": NAMES[n % 4][2],
                    "organisation": "City environment bureau",
                    "timezone": "UTC",
                    "active": True,
                    "session_token": uuid.uuid4().hex,
                    "created_at": start,
                }
                for n, user_id in enumerate(ids, start=first)
            ]
            roles = [{"user_id": user_id, "role": "trainee"} for user_id in ids]
            records = [
                {
                    "public_id": str(uuid.uuid4()),
                    "user_id": user_id,
                    "programme_id": programme_id,
                    "sponsor_id": sponsor_id,
                    "generation": 1,
                    "verification_code": new_verification_code(),
                    "issued_at": start + timedelta(minutes=n),
                    "completed_at": start + timedelta(minutes=n),
                    "study_hours": 24.5,
                    "courses": COURSES,
                    "revoked_reason": "",
                }
                for n, user_id in enumerate(ids, start=first)
            ]
            with engine.begin() as connection:
                for table, rows in (
                    (User.__table__, users),
                    (UserRole.__table__, roles),
                    (CompletionRecord.__table__, records),
                ):
                    if database == "postgresql":
                        _copy_in(connection, table.name, rows)
                    else:
                        connection.execute(table.insert(), rows)
    if database == "postgresql":
        with engine.begin() as connection:
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users")
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return World(database_url, instance, sqlite_path, sponsor_id, programmes, drop, admin_url)


def _copy_in(connection, table: str, rows: list[dict]) -> None:
    """PostgreSQL's COPY FROM STDIN through psycopg: the fast way to seed the world."""
    columns = list(rows[0])
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:  # noqa: SIM117
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(v) if isinstance(v, list) else v for v in row.values()])


def drop_world(world: World) -> None:
    if world.drop and world.admin_url:
        from sqlalchemy import create_engine, text

        engine = create_engine(world.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{world.drop}" WITH (FORCE)'))
        engine.dispose()


# --- the measured processes ----------------------------------------------------------------------


def child_download(database_url: str, instance: str, programme_id: int, fmt: str) -> None:
    """In a fresh process: sign in and download the list, reading the body in chunks."""
    from lms import create_app

    app = create_app(_config(database_url, Path(instance)))
    client = app.test_client()
    response = client.post("/login", data={"email": STAFF_EMAIL, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    client.get("/sponsor")  # warm the templates and the connection pool
    _reset_peak_rss()
    rss_before = _page_rss_kb()
    began = time.perf_counter()
    response = client.get(f"/sponsor/programmes/{programme_id}/completions.{fmt}", buffered=False)
    assert response.status_code == 200, response.status_code
    size = lines = 0
    for chunk in response.response:
        data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        size += len(data)
        lines += data.count(b"\n")
    response.close()
    _report(began, size, lines, rss_before)


def _baseline_sql(programme_id: int, sponsor_id: int, cast_courses: str, day: str) -> str:
    """The rows of the export with the same joins, filters and order, as the database
    writes them (the course list as stored JSON: SQL does not format it)."""
    # Integers only are put into the SQL; no input from outside reaches it.
    return (
        "SELECT u.name, u.native_name, u.email, u.country, u.organisation, p.code, p.title, "  # noqa: S608
        f"{cast_courses}, r.study_hours, {day}, "
        "CASE WHEN r.revoked_at IS NULL THEN 'valid' ELSE 'revoked' END, r.public_id, "
        f"r.verification_code, '{BASE_URL}/verify/' || r.verification_code "
        "FROM completion_records r JOIN users u ON u.id = r.user_id "
        "JOIN programmes p ON p.id = r.programme_id "
        f"WHERE r.sponsor_id = {sponsor_id} AND p.sponsor_id = {sponsor_id} "
        f"AND r.programme_id = {programme_id} ORDER BY r.id"
    )


def child_copy(database_url: str, programme_id: int, sponsor_id: int) -> None:
    """In a fresh process: PostgreSQL's COPY ... TO STDOUT WITH CSV through psycopg."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        _reset_peak_rss()
        rss_before = _page_rss_kb()
        began = time.perf_counter()
        size = lines = 0
        query = _baseline_sql(
            programme_id, sponsor_id, "r.courses::text", "(r.completed_at AT TIME ZONE 'UTC')::date"
        )
        with connection.cursor() as cursor:  # noqa: SIM117
            with cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                for block in copy:
                    size += len(block)
                    lines += bytes(block).count(b"\n")
        _report(began, size, lines, rss_before)


def child_sqlite_csv(path: str, programme_id: int, sponsor_id: int) -> None:
    """Fallback baseline without the sqlite3 shell: Python's csv module over sqlite3."""
    import csv
    import io
    import sqlite3

    connection = sqlite3.connect(path)
    _reset_peak_rss()
    rss_before = _page_rss_kb()
    began = time.perf_counter()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    size = lines = 0
    cursor = connection.execute(
        _baseline_sql(programme_id, sponsor_id, "r.courses", "date(r.completed_at)")
    )
    while batch := cursor.fetchmany(1000):
        writer.writerows(batch)
        data = buffer.getvalue().encode("utf-8")
        size += len(data)
        lines += data.count(b"\n")
        buffer.seek(0)
        buffer.truncate()
    _report(began, size, lines, rss_before)


@dataclass
class Run:
    seconds: float
    peak_kb: int
    growth_kb: int
    bytes: int
    lines: int


def measure(command: list[str]) -> Run:
    """Run a Python child of this script and read its own figures."""
    output = subprocess.run(command, check=True, capture_output=True, cwd=ROOT).stdout  # noqa: S603
    report = json.loads(output.decode().strip().splitlines()[-1])
    return Run(
        report["seconds"],
        report["peak_kb"],
        max(0, report["peak_kb"] - report["rss_before_kb"]),
        report["bytes"],
        report["lines"],
    )


def measure_shell(command: list[str], time_binary: str) -> Run:
    """Run a command-line tool under GNU time (its own peak RSS, ``%M``); wall time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        wrapped = [time_binary, "-f", "%M", "-o", stats.name, *command]
        began = time.perf_counter()
        process = subprocess.Popen(wrapped, stdout=subprocess.PIPE, cwd=ROOT)  # noqa: S603
        size = lines = 0
        assert process.stdout is not None
        while block := process.stdout.read(1 << 16):
            size += len(block)
            lines += block.count(b"\n")
        if process.wait() != 0:
            raise SystemExit(f"failed: {' '.join(command)}")
        wall = time.perf_counter() - began
        peak = int(stats.read().strip().splitlines()[-1])
    return Run(wall, peak, peak, size, lines)


def run_bench(world: World, database: str, sizes: list[int]) -> tuple[list[dict], str]:
    python = sys.executable
    script = str(Path(__file__).resolve())
    sqlite3_cli = shutil.which("sqlite3")
    time_binary = shutil.which("time") or (
        "/usr/bin/time" if Path("/usr/bin/time").exists() else None
    )
    if database == "postgresql":
        baseline_name = "PostgreSQL COPY … TO STDOUT WITH CSV, read through psycopg"
    elif sqlite3_cli and time_binary:
        baseline_name = "the sqlite3 shell in -csv mode (peak memory by GNU time)"
    else:
        sqlite3_cli = None
        baseline_name = "Python's csv module over sqlite3 (no sqlite3 shell or GNU time found)"
    results = []
    for size in sizes:
        programme_id = world.programmes[size]
        if database == "postgresql":
            base = measure(
                [
                    python,
                    script,
                    "--child",
                    "copy",
                    world.database_url,
                    str(programme_id),
                    str(world.sponsor_id),
                ]
            )
        elif sqlite3_cli:
            sql = _baseline_sql(programme_id, world.sponsor_id, "r.courses", "date(r.completed_at)")
            base = measure_shell(
                [sqlite3_cli, "-readonly", "-csv", "-header", str(world.sqlite_path), sql],
                time_binary,  # type: ignore[arg-type]
            )
        else:
            base = measure(
                [
                    python,
                    script,
                    "--child",
                    "sqlite-csv",
                    str(world.sqlite_path),
                    str(programme_id),
                    str(world.sponsor_id),
                ]
            )
        results.append({"rows": size, "format": "database", **base.__dict__})
        for fmt in ("csv", "xlsx"):
            run = measure(
                [
                    python,
                    script,
                    "--child",
                    "download",
                    world.database_url,
                    str(world.instance),
                    str(programme_id),
                    fmt,
                ]
            )
            if fmt == "csv" and run.lines != size + 1:
                raise SystemExit(f"CSV export of {size} rows has {run.lines - 1} rows")
            results.append(
                {
                    "rows": size,
                    "format": fmt,
                    **run.__dict__,
                    "time_ratio": run.seconds / base.seconds if base.seconds else None,
                    "memory_ratio": run.peak_kb / base.peak_kb if base.peak_kb else None,
                }
            )
    return results, baseline_name


def print_table(database: str, baseline: str, results: list[dict]) -> None:
    print(f"\n{database}: baseline = {baseline}")
    columns = [
        ("rows", "---:"),
        ("export", "------"),
        ("seconds", "------:"),
        ("rows/s", "-----:"),
        ("peak RSS MB", "----------:"),
        ("RSS growth MB", "------------:"),
        ("output MB", "--------:"),
        ("time × db", "--------:"),
        ("peak RSS × db", "------------:"),
    ]
    print("| " + " | ".join(name for name, _rule in columns) + " |")
    print("| " + " | ".join(rule for _name, rule in columns) + " |")
    for r in results:
        name = {"database": "database", "csv": "CSV", "xlsx": "XLSX"}[r["format"]]
        ratio_t = f"{r['time_ratio']:.1f}" if r.get("time_ratio") else ""
        ratio_m = f"{r['memory_ratio']:.1f}" if r.get("memory_ratio") else ""
        print(
            f"| {r['rows']:,} | {name} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} "
            f"| {r['peak_kb'] / 1024:.0f} | {r['growth_kb'] / 1024:.1f} | {r['bytes'] / 1e6:.1f} "
            f"| {ratio_t} | {ratio_m} |"
        )


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, *args = sys.argv[2:]
        if kind == "download":
            child_download(args[0], args[1], int(args[2]), args[3])
        elif kind == "copy":
            child_copy(args[0], int(args[1]), int(args[2]))
        elif kind == "sqlite-csv":
            child_sqlite_csv(args[0], int(args[1]), int(args[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LMS_BENCH_DATABASE_URL") or os.environ.get("LMS_TEST_DATABASE_URL"),
        help="a PostgreSQL server (a scratch database is created on it and dropped)",
    )
    parser.add_argument("--rows", default="10000,100000", help="list sizes, comma-separated")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args()
    sizes = [int(value) for value in options.rows.split(",") if value.strip()]
    with tempfile.TemporaryDirectory(prefix="kenshu-bench-export-") as folder:
        began = time.perf_counter()
        world = build_world(options.database, options.database_url, sizes, Path(folder))
        built = time.perf_counter() - began
        try:
            results, baseline = run_bench(world, options.database, sizes)
        finally:
            drop_world(world)
    if options.json:
        print(json.dumps({"database": options.database, "baseline": baseline, "results": results}))
    else:
        print(f"world built in {built:.0f} s ({sum(sizes):,} trainees and records)")
        print_table(options.database, baseline, results)


if __name__ == "__main__":
    main()
