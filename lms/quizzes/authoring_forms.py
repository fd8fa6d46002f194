"""Forms of the instructor's quiz pages.

The question editor is a plain HTML form whose rows (choices, answers, pairs, items)
vary in number, so it is not a WTForms form: :func:`draft_from_form` reads the posted
fields into a *draft* (plain strings, as typed), :func:`draft_from_spec` fills one from
a stored spec, and :func:`spec_from_draft` turns a draft into a spec for
:func:`questions.validate` or raises :class:`EditorError` naming the row at fault.
Weights and credits are typed as percentages, like Moodle's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from lms.quizzes import questions
from lms.quizzes.bank import new_id
from lms.quizzes.settings import Grading, ReviewPolicy

TYPE_LABELS = {
    "single_choice": _l("Single choice"),
    "multiple_response": _l("Multiple response"),
    "true_false": _l("True or false"),
    "numeric": _l("Numeric"),
    "short_answer": _l("Short answer"),
    "matching": _l("Matching"),
    "ordering": _l("Ordering"),
}
GRADING_LABELS = {
    Grading.BEST: _l("The best attempt counts"),
    Grading.LAST: _l("The last attempt counts"),
}
REVIEW_LABELS = {
    ReviewPolicy.IMMEDIATELY: _l("Immediately after each attempt"),
    ReviewPolicy.AFTER_PASSING: _l("Once the trainee has passed"),
    ReviewPolicy.AFTER_PROGRAMME: _l("After the end of the trainee's programme"),
    ReviewPolicy.NEVER: _l("Never"),
}
BLANK_ROWS = 2  # empty rows offered after the filled ones
MAX_ROWS = questions.MAX_CHOICES
ROW_LISTS = ("choices", "answers", "pairs", "extras", "items")

Draft = dict[str, Any]


class CategoryForm(FlaskForm):
    name = StringField(_l("Category name"), validators=[DataRequired(), Length(max=200)])


class GiftImportForm(FlaskForm):
    file = FileField(_l("GIFT file (.txt or .gift)"), validators=[FileRequired()])
    language = SelectField(_l("Language of the file's texts"), validate_choice=False)


class QuizSettingsForm(FlaskForm):
    pass_mark = DecimalField(
        _l("Pass mark (percentage of the maximum score)"),
        places=None,
        validators=[InputRequired(_l("Give the pass mark.")), NumberRange(0, 100)],
    )
    max_attempts = IntegerField(
        _l("Maximum number of attempts"),
        validators=[Optional(), NumberRange(1, 100)],
        description=_l("Leave empty for no limit."),
    )
    wait_minutes = IntegerField(
        _l("Minimum wait between attempts (minutes)"),
        default=0,
        validators=[InputRequired(_l("Give the wait in minutes (0 for none)."))],
    )
    time_limit_minutes = IntegerField(
        _l("Time limit (minutes)"),
        validators=[Optional()],
        description=_l("Leave empty for no time limit."),
    )
    shuffle_questions = BooleanField(_l("Shuffle the questions"))
    shuffle_choices = BooleanField(_l("Shuffle the choices"))
    grading = SelectField(_l("Which attempt counts"), validate_choice=False)
    review = SelectField(_l("When trainees may see the correct answers"), validate_choice=False)


class OverrideForm(FlaskForm):
    score = DecimalField(
        _l("New score"),
        places=None,
        validators=[InputRequired(_l("Give the new score."))],
    )
    reason = TextAreaField(
        _l("Reason (kept in the audit log)"),
        validators=[DataRequired(_l("Give the reason for the change.")), Length(max=500)],
    )


class EditorError(ValueError):
    """A question the editor cannot save: the message and the row (or field) at fault."""

    def __init__(self, message: Any, key: str | None = None, label: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key  # e.g. "choices-2", "points", "texts-ja"
        self.label = label  # e.g. "Choice 3"

    def __str__(self) -> str:
        if self.label is None:
            return str(self.message)
        return str(_l("%(field)s: %(message)s", field=self.label, message=self.message))


# --- drafts ---------------------------------------------------------------------------


def _blank_row(kind: str, name: str) -> dict[str, Any]:
    row: dict[str, Any] = {"id": new_id(), "texts": {}, "feedback": {}}
    if name == "choices":
        row.update(weight="", correct=False)
    elif name == "answers":
        row.update(mode="value", value="", tolerance="", min="", max="", credit="100", text="")
    elif name == "pairs":
        row.update(option=new_id(), right={})
    return row


def rows_of(kind: str) -> tuple[str, ...]:
    return {
        "single_choice": ("choices",),
        "multiple_response": ("choices",),
        "numeric": ("answers",),
        "short_answer": ("answers",),
        "matching": ("pairs", "extras"),
        "ordering": ("items",),
    }.get(kind, ())


def new_draft(kind: str) -> Draft:
    draft: Draft = {
        "type": kind,
        "title": "",
        "category": "",
        "new_category": "",
        "points": "1",
        "texts": {},
        "scoring": "partial" if kind == "multiple_response" else "positions",
        "case_sensitive": False,
        "answer": "true",
        "tf_feedback": {"true": {}, "false": {}},
        "images": [],
    }
    for name in ROW_LISTS:
        draft[name] = []
    return pad(draft)


def pad(draft: Draft, extra: int = BLANK_ROWS) -> Draft:
    """Empty rows after the filled ones, so that more can be typed in."""
    for name in rows_of(draft["type"]):
        rows = draft[name]
        minimum = 2 if name != "extras" else 1
        wanted = max(minimum, len(rows) + extra)
        while len(rows) < min(wanted, MAX_ROWS):
            rows.append(_blank_row(draft["type"], name))
    return draft


def _percent(fraction: float) -> str:
    return _number(fraction * 100)


def _number(value: float) -> str:
    value = round(float(value), 6)
    return str(int(value)) if value.is_integer() else repr(value)


def draft_from_spec(spec: Mapping[str, Any], *, title: str, category: str | None) -> Draft:
    kind = spec["type"]
    draft = new_draft(kind)
    for name in ROW_LISTS:
        draft[name] = []
    draft.update(title=title, category=category or "", points=_number(spec["points"]))
    draft["images"] = list(spec.get("images", []))
    draft["texts"] = {
        lang: {"text": t["text"], "explanation": t.get("explanation", "")}
        for lang, t in spec["texts"].items()
    }

    def texts(entry: Mapping[str, Any], key: str = "text") -> dict[str, str]:
        return {lang: t.get(key, "") for lang, t in entry["texts"].items()}

    if kind in ("single_choice", "multiple_response"):
        draft["scoring"] = spec.get("scoring", "partial")
        for c in spec["choices"]:
            weight = c.get("weight", 1.0 if c.get("correct") else 0.0)
            draft["choices"].append(
                {
                    "id": c["id"],
                    "texts": texts(c),
                    "feedback": texts(c, "feedback"),
                    "weight": _percent(weight),
                    "correct": bool(c.get("correct", weight == 1.0)),
                }
            )
    elif kind == "true_false":
        draft["answer"] = "true" if spec["answer"] else "false"
        feedback = spec.get("feedback", {})
        draft["tf_feedback"] = {key: dict(feedback.get(key, {})) for key in ("true", "false")}
    elif kind in ("numeric", "short_answer"):
        draft["case_sensitive"] = bool(spec.get("case_sensitive", False))
        for a in spec["answers"]:
            row = _blank_row(kind, "answers")
            row.update(
                id=a["id"], credit=_percent(a["credit"]), feedback=dict(a.get("feedback", {}))
            )
            if "text" in a:
                row["text"] = a["text"]
            elif "value" in a:
                row.update(
                    mode="value", value=_number(a["value"]), tolerance=_number(a["tolerance"])
                )
            else:
                row.update(mode="range", min=_number(a["min"]), max=_number(a["max"]))
            draft["answers"].append(row)
    elif kind == "matching":
        options = {o["id"]: o for o in spec["options"]}
        used = set()
        for p in spec["prompts"]:
            used.add(p["match"])
            draft["pairs"].append(
                {
                    "id": p["id"],
                    "option": p["match"],
                    "texts": texts(p),
                    "right": texts(options[p["match"]]),
                    "feedback": {},
                }
            )
        draft["extras"] = [
            {"id": o["id"], "texts": texts(o), "feedback": {}}
            for o in spec["options"]
            if o["id"] not in used
        ]
    elif kind == "ordering":
        draft["scoring"] = spec.get("scoring", "positions")
        draft["items"] = [{"id": i["id"], "texts": texts(i), "feedback": {}} for i in spec["items"]]
    return pad(draft)


_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


def _get(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _langs_texts(form: Mapping[str, Any], prefix: str, languages: Sequence[str]) -> dict[str, str]:
    return {
        lang: _get(form, f"{prefix}-{lang}") for lang in languages if _get(form, f"{prefix}-{lang}")
    }


def draft_from_form(form: Mapping[str, Any], kind: str, languages: Sequence[str]) -> Draft:
    """The editor's posted fields as a draft (nothing checked yet but the row ids)."""
    draft = new_draft(kind)
    for name in ROW_LISTS:
        draft[name] = []
    draft.update(
        title=_get(form, "title"),
        category=_get(form, "category"),
        new_category=_get(form, "new_category"),
        points=_get(form, "points"),
        scoring=_get(form, "scoring") or draft["scoring"],
        case_sensitive=bool(_get(form, "case_sensitive")),
        answer=_get(form, "answer"),
    )
    draft["texts"] = {
        lang: {"text": _get(form, f"text-{lang}"), "explanation": _get(form, f"explanation-{lang}")}
        for lang in languages
    }
    draft["tf_feedback"] = {
        key: _langs_texts(form, f"feedback-{key}", languages) for key in ("true", "false")
    }
    for name in rows_of(kind):
        count = min(
            int(_get(form, f"{name}-count") or 0) if _get(form, f"{name}-count").isdigit() else 0,
            MAX_ROWS,
        )
        rows = []
        for index in range(count):
            prefix = f"{name}-{index}"
            row = _blank_row(kind, name)
            row_id = _get(form, f"{prefix}-id")
            if _SAFE_ID.fullmatch(row_id):
                row["id"] = row_id
            row["texts"] = _langs_texts(form, f"{prefix}-text", languages)
            row["feedback"] = _langs_texts(form, f"{prefix}-feedback", languages)
            if name == "choices":
                row.update(
                    weight=_get(form, f"{prefix}-weight"),
                    correct=bool(_get(form, f"{prefix}-correct")),
                )
            elif name == "answers":
                row.update(
                    mode="range" if _get(form, f"{prefix}-mode") == "range" else "value",
                    value=_get(form, f"{prefix}-value"),
                    tolerance=_get(form, f"{prefix}-tolerance"),
                    min=_get(form, f"{prefix}-min"),
                    max=_get(form, f"{prefix}-max"),
                    credit=_get(form, f"{prefix}-credit"),
                    text=_get(form, f"{prefix}-answer"),
                )
            elif name == "pairs":
                option = _get(form, f"{prefix}-option")
                if _SAFE_ID.fullmatch(option):
                    row["option"] = option
                row["right"] = _langs_texts(form, f"{prefix}-right", languages)
            elif name == "items":
                row["position"] = _get(form, f"{prefix}-position")
            rows.append(row)
        if name == "items":
            rows = _by_position(rows)
        draft[name] = rows
    return draft


