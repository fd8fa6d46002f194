"""Instructor pages of quizzes under ``/teach/courses/<id>``: the question bank, the
question editor, categories, GIFT import and export, a quiz's settings, previews as a
trainee, results with item analysis, the review of an attempt and overrides.

Access: the course is loaded and checked first (its instructors and admins, like the
catalog's pages), then every object is checked to belong to it (404 otherwise). Every
change is audited. A refused change answers 400 with the page and the reason, and the
request's unit of work is rolled back.
"""

from __future__ import annotations

import io
import random
import secrets
import tempfile
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from lms.accounts.models import Role, User
from lms.audit.services import record
from lms.catalog.markdown import render_markdown
from lms.catalog.models import Course, Lesson, LessonKind
from lms.catalog.services import can_edit
from lms.core.auth import roles_required
from lms.core.forms import ActionForm
from lms.db import get_session, on_rollback, utcnow
from lms.i18n import CONTENT_LANGUAGES
from lms.media.probe import MediaError, probe_image
from lms.quizzes import analysis, bank, questions, results
from lms.quizzes import forms as attempt_forms
from lms.quizzes import settings as qsettings
from lms.quizzes.attempts import QuizError, apply_grades, draw_items
from lms.quizzes.authoring_forms import (
    GRADING_LABELS,
    REVIEW_LABELS,
    TYPE_LABELS,
    CategoryForm,
    EditorError,
    GiftImportForm,
    OverrideForm,
    QuizSettingsForm,
    draft_from_form,
    draft_from_spec,
    error_location,
    new_draft,
    pad,
    rows_of,
    spec_from_draft,
)
from lms.quizzes.models import AttemptStatus, Question, QuestionCategory, QuizAnswer, QuizAttempt
from lms.quizzes.publishing import live_bank
from lms.storage import StorageError, get_storage
from lms.storage.base import new_key

bp = Blueprint("quiz_authoring", __name__, template_folder="templates")

MAX_GIFT_BYTES = 2 * 1024 * 1024
MAX_SLOT_ROWS = qsettings.MAX_SLOTS


@bp.app_template_global()
def question_type_label(kind: str) -> str:
    return str(TYPE_LABELS.get(kind, kind))


@bp.app_template_filter("quiz_number")
def quiz_number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    return format_decimal(round(float(value), digits), format="#,##0.##")


@bp.app_template_filter("quiz_markdown")
def quiz_markdown(text: str) -> Markup:
    return render_markdown(text) if text else Markup("")


# --- loading and checking --------------------------------------------------------------


def _course(course_id: int) -> Course:
    course = get_session().get(Course, course_id) or abort(404)
    if not can_edit(current_user, course):
        abort(403)
    return course


def _question(course: Course, question_id: int) -> Question:
    question = get_session().get(Question, question_id)
    if question is None or question.course_id != course.id or question.archived_at is not None:
        abort(404)
    return question


def _category(course: Course, category_id: int) -> QuestionCategory:
    category = get_session().get(QuestionCategory, category_id)
    if category is None or category.course_id != course.id:
        abort(404)
    return category


def _quiz_lesson(course: Course, lesson_id: int) -> Lesson:
    lesson = get_session().get(Lesson, lesson_id)
    if (
        lesson is None
        or lesson.course_id != course.id
        or lesson.kind != LessonKind.QUIZ
        or lesson.archived_at is not None
    ):
        abort(404)
    return lesson


def _attempt(lesson: Lesson, attempt_id: int) -> QuizAttempt:
    attempt = get_session().get(QuizAttempt, attempt_id)
    if attempt is None or attempt.lesson_id != lesson.id:
        abort(404)
    return attempt


def _audit(action: str, course: Course, **details: Any) -> None:
    record(
        get_session(),
        action,
        actor_id=current_user.id,
        subject=course.code,
        ip=request.remote_addr or "",
        course_id=course.id,
        **details,
    )


def _fail(message: Any) -> None:
    get_session().rollback()
    flash(str(message), "error")


def _display_language(course: Course) -> str:
    lang = request.args.get("lang", "")
    if lang in CONTENT_LANGUAGES:
        return lang
    locale = get_locale()
    return locale.language if locale else course.default_language


def _pick(texts: dict[str, Any], lang: str, default: str) -> Any:
    for code in (lang, default):
        if code in texts:
            return texts[code]
    return next(iter(texts.values()), {})


def _lesson_title(course: Course, lesson: Lesson, lang: str) -> str:
    return str(_pick(lesson.texts, lang, course.default_language).get("title", "")) or lesson.uid


