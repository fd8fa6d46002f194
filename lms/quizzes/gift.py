"""Moodle's GIFT question format: a pure parser and writer (no database, no request).

``parse_gift(text)`` reads a whole file into :class:`GiftQuestion` values, or raises
:class:`GiftFileError` listing every problem with its 1-based line number; nothing is
returned when any question is malformed. ``write_gift(questions)`` is its inverse:
``parse_gift(write_gift(qs)) == qs`` for every list it accepts.

What is understood (Moodle's documented GIFT):

- ``//`` comment lines (anywhere, also inside a question); questions separated by blank lines
- ``$CATEGORY: $course$/top/Sub`` sets the category of the questions that follow
- ``::Title::`` and a text format ``[html]``, ``[moodle]`` (the default), ``[markdown]``,
  ``[plain]`` before the question text (a format tag before an answer or a feedback is
  accepted and dropped: answers follow the question's format)
- single choice ``{=right ~wrong}``; weights ``~%50%`` and ``~%-25%``; feedback ``#...``
- multiple response: only ``~`` answers, with weights (the positive ones add up to 100%)
- true/false ``{T}`` ``{TRUE}`` ``{F}`` ``{FALSE}``, with ``{T#if wrong#if right}``
- short answer ``{=cat =%50%kitten#feedback}``
- numeric ``{#3.14:0.01}``, ``{#1..5}``, several answers ``{# =3.14:0 =%50%3.1:0.1}``, and
  ``~#feedback`` for any other number
- matching ``{=left -> right =left2 -> right2 = -> extra right-hand answer}``
- missing word: text after the closing brace (``text_after``); essay ``{}``; description
  (no braces at all); general feedback ``####...`` last inside the braces
- escapes ``\\~ \\= \\# \\{ \\} \\: \\\\`` and ``\\n`` (a line break)

Fractions are Moodle's: a weight ``%50%`` is ``fraction == 0.5``; ``=`` alone is ``1.0``.

:func:`to_spec` maps a question to the plain dict the question-type registry consumes (see
its docstring for the shape); :func:`from_spec` maps such a dict back for export.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from flask_babel import lazy_gettext as _l

from lms.quizzes.questions import MAX_CHOICES

QuestionType = Literal[
    "single", "multiple", "truefalse", "numeric", "short", "matching", "essay", "description"
]
TextFormat = Literal["moodle", "html", "markdown", "plain"]

FORMATS: tuple[str, ...] = ("moodle", "html", "markdown", "plain")
DEFAULT_FORMAT = "moodle"
BLANK = "_____"  # Moodle's mark for the missing word in a question text

_FORMAT_TAG = re.compile(r"\[(moodle|html|markdown|plain)\]")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PERCENT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_ESCAPABLE = {"\\": "\\", "~": "~", "=": "=", "#": "#", "{": "{", "}": "}", ":": ":", "n": "\n"}
_TRUE_FALSE = {"T": True, "TRUE": True, "F": False, "FALSE": False}
_CATEGORY = "$CATEGORY:"
_SUM_TOLERANCE = 0.001  # how far the positive weights of a multiple-answer question may stray


# --- the values ---------------------------------------------------------------------------


@dataclass
class GiftAnswer:
    """A choice (single, multiple) or an accepted answer (short)."""

    text: str
    fraction: float = 0.0  # -1.0 .. 1.0 (``%-25%`` is -0.25); short answers 0 .. 1
    feedback: str = ""


@dataclass
class GiftNumericAnswer:
    """A value with a tolerance or a range (``minimum``..``maximum``)."""

    fraction: float = 1.0  # 0 .. 1
    feedback: str = ""
    value: float | None = None
    tolerance: float = 0.0
    minimum: float | None = None
    maximum: float | None = None

    @property
    def is_range(self) -> bool:
        return self.value is None


@dataclass
class GiftPair:
    """A matching pair; an empty ``left`` is an extra right-hand answer that matches nothing."""

    left: str
    right: str


@dataclass
class GiftQuestion:
    type: QuestionType
    text: str  # the question text; for a missing-word question, the text before the blank
    title: str | None = None
    category: str | None = None  # as written after $CATEGORY:, e.g. "$course$/top/Plants"
    text_format: TextFormat = DEFAULT_FORMAT
    text_after: str | None = None  # missing word: the text after the blank
    general_feedback: str = ""
    answers: list[GiftAnswer] = field(default_factory=list)  # single, multiple, short
    numeric: list[GiftNumericAnswer] = field(default_factory=list)  # numeric
    pairs: list[GiftPair] = field(default_factory=list)  # matching
    truth: bool | None = None  # truefalse: the right answer
    feedback_right: str = ""  # truefalse: shown to a trainee who answered right
    feedback_wrong: str = ""  # truefalse: to one who answered wrong; numeric: any other number
    line: int = field(default=0, compare=False)  # 1-based line where the question starts


# --- errors -------------------------------------------------------------------------------


class GiftError(ValueError):
    """One problem in a GIFT file; ``message`` is lazily translated, ``line`` 1-based."""

    def __init__(self, line: int, message: Any) -> None:
        super().__init__(message)
        self.line = line
        self.message = message

    def __str__(self) -> str:
        return str(_l("Line %(line)d: %(message)s", line=self.line, message=self.message))

    def __repr__(self) -> str:
        return f"GiftError({self.line!r}, {str(self.message)!r})"


class GiftFileError(ValueError):
    """A GIFT file that cannot be imported; ``errors`` lists every problem, by line."""

    def __init__(self, errors: Iterable[GiftError]) -> None:
        self.errors = sorted(errors, key=lambda e: e.line)
        super().__init__("\n".join(str(e) for e in self.errors))


# --- source text with escapes resolved ----------------------------------------------------


class _Src:
    """Text whose escaped characters are marked, and the line of every character."""

    __slots__ = ("chars", "esc", "lines", "fallback")

    def __init__(self, chars: str, esc: Sequence[bool], lines: Sequence[int], fallback: int):
        self.chars = chars
        self.esc = tuple(esc)
        self.lines = tuple(lines)
        self.fallback = fallback  # the line of an empty slice

    @classmethod
    def from_lines(cls, lines: Sequence[tuple[int, str]]) -> _Src:
        chars: list[str] = []
        esc: list[bool] = []
        where: list[int] = []
        for index, (number, raw) in enumerate(lines):
            if index:
                chars.append("\n")
                esc.append(False)
                where.append(lines[index - 1][0])
            i = 0
            while i < len(raw):
                ch = raw[i]
                if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in _ESCAPABLE:
                    chars.append(_ESCAPABLE[raw[i + 1]])
                    esc.append(True)
                    i += 2
                else:
                    chars.append(ch)
                    esc.append(ch == "\\")  # an unknown escape keeps its backslash, literally
                    i += 1
                where.append(number)
        return cls("".join(chars), esc, where, lines[0][0] if lines else 0)

    def __len__(self) -> int:
        return len(self.chars)

    def __getitem__(self, key: slice) -> _Src:
        start = key.start or 0
        fallback = self.line(start)
        return _Src(self.chars[key], self.esc[key], self.lines[key], fallback)

    def line(self, index: int = 0) -> int:
        if 0 <= index < len(self.lines):
            return self.lines[index]
        if self.lines and index >= len(self.lines):
            return self.lines[-1]
        return self.fallback

    def _free(self, i: int, length: int) -> bool:
        return not any(self.esc[i : i + length])

    def find(self, sub: str, start: int = 0) -> int:
        i = self.chars.find(sub, start)
        while i != -1 and not self._free(i, len(sub)):
            i = self.chars.find(sub, i + 1)
        return i

    def rfind(self, sub: str) -> int:
        i = self.chars.rfind(sub)
        while i != -1 and not self._free(i, len(sub)):
            i = self.chars.rfind(sub, 0, i + len(sub) - 1)
        return i

    def startswith(self, sub: str) -> bool:
        return self.chars.startswith(sub) and self._free(0, len(sub))

    def strip(self) -> _Src:
        start, end = 0, len(self.chars)
        while start < end and not self.esc[start] and self.chars[start].isspace():
            start += 1
        while end > start and not self.esc[end - 1] and self.chars[end - 1].isspace():
            end -= 1
        return self[start:end]

    def split(self, markers: str) -> tuple[_Src, list[tuple[str, _Src]]]:
        """The text before the first unescaped marker, then (marker, text after it) pairs."""
        cuts = [i for i, ch in enumerate(self.chars) if ch in markers and not self.esc[i]]
        head = self[: cuts[0]] if cuts else self
        items = []
        for n, cut in enumerate(cuts):
            end = cuts[n + 1] if n + 1 < len(cuts) else len(self.chars)
            items.append((self.chars[cut], self[cut + 1 : end]))
        return head, items

    @property
    def text(self) -> str:
        return self.chars


# --- parsing ------------------------------------------------------------------------------


class _Bad(Exception):
    """A problem that ends the parsing of one question."""

    def __init__(self, line: int, message: Any) -> None:
        self.error = GiftError(line, message)


def _blocks(text: str) -> Iterable[list[tuple[int, str]]]:
    """Runs of non-blank lines, without comment lines, each line with its 1-based number."""
    block: list[tuple[int, str]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if not stripped:
            if block:
                yield block
            block = []
        elif not stripped.startswith("//"):
            block.append((number, raw))
    if block:
        yield block


def _answer_marks(block: list[tuple[int, str]]) -> int:
    """About how many answers the braces hold, counted at C speed: every answer, matching
    pair or numeric answer starts with an unescaped "=" or "~" (only a true/false
    feedback could hold more, which no real question does)."""
    text = "\n".join(raw for _number, raw in block)
    start = text.find("{")
    if start == -1:
        return 0
    end = text.rfind("}")
    body = text[start + 1 : end] if end > start else text[start + 1 :]
    marks = body.count("=") + body.count("~")
    return marks - body.count("\\=") - body.count("\\~")


def parse_gift(text: str) -> list[GiftQuestion]:
    """Every question of a GIFT file, or :class:`GiftFileError` with every problem found."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    questions: list[GiftQuestion] = []
    errors: list[GiftError] = []
    category: str | None = None
    for block in _blocks(text):
        first_number, first = block[0]
        if first.lstrip().startswith(_CATEGORY):
            path = first.lstrip()[len(_CATEGORY) :].strip()
            if not path:
                errors.append(GiftError(first_number, _l("The category has no name.")))
            else:
                category = path
            block = block[1:]
            if not block:
                continue
        if _answer_marks(block) > MAX_CHOICES + 1:  # + 1: a numeric question's "~#feedback"
            # Refused before the (slower, per-character) parse: a huge question costs
            # seconds to parse, and more than MAX_CHOICES answers can never be stored.
            errors.append(
                GiftError(
                    block[0][0],
                    _l("A question has at most %(n)d answers.", n=MAX_CHOICES),
                )
            )
            continue
        try:
            question = _parse_question(_Src.from_lines(block), errors)
        except _Bad as bad:
            errors.append(bad.error)
            continue
        if question is not None:
            question.category = category
            question.line = block[0][0]
            questions.append(question)
    if errors:
        raise GiftFileError(errors)
    return questions


