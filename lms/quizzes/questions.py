"""Question types: validation, what the browser may see, and grading, as pure functions.

Every question is a plain JSON-able ``dict`` (a *spec*), so a bank can store it in a JSON
column and a course package or a GIFT file can be turned into one. Each type is a small
class in :data:`QUESTION_TYPES`; the module-level functions dispatch on ``spec["type"]``:

``validate(spec) -> spec``
    Checks an authored or imported spec and returns a normalised copy (floats, defaults
    filled in, ``correct: true`` turned into ``weight: 1.0`` ...). Raises
    :class:`QuestionError` with a lazily translated message and the field at fault.
    Every other function expects a spec that came out of ``validate``.
``layout(spec, seed=..., shuffle=...) -> {"choices": [ids]}``
    The order in which an attempt shows choices (``{}`` for types without any). It is
    frozen with the attempt; an ordering question is always shuffled and never shown in
    its correct order.
``public(spec, layout) -> dict``
    What may reach the browser before review: the question text, images, points and
    choice ids with their texts, in the frozen order. Never a correct flag, weight,
    accepted answer, tolerance, match, feedback or explanation.
``normalise_response(spec, raw) -> response``
    A trainee's answer as posted (a form value or JSON) turned into its canonical,
    JSON-able form, ``None`` meaning "not answered". Malformed input raises
    :class:`QuestionError`; the same call on its own output returns it unchanged.
``grade(spec, response) -> Grade``
    ``score`` in ``[0, points]``, ``fraction`` in ``[0, 1]``, ``correct`` (full marks),
    ``answered`` and the ids whose feedback the review may reveal. A question never
    scores below zero, whatever its negative weights.

Common spec fields::

    {"type": "<name>", "points": 1.0,              # 0 < points <= 1000
     "texts": {"en": {"text": "...", "explanation": "..."}, "ja": {...}},
     "images": ["<storage key>", ...]}             # optional, shown with the question

Every language of ``texts`` must be given for each choice, prompt, option and item too;
feedback texts are optional per language. Choice ids are sent to the browser: they must
not tell the answer (importers and the editor generate opaque ids).

Type-specific fields and responses:

``single_choice``
    ``choices: [{"id", "texts": {lang: {"text", "feedback"?}}, "weight"}]``, weight in
    [-1, 1] (default 0; ``"correct": true`` is shorthand for 1), at least one weight of 1.
    Response: a choice id. Score: ``max(weight, 0) * points``.
``multiple_response``
    ``scoring: "all_or_nothing"`` (default) with ``"correct": bool`` on each choice (at
    least one true): full points when exactly the correct choices are selected, else 0.
    ``scoring: "partial"`` with ``"weight"`` in [-1, 1] on each choice; the positive
    weights add up to 1 (a slack of 0.01 for imported percentages such as 33.333%):
    ``fraction = clamp(sum of selected weights / sum of positive weights, 0, 1)``.
    Response: a sorted list of distinct choice ids.
``true_false``
    ``answer: bool``, ``feedback: {"true": {lang: str}, "false": {lang: str}}`` (optional).
    Response: ``true`` or ``false``.
``numeric``
    ``answers: [{"id", "value", "tolerance"?} | {"id", "min", "max"}]``, each with
    ``credit`` in (0, 1] (default 1) and ``feedback: {lang: str}`` (optional); at least one
    answer with credit 1. A response within ``value ± tolerance`` or ``[min, max]``
    (inclusive) earns the best credit among the answers it matches. Response: a finite
    float (posted text may use full-width digits, other decimal digits, a Unicode minus or
    a decimal comma; "1,000" is refused as ambiguous).
``short_answer``
    ``answers: [{"id", "text", "credit"?, "feedback"?}]``, ``case_sensitive: bool``
    (default false). Response and answers are compared after NFKC (full-width ``ＡＢＣ１２３``
    is ``ABC123``), trimming and collapsing inner whitespace, and case folding unless case
    sensitive; no wildcards. Response: the trainee's text after NFKC and spacing (case kept).
``matching``
    ``prompts: [{"id", "texts": {lang: {"text"}}, "match": option id}]`` (at least 2) and
    ``options: [{"id", "texts": {lang: {"text"}}}]`` (options no prompt matches are
    distractors; several prompts may share an option). Response: ``{prompt id: option
    id}`` for the prompts answered. Score: ``share of prompts matched right * points``.
``ordering``
    ``items: [{"id", "texts": {lang: {"text"}}}]`` in the correct order (at least 2) and
    ``scoring: "positions"`` (default: share of items in their correct position) or
    ``"all_or_nothing"``. Response: every item id, in the trainee's order.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l

from lms.i18n import CONTENT_LANGUAGES

Spec = dict[str, Any]
Layout = dict[str, list[str]]

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
MAX_POINTS = 1000.0
MAX_CHOICES = 50
MAX_IMAGES = 20
MAX_TEXT = 20_000  # characters of one authored text
MAX_RESPONSE_TEXT = 1_000  # characters of a short-answer response
WEIGHT_SUM_SLACK = 0.01  # 3 x 33.333% is 99.999%
# A matching tolerance survives the rounding of decimal input to binary floats.
_EPSILON = 1e-9

COMMON_FIELDS = frozenset({"type", "points", "texts", "images"})


class QuestionError(ValueError):
    """A spec or a response that cannot be used; ``message`` is lazily translated.

    ``field`` names the place in the spec (``choices[2].weight``) or is ``None``.
    """

    def __init__(self, message: Any, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        if self.field is None:
            return str(self.message)
        return str(_l("%(field)s: %(message)s", field=self.field, message=self.message))

    def __repr__(self) -> str:
        return f"QuestionError({str(self.message)!r}, field={self.field!r})"


@dataclass(frozen=True)
class Grade:
    score: float  # in [0, points]
    fraction: float  # in [0, 1]; score = fraction * points
    correct: bool  # full marks
    answered: bool
    feedback: tuple[str, ...] = ()  # ids whose feedback the review may show

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "fraction": self.fraction,
            "correct": self.correct,
            "answered": self.answered,
            "feedback": list(self.feedback),
        }


def make_grade(
    points: float, fraction: float, *, answered: bool, feedback: Iterable[str] = ()
) -> Grade:
    """The one place a fraction becomes a score: clamped to [0, 1] and [0, points]."""
    if not math.isfinite(fraction):
        fraction = 0.0
    fraction = min(1.0, max(0.0, fraction))
    score = min(points, max(0.0, fraction * points))
    return Grade(score, fraction, fraction >= 1.0, answered, tuple(feedback))


def normalise_text(value: str) -> str:
    """NFKC (full-width and half-width forms become one), trimmed, inner spacing collapsed."""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def answer_key(value: str, *, case_sensitive: bool = False) -> str:
    """What two short answers are compared by."""
    text = normalise_text(value)
    if not case_sensitive:
        text = unicodedata.normalize("NFKC", text.casefold())
    return text


# --- checking raw values ------------------------------------------------------------


def _field(parent: str | None, name: str | int) -> str:
    if isinstance(name, int):
        return f"{parent}[{name}]"
    return f"{parent}.{name}" if parent else name


def _mapping(value: Any, field: str | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise QuestionError(_l("must be a mapping"), field)
    return value


def _keys(
    value: Mapping[str, Any], field: str | None, required: Iterable[str], optional: Iterable[str]
) -> None:
    required = set(required)
    unknown = sorted(str(key) for key in value if key not in required | set(optional))
    if unknown:
        raise QuestionError(
            _l("unknown field(s): %(fields)s", fields=", ".join(unknown)),
            field,
        )
    for key in sorted(required):
        if key not in value:
            raise QuestionError(_l("this field is required"), _field(field, key))


def _list(value: Any, field: str, *, minimum: int = 1, maximum: int = MAX_CHOICES) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise QuestionError(_l("must be a list"), field)
    if not minimum <= len(value) <= maximum:
        raise QuestionError(
            _l(
                "must have between %(minimum)d and %(maximum)d entries",
                minimum=minimum,
                maximum=maximum,
            ),
            field,
        )
    return list(value)


def _number(
    value: Any,
    field: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QuestionError(_l("must be a number"), field)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise QuestionError(_l("must be a finite number"), field)
    if minimum is not None and number < minimum:
        raise QuestionError(_l("must be at least %(minimum)s", minimum=minimum), field)
    if maximum is not None and number > maximum:
        raise QuestionError(_l("must be at most %(maximum)s", maximum=maximum), field)
    if above is not None and number <= above:
        raise QuestionError(_l("must be more than %(minimum)s", minimum=above), field)
    return number


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise QuestionError(_l("must be true or false"), field)
    return value


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QuestionError(_l("must be a non-empty text"), field)
    if len(value) > MAX_TEXT:
        raise QuestionError(_l("is longer than %(maximum)d characters", maximum=MAX_TEXT), field)
    return value.strip()


def _id(value: Any, field: str, seen: set[str]) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise QuestionError(
            _l("must be an id of letters, digits, '-' and '_' (at most 40 characters)"), field
        )
    if value in seen:
        raise QuestionError(_l("the id '%(id)s' is used twice", id=value), field)
    seen.add(value)
    return value


def _language(value: Any, field: str) -> str:
    if value not in CONTENT_LANGUAGES:
        raise QuestionError(
            _l(
                "unknown language '%(language)s' (known: %(languages)s)",
                language=str(value),
                languages=", ".join(CONTENT_LANGUAGES),
            ),
            field,
        )
    return value


def _texts(
    value: Any,
    field: str,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    languages: Sequence[str] | None = None,
) -> dict[str, dict[str, str]]:
    """``{language: {key: text}}``; with ``languages``, exactly those languages."""
    mapping = _mapping(value, field)
    if not mapping:
        raise QuestionError(_l("needs a text in at least one language"), field)
    result: dict[str, dict[str, str]] = {}
    for language, entry in mapping.items():
        where = _field(field, str(language))
        _language(language, where)
        entry = _mapping(entry, where)
        _keys(entry, where, required, optional)
        result[language] = {
            key: _text(entry[key], _field(where, key))
            for key in (*required, *optional)
            if key in entry and (key in required or entry[key] not in (None, ""))
        }
    if languages is not None:
        missing = [language for language in languages if language not in result]
        extra = [language for language in result if language not in languages]
        if missing:
            raise QuestionError(
                _l("a text in %(languages)s is missing", languages=", ".join(missing)), field
            )
        if extra:
            raise QuestionError(
                _l(
                    "texts in %(languages)s, a language the question is not written in",
                    languages=", ".join(extra),
                ),
                field,
            )
        result = {language: result[language] for language in languages}
    return result


def _feedback(value: Any, field: str, languages: Sequence[str]) -> dict[str, str]:
    """Optional feedback ``{language: text}`` in the question's languages."""
    mapping = _mapping(value, field)
    result: dict[str, str] = {}
    for language, text in mapping.items():
        where = _field(field, str(language))
        _language(language, where)
        if language not in languages:
            raise QuestionError(
                _l(
                    "texts in %(languages)s, a language the question is not written in",
                    languages=language,
                ),
                where,
            )
        if text not in (None, ""):
            result[language] = _text(text, where)
    return result