def _quiz_lessons(course: Course) -> list[Lesson]:
    return list(
        get_session().scalars(
            select(Lesson)
            .where(
                Lesson.course_id == course.id,
                Lesson.kind == LessonKind.QUIZ,
                Lesson.archived_at.is_(None),
            )
            .order_by(Lesson.module_id, Lesson.position)
        )
    )


def _text_helper(course: Course, lang: str):
    def text(texts: dict[str, Any], key: str = "text") -> str:
        return str(_pick(texts, lang, course.default_language).get(key, ""))

    return text


# --- the bank ------------------------------------------------------------------------


@bp.get("/teach/courses/<int:course_id>/questions")
@roles_required(Role.INSTRUCTOR)
def bank_list(course_id: int):
    course = _course(course_id)
    db = get_session()
    lang = _display_language(course)
    category_arg = request.args.get("category", "")
    kind = request.args.get("type", "")
    if kind not in TYPE_LABELS:
        kind = ""
    category_id = int(category_arg) if category_arg.isdigit() else None
    rows = bank.active_questions(
        db,
        course.id,
        category_id=category_id,
        uncategorised=category_arg == "none",
        kind=kind or None,
    )
    return render_template(
        "quizzes/authoring/bank.html",
        course=course,
        questions=rows,
        categories=bank.categories(db, course.id),
        category_arg=category_arg,
        kind=kind,
        types=TYPE_LABELS,
        quizzes=_quiz_lessons(course),
        lesson_title=lambda lesson: _lesson_title(course, lesson, lang),
        text=_text_helper(course, lang),
        archive_form=ActionForm(formdata=None),
    )


def _editor_languages(course: Course, spec: dict[str, Any] | None) -> list[str]:
    languages = list(course.languages) or [course.default_language]
    for code in (spec or {}).get("texts", {}):
        if code not in languages:
            languages.append(code)
    extra = request.args.get("lang", "")
    if extra in CONTENT_LANGUAGES and extra not in languages:
        languages.append(extra)
    return languages


def _editor_page(
    course: Course,
    question: Question | None,
    draft: dict[str, Any],
    languages: list[str],
    *,
    error: EditorError | None = None,
    status: int = 200,
):
    return render_template(
        "quizzes/authoring/question_edit.html",
        course=course,
        question=question,
        draft=draft,
        kind=draft["type"],
        languages=languages,
        row_lists=rows_of(draft["type"]),
        categories=bank.categories(get_session(), course.id),
        error=error,
        archive_form=ActionForm(formdata=None),
        csrf_form=ActionForm(formdata=None),
        all_languages=CONTENT_LANGUAGES,
        image_url=image_url,
    ), status


# A question's picture is shown at page width: 25 megapixels is more than any camera's.
MAX_QUESTION_IMAGE_PIXELS = 25_000_000


def _image_type(data: bytes) -> str:
    """The checked image's MIME type: decoded by Pillow (the name and the browser's word are
    not trusted), at most MAX_QUESTION_IMAGE_PIXELS; EditorError otherwise."""
    with tempfile.NamedTemporaryFile(suffix=".upload") as file:
        file.write(data)
        file.flush()
        try:
            info = probe_image(file.name, max_pixels=MAX_QUESTION_IMAGE_PIXELS)
        except MediaError as error:
            raise EditorError(str(error.message), "images", _("Images")) from None
    return info.mime_type


def image_url(key: str) -> str:
    try:
        return get_storage().url(key)
    except StorageError:
        return ""


