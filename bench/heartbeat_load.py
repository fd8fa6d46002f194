"""Load benchmark of the heartbeat endpoint under gunicorn, beside /healthz as the ceiling.

    .venv/bin/python bench/heartbeat_load.py [--database sqlite|postgresql] [--seconds 10]

What it does, all on the loopback interface and in a temporary folder:

1. builds a world: a published course with one 60-minute video lesson (a media row
   only: beats never touch the video bytes), a programme, and ``--trainees`` trainees
   enrolled in it. On PostgreSQL (``--database postgresql``) it creates a database of
   its own on the server named by ``--database-url``, ``LMS_BENCH_DATABASE_URL`` or
   ``LMS_TEST_DATABASE_URL``, and drops it at the end;
2. starts the application under gunicorn (``gthread``, ``--workers`` × ``--threads``) on
   a free port of 127.0.0.1, exactly as in production (``lms:create_app()``), except
   for a higher login rate limit (``LMS_LOGIN_RATE_LIMIT``) so that the trainees can
   sign in one after the other from one address;
3. signs every trainee in through ``/login`` like a browser (the CSRF token from the
   login form, then the one of a signed-in page for the ``X-CSRFToken`` header):
   there is no test-only way in;
4. runs the same closed-loop load (``--connections`` client threads with keep-alive
   connections, each sending its next request when the previous answer is in) for
   ``--seconds`` against ``GET /healthz`` (the ceiling of this stack: routing,
   session, one ``SELECT 1``) and then against ``POST /api/v1/lessons/<id>/beats``.
   Each trainee belongs to one client thread and plays the video honestly at 1×:
   every beat carries the interval played since its previous beat, so every beat
   credits new seconds and none is clipped;
5. prints requests per second, p50 and p99 latency of both and their ratio, and checks
   that every beat answered 200 is stored (the playback sessions' beat counters).

The load is bounded by ``--seconds`` and ``--max-requests`` per phase. Figures depend on
the machine: compare the ratio, and rerun on the target hardware.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
PASSWORD = "bench-trainee-password"  # noqa: S105 - throw-away accounts in a temporary database
VIDEO_SECONDS = 3600.0
CSRF_INPUT = re.compile(
    r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"'
)


# --- the world -----------------------------------------------------------------------------------


@dataclass
class World:
    database_url: str
    instance: Path
    lesson_id: int
    emails: list[str]
    drop: str | None = None  # a PostgreSQL database to drop at the end
    admin_url: str | None = None


def _postgres_database(base_url: str) -> tuple[str, str, str]:
    """A fresh database on the server of ``base_url``: (its URL, its name, the admin URL)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from lms.db import make_engine

    base = make_url(base_url)
    name = f"{base.database or 'kenshu'}_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin_url = base.render_as_string(hide_password=False)
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name, admin_url


