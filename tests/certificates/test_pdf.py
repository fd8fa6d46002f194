"""The certificate page itself: names in their own scripts, embedded fonts, the QR code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lms.certificates.fonts import MissingGlyphs
from lms.certificates.pdf import Bilingual, CertificateDocument, render
from tests.certificates.conftest import embedded_fonts, pdf_lines, qr_texts

URL = "https://kenshu.example.org/verify/K7M2-9QXD-4TRW-HC8P"


def document(name: str, native_name: str, **changes) -> CertificateDocument:
    fields = dict(
        issuer="Kenshu — Clean Authority of Tokyo",
        title=Bilingual("Certificate of Completion", "修了証"),
        certify=Bilingual("This is to certify that", "以下の者は"),
        name=name,
        native_name=native_name,
        completed=Bilingual("has completed the training programme", "次の研修を修了しました"),
        programme="Waste to Energy 2026 (WTE-2026)",
        sponsored_by=Bilingual("sponsored by Ministry of Urban Environment"),
        facts=[(Bilingual("Study hours", "学習時間"), Bilingual("12.5"))],
        courses_heading=Bilingual("Courses completed"),
        courses=["MSW-101 — Municipal solid waste in Tokyo"],
        more_courses=None,
        code_label=Bilingual("Verification code"),
        code="K7M2-9QXD-4TRW-HC8P",
        verify_url=URL,
        verify_hint=Bilingual("Scan the code to check this certificate."),
        record_line="Record 1",
        language="ja",
        issued_at=datetime(2026, 11, 28, tzinfo=UTC),
    )
    fields.update(changes)
    return CertificateDocument(**fields)


def logical(line: str) -> str:
    """A right-to-left line as pypdf gives it (words in visual order) back in reading order.

    The ZERO WIDTH JOINERs stand for the dots Noto Sans Arabic draws as glyphs of their own.
    """
    return " ".join(reversed(line.replace("\u200d", "").split(" ")))


@pytest.mark.parametrize(
    ("native_name", "font", "rtl"),
    [
        ("山田 花子", "NotoSansJP", False),
        ("สมชาย ใจดี", "NotoSansThai", False),
        ("محمد عبد الله", "NotoSansArabic", True),
        ("عبد العزيز بن خالد", "NotoSansArabic", True),
        ("김민준", "NotoSansKR", False),
    ],
)
def test_a_name_in_its_own_script_extracts_and_its_font_is_embedded(
    native_name: str, font: str, rtl: bool
) -> None:
    data = render(document("Trainee Name", native_name))

    lines = pdf_lines(data)
    assert "Trainee Name" in lines
    assert native_name in ([logical(line) for line in lines] if rtl else lines)
    assert "Certificate of Completion" in lines and "修了証" in lines
    assert "K7M2-9QXD-4TRW-HC8P" in lines
    fonts = embedded_fonts(data)
    assert {font, "NotoSans", "NotoSansBold"} <= fonts.keys(), fonts
    # Every font is in the file (TrueType outlines), none left to the reader's machine.
    assert set(fonts.values()) == {"/FontFile2"}, fonts


def test_the_qr_code_opens_the_verification_page() -> None:
    data = render(document("Hanako Yamada", "山田 花子"))

    assert qr_texts(data) == [URL]


def test_text_that_no_font_can_show_is_refused() -> None:
    with pytest.raises(MissingGlyphs) as caught:
        render(document("Abebe Bikila", "አበበ ቢቂላ"))  # Ethiopic: no font ships it

    assert set(caught.value.characters) == set("አበቢቂላ")


def test_long_course_lists_stay_on_one_page() -> None:
    courses = [f"C-{n:03d} — A course with a long enough title to matter {n}" for n in range(20)]
    data = render(document("A", "", courses=courses, more_courses=Bilingual("and 14 more courses")))

    lines = pdf_lines(data)
    assert "• C-005 — A course with a long enough title to matter 5" in lines
    assert not any("C-006" in line for line in lines)
    assert "and 14 more courses" in lines