def _store_image(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with the uploaded image added (stored now, removed again on a rollback)."""
    upload = request.files.get("image")
    if upload is None or not upload.filename:
        return spec
    limit = int(current_app.config.get("MEDIA_MAX_IMAGE_MB", 10)) * 1024 * 1024
    data = upload.read(limit + 1)
    label = _("Images")
    if len(data) > limit:
        raise EditorError(_("The image is too large."), "images", label)
    content_type = _image_type(data)
    if len(spec.get("images", [])) >= questions.MAX_IMAGES:
        raise EditorError(
            _("At most %(n)d images per question.", n=questions.MAX_IMAGES), "images", label
        )
    storage = get_storage()
    key = new_key("quiz-images", upload.filename)
    storage.put(key, io.BytesIO(data), content_type=content_type)
    on_rollback(get_session(), lambda: storage.delete(key))
    return {**spec, "images": [*spec.get("images", []), key]}


def _save_editor(course: Course, question: Question | None, kind: str):
    languages = [code for code in request.form.getlist("languages") if code in CONTENT_LANGUAGES]
    if not languages:
        languages = _editor_languages(course, question.spec if question else None)
    draft = draft_from_form(request.form, kind, languages)
    # Only the question's own images may be kept: a key typed in would reach any object.
    own_images = (question.spec.get("images") or []) if question else []
    draft["images"] = [key for key in request.form.getlist("image-keep") if key in own_images]
    if not ActionForm().validate_on_submit():
        _fail(_("The form has expired. Please try again."))
        return _editor_page(course, question, pad(draft), languages, status=400)
    if request.form.get("more"):  # "more rows": no save, the same page with more blanks
        return _editor_page(course, question, pad(draft), languages)
    db = get_session()
    try:
        spec, rows = spec_from_draft(draft)
        try:
            checked = questions.validate(spec)
        except questions.QuestionError as exc:
            raise error_location(exc, rows) from None
        checked = questions.validate(_store_image(checked))
        category = draft["new_category"] or draft["category"] or None
        saved = bank.save_question(
            db,
            course.id,
            uid=question.uid if question else None,
            title=draft["title"],
            category=category,
            spec=checked,
        )
    except EditorError as exc:
        _fail(exc)
        return _editor_page(course, question, pad(draft), languages, error=exc, status=400)
    except questions.QuestionError as exc:  # the title or the category
        error = error_location(exc, {})
        _fail(error)
        return _editor_page(course, question, pad(draft), languages, error=error, status=400)
    _audit(
        "quiz_question_updated" if question else "quiz_question_created",
        course,
        question=saved.uid,
        type=saved.type,
    )
    flash(_("The question is saved."), "success")
    return redirect(url_for(".question_edit", course_id=course.id, question_id=saved.id))


@bp.route("/teach/courses/<int:course_id>/questions/new", methods=["GET", "POST"])
@roles_required(Role.INSTRUCTOR)
def question_new(course_id: int):
    course = _course(course_id)
    kind = request.values.get("type", "")
    if kind not in TYPE_LABELS:
        if request.method == "POST":
            _fail(_("Choose a type of question."))
            return redirect(url_for(".bank_list", course_id=course.id)), 302
        kind = "single_choice"
    if request.method == "POST":
        return _save_editor(course, None, kind)
    languages = _editor_languages(course, None)
    draft = new_draft(kind)
    category = request.args.get("category", "")
    if category:
        draft["category"] = category
    return _editor_page(course, None, draft, languages)


@bp.route("/teach/courses/<int:course_id>/questions/<int:question_id>", methods=["GET", "POST"])
@roles_required(Role.INSTRUCTOR)
def question_edit(course_id: int, question_id: int):
    course = _course(course_id)
    question = _question(course, question_id)
    if request.method == "POST":
        return _save_editor(course, question, question.type)
    languages = _editor_languages(course, question.spec)
    draft = draft_from_spec(
        question.spec,
        title=question.title,
        category=question.category.name if question.category else None,
    )
    return _editor_page(course, question, draft, languages)


@bp.post("/teach/courses/<int:course_id>/questions/<int:question_id>/archive")
@roles_required(Role.INSTRUCTOR)
def question_archive(course_id: int, question_id: int):
    course = _course(course_id)
    question = _question(course, question_id)
    if not ActionForm().validate_on_submit():
        _fail(_("The form has expired. Please try again."))
        return redirect(url_for(".question_edit", course_id=course.id, question_id=question.id))
    bank.archive_question(get_session(), question)
    _audit("quiz_question_archived", course, question=question.uid)
    flash(_("The question is archived. Attempts already made keep their copy."), "success")
    return redirect(url_for(".bank_list", course_id=course.id))


# --- previews ------------------------------------------------------------------------


def _seed() -> int:
    value = request.args.get("seed", "")
    return int(value) if value.isdigit() and len(value) < 19 else secrets.randbits(62)


def _checked_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item's public view, and when "check" was asked, its grade from the fields."""
    fields = request.args.to_dict(flat=False)
    check = bool(request.args.get("check"))
    shown = []
    for position, item in enumerate(items):
        entry: dict[str, Any] = {
            "position": position,
            "public": questions.public(item["spec"], item["layout"]),
            "spec": item["spec"],
            "values": fields,
            "grade": None,
            "error": None,
        }
        if check:
            try:
                raw = attempt_forms.raw_response(item["spec"], position, fields)
                entry["grade"] = questions.grade(item["spec"], raw)
            except (questions.QuestionError, QuizError) as error:
                entry["error"] = str(getattr(error, "message", error))
        shown.append(entry)
    return shown


@bp.get("/teach/courses/<int:course_id>/questions/<int:question_id>/preview")
@roles_required(Role.INSTRUCTOR)
def question_preview(course_id: int, question_id: int):
    course = _course(course_id)
    question = _question(course, question_id)
    seed = _seed()
    item = {
        "spec": question.spec,
        "layout": questions.layout(question.spec, seed=seed, shuffle=True),
    }
    lang = _display_language(course)
    return render_template(
        "quizzes/authoring/preview.html",
        course=course,
        title=question.title or question.uid,
        items=_checked_items([item]),
        seed=seed,
        lang=lang,
        text=_text_helper(course, lang),
        action=url_for(".question_preview", course_id=course.id, question_id=question.id),
        back_url=url_for(".question_edit", course_id=course.id, question_id=question.id),
        quiz_settings=None,
        image_url=image_url,
    )


@bp.get("/teach/courses/<int:course_id>/quizzes/<int:lesson_id>/preview")
@roles_required(Role.INSTRUCTOR)
def quiz_preview(course_id: int, lesson_id: int):
    course = _course(course_id)
    lesson = _quiz_lesson(course, lesson_id)
    lang = _display_language(course)
    seed = _seed()
    back = url_for(".quiz_settings", course_id=course.id, lesson_id=lesson.id)
    try:
        current = qsettings.of_lesson_settings(lesson.settings)
        # The preview draws from the live draft bank; trainees from the published one.
        items = draw_items(live_bank(get_session(), course.id), current, random.Random(seed))
    except (qsettings.QuizSettingsError, QuizError) as error:
        flash(str(getattr(error, "message", error)), "error")
        return redirect(back)
    return render_template(
        "quizzes/authoring/preview.html",
        course=course,
        title=_lesson_title(course, lesson, lang),
        items=_checked_items(items),
        seed=seed,
        lang=lang,
        text=_text_helper(course, lang),
        action=url_for(".quiz_preview", course_id=course.id, lesson_id=lesson.id),
        back_url=back,
        quiz_settings=current,
        image_url=image_url,
    )


# --- categories ------------------------------------------------------------------------


@bp.route("/teach/courses/<int:course_id>/question-categories", methods=["GET", "POST"])
@roles_required(Role.INSTRUCTOR)
def categories(course_id: int):
    course = _course(course_id)
    db = get_session()
    form = CategoryForm(formdata=None) if request.method == "GET" else CategoryForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            name = form.name.data or ""
            try:
                category = bank.get_or_create_category(db, course.id, name)
            except questions.QuestionError as error:
                _fail(error.message)
                status = 400
            else:
                _audit("quiz_category_saved", course, category=category.name)
                flash(_("The category %(name)s is ready.", name=category.name), "success")
                return redirect(url_for(".categories", course_id=course.id))
        else:
            _fail(" ".join(str(e) for errors in form.errors.values() for e in errors))
            status = 400
    rows = bank.categories(db, course.id)
    counts = {category.id: 0 for category in rows}
    for question in bank.active_questions(db, course.id):
        if question.category_id in counts:
            counts[question.category_id] += 1
    rename_forms = {
        category.id: CategoryForm(
            formdata=None, prefix=f"category-{category.id}", data={"name": category.name}
        )
        for category in rows
    }
    return render_template(
        "quizzes/authoring/categories.html",
        course=course,
        categories=rows,
        counts=counts,
        form=form,
        rename_forms=rename_forms,
        action_form=ActionForm(formdata=None),
    ), status


@bp.post("/teach/courses/<int:course_id>/question-categories/<int:category_id>")
@roles_required(Role.INSTRUCTOR)
def category_rename(course_id: int, category_id: int):
    course = _course(course_id)
    category = _category(course, category_id)
    form = CategoryForm(prefix=f"category-{category.id}")
    back = redirect(url_for(".categories", course_id=course.id))
    if not form.validate_on_submit():
        _fail(" ".join(str(e) for errors in form.errors.values() for e in errors))
        return back
    old = category.name
    try:
        bank.rename_category(get_session(), category, form.name.data or "")
    except questions.QuestionError as error:
        _fail(error.message)
        return back
    _audit("quiz_category_renamed", course, old=old, new=category.name)
    flash(
        _("The category is renamed. Quizzes drawing from %(old)s draw from it no more.", old=old),
        "success",
    )
    return back


@bp.post("/teach/courses/<int:course_id>/question-categories/<int:category_id>/delete")
@roles_required(Role.INSTRUCTOR)
def category_delete(course_id: int, category_id: int):
    course = _course(course_id)
    category = _category(course, category_id)
    back = redirect(url_for(".categories", course_id=course.id))
    if not ActionForm().validate_on_submit():
        _fail(_("The form has expired. Please try again."))
        return back
    name = category.name
    bank.delete_category(get_session(), category)
    _audit("quiz_category_deleted", course, category=name)
    flash(_("The category is deleted; its questions stay in the bank."), "success")
    return back


# --- GIFT ------------------------------------------------------------------------------


def _language_choices(course: Course) -> list[tuple[str, str]]:
    first = list(course.languages) or [course.default_language]
    rest = [code for code in CONTENT_LANGUAGES if code not in first]
    return [(code, CONTENT_LANGUAGES.get(code, code)) for code in (*first, *rest)]


@bp.route("/teach/courses/<int:course_id>/questions/import", methods=["GET", "POST"])
@roles_required(Role.INSTRUCTOR)
def gift_import(course_id: int):
    course = _course(course_id)
    form = GiftImportForm(formdata=None) if request.method == "GET" else GiftImportForm()
    form.language.choices = _language_choices(course)
    errors: list[str] = []

    def page(status: int = 200):
        return render_template(
            "quizzes/authoring/import.html", course=course, form=form, errors=errors
        ), status

    if request.method == "GET":
        form.language.data = course.default_language
        return page()
    if not form.validate_on_submit():
        errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
        get_session().rollback()
        return page(400)
    language = form.language.data or course.default_language
    if language not in CONTENT_LANGUAGES:
        language = course.default_language
    data = form.file.data.read(MAX_GIFT_BYTES + 1)
    if len(data) > MAX_GIFT_BYTES:
        errors = [_("The file is larger than 2 MB.")]
        get_session().rollback()
        return page(400)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        errors = [_("The file is not UTF-8 text. Save it as UTF-8 and try again.")]
        get_session().rollback()
        return page(400)
    db = get_session()
    try:
        entries = bank.gift_to_entries(text, language=language)
        stored = bank.import_entries(db, course.id, entries, replace=False)
    except bank.BankImportError as error:
        errors = [str(e) for e in error.errors]
        db.rollback()
        return page(400)
    _audit(
        "quiz_gift_imported",
        course,
        questions=len(stored),
        filename=(form.file.data.filename or "")[:200],
    )
    flash(
        _("%(count)d questions are imported.", count=len(stored)),
        "success",
    )
    return redirect(url_for(".bank_list", course_id=course.id))


@bp.get("/teach/courses/<int:course_id>/questions/export.txt")
@roles_required(Role.INSTRUCTOR)
def gift_export(course_id: int):
    course = _course(course_id)
    lang = request.args.get("lang", "")
    language = lang if lang in CONTENT_LANGUAGES else course.default_language
    entries = bank.export_entries(get_session(), course.id)
    text = bank.entries_to_gift(entries, language=language)
    _audit("quiz_gift_exported", course, questions=len(entries), language=language)
    filename = f"{course.code}-questions-{language}.gift.txt"
    return Response(
        text,
        mimetype="text/plain",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


# --- quiz settings -------------------------------------------------------------------


def _slot_rows(current: qsettings.QuizSettings, extra: int = 3) -> list[dict[str, Any]]:
    rows = [
        {
            "kind": "question" if slot.question else "category",
            "question": slot.question or "",
            "category": slot.category or "",
            "count": str(slot.count),
        }
        for slot in current.slots
    ]
    rows += [{"kind": "", "question": "", "category": "", "count": "1"} for _ in range(extra)]
    return rows


def _slots_from_form(form: MultiDict) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The slots as settings data, and the rows as typed (to show the form again)."""
    raw = form.get("slots-count", "0")
    count = min(int(raw) if raw.isdigit() else 0, MAX_SLOT_ROWS + 10)
    rows = []
    for index in range(count):
        row = {
            "kind": form.get(f"slot-{index}-kind", ""),
            "question": form.get(f"slot-{index}-question", "").strip(),
            "category": form.get(f"slot-{index}-category", "").strip(),
            "count": form.get(f"slot-{index}-count", "1").strip() or "1",
            "position": form.get(f"slot-{index}-position", "").strip(),
        }
        rows.append(row)

    def order(pair: tuple[int, dict[str, Any]]) -> tuple[float, int]:
        index, row = pair
        try:
            return float(row["position"]), index
        except ValueError:
            return float(index + 1), index

    rows = [row for _i, row in sorted(enumerate(rows), key=order)]
    slots: list[dict[str, Any]] = []
    for row in rows:
        if row["kind"] == "question" and row["question"]:
            slots.append({"question": row["question"]})
        elif row["kind"] == "category" and row["category"]:
            count_value: Any = row["count"]
            slots.append({"category": row["category"], "count": count_value})
    return slots, rows


def _check_slots(course: Course, current: qsettings.QuizSettings) -> None:
    """Every fixed question is in the bank, every category has enough questions."""
    db = get_session()
    uids = {q.uid for q in bank.active_questions(db, course.id)}
    per_category: dict[str, int] = {}
    names = {c.id: c.name for c in bank.categories(db, course.id)}
    for q in bank.active_questions(db, course.id):
        if q.category_id in names:
            per_category[names[q.category_id]] = per_category.get(names[q.category_id], 0) + 1
    for index, slot in enumerate(current.slots):
        field = f"slots[{index}]"
        if slot.question is not None and slot.question not in uids:
            raise qsettings.QuizSettingsError(_("This question is not in the bank."), field)
        if slot.category is not None:
            available = per_category.get(slot.category, 0)
            if available < slot.count:
                raise qsettings.QuizSettingsError(
                    _(
                        "The category %(name)s has %(available)d questions, fewer than %(count)d.",
                        name=slot.category,
                        available=available,
                        count=slot.count,
                    ),
                    field,
                )
    if not current.slots:
        raise qsettings.QuizSettingsError(_("Add at least one question."), "slots")


def _settings_error_text(error: qsettings.QuizSettingsError) -> str:
    field = error.field or ""
    if field.startswith("slots["):
        number = int(field[6:].split("]")[0]) + 1
        return _(
            "Question %(number)d of the quiz: %(message)s", number=number, message=error.message
        )
    form = QuizSettingsForm(formdata=None)
    name = field.split(".")[0]
    if name in form:
        return f"{form[name].label.text}: {error.message}"
    return str(error.message)


@bp.route("/teach/courses/<int:course_id>/quizzes/<int:lesson_id>", methods=["GET", "POST"])
@roles_required(Role.INSTRUCTOR)
def quiz_settings(course_id: int, lesson_id: int):
    course = _course(course_id)
    lesson = _quiz_lesson(course, lesson_id)
    db = get_session()
    lang = _display_language(course)
    try:
        current = qsettings.of_lesson_settings(lesson.settings)
    except qsettings.QuizSettingsError:
        current = qsettings.QuizSettings()
    error_text = ""
    if request.method == "GET":
        form = QuizSettingsForm(
            formdata=None,
            data={
                "pass_mark": current.pass_mark,
                "max_attempts": current.max_attempts,
                "wait_minutes": current.wait_minutes,
                "time_limit_minutes": current.time_limit_minutes,
                "shuffle_questions": current.shuffle_questions,
                "shuffle_choices": current.shuffle_choices,
                "grading": current.grading.value,
                "review": current.review.value,
            },
        )
        slot_rows = _slot_rows(current)
        status = 200
    else:
        form = QuizSettingsForm()
        slots, slot_rows = _slots_from_form(request.form)
        if request.form.get("more"):
            slot_rows += [
                {"kind": "", "question": "", "category": "", "count": "1"} for _ in range(3)
            ]
            status = 200
        elif form.validate_on_submit():
            data = {
                "pass_mark": float(form.pass_mark.data or 0),
                "max_attempts": form.max_attempts.data,
                "wait_minutes": form.wait_minutes.data,
                "time_limit_minutes": form.time_limit_minutes.data,
                "shuffle_questions": bool(form.shuffle_questions.data),
                "shuffle_choices": bool(form.shuffle_choices.data),
                "grading": form.grading.data,
                "review": form.review.data,
                "slots": slots,
            }
            try:
                parsed = qsettings.parse(data)
                _check_slots(course, parsed)
            except qsettings.QuizSettingsError as error:
                error_text = _settings_error_text(error)
            else:
                lesson.settings = {**(lesson.settings or {}), "quiz": parsed.to_dict()}
                course.draft_changed = True
                course.updated_at = utcnow()
                db.flush()
                _audit("quiz_settings_saved", course, lesson=lesson.uid, settings=parsed.to_dict())
                flash(
                    _("The quiz is saved. Trainees get it when you publish the course."),
                    "success",
                )
                return redirect(url_for(".quiz_settings", course_id=course.id, lesson_id=lesson.id))
        else:
            error_text = " ".join(
                f"{form[name].label.text}: {e}"
                for name, errors in form.errors.items()
                for e in errors
            )
        if error_text:
            _fail(error_text)
            status = 400
    form.grading.choices = [(g.value, str(label)) for g, label in GRADING_LABELS.items()]
    form.review.choices = [(r.value, str(label)) for r, label in REVIEW_LABELS.items()]
    text = _text_helper(course, lang)
    bank_questions = bank.active_questions(db, course.id)
    return render_template(
        "quizzes/authoring/quiz_settings.html",
        course=course,
        lesson=lesson,
        lesson_title=_lesson_title(course, lesson, lang),
        form=form,
        slot_rows=slot_rows,
        bank_questions=bank_questions,
        categories=bank.categories(db, course.id),
        text=text,
        error_text=error_text,
    ), status


# --- results ---------------------------------------------------------------------------


def _graded_attempts(lesson: Lesson) -> tuple[list[QuizAttempt], int]:
    """The trainees' attempts (see :mod:`lms.quizzes.results`), and how many others."""
    db = get_session()
    every = list(
        db.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.lesson_id == lesson.id)
            .options(selectinload(QuizAttempt.answers))
            .order_by(QuizAttempt.started_at, QuizAttempt.id)
        )
    )
    counted = results.trainee_ids(db, lesson.course_id, {a.user_id for a in every})
    attempts = [a for a in every if a.user_id in counted]
    return attempts, len(every) - len(attempts)


