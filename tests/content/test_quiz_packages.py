"""Quizzes in course packages: the question bank and the quiz settings travel with the course."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lms.accounts.models import Role, User
from lms.catalog.models import Course, Lesson
from lms.catalog.services import publish
from lms.content.exporter import export_course
from lms.content.importer import import_package, import_package_report
from lms.content.package import PackageError, read_package
from lms.content.sample import SAMPLE_PACKAGE
from lms.db import new_session, utcnow
from lms.learning.models import LessonProgress
from lms.quizzes import attempts, bank, questions
from lms.quizzes.models import Question, QuestionCategory
from lms.quizzes.settings import QuizSettings, Slot
from lms.storage import get_storage
from tests.content.conftest import line_of
from tests.content.test_export import tree
from tests.learning.test_completion import make_programme

BASICS = """\
category: Basics
questions:
  - uid: q-single
    title: Who collects
    type: single_choice
    points: 2
    texts:
      en:
        text: Who collects the waste?
        explanation: |-
          Each ward collects its own waste.

          Since **April 2000**.
      ja: {text: ごみを収集するのは誰ですか。}
    choices:
      - id: a
        texts:
          en: {text: The ward, feedback: Right.}
          ja: {text: 区}
        correct: true
      - id: b
        weight: -0.5
        texts:
          en: {text: The state}
          ja: {text: 国, feedback: 違います。}
  - uid: q-number
    type: numeric
    points: 1
    texts:
      en: {text: "How many wards?"}
      ja: {text: 区はいくつありますか。}
    answers:
      - {id: right, value: 23}
      - {id: near, min: 20, max: 26, credit: 0.5}
  - uid: q-short
    title: yes
    type: short_answer
    points: 1
    texts:
      en: {text: "The Japanese word for a collection point?"}
      ja: {text: 集積所の読み方は？}
    answers:
      - id: kanji
        text: 集積所
      - id: romaji
        text: shusekijo
"""

LOOSE = """\
questions:
  - uid: q-true
    type: true_false
    points: 1
    answer: true
    texts:
      en: {text: Plastics are burned.}
      ja: {text: プラスチックは焼却される。}
    feedback:
      "false": {en: It is true., ja: 正しいです。}
"""

QUIZ = """\
        quiz:
          pass_mark: 65
          time_limit_minutes: 10
          slots:
            - question: q-single
            - question: q-true
            - category: Basics
              count: 2