def _strip_format(src: _Src) -> tuple[str | None, _Src]:
    match = _FORMAT_TAG.match(src.chars)
    if match and src._free(0, match.end()):
        return match.group(1), src[match.end() :].strip()
    return None, src


def _plain(src: _Src) -> str:
    """An answer or a feedback: stripped, and without a leading format tag."""
    return _strip_format(src.strip())[1].text


def _parse_question(src: _Src, errors: list[GiftError]) -> GiftQuestion | None:
    src = src.strip()
    start_line = src.line(0)
    title: str | None = None
    if src.startswith("::"):
        end = src.find("::", 2)
        if end == -1:
            raise _Bad(start_line, _l("The title is not closed with “::”."))
        title = src[2:end].strip().text or None
        src = src[end + 2 :].strip()
    text_format, src = _strip_format(src)
    text_format = text_format or DEFAULT_FORMAT

    opening = src.find("{")
    closing = src.find("}")
    if closing != -1 and (opening == -1 or closing < opening):
        raise _Bad(src.line(closing), _l("A “}” closes no “{”."))
    if opening == -1:
        if not src.text:
            raise _Bad(start_line, _l("The question has no text."))
        return GiftQuestion(type="description", text=src.text, title=title, text_format=text_format)
    closing = src.find("}", opening + 1)
    nested = src.find("{", opening + 1)
    if closing == -1:
        raise _Bad(src.line(opening), _l("The “{” is not closed with “}”."))
    if nested != -1 and nested < closing:
        raise _Bad(src.line(nested), _l("A “{” opens inside the answers."))
    after = src[closing + 1 :]
    for mark in ("{", "}"):
        if (stray := after.find(mark)) != -1:
            raise _Bad(after.line(stray), _l("A question has only one set of answers in “{ }”."))
    before = src[:opening].strip().text
    after_text = after.strip().text or None
    if not before and not after_text:
        raise _Bad(start_line, _l("The question has no text."))
    question = GiftQuestion(
        type="essay",
        text=before,
        title=title,
        text_format=text_format,
        text_after=after_text,
    )
    body = src[opening + 1 : closing].strip()
    body_line = src.line(opening)
    if (general := body.rfind("####")) != -1:
        question.general_feedback = _plain(body[general + 4 :])
        body = body[:general].strip()
    before_errors = len(errors)
    if not body.text:
        question.type = "essay"
    elif body.startswith("#"):
        _parse_numeric(question, body[1:], errors)
    elif body.find("~") != -1:
        _parse_choices(question, body, errors)
    elif _looks_like_matching(body):
        _parse_matching(question, body, errors)
    elif (tf := _true_false_word(body)) is not None:
        _parse_true_false(question, body, tf)
    elif body.startswith("="):
        _parse_short(question, body, errors)
    else:
        raise _Bad(
            body_line,
            _l("The answers are not understood: start each with “=” or “~”, or write T or F."),
        )
    return question if len(errors) == before_errors else None