def observations(attempts: list[QuizAttempt]) -> list[analysis.Observation]:
    result = []
    for attempt in attempts:
        if attempt.status != AttemptStatus.GRADED:
            continue
        answers = {answer.position: answer for answer in attempt.answers}
        total = sum(answer.effective_score or 0.0 for answer in attempt.answers)
        for position, item in enumerate(attempt.items):
            answer = answers.get(position)
            result.append(
                analysis.Observation(
                    attempt_id=attempt.id,
                    uid=item["uid"],
                    spec=item["spec"],
                    response=answer.response if answer else None,
                    score=(answer.effective_score or 0.0) if answer else 0.0,
                    total=total,
                )
            )
    return result


@bp.get("/teach/courses/<int:course_id>/quizzes/<int:lesson_id>/results")
@roles_required(Role.INSTRUCTOR)
def quiz_results(course_id: int, lesson_id: int):
    course = _course(course_id)
    lesson = _quiz_lesson(course, lesson_id)
    lang = _display_language(course)
    attempts, not_counted = _graded_attempts(lesson)
    graded = [a for a in attempts if a.status == AttemptStatus.GRADED]
    # Moodle's choice: the statistics of first attempts only, or of every attempt.
    which = "first" if request.args.get("attempts") == "first" else "all"
    analysed = [a for a in graded if a.number == 1] if which == "first" else graded
    users = {
        user.id: user
        for user in get_session().scalars(
            select(User).where(User.id.in_({a.user_id for a in attempts}))
        )
    }
    percents = [a.percent for a in analysed if a.percent is not None]
    bins = analysis.distribution(percents)
    titles = {
        q.uid: q.title
        for q in get_session().scalars(select(Question).where(Question.course_id == course.id))
    }
    return render_template(
        "quizzes/authoring/results.html",
        course=course,
        lesson=lesson,
        lesson_title=_lesson_title(course, lesson, lang),
        attempts=attempts,
        graded=graded,
        users=users,
        bins=bins,
        max_bin=max((b.count for b in bins), default=0),
        mean=(sum(percents) / len(percents)) if percents else None,
        passed=sum(1 for a in graded if a.passed),
        items=analysis.item_analysis(observations(analysed), lang),
        titles=titles,
        which=which,
        analysed=analysed,
        not_counted=not_counted,
    )


