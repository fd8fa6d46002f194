"""Caption files for lecture videos: WebVTT or SRT in, one canonical WebVTT out.

The libraries do the parsing (webvtt-py for WebVTT, srt for SubRip). Around them a
light line scanner splits the file into blocks and remembers where each block starts,
so that every rejection can name the line an instructor has to fix; each cue block is
then handed to the library on its own. The rules on top (times never go backwards, a
cue never runs past the video) are ours.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import srt
import webvtt
from flask_babel import lazy_gettext as _l
from webvtt.errors import MalformedCaptionError, MalformedFileError
from webvtt.vtt import WebVTTCueBlock

# Players and encoders round the duration differently; half a second of slack keeps
# a last cue that ends "at" the end of the video from being refused.
DURATION_TOLERANCE = 0.5

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # WebVTT's line terminators, used for SRT too
_ARROW = "-->"

# "WEBVTT" alone, or followed by a space or tab and free text (WebVTT §4.1).
_VTT_SIGNATURE = re.compile(r"WEBVTT(?:[ \t].*)?")
_VTT_SKIPPED_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:\s|$)")

# The srt library reads "00:01.000" as one minute (three fields, the milliseconds
# optional) and "1,5" as 5 ms, so a WebVTT file missing its header would silently get
# wrong times. SRT timings therefore need the full hh:mm:ss,mmm before the library
# sees them ("." is accepted as the separator, as many editors write it).
_SRT_TIME = r"\d+:[0-5]?\d:[0-5]?\d[,.]\d{3}"
_SRT_TIMING = re.compile(rf"\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}(?:\s|$)")
_SRT_INDEX = re.compile(r"\s*\d+\s*")

# SubRip markup that WebVTT does not know: <font ...> and ASS overrides like {\an8}.
_SRT_DROPPED_MARKUP = re.compile(r"</?font\b[^>]*>|\{\\[^}]*\}", re.IGNORECASE)
_SRT_KEPT_TAG = re.compile(r"(</?[ibu]>)", re.IGNORECASE)

# Ruby annotations (<rt>) are readings, not words: the transcript keeps the base text.
_RUBY_TEXT = re.compile(r"<rt\b[^>]*>.*?(?:</rt>|(?=</ruby>)|$)", re.IGNORECASE)
_CUE_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float  # seconds
    text: str  # WebVTT cue text: may hold <i>, <b>, <v Speaker>, &amp; ...
    line: int  # 1-based line of the cue's timing line in the uploaded file


class CaptionError(ValueError):
    """A caption file that cannot be used; ``message`` is lazily translated."""

    def __init__(self, message: Any, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        if self.line is None:
            return str(self.message)
        return str(_l("Line %(line)d: %(message)s", line=self.line, message=self.message))

    def __repr__(self) -> str:
        return f"CaptionError({str(self.message)!r}, line={self.line!r})"


@dataclass
class _Block:
    """Consecutive non-blank lines, and the line number of the first one."""

    first: int
    lines: list[str]

    def line_of(self, index: int) -> int:
        return self.first + index


# --- public API ------------------------------------------------------------------------


def parse_captions(
    data: bytes, *, filename_hint: str = "", duration: float | None = None
) -> list[Cue]:
    """Parse an uploaded caption file (WebVTT or SRT, told apart by content).

    ``filename_hint`` only improves the message for a ``.vtt`` file without its
    header. ``duration`` (seconds) is the video's; cues must end within it.
    Raises :class:`CaptionError` naming the offending line.
    """
    lines = _LINE_BREAK.split(_decode(data))
    if not any(line.strip() for line in lines):
        raise CaptionError(_l("The file is empty."))

    if lines[0].startswith("WEBVTT"):
        cues = _parse_vtt(lines)
    elif filename_hint.lower().endswith(".vtt"):
        raise CaptionError(_l('a WebVTT file must start with the line "WEBVTT"'), 1)
    else:
        cues = _parse_srt(lines)

    if not cues:
        raise CaptionError(_l("The file has no captions."))
    _check_times(cues, duration)
    return cues


def to_webvtt(cues: Iterable[Cue]) -> str:
    """The canonical WebVTT text that is stored and served to the player.

    Times are written to the millisecond. Raises ValueError for a cue whose text
    would not read back as one cue (an empty line or "-->" in it).
    """
    captions = [
        webvtt.Caption(format_timestamp(cue.start), format_timestamp(cue.end), cue.text)
        for cue in cues
    ]
    return webvtt.WebVTT(captions=captions).content


def transcript(cues: Iterable[Cue]) -> list[dict[str, Any]]:
    """Plain-text paragraphs for the transcript beside the video.

    Each item is ``{"start": seconds, "end": seconds, "text": str}``. Tags are
    stripped and entities decoded (the template escapes again). A line repeated
    from the line just before it is dropped: roll-up captions (auto-generated ones
    especially) repeat each line in two cues, which would double the transcript.
    """
    items: list[dict[str, Any]] = []
    last_line: str | None = None
    for cue in cues:
        lines = _plain_lines(cue.text)
        fresh: list[str] = []
        for line in lines:
            if line != last_line:
                fresh.append(line)
            last_line = line
        if fresh:
            items.append({"start": cue.start, "end": cue.end, "text": " ".join(fresh)})
        elif lines and items:  # only repeats: the paragraph above is still on screen
            items[-1]["end"] = max(items[-1]["end"], cue.end)
    return items


def format_timestamp(seconds: float) -> str:
    """``62.5`` -> ``"00:01:02.500"``, rounded half up to the millisecond."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a time in seconds: {seconds!r}")
    # Decimal from repr so that 1.0005 rounds the way it is written, not as the
    # slightly smaller binary float it is stored as.
    millis = int(Decimal(repr(float(seconds))).scaleb(3).to_integral_value(ROUND_HALF_UP))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


