"""How heavy is a lesson page? Bytes of HTML, CSS and JavaScript, raw and gzipped.

Builds the demo in a temporary folder (SQLite, local storage, the sample course's videos
really processed), signs in as a demo trainee, renders the first video lesson of the
sample course, and fetches every stylesheet and script the page links to. Video, audio,
the poster and the caption files are media, not page weight, and are left out (the
lowest rendition of a 20-second sample lecture is listed for scale).

    .venv/bin/python bench/lesson_page_size.py

Exits with status 1 when the page is over its budget.
"""

from __future__ import annotations

import gzip
import random
import re
import sys
import tempfile
from html import unescape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

import lms.models  # noqa: E402,F401 - every table on the metadata
from lms import create_app  # noqa: E402
from lms.catalog.models import Course, CourseVersion  # noqa: E402
from lms.db import Base, get_engine, new_session  # noqa: E402
from lms.demo import load_demo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KB = 1024
LONG_LINES = 600  # caption paragraphs of a one-hour lecture
# The budget, in gzipped bytes (what a trainee's connection carries on a first visit). A
# transcript is text the trainee reads, and an hour of it is some 10,000 words: that page
# has a budget of its own.
BUDGET = {"HTML": 30 * KB, "HTML, one-hour lecture": 40 * KB, "CSS + JS": 60 * KB}
PASSWORD = "bench-demo-password"  # noqa: S105 - a throw-away demo in a temporary folder
TRAINEE = "trainee1@kenshu.example.org"


def gzipped(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6, mtime=0))


def long_transcript_page(text: str) -> bytes:
    """The same page with the transcript of a one-hour lecture: 600 paragraphs of 10 to 25
    words drawn at random (fixed seed) from the sample course's English readings, so that
    gzip sees text about as varied as real speech, not one line repeated."""
    words = re.findall(
        r"[A-Za-z][A-Za-z'-]+",
        " ".join(p.read_text() for p in (ROOT / "content").rglob("*.en.md")),
    )
    rng = random.Random(4)
    lines = []
    for index in range(LONG_LINES):
        start = index * 6.0
        words_in_line = " ".join(rng.choice(words) for _ in range(rng.randint(10, 25)))
        stamp = f"{int(start // 60)}:{int(start % 60):02d}"
        lines.append(
            f'<li><button type="button" data-start="{start}"><span>{stamp}</span> '
            f"{words_in_line.capitalize()}.</button></li>"
        )
    page = re.sub(
        r"(<ol class=\"transcript-lines\"[^>]*>).*?(</ol>)",
        lambda m: m.group(1) + "\n".join(lines) + m.group(2),
        text,
        count=1,
        flags=re.S,
    )
    return page.encode()


def build(folder: Path):
    app = create_app(
        {
            "LMS_INSTANCE_PATH": str(folder / "instance"),
            "LMS_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "LMS_SECRET_KEY": "bench-secret-key",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "JOBS_IMMEDIATE": True,  # process the sample videos while the demo loads
        }
    )
    Base.metadata.create_all(get_engine(app))
    load_demo(app, PASSWORD)
    with new_session(app) as session:
        course = session.query(Course).filter_by(code="TOKYO-MSW").one()
        version = session.get(CourseVersion, course.published_version_id)
        lesson_id = next(
            lesson["id"]
            for module in version.snapshot["modules"]
            for lesson in module["lessons"]
            if lesson["kind"] == "video"
        )
        return app, f"/courses/{course.id}/lessons/{lesson_id}"


def fetch(client, url: str) -> bytes:
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
    return response.data


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kenshu-bench-") as tmp:
        app, url = build(Path(tmp))
        client = app.test_client()
        response = client.post("/login", data={"email": TRAINEE, "password": PASSWORD})
        if response.status_code != 302:
            raise SystemExit("could not sign in as the demo trainee")
        html = fetch(client, url)
        text = html.decode()
        if "<video" not in text or "data-transcript" not in text:
            raise SystemExit(f"{url} is not a processed video lesson with a transcript")
        rows = [("HTML", url, html)]
        long_html = long_transcript_page(text)
        for href in re.findall(r'<link rel="stylesheet" href="([^"]+)"', text):
            rows.append(("CSS", href, fetch(client, unescape(href))))
        for src in re.findall(r'<script src="([^"]+)"', text):
            rows.append(("JS", src, fetch(client, unescape(src))))
        lines = re.findall(r'<li><button type="button" data-start=.*?</li>', text)
        per_line = sum(len(line.encode()) for line in lines) / max(1, len(lines))
        source = re.search(r'<source src="([^"]+)"', text)
        lowest = len(fetch(client, unescape(source.group(1)))) if source else 0
        get_engine(app).dispose()

    print(f"Lesson page of the demo's first video lecture ({url}), as a trainee\n")
    print(f"{'kind':<6} {'file':<36} {'raw':>9} {'gzip':>9}")
    scripts = [0, 0]
    for kind, name, data in rows:
        raw, packed = len(data), gzipped(data)
        if kind != "HTML":
            scripts[0] += raw
            scripts[1] += packed
        label = name.split("?")[0].rsplit("/", 1)[-1] if kind != "HTML" else "lesson page"
        print(f"{kind:<6} {label:<36} {raw:>9,} {packed:>9,}")
    long_label = f"same page, {LONG_LINES}-line transcript"
    print(f"{'HTML':<6} {long_label:<36} {len(long_html):>9,} {gzipped(long_html):>9,}")
    print()
    checks = [
        ("HTML", len(html), gzipped(html)),
        ("HTML, one-hour lecture", len(long_html), gzipped(long_html)),
        ("CSS + JS", scripts[0], scripts[1]),
    ]
    over = False
    for group, raw, packed in checks:
        budget = BUDGET[group]
        verdict = "ok" if packed <= budget else "OVER BUDGET"
        over = over or packed > budget
        print(
            f"{group:<24} raw {raw / KB:6.1f} KB  gzip {packed / KB:5.1f} KB"
            f"  (budget {budget / KB:.0f} KB gzip) {verdict}"
        )
    first_visit = gzipped(html) + scripts[1]
    print(f"\nFirst visit, HTML + CSS + JS: {first_visit / KB:.1f} KB gzipped.")
    print(
        f"The demo lecture's transcript has {len(lines)} lines, about {per_line:.0f} bytes of"
        " HTML each."
    )
    print(f"For scale, not counted: the 240p rendition of this 20 s lecture is {lowest:,} bytes.")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