def _by_position(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ordering items in the order of the numbers typed (rows without one stay in place)."""

    def key(pair: tuple[int, dict[str, Any]]) -> tuple[float, int]:
        index, row = pair
        try:
            return float(row.get("position") or index + 1), index
        except ValueError:
            return float(index + 1), index

    return [row for _index, row in sorted(enumerate(rows), key=key)]


# --- draft -> spec --------------------------------------------------------------------

ROW_LABELS = {
    "choices": _l("Choice %(number)d"),
    "answers": _l("Answer %(number)d"),
    "pairs": _l("Pair %(number)d"),
    "extras": _l("Extra answer %(number)d"),
    "items": _l("Item %(number)d"),
}


def _row_label(name: str, index: int) -> str:
    return ROW_LABELS[name] % {"number": index + 1}


def _parse_number(value: str, key: str, label: Any, *, required: bool = True) -> float | None:
    try:
        number = questions.parse_number(value.strip().removesuffix("%"))
    except questions.QuestionError as error:
        raise EditorError(error.message, key, label) from None
    if number is None and required:
        raise EditorError(_l("this field is required"), key, label)
    return number


def _filled(row: Mapping[str, Any]) -> bool:
    keys = ("texts", "feedback", "right")
    if any(row.get(key) for key in keys):
        return True
    return any(row.get(key) for key in ("value", "min", "max", "text"))


def spec_from_draft(draft: Draft) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The spec the draft describes, and for each row list the draft row of each entry.

    Raises :class:`EditorError` for what the form itself gets wrong (a number that is
    not one); everything else is left to :func:`questions.validate`.
    """
    kind = draft["type"]
    languages = [lang for lang, t in draft["texts"].items() if t.get("text")]
    orphans = [
        lang for lang, t in draft["texts"].items() if t.get("explanation") and not t.get("text")
    ]
    if orphans:
        raise EditorError(
            _l(
                "a text in %(languages)s, but the question has no text in it",
                languages=", ".join(orphans),
            ),
            "texts",
            _l("Question text"),
        )
    texts = {
        lang: {
            "text": draft["texts"][lang]["text"],
            **(
                {"explanation": draft["texts"][lang]["explanation"]}
                if draft["texts"][lang].get("explanation")
                else {}
            ),
        }
        for lang in languages
    }
    points = _parse_number(draft["points"], "points", _l("Points"))
    spec: dict[str, Any] = {"type": kind, "points": points, "texts": texts}
    if draft.get("images"):
        spec["images"] = list(draft["images"])
    rows: dict[str, list[int]] = {}

    def used(name: str) -> list[tuple[int, dict[str, Any]]]:
        kept = [(index, row) for index, row in enumerate(draft[name]) if _filled(row)]
        rows[name] = [index for index, _row in kept]
        for index, row in kept:
            for key in ("texts", "feedback", "right"):
                stray = [lang for lang in row.get(key) or {} if lang not in languages]
                if stray:
                    raise EditorError(
                        _l(
                            "a text in %(languages)s, but the question has no text in it",
                            languages=", ".join(stray),
                        ),
                        f"{name}-{index}",
                        _row_label(name, index),
                    )
        return kept

    def entry_texts(row: Mapping[str, Any], key: str = "texts") -> dict[str, dict[str, str]]:
        # Every language of the question, an empty text included: validate() names it.
        result = {lang: {"text": row[key].get(lang, "")} for lang in languages}
        if key == "texts":
            for lang, feedback in (row.get("feedback") or {}).items():
                result[lang]["feedback"] = feedback
        return result

    if kind in ("single_choice", "multiple_response"):
        choices = []
        all_or_nothing = kind == "multiple_response" and draft["scoring"] == "all_or_nothing"
        for index, row in used("choices"):
            choice: dict[str, Any] = {"id": row["id"], "texts": entry_texts(row)}
            if all_or_nothing:
                choice["correct"] = bool(row["correct"])
            else:
                weight = _parse_number(
                    row["weight"] or "0", f"choices-{index}", _row_label("choices", index)
                )
                choice["weight"] = (weight or 0.0) / 100
            choices.append(choice)
        spec["choices"] = choices
        if kind == "multiple_response":
            spec["scoring"] = draft["scoring"]
    elif kind == "true_false":
        if draft["answer"] not in ("true", "false"):
            raise EditorError(_l("choose true or false"), "answer", _l("Correct answer"))
        spec["answer"] = draft["answer"] == "true"
        feedback = {key: value for key, value in draft["tf_feedback"].items() if value}
        if feedback:
            spec["feedback"] = feedback
    elif kind in ("numeric", "short_answer"):
        answers = []
        for index, row in used("answers"):
            key, label = f"answers-{index}", _row_label("answers", index)
            credit = _parse_number(row["credit"] or "100", key, label) or 0.0
            answer: dict[str, Any] = {"id": row["id"], "credit": credit / 100}
            if row["feedback"]:
                answer["feedback"] = row["feedback"]
            if kind == "short_answer":
                answer["text"] = row["text"]
            elif row["mode"] == "range":
                answer["min"] = _parse_number(row["min"], key, label)
                answer["max"] = _parse_number(row["max"], key, label)
            else:
                answer["value"] = _parse_number(row["value"], key, label)
                answer["tolerance"] = (
                    _parse_number(row["tolerance"], key, label, required=False) or 0.0
                )
            answers.append(answer)
        spec["answers"] = answers
        if kind == "short_answer":
            spec["case_sensitive"] = bool(draft["case_sensitive"])
    elif kind == "matching":
        # Pairs with the same right-hand texts share one option, as in GIFT.
        options: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        option_ids: set[str] = set()

        def option_for(texts_by_lang: dict[str, str], preferred: str) -> dict[str, Any]:
            key = tuple(sorted(texts_by_lang.items()))
            if key not in options:
                option_id = preferred if preferred not in option_ids else new_id()
                option_ids.add(option_id)
                row = {"texts": texts_by_lang, "feedback": {}}
                options[key] = {"id": option_id, "texts": entry_texts(row)}
            return options[key]

        prompts = []
        for _index, row in used("pairs"):
            option = option_for(row["right"], row["option"])
            prompts.append({"id": row["id"], "texts": entry_texts(row), "match": option["id"]})
        for _index, row in used("extras"):
            option_for(row["texts"], row["id"])
        spec["prompts"] = prompts
        spec["options"] = list(options.values())
    elif kind == "ordering":
        spec["items"] = [{"id": row["id"], "texts": entry_texts(row)} for _i, row in used("items")]
        spec["scoring"] = draft["scoring"]
    return spec, rows


def error_location(error: questions.QuestionError, rows: Mapping[str, list[int]]) -> EditorError:
    """A validation error of the spec, told in the editor's terms (row numbers as shown)."""
    field = error.field or ""
    match = re.match(r"^(choices|answers|prompts|options|items)\[(\d+)\]", field)
    if match:
        name, index = match.group(1), int(match.group(2))
        name = {"prompts": "pairs", "options": "pairs"}.get(name, name)
        draft_rows = rows.get(name, [])
        if match.group(1) == "options":  # options are not rows of their own: name the list
            return EditorError(error.message, "pairs", _l("Answers on the right"))
        if index < len(draft_rows):
            row = draft_rows[index]
            return EditorError(error.message, f"{name}-{row}", _row_label(name, row))
    if field.startswith("texts"):
        return EditorError(error.message, "texts", _l("Question text"))
    labels = {
        "points": _l("Points"),
        "choices": _l("Choices"),
        "answers": _l("Answers"),
        "prompts": _l("Pairs"),
        "options": _l("Answers on the right"),
        "items": _l("Items"),
        "answer": _l("Correct answer"),
        "feedback": _l("Feedback"),
        "scoring": _l("Scoring"),
        "title": _l("Short name"),
        "images": _l("Images"),
        "category": _l("Category"),
    }
    head = re.split(r"[.\[]", field)[0]
    if head in labels:
        return EditorError(error.message, head, labels[head])
    return EditorError(error.message, None, None)
