"""Taking a quiz: the quiz part of the lesson page, the attempt, the result, the save API.

Pages (server-rendered, work without JavaScript; quiz.js adds autosave and a countdown):

``POST /courses/<c>/lessons/<l>/quiz/start``   start, or resume the attempt in progress
``GET  /quiz-attempts/<id>``                   the attempt's form (its owner only)
``POST /quiz-attempts/<id>``                   save every answer, and submit unless "save"
``GET  /quiz-attempts/<id>/result``            score, and the review when its rules allow

JSON (errors as ``{"error": {"status", "message"}}``, translated; nothing changed):

``GET  /api/v1/quiz-attempts/<id>``            status, deadline, server time, saved answers
``POST /api/v1/quiz-attempts/<id>/answers``    ``{"position", "revision", "fields"|"response"}``
``POST /api/v1/quiz-attempts/<id>/submit``     grade (once) and say where the result is

Nothing here sends a correct flag, weight, accepted answer, feedback or explanation
before :func:`lms.quizzes.attempts.may_review` allows it: questions reach templates
only through :func:`lms.quizzes.questions.public` until then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from lms.catalog.markdown import render_markdown
from lms.catalog.models import Course, Lesson
from lms.db import get_session, utcnow
from lms.learning import tracking
from lms.learning.services import Text, can_view_course, find_lesson, pick
from lms.quizzes import attempts as svc
from lms.quizzes import forms, questions
from lms.quizzes.models import AttemptStatus, QuizAnswer, QuizAttempt
from lms.quizzes.settings import QuizSettings, QuizSettingsError, parse
from lms.storage import StorageError, get_storage

bp = Blueprint("quizzes", __name__, template_folder="templates")

MAX_SAVE_BYTES = 64 * 1024


def _language() -> str:
    locale = get_locale()
    return locale.language if locale else "en"


def _user():
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _today():
    return datetime.now(get_timezone()).date()


def _run(work):
    """Run a unit of work with retries on write conflicts (see tracking.commit_with_retries)."""
    return tracking.commit_with_retries(get_session(), work)


# --- the quiz part of the lesson page ---------------------------------------------------------


@dataclass
class Intro:
    settings: QuizSettings | None
    question_count: int
    attempts: list[QuizAttempt] = field(default_factory=list)
    in_progress: QuizAttempt | None = None
    counted: QuizAttempt | None = None
    eligibility: svc.Eligibility | None = None
    error: str = ""


@bp.app_template_global()
def quiz_intro(lesson_id: int, lesson_settings: dict[str, Any] | None, preview: bool) -> Intro:
    """For learning/lesson.html: the quiz's rules and, for the trainee, their attempts."""
    try:
        settings = parse((lesson_settings or {}).get("quiz"))
    except QuizSettingsError:
        return Intro(None, 0, error=_("This quiz cannot be taken at the moment."))
    count = sum(1 if slot.question else slot.count for slot in settings.slots)
    intro = Intro(settings, count)
    if preview or not current_user.is_authenticated:
        return intro
    db = get_session()
    now = utcnow()
    current = svc.in_progress_attempt(db, current_user.id, lesson_id)
    if current is not None and svc.expired(current, now):
        svc.finish_expired(db, current.id, now)  # committed with the page's unit of work
    intro.attempts = svc.attempts_of(db, current_user.id, lesson_id)
    intro.in_progress = next(
        (a for a in intro.attempts if a.status == AttemptStatus.IN_PROGRESS), None
    )
    intro.counted = svc.counted_result(db, current_user.id, lesson_id)
    graded = [a for a in intro.attempts if a.status == AttemptStatus.GRADED]
    intro.eligibility = svc.eligibility(settings, graded, now)
    return intro


@bp.post("/courses/<int:course_id>/lessons/<int:lesson_id>/quiz/start")
@login_required
def start(course_id: int, lesson_id: int):
    db = get_session()
    lesson = db.get(Lesson, lesson_id)
    course = db.get(Course, course_id)
    if lesson is None or course is None or lesson.course_id != course.id:
        abort(404)
    if not can_view_course(db, current_user, course):
        abort(403)
    user = _user()
    try:
        attempt = _run(lambda: svc.start_attempt(db, user, lesson_id, utcnow()))
    except svc.QuizError as error:
        if error.status in (403, 404):
            abort(error.status)
        flash(str(error.message), "error")
        return redirect(url_for("learning.lesson", course_id=course_id, lesson_id=lesson_id))
    except tracking.Busy:
        flash(_("Too many updates at once. Please try again."), "error")
        return redirect(url_for("learning.lesson", course_id=course_id, lesson_id=lesson_id))
    return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))