def describe_response(spec: dict[str, Any], response: Any, text) -> str:
    """A trainee's response in words, for the instructor."""
    if response is None:
        return _("Not answered")
    kind = spec["type"]
    if kind in ("single_choice", "multiple_response"):
        chosen = response if isinstance(response, list) else [response]
        by_id = {c["id"]: text(c["texts"]) for c in spec["choices"]}
        return "; ".join(by_id.get(c, c) for c in chosen)
    if kind == "true_false":
        return _("True") if response else _("False")
    if kind == "matching":
        prompts = {p["id"]: text(p["texts"]) for p in spec["prompts"]}
        options = {o["id"]: text(o["texts"]) for o in spec["options"]}
        return "; ".join(f"{prompts.get(p, p)} → {options.get(o, o)}" for p, o in response.items())
    if kind == "ordering":
        items = {i["id"]: text(i["texts"]) for i in spec["items"]}
        return " → ".join(items.get(i, i) for i in response)
    if isinstance(response, float):
        return f"{response:g}"
    return str(response)


def describe_key(spec: dict[str, Any], text) -> list[str]:
    """The correct answers, in words."""
    kind = spec["type"]
    if kind == "single_choice":
        return [
            f"{text(c['texts'])} ({c['weight'] * 100:g}%)"
            for c in spec["choices"]
            if c["weight"] > 0
        ]
    if kind == "multiple_response":
        if spec["scoring"] == "all_or_nothing":
            return [text(c["texts"]) for c in spec["choices"] if c["correct"]]
        return [
            f"{text(c['texts'])} ({c['weight'] * 100:g}%)" for c in spec["choices"] if c["weight"]
        ]
    if kind == "true_false":
        return [_("True") if spec["answer"] else _("False")]
    if kind == "numeric":
        result = []
        for a in spec["answers"]:
            if "value" in a:
                where = f"{a['value']:g} ± {a['tolerance']:g}"
            else:
                where = f"{a['min']:g} … {a['max']:g}"
            result.append(f"{where} ({a['credit'] * 100:g}%)")
        return result
    if kind == "short_answer":
        return [f"{a['text']} ({a['credit'] * 100:g}%)" for a in spec["answers"]]
    if kind == "matching":
        options = {o["id"]: text(o["texts"]) for o in spec["options"]}
        return [f"{text(p['texts'])} → {options[p['match']]}" for p in spec["prompts"]]
    if kind == "ordering":
        return [" → ".join(text(i["texts"]) for i in spec["items"])]
    return []