# --- decoding and scanning ---------------------------------------------------------------


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise CaptionError(
            _l("the file is not UTF-8 text; save it as UTF-8 and upload it again"), line
        ) from None


def _blocks(lines: Sequence[str], *, vtt: bool) -> list[_Block]:
    """Split lines into blocks at blank lines, as both formats do.

    A line with "-->" also starts a new block when it cannot be the timing line of
    the current one (a forgotten blank line), as the WebVTT parser rules say. For
    SRT a number just before it moves along, being that cue's index.
    """
    blocks: list[_Block] = []
    current: _Block | None = None
    for number, line in enumerate(lines, start=1):
        # WebVTT keeps whitespace-only lines inside a cue; in SRT they are blank lines
        # that an editor left spaces on.
        if not line or (not vtt and not line.strip()):
            current = None
            continue
        if current is not None and _ARROW in line:
            in_header = vtt and len(blocks) == 1
            if in_header or len(current.lines) > 1 or _ARROW in current.lines[0]:
                carried = []
                if not vtt and len(current.lines) > 1 and _SRT_INDEX.fullmatch(current.lines[-1]):
                    carried = [current.lines.pop()]
                current = _Block(number - len(carried), carried)
                blocks.append(current)
        if current is None:
            current = _Block(number, [])
            blocks.append(current)
        current.lines.append(line)
    return blocks


def _timing_index(block: _Block) -> int | None:
    """Where the timing line is: first, or second after an identifier/index."""
    for index, line in enumerate(block.lines[:2]):
        if _ARROW in line:
            return index
    return None


# --- WebVTT ------------------------------------------------------------------------------


def _parse_vtt(lines: Sequence[str]) -> list[Cue]:
    blocks = _blocks(lines, vtt=True)
    if not _VTT_SIGNATURE.fullmatch(blocks[0].lines[0]):
        raise CaptionError(_l('a WebVTT file must start with the line "WEBVTT"'), 1)

    cues: list[Cue] = []
    for block in blocks[1:]:
        index = _timing_index(block)
        if index is None:
            if _VTT_SKIPPED_BLOCK.match(block.lines[0]) or not "".join(block.lines).strip():
                continue  # comments, styles, regions, stray spaces: not kept
            raise CaptionError(_text_outside_cue(), block.first)
        cues.append(_parse_vtt_cue(block, index))
    return cues


def _parse_vtt_cue(block: _Block, index: int) -> Cue:
    line = block.line_of(index)
    bad_timing = CaptionError(
        _l(
            "the cue timing is not valid; write it as %(example)s",
            example="00:01:02.500 --> 00:01:05.000",
        ),
        line,
    )
    # Strict timestamps (two-digit fields, three-digit milliseconds) but lenient cue
    # settings: the canonical form drops settings, so an unknown one must not fail.
    if not WebVTTCueBlock.is_valid(block.lines, strict=True):
        raise bad_timing
    try:
        captions = webvtt.from_string("WEBVTT\n\n" + "\n".join(block.lines)).captions
    except (MalformedCaptionError, MalformedFileError):
        raise bad_timing from None
    if len(captions) != 1:  # minutes or seconds past 59: the library drops the cue
        raise bad_timing
    caption = captions[0]
    return Cue(
        start=caption.start_time.in_milliseconds() / 1000,
        end=caption.end_time.in_milliseconds() / 1000,
        text=caption.raw_text,
        line=line,
    )


