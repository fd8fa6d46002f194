"""Caption upload: WebVTT and SRT in, canonical WebVTT out, errors that name the line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lms.media.captions import (
    CaptionError,
    Cue,
    format_timestamp,
    parse_captions,
    to_webvtt,
    transcript,
)

VTT = """WEBVTT
Kind: captions
Language: ja

NOTE 清掃工場の見学、第一回

intro
00:00:01.000 --> 00:00:04.500 align:center line:0
<v 講師>皆さん、こんにちは。

00:00:04.500 --> 00:00:08.000
今日は<b>焼却炉</b>を
見学します。
"""

SRT = """1
00:00:01,000 --> 00:00:04,500
<i>皆さん</i>、こんにちは。

2
00:00:04,500 --> 00:00:08,000
R&D <font color="#ffff00">and</font> a < b
{\\an8}第二行
"""


def crlf_bom(text: str) -> bytes:
    return b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")


def error_of(data: bytes | str, **kwargs: object) -> CaptionError:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with pytest.raises(CaptionError) as info:
        parse_captions(raw, **kwargs)  # type: ignore[arg-type]
    return info.value


def without_lines(cues: list[Cue]) -> list[tuple[float, float, str]]:
    return [(cue.start, cue.end, cue.text) for cue in cues]


# --- accepted files ---------------------------------------------------------------------


@pytest.mark.parametrize("encode", [str.encode, crlf_bom], ids=["lf", "crlf+bom"])
def test_webvtt_with_japanese_text(encode) -> None:
    cues = parse_captions(encode(VTT))
    assert cues == [
        Cue(1.0, 4.5, "<v 講師>皆さん、こんにちは。", 8),
        Cue(4.5, 8.0, "今日は<b>焼却炉</b>を\n見学します。", 11),
    ]


@pytest.mark.parametrize("encode", [str.encode, crlf_bom], ids=["lf", "crlf+bom"])
def test_srt_is_converted_to_webvtt_text(encode) -> None:
    cues = parse_captions(encode(SRT), filename_hint="lecture.srt")
    assert cues == [
        Cue(1.0, 4.5, "<i>皆さん</i>、こんにちは。", 2),
        Cue(4.5, 8.0, "R&amp;D and a &lt; b\n第二行", 6),
    ]


def test_format_is_told_by_content_not_name() -> None:
    assert parse_captions(VTT.encode(), filename_hint="captions.srt")[0].line == 8
    assert parse_captions(SRT.encode(), filename_hint="captions.txt")[0].line == 2


def test_short_webvtt_timestamps_and_cue_without_identifier() -> None:
    cues = parse_captions(b"WEBVTT\n\n00:01.000 --> 01:02.250\nhello\n")
    assert without_lines(cues) == [(1.0, 62.25, "hello")]


def test_webvtt_cue_right_after_header_and_missing_blank_line() -> None:
    data = b"WEBVTT\n00:00:01.000 --> 00:00:02.000\na\n00:00:02.000 --> 00:00:03.000\nb\n"
    cues = parse_captions(data)
    assert [(cue.text, cue.line) for cue in cues] == [("a", 2), ("b", 4)]


def test_srt_missing_blank_line_keeps_index_with_its_cue() -> None:
    data = b"1\n00:00:01,000 --> 00:00:02,000\na\n2\n00:00:02,000 --> 00:00:03,000\nb"
    cues = parse_captions(data)
    assert [(cue.text, cue.line) for cue in cues] == [("a", 2), ("b", 5)]


def test_srt_without_index_and_with_whitespace_blank_lines() -> None:
    data = b"\n00:00:01.000 --> 00:00:02.000\na\n   \n00:00:02,000 --> 00:00:03,000\nb\n"
    assert without_lines(parse_captions(data)) == [(1.0, 2.0, "a"), (2.0, 3.0, "b")]


def test_overlapping_cues_and_same_start_are_allowed() -> None:
    data = b"WEBVTT\n\n00:01.000 --> 00:05.000\na\n\n00:01.000 --> 00:03.000\nb\n"
    assert [cue.text for cue in parse_captions(data)] == ["a", "b"]


def test_unknown_cue_settings_are_dropped_not_refused() -> None:
    data = b"WEBVTT\n\n00:01.000 --> 00:05.000 align:middle position:50%,middle\na\n"
    assert to_webvtt(parse_captions(data)) == "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\na\n"


# --- conversion ---------------------------------------------------------------------------


def test_srt_to_webvtt_round_trip() -> None:
    cues = parse_captions(crlf_bom(SRT))
    vtt = to_webvtt(cues)
    assert vtt.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:04.500\n<i>皆さん</i>")
    assert without_lines(parse_captions(vtt.encode())) == without_lines(cues)


def test_webvtt_round_trip_is_stable() -> None:
    vtt = to_webvtt(parse_captions(VTT.encode()))
    assert to_webvtt(parse_captions(vtt.encode())) == vtt


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00:00.000"),
        (62.5, "00:01:02.500"),
        (1.0005, "00:00:01.001"),
        (3600 * 12 + 59.9994, "12:00:59.999"),
        (3600 * 100, "100:00:00.000"),
    ],
)
def test_format_timestamp(seconds: float, text: str) -> None:
    assert format_timestamp(seconds) == text


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")])
def test_format_timestamp_refuses_non_times(seconds: float) -> None:
    with pytest.raises(ValueError):
        format_timestamp(seconds)


def test_transcript_strips_tags_and_merges_repeated_lines() -> None:
    cues = [
        Cue(1.0, 2.0, "<v 講師>ごみの<b>分別</b>について", 1),
        Cue(2.0, 3.0, "ごみの分別について\n<i>説明します</i>", 2),
        Cue(3.0, 4.0, "説明します", 3),
        Cue(4.0, 5.0, "<ruby>焼却<rt>しょうきゃく</rt></ruby>炉 &amp; 灰", 4),
        Cue(5.0, 6.0, "  ", 5),
    ]
    assert transcript(cues) == [
        {"start": 1.0, "end": 2.0, "text": "ごみの分別について"},
        {"start": 2.0, "end": 4.0, "text": "説明します"},
        {"start": 4.0, "end": 5.0, "text": "焼却炉 & 灰"},
    ]


# --- rejected files -----------------------------------------------------------------------


def test_end_before_start_names_the_timing_line() -> None:
    error = error_of(VTT + "\n00:00:09.000 --> 00:00:08.000\nx\n")
    assert error.line == 15
    assert str(error) == "Line 15: the cue ends (00:00:08.000) before it starts (00:00:09.000)"


def test_zero_length_cue_is_refused() -> None:
    error = error_of(SRT + "\n3\n00:00:09,000 --> 00:00:09,000\nx\n")
    assert error.line == 11
    assert "same time" in str(error)


def test_times_going_backwards_names_the_line() -> None:
    error = error_of(SRT + "\n3\n00:00:02,000 --> 00:00:09,000\nx\n")
    assert error.line == 11
    assert str(error).startswith("Line 11: the times go backwards")
    assert "line 6" in str(error)


def test_cue_past_the_video_is_refused_with_tolerance() -> None:
    assert parse_captions(VTT.encode(), duration=7.5)[-1].end == 8.0  # within 0.5 s
    error = error_of(VTT, duration=7.4)
    assert error.line == 11
    assert "after the end of the video (00:00:07.400)" in str(error)


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ("WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nx\n", 3),  # not an arrow: stray text
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02\nx\n", 3),
        ("WEBVTT\n\nid\n00:00:01,000 --> 00:00:02,000\nx\n", 4),  # SRT comma in WebVTT
        ("WEBVTT\n\n00:00:61.000 --> 00:01:02.000\nx\n", 3),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nx\n\ny\n", 6),  # blank line in text
        ("WEBVTT header\n\nNOTE ok\n\n00:00:01.000 --> oops\nx\n", 5),
        ("1\n00:00:01.000 --> 00:00:02.000\nx\n\n2\n00:01.000 --> 00:02.000\ny\n", 6),
        ("1\n00:00:01,000 --> 00:00:02,000\nx\n\n2\n00:00:03,00 --> 00:00:04,000\n", 6),
        ("1\n00:00:01,000 --> 00:00:02,000\nx\n\nsecond\n00:00:03,000 --> 00:00:04,000\n", 5),
        ("1\n00:00:01,000 --> 00:00:02,000\nx\n\n\nstray text\n", 6),
        ("Hello there\n", 1),
    ],
)
def test_unparseable_cues_name_the_line(data: str, line: int) -> None:
    assert error_of(data).line == line
    assert str(error_of(data)).startswith(f"Line {line}: ")


def test_webvtt_signature_must_be_exact() -> None:
    assert error_of("WEBVTTX\n\n00:01.000 --> 00:02.000\nx\n").line == 1


def test_vtt_named_file_without_header() -> None:
    error = error_of("00:01.000 --> 00:02.000\nx\n", filename_hint="Lecture.VTT")
    assert error.line == 1
    assert "WEBVTT" in str(error)


@pytest.mark.parametrize("data", ["", "\n\n  \n", "\ufeff"])
def test_empty_file(data: str) -> None:
    error = error_of(data)
    assert error.line is None
    assert str(error) == "The file is empty."


def test_header_only_has_no_cues() -> None:
    error = error_of("WEBVTT\n\nNOTE nothing yet\n")
    assert error.line is None
    assert "no captions" in str(error)


def test_not_utf8_names_the_line() -> None:
    data = "1\n00:00:01,000 --> 00:00:02,000\n清掃\n".encode("shift_jis")
    error = error_of(data)
    assert error.line == 3
    assert "not UTF-8" in str(error)
    assert error_of("WEBVTT\n".encode("utf-16")).line == 1


def test_error_message_is_lazy_and_renders_outside_a_request() -> None:
    error = error_of("Hello\n")
    assert isinstance(error, ValueError)
    assert type(error.message).__name__ == "LazyString"
    assert "neither a WebVTT file" in str(error.message)


# --- property -------------------------------------------------------------------------------

# Cue text lines as an instructor may type them: anything on one line except the
# "-->" that would start a cue; WebVTT markup included.
_text_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    min_size=1,
    max_size=30,
).filter(lambda line: "-->" not in line)
_cue_text = st.lists(_text_line, max_size=3).map("\n".join)


@st.composite
def increasing_cues(draw: st.DrawFn) -> list[Cue]:
    count = draw(st.integers(min_value=1, max_value=8))
    cues, start = [], 0
    for number in range(count):
        start += draw(st.integers(min_value=0, max_value=90_000_000))
        length = draw(st.integers(min_value=1, max_value=600_000))
        text = draw(_cue_text)
        cues.append(Cue(start / 1000, (start + length) / 1000, text, number))
    return cues


@settings(max_examples=300, deadline=None)
@given(increasing_cues())
def test_to_webvtt_then_parse_gives_the_cues_back(cues: list[Cue]) -> None:
    parsed = parse_captions(to_webvtt(cues).encode("utf-8"))
    assert without_lines(parsed) == without_lines(cues)


_file_pieces = st.sampled_from(
    ["WEBVTT", "\n", "\r\n", "\n\n", "1", "00:00:01.000", " --> ", "00:00:02,000", "-->"]
    + ["NOTE ", "x", "<i>", "&", "  ", "00:01.000", "\ufeff"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_file_pieces, st.text(max_size=5)), max_size=30).map("".join))
def test_any_upload_is_refused_cleanly_or_converts_faithfully(text: str) -> None:
    try:
        cues = parse_captions(text.encode("utf-8"), duration=3)
    except CaptionError as error:
        assert str(error)  # renders, with its line when known
        return
    again = parse_captions(to_webvtt(cues).encode("utf-8"))
    assert without_lines(again) == without_lines(cues)