def _looks_like_matching(body: _Src) -> bool:
    """``=`` answers whose first one holds ``->`` (a short answer's feedback may say "->")."""
    head, items = body.split("=")
    if not items or head.strip().text:
        return False
    first = items[0][1]
    if (cut := first.find("#")) != -1:
        first = first[:cut]
    return first.find("->") != -1


def _true_false_word(body: _Src) -> bool | None:
    cut = body.find("#")
    word = (body[:cut] if cut != -1 else body).strip().text.upper()
    return _TRUE_FALSE.get(word)


def _parse_true_false(question: GiftQuestion, body: _Src, truth: bool) -> None:
    question.type = "truefalse"
    question.truth = truth
    _head, feedbacks = body.split("#")
    if len(feedbacks) > 2:
        raise _Bad(
            feedbacks[2][1].line(0) if len(feedbacks[2][1]) else body.line(len(body) - 1),
            _l("A true/false question takes at most two feedbacks: “#if wrong#if right”."),
        )
    if feedbacks:
        question.feedback_wrong = _plain(feedbacks[0][1])
    if len(feedbacks) > 1:
        question.feedback_right = _plain(feedbacks[1][1])


def _weight(item: _Src, errors: list[GiftError], *, negative: bool) -> tuple[float | None, _Src]:
    """A leading ``%n%`` weight as a fraction, and the rest; None when there is none or bad."""
    item = item.strip()
    if not item.startswith("%"):
        return None, item
    end = item.chars.find("%", 1)
    line = item.line(0)
    if end == -1:
        errors.append(GiftError(line, _l("The weight is not closed with “%”.")))
        return None, item
    raw = item.chars[1:end].strip()
    rest = item[end + 1 :].strip()
    if not _PERCENT.fullmatch(raw):
        errors.append(GiftError(line, _l("The weight “%(weight)s” is not a number.", weight=raw)))
        return None, rest
    percent = Decimal(raw)
    low = -100 if negative else 0
    if not low <= percent <= 100:
        errors.append(
            GiftError(
                line,
                _l(
                    "The weight %(weight)s%% is outside %(low)s%% to 100%%.",
                    weight=raw,
                    low=low,
                ),
            )
        )
        return None, rest
    return float(percent / 100), rest