# --- the attempt --------------------------------------------------------------------------------


def _own_attempt(attempt_id: int) -> QuizAttempt:
    """The attempt (graded first if its time is over), for its owner only: 404 or 403."""
    db = get_session()
    attempt = svc.load_attempt(db, attempt_id, utcnow())
    if attempt is None:
        abort(404)
    if attempt.user_id != current_user.id:
        abort(403)
    course = db.get(Course, attempt.course_id)
    if course is None or not can_view_course(db, current_user, course):
        abort(403)
    return attempt


@dataclass
class Entry:
    """A choice, prompt, option or ordering item as shown."""

    id: str
    text: Text


@dataclass
class ItemView:
    position: int
    type: str
    points: float
    text: Text
    images: list[str]
    choices: list[Entry]
    prompts: list[Entry]
    options: list[Entry]
    items: list[Entry]
    response: Any
    revision: int
    # Filled only when the review is allowed:
    score: float | None = None
    correct: bool | None = None
    key: list[str] = field(default_factory=list)
    feedback: list[Text] = field(default_factory=list)
    explanation: Text | None = None
    error: str = ""  # why the posted answer could not be read

    @property
    def text_html(self) -> Markup:
        """Question texts are Markdown, like the rest of the course (sanitised)."""
        return render_markdown(self.text.value) if self.text.value else Markup("")

    @property
    def explanation_html(self) -> Markup:
        return render_markdown(self.explanation.value) if self.explanation else Markup("")

    @property
    def name(self) -> str:
        return forms.field_name(self.position)

    def sub(self, entry_id: str) -> str:
        return forms.field_name(self.position, entry_id)

    @property
    def places(self) -> dict[str, int]:
        return forms.ordering_places(self.response if self.type == "ordering" else None)

    @property
    def chosen(self) -> set[str]:
        if isinstance(self.response, list):
            return set(self.response)
        if isinstance(self.response, str):
            return {self.response}
        return set()

    def as_text(self, value: Any) -> str:
        """A response value for the form's text inputs (numbers without a needless .0)."""
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)


def _default_language(attempt: QuizAttempt) -> str:
    course = get_session().get(Course, attempt.course_id)
    return course.default_language if course is not None else "en"


def _entries(public: dict[str, Any], key: str, language: str, default: str) -> list[Entry]:
    return [
        Entry(entry["id"], pick(entry["texts"], "text", language, default))
        for entry in public.get(key, [])
    ]


def _image_urls(keys: list[str]) -> list[str]:
    urls = []
    storage = get_storage()
    for key in keys:
        try:
            urls.append(storage.url(key))
        except StorageError:
            continue
    return urls


def _item_views(attempt: QuizAttempt, answers: list[QuizAnswer]) -> list[ItemView]:
    """What the attempt shows: only ``questions.public`` of each frozen spec."""
    language, default = _language(), _default_language(attempt)
    by_position = {answer.position: answer for answer in answers}
    views = []
    for position, item in enumerate(attempt.items):
        public = questions.public(item["spec"], item["layout"])
        answer = by_position.get(position)
        views.append(
            ItemView(
                position=position,
                type=public["type"],
                points=public["points"],
                text=pick(public["texts"], "text", language, default),
                images=_image_urls(public.get("images", [])),
                choices=_entries(public, "choices", language, default),
                prompts=_entries(public, "prompts", language, default),
                options=_entries(public, "options", language, default),
                items=_entries(public, "items", language, default),
                response=answer.response if answer else None,
                revision=answer.revision if answer else 0,
            )
        )
    return views


def _quiz_title(attempt: QuizAttempt) -> Text:
    course = get_session().get(Course, attempt.course_id)
    snapshot = course.published_version.snapshot if course and course.published_version else {}
    data = find_lesson(snapshot, attempt.lesson_id) or {}
    return pick(data.get("texts") or {}, "title", _language(), _default_language(attempt))