def _drop_postgres(admin_url: str, name: str) -> None:
    from sqlalchemy import text

    from lms.db import make_engine

    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def build_world(folder: Path, database: str, pg_url: str | None, trainees: int) -> World:
    from argon2 import PasswordHasher, profiles

    import lms.learning.records  # noqa: F401 - the completion tables
    import lms.models  # noqa: F401 - every table on the metadata
    from lms import create_app
    from lms.accounts import services as accounts
    from lms.accounts.models import Role, User
    from lms.catalog import services as catalog
    from lms.db import Base, get_engine, new_session
    from lms.media.models import MediaAsset
    from lms.programs.models import Enrolment, Programme, ProgrammeCourse, Sponsor

    drop = admin_url = None
    if database == "postgresql":
        if not pg_url:
            raise SystemExit(
                "--database postgresql needs --database-url, LMS_BENCH_DATABASE_URL or "
                "LMS_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
            )
        url, drop, admin_url = _postgres_database(pg_url)
    else:
        url = f"sqlite:///{folder / 'bench.db'}"
    instance = folder / "instance"
    app = create_app(
        {"LMS_INSTANCE_PATH": str(instance), "LMS_DATABASE_URL": url, "LMS_SECRET_KEY": "x"}
    )
    Base.metadata.create_all(get_engine(app))
    # Cheap Argon2 parameters for these throw-away accounts: the server verifies each
    # password with the parameters stored in its hash, so signing in stays quick.
    accounts._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    emails = [f"bench-trainee-{n:03d}@example.org" for n in range(trainees)]
    with new_session(app) as session:
        instructor = accounts.create_user(
            session,
            email="bench-instructor@example.org",
            name="Bench Instructor",
            roles=(Role.INSTRUCTOR,),
            password=PASSWORD,
        )
        course = catalog.create_course(
            session, instructor, catalog.CourseData(code="BENCH-1", title="Heartbeat bench")
        )
        module = catalog.add_module(session, course, "en", "Lectures")
        lesson = catalog.add_lesson(
            session, module, catalog.LessonData(kind="video", title="Lecture", language="en")
        )
        asset = MediaAsset(
            course_id=course.id,
            lesson_id=lesson.id,
            kind="video",
            filename="lecture.mp4",
            key=f"media/{uuid.uuid4().hex}/lecture.mp4",
            status="ready",
            duration=VIDEO_SECONDS,
        )
        session.add(asset)
        session.flush()
        lesson.media_id = asset.id
        catalog.publish(session, instructor, course)
        sponsor = Sponsor(name="Bench Sponsor", kind="agency")
        session.add(sponsor)
        session.flush()
        programme = Programme(
            code="BENCH",
            title="Bench programme",
            sponsor_id=sponsor.id,
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
        )
        session.add(programme)
        session.flush()
        session.add(ProgrammeCourse(programme_id=programme.id, course_id=course.id))
        for email in emails:
            user: User = accounts.create_user(
                session, email=email, name=email.split("@")[0], password=PASSWORD
            )
            session.add(Enrolment(programme_id=programme.id, user_id=user.id))
        session.commit()
        lesson_id = lesson.id
    get_engine(app).dispose()
    return World(url, instance, lesson_id, emails, drop, admin_url)


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(world: World, workers: int, threads: int, folder: Path) -> Server:
    port = free_port()
    log = folder / "gunicorn.log"
    env = {
        **os.environ,
        "LMS_DATABASE_URL": world.database_url,
        "LMS_INSTANCE_PATH": str(world.instance),
        "LMS_SECRET_KEY": secrets.token_hex(32),
        "LMS_LOGIN_RATE_LIMIT": "100000 per minute",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        f"{HOST}:{port}",
        "--log-level",
        "warning",
        "--timeout",
        "60",
        "lms:create_app()",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            status, _headers, _body = request(Connection(port), "GET", "/healthz")
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"gunicorn did not answer within 60 s:\n{log.read_text()[-3000:]}")


# --- HTTP ----------------------------------------------------------------------------------------


