"""The certificate page: one A4 landscape PDF, in English and the trainee's language.

Pure: :func:`render` takes a :class:`CertificateDocument` whose every text is already
written (and translated) and returns the PDF's bytes. fpdf2 lays it out, shaping text
with HarfBuzz (uharfbuzz) so that Thai, Arabic and Indic names come out right, in the
fonts :mod:`lms.certificates.fonts` prepares and embeds. The QR code (segno) is drawn
as vector squares, so it stays sharp when printed at any size.

Why one bilingual page rather than one PDF per language: a certificate is printed and
shown as one sheet, and whoever checks it (an employer at home, an officer in Japan)
then reads the same paper whichever of the two languages they read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

import segno
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import SubsetMap

from lms.certificates.fonts import MAIN_FAMILY, prepare

GREEN = (0, 98, 65)
INK = (33, 33, 33)
GREY = (95, 95, 95)
PAGE_W, PAGE_H = 297.0, 210.0
MARGIN = 20.0
MAX_COURSES = 6  # beyond these, "and N more": the page must stay one page
PT_TO_MM = 25.4 / 72
BULLET = "•"


@dataclass(frozen=True)
class Bilingual:
    """A text in English and, when the trainee reads another language, in that one."""

    en: str
    local: str = ""

    @property
    def other(self) -> str:
        """The trainee-language text, when it says something the English does not."""
        return self.local if self.local and self.local != self.en else ""

    def joined(self, separator: str = " / ") -> str:
        return f"{self.en}{separator}{self.other}" if self.other else self.en


@dataclass(frozen=True)
class CertificateDocument:
    issuer: str
    title: Bilingual
    certify: Bilingual
    name: str
    native_name: str
    completed: Bilingual
    programme: str
    sponsored_by: Bilingual
    facts: Sequence[tuple[Bilingual, Bilingual]]
    courses_heading: Bilingual
    courses: Sequence[str]
    more_courses: Bilingual | None
    code_label: Bilingual
    code: str
    verify_url: str
    verify_hint: Bilingual
    record_line: str
    language: str = "en"
    issued_at: datetime | None = None
    keywords: Sequence[str] = field(default_factory=tuple)

    def texts(self) -> Iterator[str]:
        """Every text the page shows, so the fonts can be cut down to them."""
        yield from (self.issuer, self.name, self.native_name, self.programme, self.code)
        yield from (self.verify_url, self.record_line, BULLET, *self.courses)
        bilinguals = [self.title, self.certify, self.completed, self.sponsored_by]
        bilinguals += [self.courses_heading, self.code_label, self.verify_hint]
        bilinguals += [part for fact in self.facts for part in fact]
        if self.more_courses:
            bilinguals.append(self.more_courses)
        for text in bilinguals:
            yield text.en
            yield text.local


ZWJ = 0x200D


class _TextfulSubset(SubsetMap):
    """fpdf2's glyph subset, giving text to every glyph that shaping produces.

    HarfBuzz may set one character as several glyphs (Noto Sans Arabic sets a dotted
    letter as the dotless letter and its dots). fpdf2 gives the character to the first
    of them and no text to the others, which text extractors then show as control
    characters. The others get an (invisible) ZERO WIDTH JOINER instead.
    """

    @cache  # noqa: B019 - as fpdf2's own, which output() clears; the page is short-lived
    def get_glyph(self, glyph=None, unicode=None, glyph_name=None, glyph_width=None):  # type: ignore[override]
        if unicode == ():
            unicode = (ZWJ,)
        return super().get_glyph(glyph, unicode, glyph_name, glyph_width)


class _Page(FPDF):
    def text_block(
        self,
        text: str,
        size: float,
        *,
        bold: bool = False,
        color: tuple[int, int, int] = INK,
        width: float = 0,
        align: Align = Align.C,
        x: float | None = None,
        leading: float = 1.3,
    ) -> None:
        """A paragraph (wrapped when long), then the cursor below it."""
        if not text:
            return
        if x is not None:
            self.set_x(x)
        self.set_font(MAIN_FAMILY, "B" if bold else "", size)
        self.set_text_color(*color)
        self.multi_cell(
            w=width,
            h=size * PT_TO_MM * leading,
            text=text,
            align=align,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self._forget_font()

    def text_cell(
        self, text: str, width: float, size: float, *, bold: bool = False, color=INK
    ) -> None:
        """One line in a column, the cursor then to its right."""
        self.set_font(MAIN_FAMILY, "B" if bold else "", size)
        self.set_text_color(*color)
        self.cell(w=width, h=size * PT_TO_MM * 1.4, text=text, new_x=XPos.RIGHT, new_y=YPos.TOP)
        self._forget_font()

    def _forget_font(self) -> None:
        # fpdf2 2.8 loses track of the font selected in the page's content stream when a
        # line starts in a fallback font, and sets the next line's glyphs in the wrong
        # font. Forgetting it makes fpdf2 select the font again before the next text.
        self.current_font_is_set_on_page = False

    def qr_code(self, data: str, x: float, y: float, size: float) -> None:
        """The QR code of ``data`` as filled squares, ``size`` mm wide quiet zone included."""
        qr = segno.make(data, error="m", micro=False)
        rows = [list(row) for row in qr.matrix_iter(scale=1, border=4)]
        module = size / len(rows)
        self.set_fill_color(0, 0, 0)
        for r, row in enumerate(rows):
            c = 0
            while c < len(row):
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < len(row) and row[c]:
                    c += 1
                # Runs of dark modules as one rectangle: fewer operators, no hairline gaps.
                self.rect(x + start * module, y + r * module, (c - start) * module, module, "F")


def render(doc: CertificateDocument) -> bytes:
    """The certificate as PDF bytes; raises ``fonts.MissingGlyphs`` for unprintable text."""
    with tempfile.TemporaryDirectory(prefix="kenshu-certificate-") as folder:
        fonts = prepare("".join(doc.texts()), Path(folder))
        pdf = _Page(orientation="L", unit="mm", format="A4")
        for font in fonts:
            pdf.add_font(font.family, "", font.regular)
            pdf.add_font(font.family, "B", font.bold)
        for added in pdf.fonts.values():
            added.subset.__class__ = _TextfulSubset
        pdf.set_fallback_fonts([font.family for font in fonts[1:]], exact_match=False)
        pdf.set_text_shaping(True)
        pdf.set_lang(doc.language)
        pdf.set_title(f"{doc.title.en} — {doc.name}")
        pdf.set_author(doc.issuer)
        pdf.set_subject(doc.programme)
        pdf.set_creator("Kenshu")
        pdf.set_keywords(" ".join(doc.keywords))
        if doc.issued_at is not None:
            pdf.set_creation_date(doc.issued_at)
        pdf.set_auto_page_break(False)
        pdf.set_margins(MARGIN, 16, MARGIN)
        pdf.add_page()
        _layout(pdf, doc)
        return bytes(pdf.output())


def _bilingual(
    pdf: _Page, text: Bilingual, size: float, *, bold: bool = False, color=INK, local_size=None
) -> None:
    pdf.text_block(text.en, size, bold=bold, color=color)
    pdf.text_block(text.other, local_size or size * 0.85, bold=bold, color=color)


def _layout(pdf: _Page, doc: CertificateDocument) -> None:
    pdf.set_draw_color(*GREEN)
    pdf.set_line_width(1.2)
    pdf.rect(8, 8, PAGE_W - 16, PAGE_H - 16)
    pdf.set_line_width(0.3)
    pdf.rect(11, 11, PAGE_W - 22, PAGE_H - 22)

    pdf.set_y(16)
    pdf.text_block(doc.issuer, 9, color=GREY)
    pdf.ln(1)
    _bilingual(pdf, doc.title, 28, bold=True, color=GREEN, local_size=16)
    pdf.ln(2)
    _bilingual(pdf, doc.certify, 10.5, color=GREY)
    pdf.ln(1)
    pdf.text_block(doc.name, 24, bold=True)
    if doc.native_name and doc.native_name != doc.name:
        pdf.text_block(doc.native_name, 19)
    pdf.ln(1)
    _bilingual(pdf, doc.completed, 10.5, color=GREY)
    pdf.text_block(doc.programme, 16, bold=True, color=GREEN)
    _bilingual(pdf, doc.sponsored_by, 10.5, color=GREY)

    # Lower part: facts and courses on the left, the QR code and the code on the right.
    top = max(pdf.get_y() + 6, 122)
    left_width = 190.0
    pdf.set_draw_color(*GREEN)
    pdf.line(MARGIN, top - 2, PAGE_W - MARGIN, top - 2)
    pdf.set_y(top)
    for label, value in doc.facts:
        pdf.set_x(MARGIN)
        pdf.text_cell(label.joined(), 62, 8.5, color=GREY)
        pdf.text_cell(value.joined(), left_width - 62, 9.5)
        pdf.ln(9.5 * PT_TO_MM * 1.4)
    pdf.ln(1.5)
    pdf.text_block(
        doc.courses_heading.joined(), 8.5, color=GREY, align=Align.L, width=left_width, x=MARGIN
    )
    for course in doc.courses[:MAX_COURSES]:
        line = f"{BULLET} {course}"
        pdf.text_block(line, 9, align=Align.L, width=left_width, x=MARGIN, leading=1.25)
    if doc.more_courses:
        pdf.text_block(doc.more_courses.joined(), 8.5, color=GREY, align=Align.L, x=MARGIN)

    qr_size = 38.0
    qr_x = PAGE_W - MARGIN - qr_size - 6
    pdf.qr_code(doc.verify_url, qr_x, top - 1, qr_size)
    column_x, column_w = qr_x - 14, qr_size + 28
    pdf.set_xy(column_x, top - 1 + qr_size)
    pdf.text_block(doc.code_label.joined(), 7.5, color=GREY, width=column_w, x=column_x)
    pdf.text_block(doc.code, 11, bold=True, width=column_w, x=column_x)
    pdf.text_block(doc.verify_url, 6, color=GREY, width=column_w, x=column_x)
    pdf.text_block(doc.verify_hint.en, 6.5, color=GREY, width=column_w, x=column_x)
    pdf.text_block(doc.verify_hint.other, 6.5, color=GREY, width=column_w, x=column_x)

    pdf.set_y(PAGE_H - 17)
    pdf.text_block(doc.record_line, 7, color=GREY)