def _review_page(
    course: Course,
    lesson: Lesson,
    attempt: QuizAttempt,
    *,
    forms: dict[int, OverrideForm] | None = None,
    status: int = 200,
):
    lang = _display_language(course)
    text = _text_helper(course, lang)
    answers = {
        answer.position: answer
        for answer in get_session().scalars(
            select(QuizAnswer).where(QuizAnswer.attempt_id == attempt.id)
        )
    }
    forms = dict(forms or {})
    rows = []
    for position, item in enumerate(attempt.items):
        answer = answers.get(position)
        spec = item["spec"]
        if position not in forms:
            forms[position] = OverrideForm(formdata=None, prefix=f"answer-{position}")
        rows.append(
            {
                "position": position,
                "spec": spec,
                "answer": answer,
                "response": describe_response(spec, answer.response if answer else None, text),
                "key": describe_key(spec, text),
                "form": forms[position],
            }
        )
    trainee = get_session().get(User, attempt.user_id)
    return render_template(
        "quizzes/authoring/attempt.html",
        course=course,
        lesson=lesson,
        lesson_title=_lesson_title(course, lesson, lang),
        attempt=attempt,
        trainee=trainee,
        rows=rows,
        text=text,
        graded=attempt.status == AttemptStatus.GRADED,
        overriders={
            u.id: u
            for u in get_session().scalars(
                select(User).where(
                    User.id.in_(
                        {a.overridden_by_id for a in answers.values() if a.overridden_by_id}
                    )
                )
            )
        },
    ), status