def _answer_and_feedback(item: _Src) -> tuple[_Src, str]:
    cut = item.find("#")
    if cut == -1:
        return item.strip(), ""
    return item[:cut].strip(), _plain(item[cut + 1 :])


def _no_text_before(head: _Src) -> None:
    head = head.strip()
    if head.text:
        raise _Bad(head.line(0), _l("Text before the first answer: start each answer with “=”."))


def _parse_choices(question: GiftQuestion, body: _Src, errors: list[GiftError]) -> None:
    head, items = body.split("~=")
    if head.strip().text:
        raise _Bad(head.strip().line(0), _l("Text before the first answer: start it with “~”."))
    question.type = "multiple" if all(mark == "~" for mark, _ in items) else "single"
    count = len(errors)
    for mark, item in items:
        fraction, rest = _weight(item, errors, negative=True)
        if fraction is None:
            fraction = 1.0 if mark == "=" else 0.0
        answer, feedback = _answer_and_feedback(rest)
        text = _strip_format(answer)[1].text
        if not text:
            errors.append(GiftError(item.line(0), _l("An answer is empty.")))
        question.answers.append(GiftAnswer(text=text, fraction=fraction, feedback=feedback))
    if len(errors) > count:
        return
    line = body.line(0)
    if len(question.answers) < 2:
        raise _Bad(line, _l("A multiple-choice question needs at least two answers."))
    if question.type == "single" and not any(a.fraction == 1 for a in question.answers):
        raise _Bad(line, _l("One of the answers must be worth 100%."))
    if question.type == "multiple":
        total = sum(a.fraction for a in question.answers if a.fraction > 0)
        if abs(total - 1) > _SUM_TOLERANCE:
            raise _Bad(
                line,
                _l(
                    "The positive weights must add up to 100%% (they add up to %(total)s%%).",
                    total=f"{total * 100:g}",
                ),
            )


