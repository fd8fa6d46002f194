"""Course scores from quiz results, as completion records keep them.

A course's quizzes are the lessons of kind ``quiz`` in the published version the trainee
completed. Each quiz counts with its counted result (best or last graded attempt, as the
quiz's settings say: :func:`lms.quizzes.attempts.counted_result`), as a percentage.
The course score is the plain mean of those percentages: every quiz weighs the same,
however many points it has or however many questions it happened to draw. A quiz the
trainee never had graded (an optional one) has no result and is left out of the mean;
a course with no graded quiz has no score (``None``), never a made-up number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from lms.catalog.models import LessonKind


def _rounded(value: float) -> float:
    return round(value, 1)


def quiz_lessons(snapshot: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The quiz lessons of a published course version, in course order."""
    return [
        lesson
        for module in (snapshot or {}).get("modules") or []
        for lesson in module.get("lessons") or []
        if lesson.get("kind") == LessonKind.QUIZ
    ]


def _lesson_title(lesson: Mapping[str, Any], language: str) -> str:
    texts = lesson.get("texts") or {}
    for lang in (language, *texts):
        title = (texts.get(lang) or {}).get("title")
        if title:
            return str(title)
    return ""


def quiz_results(
    session: Session, user_id: int, snapshot: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """``[{"lesson_id", "title", "percent"}]`` per quiz of the version; percent None when
    the trainee has no graded attempt of it."""
    from lms.quizzes.attempts import counted_result  # noqa: PLC0415 - quizzes import a lot

    language = str((snapshot or {}).get("default_language") or "en")
    results = []
    for lesson in quiz_lessons(snapshot):
        counted = counted_result(session, user_id, int(lesson["id"]))
        percent = counted.percent if counted is not None else None
        results.append(
            {
                "lesson_id": int(lesson["id"]),
                "title": _lesson_title(lesson, language),
                "percent": _rounded(percent) if percent is not None else None,
            }
        )
    return results


def course_score(quizzes: Iterable[Mapping[str, Any]]) -> float | None:
    """The plain mean of the quizzes' percentages; None when none has one."""
    percents = [float(q["percent"]) for q in quizzes if q.get("percent") is not None]
    if not percents:
        return None
    return _rounded(sum(percents) / len(percents))


def format_score(score: float | None) -> str:
    """``85`` or ``87.5`` (a percentage without its sign); empty for no score."""
    return "" if score is None else f"{score:g}"