@bp.get("/teach/courses/<int:course_id>/quizzes/<int:lesson_id>/attempts/<int:attempt_id>")
@roles_required(Role.INSTRUCTOR)
def attempt_review(course_id: int, lesson_id: int, attempt_id: int):
    course = _course(course_id)
    lesson = _quiz_lesson(course, lesson_id)
    return _review_page(course, lesson, _attempt(lesson, attempt_id))


@bp.post(
    "/teach/courses/<int:course_id>/quizzes/<int:lesson_id>/attempts/<int:attempt_id>"
    "/answers/<int:position>"
)
@roles_required(Role.INSTRUCTOR)
def answer_override(course_id: int, lesson_id: int, attempt_id: int, position: int):
    course = _course(course_id)
    lesson = _quiz_lesson(course, lesson_id)
    attempt = _attempt(lesson, attempt_id)
    db = get_session()
    answer = db.get(QuizAnswer, (attempt.id, position))
    if answer is None or position >= len(attempt.items):
        abort(404)
    form = OverrideForm(prefix=f"answer-{position}")

    def refuse(message: Any):
        _fail(message)
        fresh = _course(course_id)
        fresh_lesson = _quiz_lesson(fresh, lesson_id)
        return _review_page(
            fresh,
            fresh_lesson,
            _attempt(fresh_lesson, attempt_id),
            forms={position: form},
            status=400,
        )

    if attempt.status != AttemptStatus.GRADED:
        return refuse(_("Only a graded attempt can be regraded."))
    if not form.validate_on_submit():
        return refuse(" ".join(str(e) for errors in form.errors.values() for e in errors))
    points = float(attempt.items[position]["spec"]["points"])
    score = float(form.score.data)
    if not 0 <= score <= points:
        high = f"{points:g}"
        form.score.errors = [_("Must be between %(low)s and %(high)s.", low=0, high=high)]
        return refuse(f"{form.score.label.text}: {form.score.errors[0]}")
    before = answer.effective_score
    before_total = attempt.score
    answer.override_score = score
    answer.override_reason = (form.reason.data or "").strip()[:500]
    answer.overridden_by_id = current_user.id
    answer.overridden_at = utcnow()
    db.flush()
    apply_grades(db, attempt)
    _audit(
        "quiz_answer_overridden",
        course,
        lesson=lesson.uid,
        attempt_id=attempt.id,
        trainee_id=attempt.user_id,
        question=attempt.items[position]["uid"],
        position=position,
        before=before,
        after=score,
        attempt_score_before=before_total,
        attempt_score_after=attempt.score,
        reason=answer.override_reason,
    )
    flash(_("The score is changed and the attempt recomputed."), "success")
    return redirect(
        url_for(".attempt_review", course_id=course.id, lesson_id=lesson.id, attempt_id=attempt.id)
        + f"#answer-{position}"
    )