def _parse_short(question: GiftQuestion, body: _Src, errors: list[GiftError]) -> None:
    question.type = "short"
    head, items = body.split("=")
    _no_text_before(head)
    count = len(errors)
    for _mark, item in items:
        fraction, rest = _weight(item, errors, negative=False)
        answer, feedback = _answer_and_feedback(rest)
        text = _strip_format(answer)[1].text
        if not text:
            errors.append(GiftError(item.line(0), _l("An answer is empty.")))
        fraction = 1.0 if fraction is None else fraction
        question.answers.append(GiftAnswer(text=text, fraction=fraction, feedback=feedback))
    if len(errors) == count and not any(a.fraction == 1 for a in question.answers):
        raise _Bad(body.line(0), _l("One of the answers must be worth 100%."))


def _parse_matching(question: GiftQuestion, body: _Src, errors: list[GiftError]) -> None:
    question.type = "matching"
    head, items = body.split("=")
    _no_text_before(head)
    count = len(errors)
    for _mark, item in items:
        arrow = item.find("->")
        if arrow == -1:
            errors.append(GiftError(item.line(0), _l("A matching pair needs “->”.")))
            continue
        left, right = _plain(item[:arrow]), _plain(item[arrow + 2 :])
        if not right:
            errors.append(GiftError(item.line(0), _l("A matching pair has nothing after “->”.")))
        question.pairs.append(GiftPair(left=left, right=right))
    if len(errors) == count and sum(1 for p in question.pairs if p.left) < 2:
        raise _Bad(body.line(0), _l("A matching question needs at least two pairs."))


def _number(raw: str) -> float | None:
    if not _NUMBER.fullmatch(raw):
        return None
    value = float(raw)
    return value if value not in (float("inf"), float("-inf")) else None


def _numeric_answer(spec: str, line: int, errors: list[GiftError]) -> GiftNumericAnswer | None:
    def bad_number(raw: str) -> None:
        errors.append(GiftError(line, _l("“%(value)s” is not a number.", value=raw)))

    if ".." in spec[1:]:
        cut = spec.index("..", 1)
        low_raw, high_raw = spec[:cut].strip(), spec[cut + 2 :].strip()
        low, high = _number(low_raw), _number(high_raw)
        if low is None or high is None:
            bad_number(low_raw if low is None else high_raw)
            return None
        if low > high:
            errors.append(
                GiftError(line, _l("The range %(range)s runs backwards.", range=spec.strip()))
            )
            return None
        return GiftNumericAnswer(minimum=low, maximum=high)
    if ":" in spec:
        value_raw, tolerance_raw = (part.strip() for part in spec.split(":", 1))
        value = _number(value_raw)
        if value is None:
            bad_number(value_raw)
            return None
        tolerance = _number(tolerance_raw)
        if tolerance is None or tolerance < 0:
            errors.append(
                GiftError(
                    line,
                    _l(
                        "The tolerance “%(tolerance)s” is not a number of zero or more.",
                        tolerance=tolerance_raw,
                    ),
                )
            )
            return None
        return GiftNumericAnswer(value=value, tolerance=tolerance)
    value = _number(spec.strip())
    if value is None:
        bad_number(spec.strip())
        return None
    return GiftNumericAnswer(value=value)