def _lesson_url(attempt: QuizAttempt) -> str:
    return url_for("learning.lesson", course_id=attempt.course_id, lesson_id=attempt.lesson_id)


@bp.get("/quiz-attempts/<int:attempt_id>")
@login_required
def attempt(attempt_id: int):
    attempt = _own_attempt(attempt_id)
    if attempt.status != AttemptStatus.IN_PROGRESS:
        return redirect(url_for("quizzes.result", attempt_id=attempt.id))
    return _render_attempt(attempt, _item_views(attempt, svc.answers_of(get_session(), attempt.id)))


def _render_attempt(attempt: QuizAttempt, items: list[ItemView], status: int = 200):
    now = utcnow()
    remaining = (attempt.deadline_at - now).total_seconds() if attempt.deadline_at else None
    body = render_template(
        "quizzes/attempt.html",
        attempt=attempt,
        settings=svc.attempt_settings(attempt),
        title=_quiz_title(attempt),
        items=items,
        remaining=max(0.0, remaining) if remaining is not None else None,
        max_revision=max((item.revision for item in items), default=0),
        lesson_url=_lesson_url(attempt),
    )
    return body, status


def _posted(attempt: QuizAttempt, fields: forms.Fields) -> tuple[dict[int, Any], dict[int, str]]:
    """Each question's response from the posted form, normalised; and the errors, if any."""
    responses: dict[int, Any] = {}
    problems: dict[int, str] = {}
    for position, item in enumerate(attempt.items):
        raw: Any = None
        try:
            raw = forms.raw_response(item["spec"], position, fields)
            responses[position] = questions.normalise_response(item["spec"], raw)
        except svc.InvalidAnswer as error:
            problems[position] = str(error.message)
        except questions.QuestionError as error:
            problems[position] = str(error.message)
            if isinstance(raw, str):
                responses[position] = raw  # shown again as typed, never saved
    return responses, problems


def _base_revisions(fields: forms.Fields) -> dict[int, int]:
    """``base.<n>``: the revision of answer n the posted page showed (see save_answer)."""
    bases = {}
    for name, values in fields.items():
        if name.startswith("base.") and values:
            try:
                bases[int(name[5:])] = int(values[0])
            except ValueError:
                continue
    return bases


def _save_all(
    attempt: QuizAttempt,
    responses: dict[int, Any],
    bases: dict[int, int],
    revision: int,
    now: datetime,
) -> None:
    db = get_session()
    for position, response in responses.items():
        svc.save_answer(
            db, attempt, position, response, revision, now, base_revision=bases.get(position)
        )


@bp.post("/quiz-attempts/<int:attempt_id>")
@login_required
def attempt_post(attempt_id: int):
    """The form without JavaScript (and the final submit with it): save all, then submit.

    An answer that cannot be read (a word where a number is expected) saves nothing: the
    form comes back with what was typed and a message at that question.
    """
    attempt = _own_attempt(attempt_id)
    db = get_session()
    if attempt.status != AttemptStatus.IN_PROGRESS:  # a second click, or after the deadline
        if attempt.finish_reason == "deadline":
            flash(str(svc.closed_message(attempt)), "error")
        return redirect(url_for("quizzes.result", attempt_id=attempt.id))
    fields = request.form.to_dict(flat=False)
    try:
        revision = svc.parse_revision(int(request.form.get("revision", "")))
    except (ValueError, svc.InvalidAnswer):
        revision = int(utcnow().timestamp() * 1000)
    responses, problems = _posted(attempt, fields)
    if problems:
        items = _item_views(attempt, svc.answers_of(db, attempt.id))
        for item in items:
            if item.position in responses:
                item.response = responses[item.position]
            item.error = problems.get(item.position, "")
        flash(
            _("Some answers could not be read: nothing was saved. See the questions marked below."),
            "error",
        )
        return _render_attempt(attempt, items, 400)
    now = utcnow()
    try:
        bases = _base_revisions(fields)
        _run(lambda: _save_all(attempt, responses, bases, revision, now))
        if request.form.get("action") == "save":
            flash(_("Your answers are saved."), "success")
            return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))
        _run(lambda: svc.submit(db, attempt.id, utcnow()))
    except svc.AttemptClosed as error:
        flash(str(error.message), "error")
    except tracking.Busy:
        flash(_("Too many updates at once. Please try again."), "error")
        return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))
    return redirect(url_for("quizzes.result", attempt_id=attempt.id))