def _check_layout(layout: Any, expected: Mapping[str, Sequence[str]]) -> Layout:
    """A frozen layout must hold, for each list, exactly the spec's ids in some order."""
    layout = _mapping(layout, "layout")
    _keys(layout, "layout", expected, ())
    result: Layout = {}
    for key, ids in expected.items():
        given = layout[key]
        if not isinstance(given, list | tuple) or len(given) != len(ids) or set(given) != set(ids):
            raise QuestionError(_l("does not match the question"), _field("layout", key))
        result[key] = list(given)
    return result


def _shuffled(ids: Sequence[str], rng: random.Random, shuffle: bool) -> list[str]:
    result = list(ids)
    if shuffle:
        rng.shuffle(result)
    return result


def _public_texts(texts: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    return {language: {"text": entry["text"]} for language, entry in texts.items()}


def _public_entries(
    entries: Sequence[Mapping[str, Any]], order: Sequence[str]
) -> list[dict[str, Any]]:
    by_id = {entry["id"]: entry for entry in entries}
    return [{"id": id_, "texts": _public_texts(by_id[id_]["texts"])} for id_ in order]


def _choice_id(value: Any, ids: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in ids:
        raise QuestionError(_l("not one of this question's choices"), "response")
    return value


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


# --- the registry -------------------------------------------------------------------


class QuestionType:
    """A question type: pure class methods on a validated spec; no state, no request."""

    name: ClassVar[str]
    fields: ClassVar[frozenset[str]] = frozenset()  # type-specific, required
    optional_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def validate(cls, spec: Any) -> Spec:
        spec = _mapping(spec, None)
        _keys(
            spec, None, {*COMMON_FIELDS - {"images"}, *cls.fields}, {"images"} | cls.optional_fields
        )
        result: Spec = {
            "type": cls.name,
            "points": _number(spec["points"], "points", above=0.0, maximum=MAX_POINTS),
            "texts": _texts(spec["texts"], "texts", required=("text",), optional=("explanation",)),
        }
        if spec.get("images"):
            images = _list(spec["images"], "images", minimum=0, maximum=MAX_IMAGES)
            result["images"] = [
                _text(key, _field("images", index)) for index, key in enumerate(images)
            ]
        result.update(cls.validate_fields(spec, list(result["texts"])))
        return result

    @classmethod
    def validate_fields(cls, spec: Mapping[str, Any], languages: list[str]) -> Spec:
        return {}

    @classmethod
    def order_keys(cls, spec: Spec) -> dict[str, list[str]]:
        """The id lists an attempt may show in its own order, in the spec's order."""
        return {}

    @classmethod
    def layout(cls, spec: Spec, rng: random.Random, shuffle: bool) -> Layout:
        return {key: _shuffled(ids, rng, shuffle) for key, ids in cls.order_keys(spec).items()}

    @classmethod
    def public(cls, spec: Spec, layout: Layout) -> dict[str, Any]:
        result: dict[str, Any] = {
            "type": spec["type"],
            "points": spec["points"],
            "texts": _public_texts(spec["texts"]),
        }
        if spec.get("images"):
            result["images"] = list(spec["images"])
        result.update(cls.public_fields(spec, _check_layout(layout, cls.order_keys(spec))))
        return result

    @classmethod
    def public_fields(cls, spec: Spec, layout: Layout) -> dict[str, Any]:
        return {}

    @classmethod
    def normalise_response(cls, spec: Spec, raw: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def grade(cls, spec: Spec, response: Any) -> Grade:
        raise NotImplementedError


QUESTION_TYPES: dict[str, type[QuestionType]] = {}


def register(cls: type[QuestionType]) -> type[QuestionType]:
    QUESTION_TYPES[cls.name] = cls
    return cls


def _choices(
    spec: Mapping[str, Any],
    languages: Sequence[str],
    *,
    required: Sequence[str] = (),
    optional: Sequence[str] = (),
    minimum: int = 2,
) -> list[tuple[dict[str, Any], Mapping[str, Any], str]]:
    """Checked id and texts of each choice, with the raw choice and its field for the rest."""
    seen: set[str] = set()
    result = []
    for index, raw in enumerate(_list(spec["choices"], "choices", minimum=minimum)):
        where = _field("choices", index)
        raw = _mapping(raw, where)
        _keys(raw, where, {"id", "texts", *required}, optional)
        choice = {
            "id": _id(raw["id"], _field(where, "id"), seen),
            "texts": _texts(
                raw["texts"],
                _field(where, "texts"),
                required=("text",),
                optional=("feedback",),
                languages=languages,
            ),
        }
        result.append((choice, raw, where))
    return result


def _has_feedback(entry: Mapping[str, Any]) -> bool:
    if "texts" in entry:
        return any("feedback" in texts for texts in entry["texts"].values())
    return bool(entry.get("feedback"))


class _ChoiceType(QuestionType):
    fields = frozenset({"choices"})

    @classmethod
    def order_keys(cls, spec: Spec) -> dict[str, list[str]]:
        return {"choices": [choice["id"] for choice in spec["choices"]]}

    @classmethod
    def public_fields(cls, spec: Spec, layout: Layout) -> dict[str, Any]:
        return {"choices": _public_entries(spec["choices"], layout["choices"])}


@register
class SingleChoice(_ChoiceType):
    name = "single_choice"

    @classmethod
    def validate_fields(cls, spec: Mapping[str, Any], languages: list[str]) -> Spec:
        choices = []
        for choice, raw, where in _choices(spec, languages, optional=("weight", "correct")):
            if "weight" in raw and "correct" in raw:
                raise QuestionError(_l("give either a weight or 'correct', not both"), where)
            if "correct" in raw:
                weight = 1.0 if _bool(raw["correct"], _field(where, "correct")) else 0.0
            else:
                weight = _number(
                    raw.get("weight", 0.0), _field(where, "weight"), minimum=-1.0, maximum=1.0
                )
            choices.append({**choice, "weight": weight})
        if not any(choice["weight"] == 1.0 for choice in choices):
            raise QuestionError(_l("one choice must be correct (weight 1)"), "choices")
        return {"choices": choices}

    @classmethod
    def normalise_response(cls, spec: Spec, raw: Any) -> str | None:
        if _blank(raw):
            return None
        return _choice_id(raw, cls.order_keys(spec)["choices"])

    @classmethod
    def grade(cls, spec: Spec, response: Any) -> Grade:
        response = cls.normalise_response(spec, response)
        if response is None:
            return make_grade(spec["points"], 0.0, answered=False)
        choice = next(choice for choice in spec["choices"] if choice["id"] == response)
        feedback = [response] if _has_feedback(choice) else []
        return make_grade(spec["points"], choice["weight"], answered=True, feedback=feedback)


@register
class MultipleResponse(_ChoiceType):
    name = "multiple_response"
    optional_fields = frozenset({"scoring"})
    SCORINGS: ClassVar[tuple[str, ...]] = ("all_or_nothing", "partial")

    @classmethod
    def validate_fields(cls, spec: Mapping[str, Any], languages: list[str]) -> Spec:
        scoring = spec.get("scoring", "all_or_nothing")
        if scoring not in cls.SCORINGS:
            raise QuestionError(
                _l("must be one of: %(values)s", values=", ".join(cls.SCORINGS)), "scoring"
            )
        choices = []
        if scoring == "all_or_nothing":
            for choice, raw, where in _choices(spec, languages, optional=("correct",)):
                correct = _bool(raw.get("correct", False), _field(where, "correct"))
                choices.append({**choice, "correct": correct})
            if not any(choice["correct"] for choice in choices):
                raise QuestionError(_l("at least one choice must be correct"), "choices")
        else:
            for choice, raw, where in _choices(spec, languages, required=("weight",)):
                weight = _number(raw["weight"], _field(where, "weight"), minimum=-1.0, maximum=1.0)
                choices.append({**choice, "weight": weight})
            total = sum(choice["weight"] for choice in choices if choice["weight"] > 0)
            if abs(total - 1.0) > WEIGHT_SUM_SLACK:
                raise QuestionError(
                    _l(
                        "the positive weights must add up to 1 (100%%), not %(total)s",
                        total=round(total, 4),
                    ),
                    "choices",
                )
        return {"scoring": scoring, "choices": choices}

    @classmethod
    def normalise_response(cls, spec: Spec, raw: Any) -> list[str] | None:
        if _blank(raw):
            return None
        if isinstance(raw, str):  # a single checkbox posted on its own
            raw = [raw]
        if not isinstance(raw, list | tuple | set | frozenset):
            raise QuestionError(_l("must be a list of choices"), "response")
        ids = cls.order_keys(spec)["choices"]
        chosen = {_choice_id(value, ids) for value in raw}
        return sorted(chosen) or None

    @classmethod
    def grade(cls, spec: Spec, response: Any) -> Grade:
        response = cls.normalise_response(spec, response)
        if response is None:
            return make_grade(spec["points"], 0.0, answered=False)
        chosen = set(response)
        # Sums run in the spec's order, so that choosing exactly the positive choices
        # gives the very same float above and below the line: a fraction of exactly 1.
        selected = [choice for choice in spec["choices"] if choice["id"] in chosen]
        if spec["scoring"] == "all_or_nothing":
            right = {choice["id"] for choice in spec["choices"] if choice["correct"]}
            fraction = 1.0 if chosen == right else 0.0
        else:
            positive = sum(choice["weight"] for choice in spec["choices"] if choice["weight"] > 0)
            fraction = sum(choice["weight"] for choice in selected) / positive
        feedback = [choice["id"] for choice in selected if _has_feedback(choice)]
        return make_grade(spec["points"], fraction, answered=True, feedback=feedback)


@register
class TrueFalse(QuestionType):
    name = "true_false"
    fields = frozenset({"answer"})
    optional_fields = frozenset({"feedback"})

    @classmethod
    def validate_fields(cls, spec: Mapping[str, Any], languages: list[str]) -> Spec:
        result: Spec = {"answer": _bool(spec["answer"], "answer")}
        feedback = _mapping(spec.get("feedback") or {}, "feedback")
        _keys(feedback, "feedback", (), ("true", "false"))
        checked = {
            key: _feedback(value, _field("feedback", key), languages)
            for key, value in feedback.items()
        }
        if any(checked.values()):
            result["feedback"] = {key: value for key, value in checked.items() if value}
        return result

    @classmethod
    def normalise_response(cls, spec: Spec, raw: Any) -> bool | None:
        if _blank(raw):
            return None
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise QuestionError(_l("must be true or false"), "response")

    @classmethod
    def grade(cls, spec: Spec, response: Any) -> Grade:
        response = cls.normalise_response(spec, response)
        if response is None:
            return make_grade(spec["points"], 0.0, answered=False)
        key = "true" if response else "false"
        feedback = [key] if key in spec.get("feedback", {}) else []
        fraction = 1.0 if response == spec["answer"] else 0.0
        return make_grade(spec["points"], fraction, answered=True, feedback=feedback)


def _answers(
    spec: Mapping[str, Any],
    languages: Sequence[str],
    required: Sequence[str],
    optional: Sequence[str],
) -> list[tuple[dict[str, Any], Mapping[str, Any], str]]:
    """Checked id, credit and feedback of each accepted answer, with the raw answer."""
    seen: set[str] = set()
    result = []
    for index, raw in enumerate(_list(spec["answers"], "answers")):
        where = _field("answers", index)
        raw = _mapping(raw, where)
        _keys(raw, where, {"id", *required}, {"credit", "feedback", *optional})
        answer: dict[str, Any] = {
            "id": _id(raw["id"], _field(where, "id"), seen),
            "credit": _number(
                raw.get("credit", 1.0), _field(where, "credit"), above=0.0, maximum=1.0
            ),
        }
        feedback = _feedback(raw.get("feedback") or {}, _field(where, "feedback"), languages)
        if feedback:
            answer["feedback"] = feedback
        result.append((answer, raw, where))
    if not any(answer["credit"] == 1.0 for answer, _raw, _where in result):
        raise QuestionError(_l("one answer must earn full credit (credit 1)"), "answers")
    return result


def _best(spec: Spec, matches: Iterable[Mapping[str, Any]]) -> Grade:
    """The grade of an answered question from the accepted answers its response matches."""
    best = max(matches, key=lambda answer: answer["credit"], default=None)
    if best is None:
        return make_grade(spec["points"], 0.0, answered=True)
    feedback = [best["id"]] if best.get("feedback") else []
    return make_grade(spec["points"], best["credit"], answered=True, feedback=feedback)


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS = re.compile(r",\d{3}(?:$|[eE])")
_NUMBER_FORMS = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {
    0x3000: " ",  # ideographic space
    0x2212: "-",  # minus sign
    0x066B: ".",  # Arabic decimal separator
}


def parse_number(raw: Any) -> float | None:
    """A posted number: ``None`` when blank; :class:`QuestionError` when not a number."""
    if _blank(raw):
        return None
    if isinstance(raw, bool):
        raise QuestionError(_l("must be a number"), "response")
    if isinstance(raw, int | float):
        return _number(raw, "response")
    if not isinstance(raw, str) or len(raw) > 100:
        raise QuestionError(_l("must be a number"), "response")
    # Full-width forms only: NFKC would also read "10²" as 102.
    text = raw.translate(_NUMBER_FORMS).strip()
    if "," in text:
        if "." in text or text.count(",") > 1 or _THOUSANDS.search(text):
            raise QuestionError(
                _l("write the number without thousands separators, e.g. 1500 or 2.5"),
                "response",
            )
        text = text.replace(",", ".")
    if not _NUMBER.fullmatch(text):
        raise QuestionError(_l("must be a number"), "response")
    return _number(float(text), "response")


@register
class Numeric(QuestionType):
    name = "numeric"
    fields = frozenset({"answers"})

    @classmethod
    def validate_fields(cls, spec: Mapping[str, Any], languages: list[str]) -> Spec:
        answers = []
        for answer, raw, where in _answers(
            spec, languages, (), ("value", "tolerance", "min", "max")
        ):
            if "value" in raw:
                if "min" in raw or "max" in raw:
                    raise QuestionError(_l("give a value or a range, not both"), where)
                answer["value"] = _number(raw["value"], _field(where, "value"))
                answer["tolerance"] = _number(
                    raw.get("tolerance", 0.0), _field(where, "tolerance"), minimum=0.0
                )
            elif "min" in raw and "max" in raw:
                if "tolerance" in raw:
                    raise QuestionError(_l("a range has no tolerance"), where)
                answer["min"] = _number(raw["min"], _field(where, "min"))
                answer["max"] = _number(raw["max"], _field(where, "max"), minimum=answer["min"])
            else:
                raise QuestionError(_l("give a value, or a range with min and max"), where)
            answers.append(answer)
        return {"answers": answers}

    @staticmethod
    def bounds(answer: Mapping[str, Any]) -> tuple[float, float]:
        if "value" in answer:
            return answer["value"] - answer["tolerance"], answer["value"] + answer["tolerance"]
        return answer["min"], answer["max"]

    @classmethod
    def matches(cls, answer: Mapping[str, Any], value: float) -> bool:
        low, high = cls.bounds(answer)
        slack = _EPSILON * max(1.0, abs(low), abs(high))
        return low - slack <= value <= high + slack

    @classmethod
    def normalise_response(cls, spec: Spec, raw: Any) -> float | None:
        return parse_number(raw)

    @classmethod
    def grade(cls, spec: Spec, response: Any) -> Grade:
        value = cls.normalise_response(spec, response)
        if value is None:
            return make_grade(spec["points"], 0.0, answered=False)
        return _best(spec, (answer for answer in spec["answers"] if cls.matches(answer, value)))


@register
class ShortAnswer(QuestionType):
    name = "short_answer"
    fields = frozenset({"answers"})
    optional_fields = frozenset({"case_sensitive"})

    @classmethod
    def validate_fields(cls, spec: Mapping[str, Any], languages: list[str]) -> Spec:
        case_sensitive = _bool(spec.get("case_sensitive", False), "case_sensitive")
        answers = []
        keys: set[str] = set()
        for answer, raw, where in _answers(spec, languages, ("text",), ()):
            text = _text(raw["text"], _field(where, "text"))
            key = answer_key(text, case_sensitive=case_sensitive)
            if not key:
                raise QuestionError(_l("must be a non-empty text"), _field(where, "text"))
            if key in keys:
                raise QuestionError(
                    _l("the same answer as another one, once case, width and spacing are ignored"),
                    _field(where, "text"),
                )
            keys.add(key)
            answers.append({**answer, "text": normalise_text(text)})
        return {"case_sensitive": case_sensitive, "answers": answers}

    @classmethod
    def normalise_response(cls, spec: Spec, raw: Any) -> str | None:
        if _blank(raw):
            return None
        if not isinstance(raw, str):
            raise QuestionError(_l("must be a text"), "response")
        if len(raw) > MAX_RESPONSE_TEXT:
            raise QuestionError(
                _l("is longer than %(maximum)d characters", maximum=MAX_RESPONSE_TEXT),
                "response",
            )
        return normalise_text(raw) or None

    @classmethod
    def grade(cls, spec: Spec, response: Any) -> Grade:
        text = cls.normalise_response(spec, response)
        if text is None:
            return make_grade(spec["points"], 0.0, answered=False)
        sensitive = spec["case_sensitive"]
        key = answer_key(text, case_sensitive=sensitive)
        return _best(
            spec,
            (
                answer
                for answer in spec["answers"]
                if answer_key(answer["text"], case_sensitive=sensitive) == key
            ),
        )


def _entries(
    value: Any, field: str, languages: Sequence[str], extra: Sequence[str] = ()
) -> list[tuple[dict[str, Any], Mapping[str, Any], str]]:
    """Checked id and texts of each prompt, option or item (no feedback of their own)."""
    seen: set[str] = set()
    result = []
    for index, raw in enumerate(_list(value, field, minimum=2)):
        where = _field(field, index)
        raw = _mapping(raw, where)
        _keys(raw, where, {"id", "texts", *extra}, ())
        entry = {
            "id": _id(raw["id"], _field(where, "id"), seen),
            "texts": _texts(
                raw["texts"], _field(where, "texts"), required=("text",), languages=languages
            ),
        }
        result.append((entry, raw, where))
    return result


@register
class Matching(QuestionType):
    name = "matching"
    fields = frozenset({"prompts", "options"})

    @classmethod
    def validate_fields(cls, spec: Mapping[str, Any], languages: list[str]) -> Spec:
        options = [entry for entry, _raw, _where in _entries(spec["options"], "options", languages)]
        option_ids = {option["id"] for option in options}
        prompts = []
        for entry, raw, where in _entries(spec["prompts"], "prompts", languages, ("match",)):
            if raw["match"] not in option_ids:
                raise QuestionError(
                    _l("must be the id of one of the options"), _field(where, "match")
                )
            prompts.append({**entry, "match": raw["match"]})
        return {"prompts": prompts, "options": options}

    @classmethod
    def order_keys(cls, spec: Spec) -> dict[str, list[str]]:
        return {
            "prompts": [prompt["id"] for prompt in spec["prompts"]],
            "options": [option["id"] for option in spec["options"]],
        }

    @classmethod
    def public_fields(cls, spec: Spec, layout: Layout) -> dict[str, Any]:
        return {
            "prompts": _public_entries(spec["prompts"], layout["prompts"]),
            "options": _public_entries(spec["options"], layout["options"]),
        }

    @classmethod
    def normalise_response(cls, spec: Spec, raw: Any) -> dict[str, str] | None:
        if _blank(raw):
            return None
        if not isinstance(raw, Mapping):
            raise QuestionError(_l("must map each prompt to an option"), "response")
        keys = cls.order_keys(spec)
        unknown = [key for key in raw if key not in keys["prompts"]]
        if unknown:
            raise QuestionError(_l("not one of this question's prompts"), "response")
        result = {}
        for prompt in keys["prompts"]:  # the spec's order: one canonical form
            option = raw.get(prompt)
            if _blank(option):
                continue
            if not isinstance(option, str) or option not in keys["options"]:
                raise QuestionError(_l("not one of this question's options"), "response")
            result[prompt] = option
        return result or None

    @classmethod
    def grade(cls, spec: Spec, response: Any) -> Grade:
        response = cls.normalise_response(spec, response)
        if response is None:
            return make_grade(spec["points"], 0.0, answered=False)
        right = sum(
            1 for prompt in spec["prompts"] if response.get(prompt["id"]) == prompt["match"]
        )
        return make_grade(spec["points"], right / len(spec["prompts"]), answered=True)


@register
class Ordering(QuestionType):
    name = "ordering"
    fields = frozenset({"items"})
    optional_fields = frozenset({"scoring"})
    SCORINGS: ClassVar[tuple[str, ...]] = ("positions", "all_or_nothing")

    @classmethod
    def validate_fields(cls, spec: Mapping[str, Any], languages: list[str]) -> Spec:
        scoring = spec.get("scoring", "positions")
        if scoring not in cls.SCORINGS:
            raise QuestionError(
                _l("must be one of: %(values)s", values=", ".join(cls.SCORINGS)), "scoring"
            )
        items = [entry for entry, _raw, _where in _entries(spec["items"], "items", languages)]
        return {"scoring": scoring, "items": items}

    @classmethod
    def order_keys(cls, spec: Spec) -> dict[str, list[str]]:
        return {"items": [item["id"] for item in spec["items"]]}

    @classmethod
    def layout(cls, spec: Spec, rng: random.Random, shuffle: bool) -> Layout:
        """Always shuffled (the spec's order is the answer), never shown already solved."""
        right = cls.order_keys(spec)["items"]
        shown = _shuffled(right, rng, True)
        if shown == right:
            shown = shown[1:] + shown[:1]
        return {"items": shown}

    @classmethod
    def public_fields(cls, spec: Spec, layout: Layout) -> dict[str, Any]:
        return {"items": _public_entries(spec["items"], layout["items"])}

    @classmethod
    def normalise_response(cls, spec: Spec, raw: Any) -> list[str] | None:
        if _blank(raw) or raw == []:
            return None
        ids = cls.order_keys(spec)["items"]
        if (
            not isinstance(raw, list | tuple)
            or len(raw) != len(ids)
            or not all(isinstance(value, str) for value in raw)
            or set(raw) != set(ids)
        ):
            raise QuestionError(_l("must list every item once"), "response")
        return list(raw)

    @classmethod
    def grade(cls, spec: Spec, response: Any) -> Grade:
        response = cls.normalise_response(spec, response)
        if response is None:
            return make_grade(spec["points"], 0.0, answered=False)
        right = cls.order_keys(spec)["items"]
        in_place = sum(
            1 for given, expected in zip(response, right, strict=True) if given == expected
        )
        if spec["scoring"] == "all_or_nothing":
            fraction = 1.0 if in_place == len(right) else 0.0
        else:
            fraction = in_place / len(right)
        return make_grade(spec["points"], fraction, answered=True)


# --- dispatch -----------------------------------------------------------------------


def question_type(spec: Any) -> type[QuestionType]:
    kind = _mapping(spec, None).get("type")
    try:
        return QUESTION_TYPES[kind]  # type: ignore[index]
    except (KeyError, TypeError):
        raise QuestionError(
            _l(
                "unknown question type '%(type)s' (known: %(types)s)",
                type=str(kind),
                types=", ".join(QUESTION_TYPES),
            ),
            "type",
        ) from None


def validate(spec: Any) -> Spec:
    return question_type(spec).validate(spec)


def layout(spec: Spec, *, seed: int | str | None = None, shuffle: bool = True) -> Layout:
    """The order an attempt shows; the same seed gives the same order."""
    return question_type(spec).layout(spec, random.Random(seed), shuffle)


def public(spec: Spec, layout: Layout | None = None) -> dict[str, Any]:
    """What the browser may see before review; ``layout=None`` is the unshuffled layout."""
    kind = question_type(spec)
    if layout is None:
        layout = kind.layout(spec, random.Random(0), False)
    return kind.public(spec, layout)


def normalise_response(spec: Spec, raw: Any) -> Any:
    return question_type(spec).normalise_response(spec, raw)


def grade(spec: Spec, response: Any) -> Grade:
    """Grades a response (normalised again, so a raw one is fine)."""
    return question_type(spec).grade(spec, response)