def _parse_numeric(question: GiftQuestion, body: _Src, errors: list[GiftError]) -> None:
    question.type = "numeric"
    if (tilde := body.find("~")) != -1:
        wrong = body[tilde + 1 :].strip()
        if wrong.text and not wrong.startswith("#"):
            raise _Bad(wrong.line(0), _l("After “~” in a numeric question comes “#feedback”."))
        question.feedback_wrong = _plain(wrong[1:]) if wrong.text else ""
        body = body[:tilde]
    body = body.strip()
    if body.find("=") == -1:
        items = [body] if body.text else []
    else:
        head, marked = body.split("=")
        _no_text_before(head)
        items = [item for _mark, item in marked]
    if not items:
        raise _Bad(body.line(0), _l("The numeric question has no answer."))
    count = len(errors)
    for item in items:
        fraction, rest = _weight(item, errors, negative=False)
        spec, feedback = _answer_and_feedback(rest)
        answer = _numeric_answer(spec.text, item.line(0), errors)
        if answer is not None:
            answer.fraction = 1.0 if fraction is None else fraction
            answer.feedback = feedback
            question.numeric.append(answer)
    if len(errors) == count and not any(a.fraction == 1 for a in question.numeric):
        raise _Bad(body.line(0), _l("One of the answers must be worth 100%."))


# --- writing ------------------------------------------------------------------------------


