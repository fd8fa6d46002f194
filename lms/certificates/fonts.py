"""The fonts a certificate is set in, from Python packages, embedded as subsets.

The machine has no fonts of its own for most scripts, so they come from PyPI as
dependencies of the project (the ``justmytype-*`` packs ship Google's Noto families as
variable TrueType files): Latin, Greek and Cyrillic; Japanese, Chinese and Korean;
Thai, Lao, Khmer and Myanmar; Arabic and Hebrew; Devanagari, Bengali, Tamil and Telugu.

For each certificate, every character is given to the first font of :data:`FONT_CHAIN`
that has it. Each font that gets characters is cut down with fontTools to those
characters (keeping every OpenType layout feature, so that HarfBuzz can still form
Thai clusters, Arabic joining forms and Indic conjuncts), then made static at the
regular and the bold weight. The small files this gives are what fpdf2 loads and
embeds. Cutting first is what makes this fast: making a static instance of a whole
CJK variable font takes far longer than the page, and the variable CJK fonts' default
weight is Thin.

They are TrueType outlines on purpose: fpdf2 embeds CFF-flavoured CJK fonts with an
embedded CMap that text extractors such as pypdf do not read, so their text would not
come out of the PDF.

A character no font has makes :class:`MissingGlyphs`: a certificate never shows an
empty box where a name should be.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer

REGULAR = 400
BOLD = 700


@dataclass(frozen=True)
class FontSource:
    family: str  # the name fpdf2 knows it by
    package: str
    path: str  # inside the package

    def file(self) -> Path:
        return Path(str(resources.files(self.package).joinpath(self.path)))


def _noto(family: str, package: str, folder: str, filename: str) -> FontSource:
    return FontSource(family, package, f"fonts/ofl/{folder}/{filename}")


#: In order of preference: the first font having a character sets it. Latin comes first
#: (it also sets digits and punctuation); Japanese comes before Chinese for the Han
#: characters both have, as the certificates are issued in Japan.
FONT_CHAIN: tuple[FontSource, ...] = (
    _noto("latin", "justmytype_western_core", "notosans", "NotoSans[wdth,wght].ttf"),
    _noto("jp", "justmytype_intl_cjk", "notosansjp", "NotoSansJP[wght].ttf"),
    _noto("sc", "justmytype_intl_cjk", "notosanssc", "NotoSansSC[wght].ttf"),
    _noto("tc", "justmytype_intl_cjk", "notosanstc", "NotoSansTC[wght].ttf"),
    _noto("kr", "justmytype_intl_cjk", "notosanskr", "NotoSansKR[wght].ttf"),
    _noto("thai", "justmytype_intl_sea", "notosansthai", "NotoSansThai[wdth,wght].ttf"),
    _noto("lao", "justmytype_intl_sea", "notosanslao", "NotoSansLao[wdth,wght].ttf"),
    _noto("khmer", "justmytype_intl_sea", "notosanskhmer", "NotoSansKhmer[wdth,wght].ttf"),
    _noto("myanmar", "justmytype_intl_sea", "notosansmyanmar", "NotoSansMyanmar[wdth,wght].ttf"),
    _noto("arabic", "justmytype_intl_rtl", "notosansarabic", "NotoSansArabic[wdth,wght].ttf"),
    _noto("hebrew", "justmytype_intl_rtl", "notosanshebrew", "NotoSansHebrew[wdth,wght].ttf"),
    _noto(
        "devanagari",
        "justmytype_intl_south_asia",
        "notosansdevanagari",
        "NotoSansDevanagari[wdth,wght].ttf",
    ),
    _noto(
        "bengali", "justmytype_intl_south_asia", "notosansbengali", "NotoSansBengali[wdth,wght].ttf"
    ),
    _noto("tamil", "justmytype_intl_south_asia", "notosanstamil", "NotoSansTamil[wdth,wght].ttf"),
    _noto(
        "telugu", "justmytype_intl_south_asia", "notosanstelugu", "NotoSansTelugu[wdth,wght].ttf"
    ),
    _noto("symbols", "justmytype_western_core", "notosanssymbols2", "NotoSansSymbols2-Regular.ttf"),
)
MAIN_FAMILY = FONT_CHAIN[0].family


class MissingGlyphs(Exception):
    """Characters that no certificate font can show."""

    def __init__(self, characters: Iterable[str]) -> None:
        self.characters = "".join(sorted(set(characters)))
        super().__init__(f"no font for {self.characters!r}")


@cache
def _coverage(source: FontSource) -> frozenset[int]:
    font = TTFont(source.file(), lazy=True)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


def _needs_glyph(char: str) -> bool:
    # Spaces, controls and format characters (ZWJ, bidi marks) are shaped or skipped by
    # whichever font sets their neighbours; they never decide between fonts.
    return not char.isspace() and unicodedata.category(char) not in ("Cc", "Cf")


def assign(text: str) -> dict[FontSource, str]:
    """The characters of ``text`` each font sets; raises :class:`MissingGlyphs`."""
    chosen: dict[FontSource, set[str]] = {FONT_CHAIN[0]: {" "}}
    missing = []
    for char in set(text):
        if not _needs_glyph(char):
            continue
        for source in FONT_CHAIN:
            if ord(char) in _coverage(source):
                chosen.setdefault(source, set()).add(char)
                break
        else:
            missing.append(char)
    if missing:
        raise MissingGlyphs(missing)
    return {source: "".join(sorted(chosen[source])) for source in FONT_CHAIN if source in chosen}


def _static(font: TTFont, weight: int) -> TTFont:
    if "fvar" not in font:
        return font  # a static font: its one weight serves for both
    axes = {
        axis.axisTag: (
            min(max(weight, axis.minValue), axis.maxValue)
            if axis.axisTag == "wght"
            else axis.defaultValue
        )
        for axis in font["fvar"].axes
    }
    try:
        # Names the instance ("Noto Sans JP Bold", not the default master's "Thin").
        return instancer.instantiateVariableFont(font, axes, static=True, updateFontNames=True)
    except Exception:  # noqa: BLE001 - no STAT table to name it from: keep the old names
        return instancer.instantiateVariableFont(font, axes, static=True)


@dataclass(frozen=True)
class PreparedFont:
    family: str
    regular: Path
    bold: Path


def prepare(text: str, folder: Path) -> list[PreparedFont]:
    """Write, into ``folder``, the cut-down fonts that set ``text``, main font first."""
    prepared = []
    for source, chars in assign(text).items():
        font = TTFont(source.file())
        options = subset.Options()
        options.layout_features = ["*"]  # shaping needs them all
        options.name_IDs = ["*"]
        options.notdef_outline = True
        options.glyph_names = True  # fpdf2 maps shaped glyphs back to text by name
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=chars)
        subsetter.subset(font)
        cut = io.BytesIO()
        font.save(cut)  # small now: reloading it is cheaper than copying the object
        font.close()
        paths = []
        for weight in (REGULAR, BOLD):
            path = folder / f"{source.family}-{weight}.ttf"
            _static(TTFont(io.BytesIO(cut.getvalue())), weight).save(path)
            paths.append(path)
        prepared.append(PreparedFont(source.family, paths[0], paths[1]))
    return prepared
