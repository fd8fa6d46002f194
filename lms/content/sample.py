"""The sample course in ``content/tokyo-msw``: (re)build its media, and load it.

``course.yaml`` and the Markdown texts of the sample are written by hand; this module
generates what cannot be: four short slide lectures (640×360 H.264 with a soft chime
at each slide, AAC audio), their captions in English and Japanese (some as SRT, to
show the conversion), and a one-page PDF handout with real, selectable text.
``lms content build-sample`` runs :func:`build_sample_media`.

The output is deterministic for a given FFmpeg build and font (one encoder thread,
bit-exact flags, no dates in the PDF), so rebuilding does not churn the repository.
Slides carry English only: a CJK font is not something every machine has, so the
Japanese goes into the captions and the readings.

:func:`load_sample_course` imports (or refreshes) and publishes the sample; ``lms demo``
calls it.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.catalog.models import Course
from lms.media.captions import format_timestamp
from lms.media.ffmpeg import run_ffmpeg
from lms.media.synth import load_font
from lms.storage import Storage

SAMPLE_PACKAGE = Path(__file__).resolve().parents[2] / "content" / "tokyo-msw"

WIDTH, HEIGHT = 640, 360
FPS = 10
SLIDE_SECONDS = 5.0
BACKGROUND = (22, 62, 74)
ACCENT = (132, 204, 170)
WHITE = (255, 255, 255)
MUTED = (190, 214, 220)


@dataclass(frozen=True)
class Slide:
    title: str
    bullets: tuple[str, ...]
    en: tuple[str, ...]  # the narration, as caption lines, in English
    ja: tuple[str, ...]  # and in Japanese


@dataclass(frozen=True)
class Lecture:
    name: str  # media/<name>.mp4, captions/<name>.<language>.vtt|srt
    heading: str
    slides: tuple[Slide, ...]
    srt: tuple[str, ...] = ()  # languages whose captions are written as SRT


LECTURES: tuple[Lecture, ...] = (
    Lecture(
        name="lecture-1",
        heading="Module 1 - Separation and collection",
        srt=("ja",),
        slides=(
            Slide(
                "Separation and collection",
                ("Tokyo's 23 special wards", "About 9.7 million people"),
                (
                    "Tokyo's 23 wards: about 9.7 million people.",
                    "Their waste system starts at home.",
                ),
                (
                    "東京23区には約970万人が暮らしています。",
                    "ごみ処理は家庭での分別から始まります。",
                ),
            ),
            Slide(
                "Who does what",
                (
                    "Wards: collection and transport",
                    "Clean Association of Tokyo 23: plants",
                    "Tokyo Metropolitan Government: landfill",
                ),
                (
                    "Each ward collects its own waste.",
                    "The wards share the plants; Tokyo runs the landfill.",
                ),
                (
                    "収集・運搬はそれぞれの区が行います。",
                    "焼却は23区共同で、埋立は東京都が担います。",
                ),
            ),
            Slide(
                "Sorting at home",
                (
                    "Combustible",
                    "Non-combustible",
                    "Recyclables: paper, cans, bottles, PET",
                    "Bulky waste: booked, with a fee",
                ),
                (
                    "Residents sort waste into several kinds.",
                    "Bulky items are collected on request, for a fee.",
                ),
                (
                    "住民はごみを種類ごとに分けて出します。",
                    "粗大ごみは申込制・有料で収集されます。",
                ),
            ),
            Slide(
                "Collection points",
                (
                    "Out on the morning of collection day",
                    "Small compactor trucks",
                    "Combustibles: usually twice a week",
                ),
                (
                    "Bags go to a nearby collection point.",
                    "Small compactor trucks fit narrow streets.",
                ),
                (
                    "ごみは収集日の朝、近くの集積所に出します。",
                    "狭い道でも走れる小型プレス車で収集します。",
                ),
            ),
        ),
    ),
    Lecture(
        name="lecture-2",
        heading="Module 2 - The 3Rs",
        slides=(
            Slide(
                "The 3Rs",
                ("Reduce", "Reuse", "Recycle"),
                ("Reduce, reuse, recycle: the 3Rs.", "The cheapest waste is the waste never made."),
                (
                    "リデュース・リユース・リサイクルが3Rです。",
                    "最も安上がりなのは、出さなかったごみです。",
                ),
            ),
            Slide(
                "Order of priority",
                ("1 Reduce", "2 Reuse", "3 Recycle", "4 Energy recovery", "5 Proper disposal"),
                ("A law of 2000 sets this order of priority.", "Disposal comes last."),
                (
                    "2000年の循環型社会形成推進基本法が",
                    "この優先順位を定めています。処分は最後です。",
                ),
            ),
            Slide(
                "Laws share the work",
                (
                    "Containers and packaging (1995)",
                    "Home appliances (in force 2001)",
                    "Plastic resources (in force 2022)",
                ),
                ("Recycling laws share the work between", "producers, shops and households."),
                ("リサイクル関連法は、製造者・販売店・", "家庭それぞれの役割を定めています。"),
            ),
            Slide(
                "Residents take part",
                (
                    "Group collection of paper",
                    "Careful sorting of recyclables",
                    "Less waste than at the 1989 peak",
                ),
                ("Neighbourhood groups collect paper.", "Waste has fallen a lot since about 1989."),
                (
                    "町会などによる古紙の集団回収も盛んです。",
                    "ごみ量は1989年度ごろのピークから大きく減りました。",
                ),
            ),
        ),
    ),
    Lecture(
        name="lecture-3",
        heading="Module 3 - Incineration plants",
        srt=("ja",),
        slides=(
            Slide(
                "Incineration plants",
                ("About twenty plants in the 23 wards", "Running around the clock"),
                ("About twenty plants burn combustible waste.", "Most run around the clock."),
                (
                    "約20の清掃工場で可燃ごみを焼却しています。",
                    "多くの工場は24時間稼働しています。",
                ),
            ),
            Slide(
                "From truck to stack",
                (
                    "Weighbridge → platform → bunker",
                    "Crane → furnace → boiler",
                    "Flue gas treatment → stack",
                ),
                (
                    "Trucks are weighed, then tip into the bunker.",
                    "A crane mixes the waste and feeds the furnace.",
                ),
                (
                    "収集車は計量後、ごみをバンカに投入します。",
                    "クレーンがごみを混ぜ、焼却炉へ送ります。",
                ),
            ),
            Slide(
                "Clean flue gas",
                (
                    "Burned at 800 °C or more",
                    "Bag filters, scrubbers, catalysts",
                    "Emissions measured continuously",
                ),
                (
                    "Gas stays above 800 °C, then is cleaned.",
                    "Emissions are measured and published.",
                ),
                (
                    "燃焼ガスは800℃以上に保ち、その後浄化します。",
                    "排ガスは常時測定され、公表されています。",
                ),
            ),
            Slide(
                "Energy and ash",
                (
                    "Steam turbines make electricity",
                    "Heat for pools and local facilities",
                    "Ash: about 1/20 of the volume",
                ),
                (
                    "Steam from the boilers makes electricity.",
                    "Ash is about 1/20 of the waste's volume.",
                ),
                ("ボイラーの蒸気で発電しています。", "焼却で、ごみの容積は約20分の1になります。"),
            ),
        ),
    ),
    Lecture(
        name="lecture-4",
        heading="Module 4 - Final disposal",
        slides=(
            Slide(
                "Final disposal",
                ("Landfill sites in Tokyo Bay", "Run by the Tokyo Metropolitan Government"),
                (
                    "What is left goes to landfill in Tokyo Bay.",
                    "Tokyo runs the sites for the 23 wards.",
                ),
                (
                    "残ったものは東京湾の埋立処分場へ運ばれます。",
                    "処分場は東京都が運営しています。",
                ),
            ),
            Slide(
                "What is landfilled",
                (
                    "Incineration ash, treated first",
                    "Residues of non-combustible waste",
                    "Residues of bulky waste",
                ),
                ("Mostly treated incineration ash,", "and residues of crushed non-combustibles."),
                (
                    "主に、処理した焼却灰を埋め立てます。",
                    "不燃ごみや粗大ごみを破砕した後の残さもあります。",
                ),
            ),
            Slide(
                "Sanitary landfill",
                (
                    "Layers of waste and cover soil",
                    "Leachate collected and treated",
                    "Gas and settlement monitored",
                ),
                (
                    "Waste is laid in layers and covered with soil.",
                    "Leachate is collected and treated.",
                ),
                (
                    "ごみは層状に埋め、土をかぶせます。",
                    "しみ出した水（浸出水）は集めて処理します。",
                ),
            ),
            Slide(
                "The last site in the bay",
                (
                    "Central Breakwater Outer Landfill Site",
                    "New Sea Surface Disposal Site",
                    "Make it last: reduce, recycle, burn",
                ),
                ("The New Sea Surface site is the bay's last.", "Less waste makes it last longer."),
                (
                    "新海面処分場は東京湾で最後の処分場とされています。",
                    "ごみを減らせば、それだけ長く使えます。",
                ),
            ),
        ),
    ),
)

HANDOUT_NAME = "handout-separation.pdf"
HANDOUT: tuple[tuple[str, str], ...] = (
    ("title", "Separation and collection at a glance"),
    ("subtitle", "Tokyo's 23 special wards - handout for the Kenshu sample course"),
    ("heading", "Who does what"),
    (
        "bullet",
        "Each of the 23 special wards collects and transports its residents' waste. The wards "
        "took this work over from the Tokyo Metropolitan Government in April 2000.",
    ),
    (
        "bullet",
        "The Clean Association of Tokyo 23, run jointly by the wards, operates the incineration "
        "plants and the facilities that crush non-combustible and bulky waste.",
    ),
    (
        "bullet",
        "The Tokyo Metropolitan Government operates the landfill sites in Tokyo Bay, where the "
        "residues end.",
    ),
    ("heading", "Main categories (each ward publishes its own rules; these are typical)"),
    (
        "bullet",
        "Combustible waste: kitchen waste, paper that cannot be recycled and, in most wards, "
        "plastics, rubber and leather. Usually collected twice a week.",
    ),
    (
        "bullet",
        "Non-combustible waste: metal, glass, ceramics, small appliances. Collected a few times "
        "a month.",
    ),
    (
        "bullet",
        "Recyclables: newspapers, cardboard, cans, glass bottles, PET bottles and more. "
        "Collected weekly in most wards.",
    ),
    (
        "bullet",
        "Bulky waste: furniture and other items larger than about 30 cm. Booked in advance; "
        "the fee is paid with a sticker bought at a shop.",
    ),
    (
        "bullet",
        "Not collected by the wards: TVs, refrigerators, washing machines and air conditioners "
        "go back through shops under the Home Appliance Recycling Act; personal computers go "
        "back to their makers or to certified recyclers.",
    ),
    ("heading", "How collection works"),
    (
        "bullet",
        "Residents take their waste to a collection point near home on the morning of "
        "collection day, typically by 8 a.m.",
    ),
    (
        "bullet",
        "Small compactor trucks, which fit narrow streets, take it to an incineration plant "
        "or another facility.",
    ),
    (
        "bullet",
        "Household collection is free of charge; businesses pay for the collection of their waste.",
    ),
    ("heading", "Questions to take home"),
    ("bullet", "Who is responsible for each step in your city, and who pays for it?"),
    ("bullet", "Which separation would save the most landfill space in your city?"),
    ("bullet", "How will residents learn the rules, and how will you know they follow them?"),
)


# --- slides and video ----------------------------------------------------------------


def render_slide(lecture: Lecture, index: int) -> Image.Image:
    slide = lecture.slides[index]
    img = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(img)
    small, title_font, body = load_font(15), load_font(32), load_font(22)
    draw.rectangle([0, 0, WIDTH, 34], fill=(14, 44, 54))
    draw.text((24, 9), lecture.heading, font=small, fill=MUTED)
    draw.text((24, 58), slide.title, font=title_font, fill=WHITE)
    draw.rectangle([24, 104, 104, 108], fill=ACCENT)
    y = 132.0
    for bullet in slide.bullets:
        draw.ellipse([28, y + 8, 38, y + 18], fill=ACCENT)
        draw.text((50, y), bullet, font=body, fill=WHITE)
        y += 36
    footer = (
        f"Kenshu - Municipal solid waste in Tokyo's 23 wards   {index + 1}/{len(lecture.slides)}"
    )
    draw.text((24, HEIGHT - 28), footer, font=small, fill=MUTED)
    return img


def _chime(seconds: float) -> str:
    """A soft bell at the start of every slide (two decaying sines), as an FFmpeg source."""
    t = f"mod(t\\,{SLIDE_SECONDS:g})"
    expr = f"0.22*sin(2*PI*660*t)*exp(-3*{t})+0.08*sin(2*PI*990*t)*exp(-5*{t})"
    return f"aevalsrc=exprs='{expr}':s=48000:d={seconds:g}"


def make_lecture_video(lecture: Lecture, dest: Path) -> Path:
    seconds = SLIDE_SECONDS * len(lecture.slides)
    with tempfile.TemporaryDirectory() as tmp:
        args: list[str] = []
        for index in range(len(lecture.slides)):
            image = os.path.join(tmp, f"slide{index}.png")
            render_slide(lecture, index).save(image)
            args += ["-loop", "1", "-framerate", str(FPS), "-t", f"{SLIDE_SECONDS:g}", "-i", image]
        args += ["-f", "lavfi", "-i", _chime(seconds)]
        count = len(lecture.slides)
        inputs = "".join(f"[{i}:v]" for i in range(count))
        args += ["-filter_complex", f"{inputs}concat=n={count}:v=1:a=0,format=yuv420p[v]"]
        args += ["-map", "[v]", "-map", f"{count}:a"]
        args += ["-c:v", "libx264", "-preset", "medium", "-tune", "stillimage", "-crf", "30"]
        args += ["-g", str(int(FPS * SLIDE_SECONDS)), "-threads", "1"]
        args += ["-c:a", "aac", "-b:a", "48k", "-ac", "1"]
        # Bit-exact output and no metadata: the same input gives the same file.
        args += ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
        args += ["-map_metadata", "-1", "-movflags", "+faststart", "-t", f"{seconds:g}"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        run_ffmpeg([*args, "-f", "mp4", os.fspath(dest)])
    return dest


def _srt_time(seconds: float) -> str:
    return format_timestamp(seconds).replace(".", ",")


def captions_text(lecture: Lecture, language: str) -> str:
    """The captions of one lecture: one cue per slide, in WebVTT or SRT."""
    srt = language in lecture.srt
    blocks = [] if srt else ["WEBVTT"]
    for index, slide in enumerate(lecture.slides):
        start = index * SLIDE_SECONDS + 0.3
        end = (index + 1) * SLIDE_SECONDS - 0.2
        lines = "\n".join(getattr(slide, language))
        if srt:
            blocks.append(f"{index + 1}\n{_srt_time(start)} --> {_srt_time(end)}\n{lines}")
        else:
            blocks.append(f"{format_timestamp(start)} --> {format_timestamp(end)}\n{lines}")
    return "\n\n".join(blocks) + "\n"


def caption_path(lecture: Lecture, language: str) -> str:
    return f"captions/{lecture.name}.{language}.{'srt' if language in lecture.srt else 'vtt'}"


# --- a small text PDF ----------------------------------------------------------------

_PAGE_WIDTH, _PAGE_HEIGHT, _MARGIN = 595, 842, 56  # A4 in points
_STYLES = {  # font, size, space before, indent
    "title": ("F2", 20.0, 0.0, 0),
    "subtitle": ("F1", 11.0, 6.0, 0),
    "heading": ("F2", 13.0, 16.0, 0),
    "bullet": ("F1", 10.5, 5.0, 14),
}


def _pdf_escape(text: str) -> str:
    text.encode("ascii")  # Helvetica with the standard encoding: ASCII text only
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_pdf(blocks: tuple[tuple[str, str], ...], title: str) -> bytes:
    """A one-or-more-page A4 PDF of headings, paragraphs and bullets in Helvetica.

    Real text (selectable, searchable, read aloud by screen readers), tiny, and
    byte-for-byte reproducible: no dates, no random ids.
    """
    pages: list[list[str]] = [[]]
    y = _PAGE_HEIGHT - _MARGIN
    for style, text in blocks:
        font, size, before, indent = _STYLES[style]
        leading = size * 1.35
        width = _PAGE_WIDTH - 2 * _MARGIN - indent
        lines = textwrap.wrap(text, width=int(width / (size * 0.52)))
        y -= before
        for number, line in enumerate(lines):
            if y - leading < _MARGIN:
                pages.append([])
                y = _PAGE_HEIGHT - _MARGIN
            y -= leading
            x = _MARGIN + indent
            if style == "bullet" and number == 0:
                pages[-1].append(f"BT /F1 {size:g} Tf 1 0 0 1 {_MARGIN + 2} {y:.2f} Tm (-) Tj ET")
            pages[-1].append(
                f"BT /{font} {size:g} Tf 1 0 0 1 {x} {y:.2f} Tm ({_pdf_escape(line)}) Tj ET"
            )
    objects: list[bytes] = []

    def add(body: str | bytes) -> int:
        objects.append(body.encode("latin-1") if isinstance(body, str) else body)
        return len(objects)

    catalog = add("")  # filled in below, once the page tree's number is known
    font_regular = add(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    font_bold = add(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
    )
    pages_ref = len(objects) + 1 + 2 * len(pages)
    kids = []
    for content in pages:
        stream = "\n".join(content).encode("latin-1")
        stream_ref = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(
            add(
                f"<< /Type /Page /Parent {pages_ref} 0 R "
                f"/MediaBox [0 0 {_PAGE_WIDTH} {_PAGE_HEIGHT}] "
                f"/Resources << /Font << /F1 {font_regular} 0 R /F2 {font_bold} 0 R >> >> "
                f"/Contents {stream_ref} 0 R >>"
            )
        )
    assert (
        add(f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>")
        == pages_ref
    )
    info = add(f"<< /Title ({_pdf_escape(title)}) /Producer (Kenshu sample builder) >>")
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages_ref} 0 R >>".encode("latin-1")

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\n" % (
        len(objects) + 1,
        catalog,
        info,
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


# --- the package ---------------------------------------------------------------------


def build_sample_media(dest: str | os.PathLike[str] = SAMPLE_PACKAGE) -> list[str]:
    """Write the sample's videos, captions and handout into package folder ``dest``.

    Returns the paths written, relative to ``dest``. ``course.yaml`` and the Markdown
    files are not touched.
    """
    root = Path(dest)
    written: list[str] = []
    for lecture in LECTURES:
        make_lecture_video(lecture, root / "media" / f"{lecture.name}.mp4")
        written.append(f"media/{lecture.name}.mp4")
        for language in ("en", "ja"):
            relative = caption_path(lecture, language)
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(captions_text(lecture, language), encoding="utf-8", newline="\n")
            written.append(relative)
    handout = root / "media" / HANDOUT_NAME
    handout.write_bytes(text_pdf(HANDOUT, HANDOUT[0][1]))
    written.append(f"media/{HANDOUT_NAME}")
    from lms.tours.sample import build_tour_media  # noqa: PLC0415 - the plant tour's files

    written += build_tour_media(root)
    return written


def load_sample_course(
    session: Session,
    storage: Storage,
    actor: User,
    *,
    publish: bool = True,
    path: str | os.PathLike[str] = SAMPLE_PACKAGE,
) -> Course:
    """Import (or refresh) the sample course as ``actor`` and publish it if it changed.

    Safe to run again: an unchanged package changes nothing and publishes nothing.
    The caller commits; media processing is queued after the commit.
    """
    from lms.content.importer import (  # noqa: PLC0415 - the importer pulls in the catalog
        import_package_report,
        publish_if_changed,
    )

    report = import_package_report(session, storage, actor, path)
    if publish:
        publish_if_changed(session, actor, report)
    return report.course