# --- the result ---------------------------------------------------------------------------------


def _feedback_texts(
    spec: dict[str, Any], ids: list[str], language: str, default: str
) -> list[Text]:
    texts: list[Text] = []
    kind = spec["type"]
    for feedback_id in ids:
        if kind in ("single_choice", "multiple_response"):
            choice = next((c for c in spec["choices"] if c["id"] == feedback_id), None)
            if choice:
                texts.append(pick(choice["texts"], "feedback", language, default))
        elif kind == "true_false":
            entry = (spec.get("feedback") or {}).get(feedback_id) or {}
            texts.append(pick({k: {"f": v} for k, v in entry.items()}, "f", language, default))
        elif kind in ("numeric", "short_answer"):
            answer = next((a for a in spec["answers"] if a["id"] == feedback_id), None)
            entry = (answer or {}).get("feedback") or {}
            texts.append(pick({k: {"f": v} for k, v in entry.items()}, "f", language, default))
    return [text for text in texts if text]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _answer_key(spec: dict[str, Any], language: str, default: str) -> list[str]:
    """The correct answer(s), as lines of text for the review."""
    kind = spec["type"]

    def text(entry: dict[str, Any]) -> str:
        return str(pick(entry["texts"], "text", language, default))

    if kind == "single_choice":
        return [text(c) for c in spec["choices"] if c["weight"] >= 1.0]
    if kind == "multiple_response":
        if spec["scoring"] == "all_or_nothing":
            return [text(c) for c in spec["choices"] if c["correct"]]
        return [
            f"{text(c)} ({c['weight'] * 100:+.0f}%)" for c in spec["choices"] if c["weight"] != 0
        ]
    if kind == "true_false":
        return [_("True") if spec["answer"] else _("False")]
    if kind == "numeric":
        lines = []
        for answer in spec["answers"]:
            if "value" in answer:
                line = _number(answer["value"])
                if answer["tolerance"]:
                    line += f" ± {_number(answer['tolerance'])}"
            else:
                line = f"{_number(answer['min'])} – {_number(answer['max'])}"
            if answer["credit"] < 1:
                line += f" ({answer['credit'] * 100:.0f}%)"
            lines.append(line)
        return lines
    if kind == "short_answer":
        return [
            a["text"] + (f" ({a['credit'] * 100:.0f}%)" if a["credit"] < 1 else "")
            for a in spec["answers"]
        ]
    if kind == "matching":
        options = {o["id"]: text(o) for o in spec["options"]}
        return [f"{text(p)} → {options[p['match']]}" for p in spec["prompts"]]
    if kind == "ordering":
        return [text(item) for item in spec["items"]]
    return []


def _review_views(attempt: QuizAttempt, answers: list[QuizAnswer]) -> list[ItemView]:
    language, default = _language(), _default_language(attempt)
    views = _item_views(attempt, answers)
    by_position = {answer.position: answer for answer in answers}
    for view in views:
        spec = attempt.items[view.position]["spec"]
        answer = by_position.get(view.position)
        view.score = answer.effective_score if answer else None
        view.correct = answer.correct if answer else None
        view.key = _answer_key(spec, language, default)
        view.feedback = _feedback_texts(spec, answer.feedback if answer else [], language, default)
        explanation = pick(spec["texts"], "explanation", language, default)
        view.explanation = explanation if explanation else None
    return views


@bp.get("/quiz-attempts/<int:attempt_id>/result")
@login_required
def result(attempt_id: int):
    attempt = _own_attempt(attempt_id)
    if attempt.status == AttemptStatus.IN_PROGRESS:
        return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))
    db = get_session()
    reviewable = svc.may_review(db, attempt, _today())
    answers = svc.answers_of(db, attempt.id)
    return render_template(
        "quizzes/result.html",
        attempt=attempt,
        settings=svc.attempt_settings(attempt),
        title=_quiz_title(attempt),
        reviewable=reviewable,
        items=_review_views(attempt, answers) if reviewable else [],
        answered=sum(1 for a in answers if a.response is not None),
        counted=svc.counted_result(db, attempt.user_id, attempt.lesson_id),
        lesson_url=_lesson_url(attempt),
    )