# --- SRT ---------------------------------------------------------------------------------


def _parse_srt(lines: Sequence[str]) -> list[Cue]:
    cues: list[Cue] = []
    for block in _blocks(lines, vtt=False):
        index = _timing_index(block)
        if index is None:
            if cues:
                raise CaptionError(_text_outside_cue(), block.first)
            raise CaptionError(
                _l(
                    'this is neither a WebVTT file (which starts with "WEBVTT") '
                    "nor an SRT file (whose cues start with a number and a line "
                    "such as %(example)s)",
                    example="00:01:02,500 --> 00:01:05,000",
                ),
                block.first,
            )
        cues.append(_parse_srt_cue(block, index))
    return cues


def _parse_srt_cue(block: _Block, index: int) -> Cue:
    line = block.line_of(index)
    if not _SRT_TIMING.match(block.lines[index]):
        raise CaptionError(
            _l(
                "the cue timing is not valid; write it as %(example)s",
                example="00:01:02,500 --> 00:01:05,000",
            ),
            line,
        )
    if index == 1 and not _SRT_INDEX.fullmatch(block.lines[0]):
        raise CaptionError(_l("a cue number was expected here"), block.first)
    try:
        subtitles = list(srt.parse("\n".join(block.lines)))
    except (srt.SRTParseError, srt.TimestampParseError):
        subtitles = []
    if len(subtitles) != 1:
        raise CaptionError(_l("this cue could not be read"), line)
    subtitle = subtitles[0]
    return Cue(
        start=subtitle.start.total_seconds(),
        end=subtitle.end.total_seconds(),
        text=_srt_text_to_vtt(subtitle.content),
        line=line,
    )


def _srt_text_to_vtt(content: str) -> str:
    """SubRip text is plain apart from a few tags; WebVTT text is markup.

    <i>, <b> and <u> mean the same in both; everything else is escaped so that
    "R&D" or "a < b" reads the same after conversion, and lines left empty are
    dropped because an empty line would end the WebVTT cue.
    """
    parts = _SRT_KEPT_TAG.split(_SRT_DROPPED_MARKUP.sub("", content))
    text = "".join(  # split() with a group: odd parts are the kept tags
        part.lower() if index % 2 else html.escape(part, quote=False)
        for index, part in enumerate(parts)
    )
    return "\n".join(line for line in text.split("\n") if line.strip())


# --- checks common to both formats -------------------------------------------------------


def _text_outside_cue() -> Any:
    return _l(
        "this text is not part of any cue; is there an empty line inside the text of the cue above?"
    )


def _check_times(cues: Sequence[Cue], duration: float | None) -> None:
    previous: Cue | None = None
    for cue in cues:
        start, end = format_timestamp(cue.start), format_timestamp(cue.end)
        if cue.end < cue.start:
            raise CaptionError(
                _l("the cue ends (%(end)s) before it starts (%(start)s)", start=start, end=end),
                cue.line,
            )
        if cue.end == cue.start:
            raise CaptionError(
                _l("the cue starts and ends at the same time (%(start)s)", start=start),
                cue.line,
            )
        if previous is not None and cue.start < previous.start:
            raise CaptionError(
                _l(
                    "the times go backwards: this cue starts at %(start)s, before the "
                    "cue on line %(previous_line)d (%(previous)s)",
                    start=start,
                    previous_line=previous.line,
                    previous=format_timestamp(previous.start),
                ),
                cue.line,
            )
        if duration is not None and cue.end > duration + DURATION_TOLERANCE:
            raise CaptionError(
                _l(
                    "the cue ends at %(end)s, after the end of the video (%(duration)s)",
                    end=end,
                    duration=format_timestamp(duration),
                ),
                cue.line,
            )
        previous = cue


def _plain_lines(text: str) -> list[str]:
    lines = []
    for line in text.split("\n"):
        plain = html.unescape(_CUE_TAG.sub("", _RUBY_TEXT.sub("", line)))
        plain = _SPACES.sub(" ", plain).strip()
        if plain:
            lines.append(plain)
    return lines