class Connection:
    """A keep-alive HTTP/1.1 connection to the server, reopened when it is dropped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def get(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        return self.conn

    def reset(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def request(
    connection: Connection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    for attempt in (1, 2):
        conn = connection.get()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            if response.will_close:
                connection.reset()
            return response.status, response.headers, data
        except (http.client.HTTPException, ConnectionError):
            connection.reset()  # the server closed an idle keep-alive connection
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _cookie(headers: http.client.HTTPMessage, name: str) -> str | None:
    for value in headers.get_all("Set-Cookie") or []:
        first = value.split(";", 1)[0]
        key, _, content = first.partition("=")
        if key.strip() == name:
            return content
    return None


def _csrf(html: bytes) -> str:
    match = CSRF_INPUT.search(html.decode("utf-8", "replace"))
    if not match:
        raise SystemExit("no CSRF token in the page")
    return unescape(match.group(1) or match.group(2))


@dataclass
class Trainee:
    email: str
    cookie: str
    csrf: str
    playback: str = field(default_factory=lambda: str(uuid.uuid4()))
    seq: int = 0
    position: float = 0.0
    last: float = 0.0  # wall time of the previous beat (time.time())


def sign_in(port: int, email: str) -> Trainee:
    """Like a browser: the login form's CSRF token, POST /login, then a signed-in page."""
    connection = Connection(port)
    status, headers, body = request(connection, "GET", "/login")
    if status != 200:
        raise SystemExit(f"GET /login answered {status}")
    cookie = _cookie(headers, "session")
    form = urlencode({"csrf_token": _csrf(body), "email": email, "password": PASSWORD})
    status, headers, _body = request(
        connection,
        "POST",
        "/login",
        form.encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"session={cookie}",
            "Referer": f"http://{HOST}:{port}/login",
        },
    )
    cookie = _cookie(headers, "session") or cookie
    if status != 302 or not cookie:
        raise SystemExit(f"signing in as {email} failed: {status}")
    status, headers, body = request(connection, "GET", "/", headers={"Cookie": f"session={cookie}"})
    cookie = _cookie(headers, "session") or cookie
    if status != 200:
        raise SystemExit(f"GET / after signing in answered {status}")
    connection.reset()
    return Trainee(email, cookie, _csrf(body))


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    answered_ok: int = 0  # 2xx answers, warm-up included

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0] * 1000
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(p) - 1] * 1000

    def summary(self) -> dict[str, float | int | str]:
        return {
            "endpoint": self.name,
            "requests": self.ok,
            "errors": sum(self.errors.values()),
            "requests_per_second": round(self.rate, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
        }


def beat_request(trainee: Trainee, lesson_id: int) -> tuple[str, bytes, dict[str, str]]:
    """The trainee's next beat: what was played at 1× since the previous one."""
    now = time.time()
    intervals = []
    if trainee.seq > 0:
        played = max(0.01, min(now - trainee.last, 15.0))
        start = trainee.position
        end = min(VIDEO_SECONDS, start + played)
        if end > start:
            intervals.append([round(start, 3), round(end, 3)])
        trainee.position = 0.0 if end >= VIDEO_SECONDS else end
    payload = {
        "session": trainee.playback,
        "seq": trainee.seq,
        "intervals": intervals,
        "position": round(trainee.position, 3),
        "t": int(now * 1000),
        "rate": 1,
    }
    trainee.seq += 1
    trainee.last = now
    headers = {
        "Content-Type": "application/json",
        "Cookie": f"session={trainee.cookie}",
        "X-CSRFToken": trainee.csrf,
    }
    return f"/api/v1/lessons/{lesson_id}/beats", json.dumps(payload).encode(), headers


def run_phase(
    name: str,
    port: int,
    connections: int,
    seconds: float,
    warmup: float,
    max_requests: int,
    make_request,
) -> Phase:
    """Closed loop: each thread sends its next request when the previous answer is in."""
    phase = Phase(name)
    lock = threading.Lock()
    start_barrier = threading.Barrier(connections + 1)
    state = {"measure_from": 0.0, "stop_at": 0.0}
    budget = [max_requests]

    def worker(index: int) -> None:
        connection = Connection(port)
        latencies: list[float] = []
        errors: dict[int, int] = {}
        answered_ok = 0
        start_barrier.wait()
        while True:
            now = time.perf_counter()
            if now >= state["stop_at"]:
                break
            measuring = now >= state["measure_from"]
            if measuring:
                with lock:
                    if budget[0] <= 0:
                        break
                    budget[0] -= 1
            method, path, body, headers = make_request(index)
            began = time.perf_counter()
            try:
                status, _headers, _data = request(connection, method, path, body, headers)
            except (OSError, http.client.HTTPException):
                status = 0
            took = time.perf_counter() - began
            answered_ok += 200 <= status < 300
            if not measuring:
                continue
            if 200 <= status < 300:
                latencies.append(took)
            else:
                errors[status] = errors.get(status, 0) + 1
        connection.reset()
        with lock:
            phase.answered_ok += answered_ok
            phase.latencies.extend(latencies)
            for status, count in errors.items():
                phase.errors[status] = phase.errors.get(status, 0) + count

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    begin = time.perf_counter()
    state["measure_from"] = begin + warmup
    state["stop_at"] = begin + warmup + seconds
    start_barrier.wait()
    for thread in threads:
        thread.join()
    phase.elapsed = min(time.perf_counter(), state["stop_at"]) - state["measure_from"]
    return phase


def stored_beats(database_url: str) -> tuple[int, int, float]:
    """(beats accepted, beats clipped, seconds credited) as stored by the server."""
    from sqlalchemy import func, select

    import lms.models  # noqa: F401
    from lms.db import make_engine
    from lms.learning.models import PlaybackSession

    engine = make_engine(database_url)
    with engine.connect() as connection:
        beats, clipped, credited = connection.execute(
            select(
                func.coalesce(func.sum(PlaybackSession.beats), 0),
                func.coalesce(func.sum(PlaybackSession.clipped_beats), 0),
                func.coalesce(func.sum(PlaybackSession.credited_seconds), 0.0),
            )
        ).one()
    engine.dispose()
    return int(beats), int(clipped), float(credited)


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LMS_BENCH_DATABASE_URL") or os.environ.get("LMS_TEST_DATABASE_URL"),
        help="PostgreSQL server to create a scratch database on",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured time per phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16, help="client threads")
    parser.add_argument("--trainees", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=200_000, help="per phase")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.seconds > 600:
        parser.error("--seconds must be between 0 and 600")
    if not 1 <= args.connections <= 256 or args.trainees < args.connections:
        parser.error("use 1 to 256 --connections and at least as many --trainees")

    folder = Path(tempfile.mkdtemp(prefix="kenshu-heartbeat-"))
    world = server = None
    try:
        world = build_world(folder, args.database, args.database_url, args.trainees)
        server = start_server(world, args.workers, args.threads, folder)
        trainees = [sign_in(server.port, email) for email in world.emails]
        # Each trainee belongs to one client thread (no two threads race on one trainee).
        owned = [trainees[i :: args.connections] for i in range(args.connections)]
        turns = [0] * args.connections

        def healthz(_index: int):
            return "GET", "/healthz", None, {}

        def heartbeat(index: int):
            mine = owned[index]
            trainee = mine[turns[index] % len(mine)]
            turns[index] += 1
            path, body, headers = beat_request(trainee, world.lesson_id)
            return "POST", path, body, headers

        common = (server.port, args.connections, args.seconds, args.warmup, args.max_requests)
        ceiling = run_phase("GET /healthz", *common, healthz)
        beats = run_phase("POST /api/v1/lessons/<id>/beats", *common, heartbeat)
        accepted, clipped, credited = stored_beats(world.database_url)
    finally:
        if server is not None:
            server.stop()
        if world is not None and world.drop and world.admin_url:
            _drop_postgres(world.admin_url, world.drop)
        shutil.rmtree(folder, ignore_errors=True)

    ratio = beats.rate / ceiling.rate if ceiling.rate else float("nan")
    result = {
        "database": args.database,
        "server": f"gunicorn gthread, {args.workers} workers x {args.threads} threads",
        "connections": args.connections,
        "trainees": args.trainees,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "phases": [ceiling.summary(), beats.summary()],
        "ratio": round(ratio, 3),
        "beats_stored": accepted,
        "beats_clipped": clipped,
        "seconds_credited": round(credited, 1),
        "beat_errors": beats.errors,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"Kenshu heartbeat load: {args.database}, {result['server']}, "
            f"{args.connections} client connections, {args.trainees} trainees, "
            f"{args.seconds:g} s per endpoint, {os.cpu_count()} CPUs"
        )
        columns = ("requests", "errors", "req/s", "p50 ms", "p99 ms")
        print(f"{'endpoint':<34} " + " ".join(f"{c:>9}" for c in columns))
        for row in result["phases"]:
            print(
                f"{row['endpoint']:<34} {row['requests']:>9} {row['errors']:>9} "
                f"{row['requests_per_second']:>9.1f} {row['p50_ms']:>9.2f} {row['p99_ms']:>9.2f}"
            )
        print(f"heartbeat / healthz: {ratio:.2f} of the ceiling (requests per second)")
        print(
            f"stored: {accepted} beats accepted ({clipped} clipped), "
            f"{credited:.0f} s of video credited; errors by status: {beats.errors or 'none'}"
        )
    # Every beat answered 200 (measured or warm-up) is stored, and none was clipped.
    consistent = accepted == beats.answered_ok and clipped == 0
    if not consistent:
        print(
            f"INCONSISTENT: {beats.answered_ok} beats answered 200, {accepted} stored, "
            f"{clipped} clipped",
            file=sys.stderr,
        )
    return 0 if consistent and not beats.errors else 1


if __name__ == "__main__":
    sys.exit(main())