"""


@pytest.fixture
def quiz_package(make_package: Callable[..., Path]) -> Path:
    root = make_package("quizzes")
    (root / "questions").mkdir()
    (root / "questions" / "basics.yaml").write_text(BASICS, encoding="utf-8")
    (root / "questions" / "loose.yaml").write_text(LOOSE, encoding="utf-8")
    edit(
        root,
        "modules:\n",
        "question_bank:\n  - questions/basics.yaml\n  - questions/loose.yaml\nmodules:\n",
    )
    edit(
        root, "          en: {title: Quiz (coming later)}\n", "          en: {title: Quiz}\n" + QUIZ
    )
    return root


def edit(root: Path, old: str, new: str, file: str = "course.yaml") -> None:
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def bank_rows(session: Session) -> dict[str, Question]:
    session.expire_all()
    return {q.uid: q for q in session.scalars(select(Question).order_by(Question.id))}


def counts(app: Flask) -> dict[str, int]:
    with new_session(app) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Course, Lesson, Question, QuestionCategory)
        }


# --- import and export ---------------------------------------------------------------


def test_quizzes_and_their_bank_import_and_export_byte_for_byte(
    app: Flask, session: Session, admin: User, quiz_package: Path, tmp_path: Path, jobs: list[Any]
):
    storage = get_storage(app)
    report = import_package_report(session, storage, admin, quiz_package)
    session.commit()
    course = report.course
    assert report.questions == 4 and sorted(report.questions_written) == [
        "q-number",
        "q-short",
        "q-single",
        "q-true",
    ]
    rows = bank_rows(session)
    assert {uid: (q.type, q.category.name if q.category else None) for uid, q in rows.items()} == {
        "q-single": ("single_choice", "Basics"),
        "q-number": ("numeric", "Basics"),
        "q-short": ("short_answer", "Basics"),
        "q-true": ("true_false", None),
    }
    single = rows["q-single"]
    assert single.title == "Who collects" and rows["q-short"].title == "yes"  # YAML words stay text
    assert single.spec["texts"]["en"]["explanation"].endswith("Since **April 2000**.")
    assert [c["weight"] for c in single.spec["choices"]] == [1.0, -0.5]
    quiz = session.scalar(select(Lesson).where(Lesson.uid == "quiz-one"))
    assert quiz is not None
    assert (
        quiz.settings["quiz"]
        == QuizSettings(
            pass_mark=65,
            time_limit_minutes=10,
            slots=(
                Slot(question="q-single"),
                Slot(question="q-true"),
                Slot(category="Basics", count=2),
            ),
        ).to_dict()
    )

    first = tmp_path / "first"
    export_course(session, storage, course, first)
    files = tree(first)
    assert {"questions/uncategorised.yaml", "questions/basics.yaml"} <= set(files)
    text = files["questions/basics.yaml"].decode()
    assert text.startswith("category: Basics\nquestions:\n  - uid: ")
    assert "explanation: |-\n" in text  # Markdown over several lines stays a block
    exported = read_package(first)
    assert exported.lessons[3].quiz == read_package(quiz_package).lessons[3].quiz
    assert {q.uid: q.spec for f in exported.bank for q in f.questions} == {
        uid: q.spec for uid, q in rows.items()
    }

    # Its own export over the course changes nothing.
    again = import_package_report(session, storage, admin, first)
    session.commit()
    assert not again.changed and again.questions_written == [] and again.questions_archived == []

    # Into a catalog without the course: the same bytes again.
    session.execute(delete(Course).where(Course.id == course.id))
    session.commit()
    session.expunge_all()
    assert counts(app)["questions"] == 0  # the bank goes with its course
    fresh = import_package(session, storage, admin, first)
    session.commit()
    second = tmp_path / "second"
    export_course(session, storage, fresh, second)
    assert tree(second) == files


BAD_QUESTIONS = [
    # (file, text to replace, replacement, text on the line reported, message)
    (
        "questions/basics.yaml",
        "weight: -0.5",
        "weight: -1.5",
        "weight: -1.5",
        "question 'q-single': choices[1].weight: must be at least -1",
    ),
    (
        "questions/basics.yaml",
        "type: numeric",
        "type: essay",
        "type: essay",
        "question 'q-number': type: unknown question type 'essay'",
    ),
    (
        "questions/basics.yaml",
        "          ja: {text: 区}\n",
        "",
        "en: {text: The ward, feedback: Right.}",
        "choices[0].texts: a text in ja is missing",
    ),
    (
        "questions/basics.yaml",
        "{id: near, min: 20, max: 26, credit: 0.5}",
        "{id: near, min: 30, max: 26, credit: 0.5}",
        "{id: near, min: 30",
        "question 'q-number': answers[1].max: must be at least 30",
    ),
    (
        "questions/loose.yaml",
        "uid: q-true",
        "uid: q-single",
        "uid: q-single",
        "the question id 'q-single' is already used at questions/basics.yaml:",
    ),
    (
        "questions/loose.yaml",
        "questions:\n",
        "category: Basics\nquestions:\n",
        "category: Basics",
        "already in questions/basics.yaml",
    ),
    (
        "questions/loose.yaml",
        "answer: true",
        "answer: true: yes",
        "answer: true: yes",
        "the YAML is not valid",
    ),
    (
        "course.yaml",
        "- question: q-true",
        "- question: q-missing",
        "q-missing",
        "the question bank has no question 'q-missing'",
    ),
    (
        "course.yaml",
        "count: 2",
        "count: 3",
        "category: Basics",
        "the category 'Basics' has 2 questions this quiz does not already ask; it cannot draw 3",
    ),
    (
        "course.yaml",
        "pass_mark: 65",
        "pass_mark: 165",
        "pass_mark: 165",
        "quiz settings: pass_mark: Must be between 0 and 100.",
    ),
    (
        "course.yaml",
        "  - questions/loose.yaml\n",
        "  - questions/loose.yaml\n  - questions/none.yaml\n",
        "questions/none.yaml",
        "file not found: questions/none.yaml",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "needle", "message"),
    BAD_QUESTIONS,
    ids=[case[4][:40] for case in BAD_QUESTIONS],
)
def test_a_bad_question_or_quiz_is_reported_where_it_is_and_nothing_is_imported(
    app: Flask,
    session: Session,
    admin: User,
    quiz_package: Path,
    jobs: list[Any],
    file: str,
    old: str,
    new: str,
    needle: str,
    message: str,
):
    edit(quiz_package, old, new, file)
    with pytest.raises(PackageError) as caught:
        import_package(session, get_storage(app), admin, quiz_package)
    session.rollback()
    [problem] = caught.value.problems
    assert problem.file == file
    assert problem.line == line_of(quiz_package / file, needle)
    assert message in str(problem)
    assert counts(app) == {"courses": 0, "lessons": 0, "questions": 0, "question_categories": 0}


def test_a_reimport_updates_the_bank_and_the_quiz_in_place(
    app: Flask, session: Session, admin: User, quiz_package: Path, jobs: list[Any]
):
    storage = get_storage(app)
    import_package(session, storage, admin, quiz_package)
    session.commit()
    before = {uid: q.id for uid, q in bank_rows(session).items()}

    edit(quiz_package, "Who collects the waste?", "Who collects household waste?", BASICS_FILE)
    edit(quiz_package, "      - id: romaji\n        text: shusekijo\n", "", BASICS_FILE)
    (quiz_package / "questions" / "loose.yaml").write_text(
        LOOSE.replace("uid: q-true", "uid: q-true-2"), encoding="utf-8"
    )
    edit(quiz_package, "- question: q-true", "- question: q-true-2")
    edit(quiz_package, "pass_mark: 65", "pass_mark: 70")
    report = import_package_report(session, storage, admin, quiz_package)
    session.commit()
    assert report.changed
    assert sorted(report.questions_written) == ["q-short", "q-single", "q-true-2"]
    assert report.questions_archived == ["q-true"]

    rows = bank_rows(session)
    assert {uid: q.id for uid, q in rows.items() if uid in before} == before  # updated in place
    assert rows["q-single"].spec["texts"]["en"]["text"] == "Who collects household waste?"
    assert [a["text"] for a in rows["q-short"].spec["answers"]] == ["集積所"]
    assert rows["q-true"].archived_at is not None and rows["q-true-2"].archived_at is None
    quiz = session.scalar(select(Lesson).where(Lesson.uid == "quiz-one"))
    assert quiz is not None and quiz.settings["quiz"]["pass_mark"] == 70.0
    assert quiz.settings["quiz"]["slots"][1] == {"question": "q-true-2"}

    # Putting the question back brings the archived row back, with its id.
    (quiz_package / "questions" / "loose.yaml").write_text(LOOSE, encoding="utf-8")
    edit(quiz_package, "- question: q-true-2", "- question: q-true")
    import_package(session, storage, admin, quiz_package)
    session.commit()
    rows = bank_rows(session)
    assert rows["q-true"].id == before["q-true"] and rows["q-true"].archived_at is None
    assert rows["q-true-2"].archived_at is not None

    # A package without a quiz's settings or a bank leaves none: the package is the truth.
    edit(quiz_package, QUIZ.replace("pass_mark: 65", "pass_mark: 70"), "")
    edit(quiz_package, "question_bank:\n  - questions/basics.yaml\n  - questions/loose.yaml\n", "")
    report = import_package_report(session, storage, admin, quiz_package)
    session.commit()
    assert sorted(report.questions_archived) == ["q-number", "q-short", "q-single", "q-true"]
    assert all(q.archived_at is not None for q in bank_rows(session).values())
    session.expire_all()
    quiz = session.scalar(select(Lesson).where(Lesson.uid == "quiz-one"))
    assert quiz is not None and "quiz" not in quiz.settings


BASICS_FILE = "questions/basics.yaml"


def test_an_export_says_when_a_quiz_names_a_question_no_longer_in_the_bank(
    app: Flask, session: Session, admin: User, quiz_package: Path, tmp_path: Path, jobs: list[Any]
):
    storage = get_storage(app)
    course = import_package(session, storage, admin, quiz_package)
    bank.archive_question(session, bank_rows(session)["q-true"])  # in the browser, say
    session.commit()
    report = export_course(session, storage, course, tmp_path / "out")
    assert [str(note) for note in report.notes] == [
        "lesson quiz-one: its quiz asks the question 'q-true', which is not in the question "
        "bank; fix the quiz before importing the package"
    ]
    # Its only question archived, the uncategorised file is not written at all.
    assert sorted(p.name for p in (tmp_path / "out" / "questions").iterdir()) == ["basics.yaml"]


# --- the sample course ---------------------------------------------------------------


def correct_response(spec: dict[str, Any]) -> Any:
    """The response that earns full marks, read from the spec."""
    kind = spec["type"]
    if kind == "single_choice":
        return next(c["id"] for c in spec["choices"] if c["weight"] == 1.0)
    if kind == "multiple_response":
        if spec["scoring"] == "partial":
            return sorted(c["id"] for c in spec["choices"] if c["weight"] > 0)
        return sorted(c["id"] for c in spec["choices"] if c["correct"])
    if kind == "true_false":
        return spec["answer"]
    if kind == "numeric":
        best = next(a for a in spec["answers"] if a["credit"] == 1.0)
        return best["value"] if "value" in best else (best["min"] + best["max"]) / 2
    if kind == "short_answer":
        return next(a["text"] for a in spec["answers"] if a["credit"] == 1.0)
    if kind == "matching":
        return {p["id"]: p["match"] for p in spec["prompts"]}
    if kind == "ordering":
        return [item["id"] for item in spec["items"]]
    raise AssertionError(kind)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_the_sample_course_ends_each_module_with_a_bilingual_quiz():
    package = read_package(SAMPLE_PACKAGE)
    bank = {q.uid: (f.category, q.spec) for f in package.bank for q in f.questions}
    kinds = Counter(spec["type"] for _category, spec in bank.values())
    assert set(kinds) == set(questions.QUESTION_TYPES)  # every type of question is shown
    for uid, (_category, spec) in bank.items():
        assert questions.validate(spec) == spec
        assert list(spec["texts"]) == ["en", "ja"], uid
        assert all(spec["texts"][lang].get("explanation") for lang in ("en", "ja")), uid
        assert questions.grade(spec, correct_response(spec)).correct, uid
        if spec["type"] == "short_answer":  # typed on a Japanese keyboard, full width
            answer = correct_response(spec)
            assert questions.grade(spec, full_width(answer)).correct, (uid, answer)
    scorings = {spec.get("scoring") for _c, spec in bank.values() if "choices" in spec}
    assert "partial" in scorings  # partial credit, with negative weights
    assert any(
        "feedback" in c["texts"][lang]
        for _category, spec in bank.values()
        for c in spec.get("choices", [])
        for lang in ("en", "ja")
    )

    quizzes = []
    for module in package.modules:
        last = module.lessons[-1]
        assert last.kind == "quiz" and last.required and last.quiz is not None, module.uid
        assert set(last.titles) == {"en", "ja"} and set(last.bodies) == {"en", "ja"}
        quizzes.append(last.quiz)
    for settings in quizzes:
        assert 60 <= settings.pass_mark <= 70
        assert settings.shuffle_choices and settings.review == "after_passing"
        assert settings.grading == "best" and settings.slots
        for slot in settings.slots:
            assert slot.question in bank or any(c == slot.category for c, _s in bank.values())
    assert [q.time_limit_minutes for q in quizzes].count(10) == 1
    assert [q.time_limit_minutes for q in quizzes].count(None) == len(quizzes) - 1
    assert any(slot.category for q in quizzes for slot in q.slots)


def test_a_trainee_passes_every_quiz_of_the_sample_by_answering_right(
    app: Flask, session: Session, admin: User, make_user: Callable[..., User], jobs: list[Any]
):
    course = import_package(session, get_storage(app), admin, SAMPLE_PACKAGE)
    publish(session, admin, course)
    session.commit()
    trainee = make_user(Role.TRAINEE, email="trainee@example.org")
    make_programme(app, [(course.id, True)], [trainee.id])
    trainee = session.get(User, trainee.id)
    quizzes = session.scalars(
        select(Lesson).where(Lesson.course_id == course.id, Lesson.kind == "quiz")
    ).all()
    assert len(quizzes) == 4
    now = utcnow()
    for quiz in quizzes:
        attempt = attempts.start_attempt(session, trainee, quiz.id, now)
        if quiz.uid == "separation-quiz":
            assert attempt.deadline_at == now + timedelta(minutes=10)
        if quiz.uid == "three-rs-quiz":  # five fixed questions and two drawn from a category
            assert len(attempt.items) == 7
        for position, item in enumerate(attempt.items):
            attempts.save_answer(session, attempt, position, correct_response(item["spec"]), 1, now)
        assert attempts.submit(session, attempt.id, now + timedelta(minutes=1))
        session.commit()
        session.refresh(attempt)
        assert attempt.passed and attempt.score == attempt.max_score > 0, quiz.uid
    done = session.scalars(
        select(LessonProgress.lesson_id).where(
            LessonProgress.user_id == trainee.id, LessonProgress.status == "done"
        )
    ).all()
    assert set(done) == {quiz.id for quiz in quizzes}


def test_every_word_of_the_sample_quizzes_is_in_both_languages():
    """No question, choice, prompt, option or item misses its Japanese (or English)."""
    package = read_package(SAMPLE_PACKAGE)
    for bank_file in package.bank:
        for question in bank_file.questions:
            spec = question.spec
            for key in ("choices", "prompts", "options", "items"):
                for entry in spec.get(key, []):
                    assert list(entry["texts"]) == ["en", "ja"], (question.uid, entry["id"])
                    feedback = {lang for lang, t in entry["texts"].items() if "feedback" in t}
                    assert feedback in (set(), {"en", "ja"}), (question.uid, entry["id"])
            for answer in spec.get("answers", []):
                assert set(answer.get("feedback", {"en": 1, "ja": 1})) == {"en", "ja"}
            for feedback in spec.get("feedback", {}).values():
                assert set(feedback) == {"en", "ja"}, question.uid
            ja = spec["texts"]["ja"]["text"]
            assert any(unicodedata.east_asian_width(c) == "W" for c in ja), question.uid