def _escape(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\\n")
        elif ch in "\\~=#{}:":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _part(text: str, text_format: str) -> str:
    """An answer or feedback, escaped; a tag is added where it could be read as a format."""
    escaped = _escape(text.strip())
    if _FORMAT_TAG.match(escaped):
        return f"[{text_format}]{escaped}"
    return escaped


def _percent(fraction: float) -> str:
    number = Decimal(repr(float(fraction))) * 100
    written = format(number.normalize(), "f")
    return "0" if written in ("-0", "0") else written


def _number_text(value: float) -> str:
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _weighted(mark: str, fraction: float, text: str, default: float) -> str:
    if fraction == default and not text.startswith("%"):
        return f"{mark}{text}"
    return f"{mark}%{_percent(fraction)}%{text}"


def _with_feedback(text: str, feedback: str, text_format: str) -> str:
    return f"{text}#{_part(feedback, text_format)}" if feedback.strip() else text


def _body_lines(q: GiftQuestion) -> list[str]:
    fmt = q.text_format
    if q.type in ("single", "multiple"):
        lines = []
        # A single-choice question needs one "=" and one "~", or it would read back otherwise.
        last_full = max((n for n, a in enumerate(q.answers) if a.fraction == 1), default=-1)
        needs_tilde = q.type == "single" and all(a.fraction == 1 for a in q.answers)
        for n, a in enumerate(q.answers):
            text = _part(a.text, fmt)
            if q.type == "single" and a.fraction == 1 and not (needs_tilde and n == last_full):
                item = _weighted("=", 1.0, text, 1.0)
            elif a.fraction == 1:
                item = f"~%100%{text}"
            else:
                item = _weighted("~", a.fraction, text, 0.0)
            lines.append(_with_feedback(item, a.feedback, fmt))
        return lines
    if q.type == "short":
        if q.answers and "->" in q.answers[0].text:
            raise ValueError(f"a first short answer cannot hold '->': {q.answers[0].text!r}")
        return [
            _with_feedback(_weighted("=", a.fraction, _part(a.text, fmt), 1.0), a.feedback, fmt)
            for a in q.answers
        ]
    if q.type == "matching":
        lines = []
        for p in q.pairs:
            if "->" in p.left:
                raise ValueError(f"a matching left side cannot hold '->': {p.left!r}")
            lines.append(f"={_part(p.left, fmt)} -> {_part(p.right, fmt)}")
        return lines
    if q.type == "numeric":
        lines = []
        for a in q.numeric:
            if a.is_range:
                spec = f"{_number_text(a.minimum)}..{_number_text(a.maximum)}"  # type: ignore[arg-type]
            elif a.tolerance:
                spec = f"{_number_text(a.value)}:{_number_text(a.tolerance)}"  # type: ignore[arg-type]
            else:
                spec = _number_text(a.value)  # type: ignore[arg-type]
            lines.append(_with_feedback(_weighted("=", a.fraction, spec, 1.0), a.feedback, fmt))
        if q.feedback_wrong.strip():
            lines.append(f"~#{_part(q.feedback_wrong, fmt)}")
        return lines
    raise ValueError(f"unknown question type {q.type!r}")


def _write_question(q: GiftQuestion) -> str:
    fmt = q.text_format
    if fmt not in FORMATS:
        raise ValueError(f"unknown text format {fmt!r}")
    head = f"::{_escape(q.title.strip())}::" if q.title and q.title.strip() else ""
    text = _escape(q.text.strip())
    if fmt != DEFAULT_FORMAT or text.startswith(("[", "//")):
        text = f"[{fmt}]{text}"
    head += text
    if q.type == "description":
        if not q.text.strip():
            raise ValueError("a description needs a text")
        return head
    general = f"####{_part(q.general_feedback, fmt)}" if q.general_feedback.strip() else ""
    after = f" {_escape(q.text_after.strip())}" if q.text_after and q.text_after.strip() else ""
    if q.type == "essay":
        return f"{head} {{{general}}}{after}"
    if q.type == "truefalse":
        body = "TRUE" if q.truth else "FALSE"
        if q.feedback_wrong.strip() or q.feedback_right.strip():
            body += f"#{_part(q.feedback_wrong, fmt)}"
        if q.feedback_right.strip():
            body += f"#{_part(q.feedback_right, fmt)}"
        return f"{head} {{{body}{general}}}{after}"
    lines = _body_lines(q)
    if q.type == "numeric":
        if len(lines) == 1 and q.numeric[0].fraction == 1 and not q.numeric[0].feedback:
            return f"{head} {{#{lines[0][1:]}{general}}}{after}"
        inner = "\n".join(f"\t{line}" for line in lines)
        tail = f"\n\t{general}" if general else ""
        return f"{head} {{#\n{inner}{tail}\n}}{after}"
    inner = "\n".join(f"\t{line}" for line in lines)
    tail = f"\n\t{general}" if general else ""
    return f"{head} {{\n{inner}{tail}\n}}{after}"


def write_gift(questions: Iterable[GiftQuestion]) -> str:
    """A GIFT file holding ``questions``, with a ``$CATEGORY:`` line wherever it changes."""
    chunks: list[str] = []
    category: str | None = None
    for q in questions:
        if q.category != category:
            if q.category is None or not q.category.strip():
                raise ValueError("a question without a category cannot follow one with a category")
            if "\n" in q.category or "\r" in q.category:
                raise ValueError(f"a category name cannot hold a line break: {q.category!r}")
            chunks.append(f"{_CATEGORY} {q.category.strip()}")
            category = q.category
        chunks.append(_write_question(q))
    return "\n\n".join(chunks) + "\n" if chunks else ""


# --- mapping to the question-type registry ------------------------------------------------


def to_spec(q: GiftQuestion, lang: str = "en") -> dict[str, Any]:
    """The plain dict the question-type registry (``lms.quizzes.questions``) is built from.

    Common keys, for every type::

        {"type": q.type,            # single multiple truefalse numeric short matching
                                    # essay description
         "points": 1.0,             # 0.0 for a description
         "title": "..." ,           # "" when the GIFT question has none
         "category": "$course$/top/Sub" or None,
         "text_format": "moodle" | "html" | "markdown" | "plain",
         "texts": {lang: {"text": ..., "explanation": general_feedback}}}

    A missing-word question has ``"_____"`` where the blank is in ``text`` and also
    ``"blank": {"before": ..., "after": ...}``. Then, by type:

    - single, multiple: ``"choices": [{"id": "c1", "texts": {lang: {"text", "feedback"}},
      "weight": fraction}]`` (fraction -1..1, e.g. 0.5 for ``%50%``)
    - truefalse: ``"correct": bool`` and ``"choices"`` with ids ``"true"`` and ``"false"``
      (weights 1.0 / 0.0), each choice's feedback the one a trainee who picks it sees
    - short: ``"answers": [{"text", "fraction", "feedback"}]``
    - numeric: ``"answers": [{"value", "tolerance", "fraction", "feedback"}`` or
      ``{"min", "max", "fraction", "feedback"}]``; ``texts[lang]["feedback_wrong"]`` for any
      other number when given
    - matching: ``"pairs": [{"left", "right"}]``; an empty ``left`` is an extra right-hand
      answer (a distractor)
    - essay, description: nothing more
    """
    text = q.text
    if q.text_after is not None:
        text = " ".join(part for part in (q.text, BLANK, q.text_after) if part)
    texts: dict[str, Any] = {"text": text, "explanation": q.general_feedback}
    spec: dict[str, Any] = {
        "type": q.type,
        "points": 0.0 if q.type == "description" else 1.0,
        "title": q.title or "",
        "category": q.category,
        "text_format": q.text_format,
        "texts": {lang: texts},
    }
    if q.text_after is not None:
        spec["blank"] = {"before": q.text, "after": q.text_after}
    if q.type in ("single", "multiple"):
        spec["choices"] = [
            {
                "id": f"c{n}",
                "texts": {lang: {"text": a.text, "feedback": a.feedback}},
                "weight": a.fraction,
            }
            for n, a in enumerate(q.answers, start=1)
        ]
    elif q.type == "truefalse":
        spec["correct"] = bool(q.truth)

        def fb(value: bool) -> str:
            return q.feedback_right if value == q.truth else q.feedback_wrong

        spec["choices"] = [
            {
                "id": key,
                "texts": {lang: {"text": label, "feedback": fb(value)}},
                "weight": 1.0 if value == q.truth else 0.0,
            }
            for key, label, value in (("true", "True", True), ("false", "False", False))
        ]
    elif q.type == "short":
        spec["answers"] = [
            {"text": a.text, "fraction": a.fraction, "feedback": a.feedback} for a in q.answers
        ]
    elif q.type == "numeric":
        spec["answers"] = [
            {"min": a.minimum, "max": a.maximum, "fraction": a.fraction, "feedback": a.feedback}
            if a.is_range
            else {
                "value": a.value,
                "tolerance": a.tolerance,
                "fraction": a.fraction,
                "feedback": a.feedback,
            }
            for a in q.numeric
        ]
        if q.feedback_wrong:
            texts["feedback_wrong"] = q.feedback_wrong
    elif q.type == "matching":
        spec["pairs"] = [{"left": p.left, "right": p.right} for p in q.pairs]
    return spec


def from_spec(spec: dict[str, Any], lang: str = "en") -> GiftQuestion:
    """The inverse of :func:`to_spec`, for export: ``from_spec(to_spec(q)) == q``."""
    texts = spec.get("texts", {}).get(lang) or next(iter(spec.get("texts", {}).values()), {})
    kind = spec["type"]
    q = GiftQuestion(
        type=kind,
        text=texts.get("text", ""),
        title=spec.get("title") or None,
        category=spec.get("category"),
        text_format=spec.get("text_format", DEFAULT_FORMAT),
        general_feedback=texts.get("explanation", "") or "",
    )
    if blank := spec.get("blank"):
        q.text, q.text_after = blank["before"], blank["after"]

    def choice_texts(choice: dict[str, Any]) -> dict[str, Any]:
        return choice["texts"].get(lang) or next(iter(choice["texts"].values()))

    if kind in ("single", "multiple"):
        q.answers = [
            GiftAnswer(
                text=choice_texts(c)["text"],
                fraction=float(c["weight"]),
                feedback=choice_texts(c).get("feedback", "") or "",
            )
            for c in spec.get("choices", [])
        ]
    elif kind == "truefalse":
        q.truth = bool(spec["correct"])
        by_id = {c["id"]: choice_texts(c).get("feedback", "") or "" for c in spec["choices"]}
        right, wrong = ("true", "false") if q.truth else ("false", "true")
        q.feedback_right, q.feedback_wrong = by_id.get(right, ""), by_id.get(wrong, "")
    elif kind == "short":
        q.answers = [
            GiftAnswer(a["text"], float(a["fraction"]), a.get("feedback", "") or "")
            for a in spec.get("answers", [])
        ]
    elif kind == "numeric":
        for a in spec.get("answers", []):
            answer = GiftNumericAnswer(float(a["fraction"]), a.get("feedback", "") or "")
            if "min" in a:
                answer.minimum, answer.maximum = float(a["min"]), float(a["max"])
            else:
                answer.value, answer.tolerance = float(a["value"]), float(a.get("tolerance", 0))
            q.numeric.append(answer)
        q.feedback_wrong = texts.get("feedback_wrong", "") or ""
    elif kind == "matching":
        q.pairs = [GiftPair(p["left"], p["right"]) for p in spec.get("pairs", [])]
    return q


__all__ = [
    "BLANK",
    "GiftAnswer",
    "GiftError",
    "GiftFileError",
    "GiftNumericAnswer",
    "GiftPair",
    "GiftQuestion",
    "from_spec",
    "parse_gift",
    "to_spec",
    "write_gift",
]