# --- JSON ---------------------------------------------------------------------------------------


# A 400 the quiz API answers itself carries this code: quiz.js drops such a save (it would
# fail again), while a 400 without it (a CSRF failure: the session changed) stays queued.
INVALID_ANSWER = "invalid_answer"


def _error(status: int, message: object):
    error: dict[str, Any] = {"status": status, "message": str(message)}
    if status == 400:
        error["code"] = INVALID_ANSWER
    response = jsonify(error=error)
    response.status_code = status
    return response


def _api_attempt(attempt_id: int) -> QuizAttempt | Any:
    db = get_session()
    attempt = svc.load_attempt(db, attempt_id, utcnow())
    if attempt is None:
        return _error(404, _("This attempt does not exist."))
    course = db.get(Course, attempt.course_id)
    if (
        attempt.user_id != current_user.id
        or course is None
        or not can_view_course(db, current_user, course)
    ):
        return _error(403, _("You do not have permission to see this page."))
    return attempt


def _state(attempt: QuizAttempt) -> dict[str, Any]:
    answers = svc.answers_of(get_session(), attempt.id)
    return {
        "id": attempt.id,
        "status": attempt.status,
        "finish_reason": attempt.finish_reason,
        "server_time": utcnow().isoformat(),
        "deadline_at": attempt.deadline_at.isoformat() if attempt.deadline_at else None,
        "saved": [
            {"position": a.position, "response": a.response, "revision": a.revision}
            for a in answers
        ],
        "result_url": url_for("quizzes.result", attempt_id=attempt.id),
    }


@bp.get("/api/v1/quiz-attempts/<int:attempt_id>")
@login_required
def api_attempt(attempt_id: int):
    found = _api_attempt(attempt_id)
    if not isinstance(found, QuizAttempt):
        return found
    return jsonify(_state(found))


@bp.post("/api/v1/quiz-attempts/<int:attempt_id>/answers")
@login_required
def api_save(attempt_id: int):
    if (request.content_length or 0) > MAX_SAVE_BYTES:
        return _error(413, _("The answer is too large."))
    found = _api_attempt(attempt_id)
    if not isinstance(found, QuizAttempt):
        return found
    attempt = found
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return _error(400, _("Send the answer as a JSON object."))
    position = payload.get("position")
    db = get_session()
    try:
        if isinstance(position, bool) or not isinstance(position, int):
            raise svc.InvalidAnswer(_("There is no such question in this attempt."))
        if "fields" in payload:
            if not 0 <= position < len(attempt.items):
                raise svc.InvalidAnswer(_("There is no such question in this attempt."))
            fields = forms.check_fields(payload["fields"])
            raw = forms.raw_response(attempt.items[position]["spec"], position, fields)
        else:
            raw = payload.get("response")
        revision = payload.get("revision")
        now = utcnow()
        saved = _run(lambda: svc.save_answer(db, attempt, position, raw, revision, now))
    except svc.QuizError as error:
        return _error(error.status, error.message)
    except tracking.Busy:
        return _error(503, _("Too many updates at once. Please try again."))
    return jsonify(saved.to_dict())


@bp.post("/api/v1/quiz-attempts/<int:attempt_id>/submit")
@login_required
def api_submit(attempt_id: int):
    found = _api_attempt(attempt_id)
    if not isinstance(found, QuizAttempt):
        return found
    db = get_session()
    try:
        graded = _run(lambda: svc.submit(db, found.id, utcnow()))
    except tracking.Busy:
        return _error(503, _("Too many updates at once. Please try again."))
    attempt = db.get(QuizAttempt, found.id, populate_existing=True)
    assert attempt is not None
    return jsonify(
        graded=graded,
        status=attempt.status,
        finish_reason=attempt.finish_reason,
        result_url=url_for("quizzes.result", attempt_id=attempt.id),
    )
