"""A quiz's settings and the questions it draws, as stored in ``lesson.settings["quiz"]``.

Pure functions: :func:`parse` turns authored or imported data (a form, a course
package's YAML) into :class:`QuizSettings` or raises :class:`QuizSettingsError` with a
translated message and the field at fault; :meth:`QuizSettings.to_dict` is what is
stored, and ``parse(s.to_dict()) == s``.

A quiz is a list of *slots*: a fixed question (by its bank ``uid``) or "``count``
random questions from category ``category``" (by category name). Slots keep their
order unless ``shuffle_questions`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l


class Grading(StrEnum):
    BEST = "best"  # the best graded attempt counts
    LAST = "last"  # the last graded attempt counts


class ReviewPolicy(StrEnum):
    """When a trainee may see the correct answers and feedback of a graded attempt."""

    IMMEDIATELY = "immediately"
    AFTER_PASSING = "after_passing"
    AFTER_PROGRAMME = "after_programme"  # after the end date of the trainee's programme
    NEVER = "never"


MAX_ATTEMPTS = 100
MAX_WAIT_MINUTES = 60 * 24 * 30
MAX_TIME_LIMIT_MINUTES = 60 * 24
MAX_SLOTS = 200
MAX_RANDOM = 100


class QuizSettingsError(ValueError):
    def __init__(self, message: Any, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        if self.field is None:
            return str(self.message)
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Slot:
    question: str | None = None  # a question uid, or
    category: str | None = None  # a category name with
    count: int = 1  # how many random questions to draw from it

    def to_dict(self) -> dict[str, Any]:
        if self.question is not None:
            return {"question": self.question}
        return {"category": self.category, "count": self.count}


@dataclass(frozen=True)
class QuizSettings:
    pass_mark: float = 60.0  # percent of the maximum score
    max_attempts: int | None = None  # None: unlimited
    wait_minutes: int = 0  # between the end of one attempt and the start of the next
    time_limit_minutes: int | None = None  # None: untimed
    shuffle_questions: bool = False
    shuffle_choices: bool = True
    grading: Grading = Grading.BEST
    review: ReviewPolicy = ReviewPolicy.AFTER_PASSING
    slots: tuple[Slot, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pass_mark": self.pass_mark,
            "max_attempts": self.max_attempts,
            "wait_minutes": self.wait_minutes,
            "time_limit_minutes": self.time_limit_minutes,
            "shuffle_questions": self.shuffle_questions,
            "shuffle_choices": self.shuffle_choices,
            "grading": self.grading.value,
            "review": self.review.value,
            "slots": [slot.to_dict() for slot in self.slots],
        }


def _int(value: Any, name: str, low: int, high: int, *, optional: bool = False) -> int | None:
    if value is None or value == "":
        if optional:
            return None
        raise QuizSettingsError(_l("A whole number is required."), name)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise QuizSettingsError(_l("A whole number is required."), name)
    try:
        number = int(value)
    except ValueError:
        raise QuizSettingsError(_l("A whole number is required."), name) from None
    if not low <= number <= high:
        raise QuizSettingsError(
            _l("Must be between %(low)s and %(high)s.", low=low, high=high), name
        )
    return number


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise QuizSettingsError(_l("Must be true or false."), name)


def _choice(value: Any, name: str, kind: type[StrEnum]) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise QuizSettingsError(_l("Must be one of: %(allowed)s.", allowed=allowed), name) from None


def _slots(value: Any) -> tuple[Slot, ...]:
    if not isinstance(value, list):
        raise QuizSettingsError(_l("Must be a list."), "slots")
    if len(value) > MAX_SLOTS:
        raise QuizSettingsError(_l("At most %(n)s entries.", n=MAX_SLOTS), "slots")
    slots = []
    for index, entry in enumerate(value):
        name = f"slots[{index}]"
        if not isinstance(entry, dict):
            raise QuizSettingsError(_l("Must be a question or a category."), name)
        question, category = entry.get("question"), entry.get("category")
        if bool(question) == bool(category) or set(entry) - {"question", "category", "count"}:
            raise QuizSettingsError(_l("Give either a question, or a category and a count."), name)
        if question:
            if not isinstance(question, str) or "count" in entry:
                raise QuizSettingsError(_l("A question is named by its id."), name)
            slots.append(Slot(question=question))
        else:
            if not isinstance(category, str):
                raise QuizSettingsError(_l("A category is named by its name."), name)
            count = _int(entry.get("count", 1), f"{name}.count", 1, MAX_RANDOM)
            slots.append(Slot(category=category, count=count or 1))
    return tuple(slots)


def parse(data: Any) -> QuizSettings:
    """Validated settings from stored or authored data (missing keys take the defaults)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise QuizSettingsError(_l("Quiz settings must be a mapping."))
    unknown = set(data) - set(QuizSettings.__dataclass_fields__)
    if unknown:
        raise QuizSettingsError(_l("Unknown setting."), sorted(unknown)[0])
    defaults = QuizSettings()
    pass_mark = data.get("pass_mark", defaults.pass_mark)
    if isinstance(pass_mark, bool) or not isinstance(pass_mark, int | float):
        raise QuizSettingsError(_l("A number is required."), "pass_mark")
    if not 0 <= float(pass_mark) <= 100:
        raise QuizSettingsError(
            _l("Must be between %(low)s and %(high)s.", low=0, high=100), "pass_mark"
        )
    return QuizSettings(
        pass_mark=float(pass_mark),
        max_attempts=_int(data.get("max_attempts"), "max_attempts", 1, MAX_ATTEMPTS, optional=True),
        wait_minutes=_int(data.get("wait_minutes", 0), "wait_minutes", 0, MAX_WAIT_MINUTES) or 0,
        time_limit_minutes=_int(
            data.get("time_limit_minutes"),
            "time_limit_minutes",
            1,
            MAX_TIME_LIMIT_MINUTES,
            optional=True,
        ),
        shuffle_questions=_bool(
            data.get("shuffle_questions", defaults.shuffle_questions), "shuffle_questions"
        ),
        shuffle_choices=_bool(
            data.get("shuffle_choices", defaults.shuffle_choices), "shuffle_choices"
        ),
        grading=_choice(data.get("grading", defaults.grading), "grading", Grading),
        review=_choice(data.get("review", defaults.review), "review", ReviewPolicy),
        slots=_slots(data.get("slots", [])),
    )


def of_lesson_settings(lesson_settings: dict[str, Any] | None) -> QuizSettings:
    """The quiz settings stored in a lesson's (or a lesson snapshot's) settings."""
    return parse((lesson_settings or {}).get("quiz"))
