"""Instructor pages under ``/teach``: courses, modules, lessons, translations, publishing.

Only the course's instructors and admins may open a course (``can_edit``); the
course is loaded and checked before any of its modules or lessons, so another
instructor gets 403 whatever ids they try. A refused change answers 400 with the
page and its message, and the request's unit of work is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from lms.accounts.models import Role
from lms.catalog import services
from lms.catalog.forms import (
    KIND_LABELS,
    ConfirmForm,
    CourseCreateForm,
    CourseTextsForm,
    InstructorsForm,
    LanguageForm,
    LessonAddForm,
    LessonForm,
    LessonModuleForm,
    ModuleForm,
    kind_choices,
    language_choices,
)
from lms.catalog.models import Course, Lesson, LessonKind, Module, localized
from lms.catalog.services import CatalogError
from lms.core.auth import roles_required
from lms.core.forms import ActionForm, MoveForm
from lms.db import get_session
from lms.i18n import CONTENT_LANGUAGES
from lms.learning import services as learning
from lms.storage import get_storage

bp = Blueprint("catalog", __name__, template_folder="templates")


@bp.app_template_global()
def lesson_kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


@bp.app_template_global()
def content_language_name(code: str) -> str:
    return CONTENT_LANGUAGES.get(code, code)


# --- helpers -------------------------------------------------------------------------


def _lang(course: Course) -> str:
    lang = request.args.get("lang", "")
    return lang if lang in CONTENT_LANGUAGES else course.default_language


def _load_course(course_id: int) -> Course:
    """The course, or 404; 403 unless the user may edit it (checked before anything else)."""
    course = get_session().get(Course, course_id) or abort(404)
    if not services.can_edit(current_user, course):
        abort(403)
    return course


def _load_module(course: Course, module_id: int) -> Module:
    module = get_session().get(Module, module_id)
    if module is None or module.course_id != course.id:
        abort(404)
    return module


def _load_lesson(course: Course, lesson_id: int) -> Lesson:
    """A lesson of the draft; archived lessons are gone from the authoring pages."""
    lesson = get_session().get(Lesson, lesson_id)
    if lesson is None or lesson.course_id != course.id or lesson.archived_at is not None:
        abort(404)
    return lesson


def _form_errors(form: FlaskForm) -> str:
    messages = [str(error) for errors in form.errors.values() for error in errors]
    return " ".join(messages) or _("Nothing was saved. Please check the form.")


def _attempt(form: FlaskForm, action: Callable[[], Any]) -> tuple[bool, Any]:
    """Validate ``form`` and run ``action``; on failure roll back and flash the reason."""
    if not form.validate_on_submit():
        get_session().rollback()
        flash(_form_errors(form), "error")
        return False, None
    try:
        return True, action()
    except CatalogError as error:
        get_session().rollback()
        flash(str(error.message), "error")
        return False, None


def _editor_url(course: Course, lang: str, anchor: str = "") -> str:
    url = url_for("catalog.course_edit", course_id=course.id, lang=lang)
    return f"{url}#{anchor}" if anchor else url


def _texts_of(course: Course, lang: str) -> Callable[[Any, str], dict[str, Any]]:
    """For a template: an object's text in ``lang``, and what trainees would see instead."""

    def text(obj: Any, name: str) -> dict[str, Any]:
        own = (obj.texts.get(lang) or {}).get(name, "")
        return {
            "own": own,
            "shown": localized(obj.texts, name, lang, course.default_language),
            "default": (obj.texts.get(course.default_language) or {}).get(name, ""),
        }

    return text


def _languages_used(course: Course, *objects: Any) -> list[str]:
    """The languages any of ``objects`` (and the course) has a text in, default first."""
    used = set(course.texts).union(*(obj.texts for obj in objects))
    return sorted(used, key=lambda code: (code != course.default_language, code))


def _language_form(used: list[str], lang: str) -> LanguageForm:
    form = LanguageForm(formdata=None)
    form.lang.choices = [
        (code, _("%(language)s (has texts)", language=name) if code in used else name)
        for code, name in CONTENT_LANGUAGES.items()
    ]
    form.lang.data = lang
    return form


# --- the list of courses, a new course -------------------------------------------------


@bp.get("/teach")
@roles_required(Role.INSTRUCTOR)
def courses():
    rows = services.editable_course_rows(get_session(), current_user)
    return render_template("catalog/courses.html", rows=rows)


@bp.route("/teach/courses/new", methods=["GET", "POST"])
@roles_required(Role.INSTRUCTOR)
def course_new():
    form = CourseCreateForm(formdata=None) if request.method == "GET" else CourseCreateForm()
    form.default_language.choices = language_choices()
    if request.method == "GET":
        form.default_language.data = "en"
        return render_template("catalog/course_new.html", form=form)
    data = services.CourseData(
        code=form.code.data or "",
        title=form.title.data or "",
        summary=form.summary.data or "",
        default_language=form.default_language.data or "",
    )
    ok, course = _attempt(form, lambda: services.create_course(get_session(), current_user, data))
    if ok and course is not None:
        flash(_("The course %(code)s is created.", code=course.code), "success")
        return redirect(url_for("catalog.course_edit", course_id=course.id))
    return render_template("catalog/course_new.html", form=form), 400


# --- the course editor -----------------------------------------------------------------


def _editor(
    course: Course,
    lang: str,
    *,
    status: int = 200,
    texts_form: CourseTextsForm | None = None,
    module_form: ModuleForm | None = None,
    rename_forms: dict[int, ModuleForm] | None = None,
    add_forms: dict[int, LessonAddForm] | None = None,
):
    db = get_session()
    tree = services.course_tree(db, course)
    text = _texts_of(course, lang)
    if texts_form is None:
        texts_form = CourseTextsForm(
            formdata=None,
            data={"title": text(course, "title")["own"], "summary": text(course, "summary")["own"]},
        )
    rename_forms = dict(rename_forms or {})
    add_forms = dict(add_forms or {})
    for module, _lessons in tree:
        if module.id not in rename_forms:
            rename_forms[module.id] = ModuleForm(
                formdata=None,
                prefix=f"module-{module.id}",
                data={"title": text(module, "title")["own"]},
            )
        if module.id not in add_forms:
            add_forms[module.id] = LessonAddForm(
                formdata=None, prefix=f"add-{module.id}", data={"kind": "reading"}
            )
        add_forms[module.id].kind.choices = kind_choices()
    candidates = services.instructor_candidates(db)
    current_ids = {i.user_id for i in course.instructors}
    instructors_form = None
    if current_user.has_role(Role.ADMIN):
        instructors_form = InstructorsForm(
            formdata=None, data={"instructors": [str(i) for i in sorted(current_ids)]}
        )
        instructors_form.instructors.choices = [
            (str(u.id), f"{u.display_name} <{u.email}>") for u in candidates
        ]
    used = _languages_used(course, *(obj for m, ls in tree for obj in (m, *ls)))
    body = render_template(
        "catalog/course_edit.html",
        course=course,
        lang=lang,
        content_language_form=_language_form(used, lang),
        used_languages=used,
        texts_form=texts_form,
        module_form=module_form or ModuleForm(formdata=None, prefix="new-module"),
        rename_forms=rename_forms,
        add_forms=add_forms,
        tree=tree,
        text=text,
        module_choices=[(m.id, text(m, "title")["shown"]) for m, _lessons in tree],
        version=services.published_number(db, course),
        instructors=[u for u in candidates if u.id in current_ids],
        instructors_form=instructors_form,
        has_lessons=any(lessons for _module, lessons in tree),
    )
    return body, status


@bp.route("/teach/courses/<int:course_id>", methods=["GET", "POST"])
@roles_required(Role.INSTRUCTOR)
def course_edit(course_id: int):
    course = _load_course(course_id)
    lang = _lang(course)
    if request.method == "GET":
        return _editor(course, lang)
    form = CourseTextsForm()
    ok, _done = _attempt(
        form,
        lambda: services.update_course_texts(
            course, lang, form.title.data or "", form.summary.data or ""
        ),
    )
    if ok:
        flash(_("The course texts are saved."), "success")
        return redirect(_editor_url(course, lang))
    return _editor(_load_course(course_id), lang, status=400, texts_form=form)


@bp.post("/teach/courses/<int:course_id>/instructors")
@roles_required(Role.ADMIN)
def course_instructors(course_id: int):
    course = _load_course(course_id)
    lang = _lang(course)
    form = InstructorsForm()
    ids = [int(value) for value in form.instructors.data or [] if str(value).isdigit()]
    ok, _done = _attempt(
        form, lambda: services.set_instructors(get_session(), course, ids, actor=current_user)
    )
    if ok:
        flash(_("The instructors of the course are saved."), "success")
        return redirect(_editor_url(course, lang, "course-instructors"))
    return _editor(_load_course(course_id), lang, status=400)


@bp.post("/teach/courses/<int:course_id>/publish")
@roles_required(Role.INSTRUCTOR)
def course_publish(course_id: int):
    course = _load_course(course_id)
    lang = _lang(course)
    ok, version = _attempt(
        ActionForm(), lambda: services.publish(get_session(), current_user, course)
    )
    if ok and version is not None:
        flash(_("Version %(number)d is published.", number=version.number), "success")
        return redirect(_editor_url(course, lang))
    return _editor(_load_course(course_id), lang, status=400)


# --- modules ---------------------------------------------------------------------------


@bp.post("/teach/courses/<int:course_id>/modules")
@roles_required(Role.INSTRUCTOR)
def module_add(course_id: int):
    course = _load_course(course_id)
    lang = _lang(course)
    form = ModuleForm(prefix="new-module")
    ok, module = _attempt(
        form, lambda: services.add_module(get_session(), course, lang, form.title.data or "")
    )
    if ok and module is not None:
        flash(_("The module is added."), "success")
        return redirect(_editor_url(course, lang, f"module-{module.id}"))
    return _editor(_load_course(course_id), lang, status=400, module_form=form)


@bp.post("/teach/courses/<int:course_id>/modules/<int:module_id>")
@roles_required(Role.INSTRUCTOR)
def module_rename(course_id: int, module_id: int):
    course = _load_course(course_id)
    module = _load_module(course, module_id)
    lang = _lang(course)
    form = ModuleForm(prefix=f"module-{module_id}")
    ok, _done = _attempt(form, lambda: services.update_module(module, lang, form.title.data or ""))
    if ok:
        flash(_("The module is saved."), "success")
        return redirect(_editor_url(course, lang, f"module-{module_id}"))
    return _editor(_load_course(course_id), lang, status=400, rename_forms={module_id: form})


@bp.post("/teach/courses/<int:course_id>/modules/<int:module_id>/move")
@roles_required(Role.INSTRUCTOR)
def module_move(course_id: int, module_id: int):
    course = _load_course(course_id)
    module = _load_module(course, module_id)
    lang = _lang(course)
    form = MoveForm()
    ok, _done = _attempt(form, lambda: services.move_module(get_session(), module, form.step))
    if ok:
        return redirect(_editor_url(course, lang, f"module-{module_id}"))
    return _editor(_load_course(course_id), lang, status=400)


@bp.route("/teach/courses/<int:course_id>/modules/<int:module_id>/delete", methods=["GET", "POST"])
@roles_required(Role.INSTRUCTOR)
def module_delete(course_id: int, module_id: int):
    course = _load_course(course_id)
    module = _load_module(course, module_id)
    lang = _lang(course)
    text = _texts_of(course, lang)
    form = ConfirmForm(formdata=None) if request.method == "GET" else ConfirmForm()
    lessons = services.module_lessons(get_session(), module)

    def page(status: int = 200):
        return render_template(
            "catalog/module_delete.html",
            course=course,
            module=module,
            lessons=lessons,
            lang=lang,
            text=text,
            form=form,
        ), status

    if request.method == "GET":
        return page()
    ok, _done = _attempt(form, lambda: services.delete_module(get_session(), module))
    if ok:
        flash(_("The module is deleted; its lessons are archived."), "success")
        return redirect(_editor_url(course, lang, "modules"))
    return page(400)


# --- lessons ---------------------------------------------------------------------------


@bp.post("/teach/courses/<int:course_id>/modules/<int:module_id>/lessons")
@roles_required(Role.INSTRUCTOR)
def lesson_add(course_id: int, module_id: int):
    course = _load_course(course_id)
    module = _load_module(course, module_id)
    lang = _lang(course)
    form = LessonAddForm(prefix=f"add-{module_id}")
    data = services.LessonData(
        kind=form.kind.data or "", title=form.title.data or "", language=lang
    )
    ok, lesson = _attempt(form, lambda: services.add_lesson(get_session(), module, data))
    if ok and lesson is not None:
        flash(_("The lesson is added. Now write its content."), "success")
        return redirect(
            url_for("catalog.lesson_edit", course_id=course.id, lesson_id=lesson.id, lang=lang)
        )
    return _editor(_load_course(course_id), lang, status=400, add_forms={module_id: form})


def _lesson_page(course: Course, lesson: Lesson, lang: str, form: LessonForm, status: int = 200):
    text = _texts_of(course, lang)
    form.kind.choices = kind_choices()
    if lesson.kind == LessonKind.READING:
        form.body.label.text = _("Text (Markdown)")
    else:
        form.body.label.text = _("Description (optional, Markdown)")
    module = get_session().get(Module, lesson.module_id) if lesson.module_id else None
    used = _languages_used(course, lesson)
    return render_template(
        "catalog/lesson_edit.html",
        course=course,
        lesson=lesson,
        module=module,
        lang=lang,
        text=text,
        form=form,
        content_language_form=_language_form(used, lang),
        used_languages=used,
        language_action=url_for("catalog.lesson_edit", course_id=course.id, lesson_id=lesson.id),
    ), status


@bp.route("/teach/courses/<int:course_id>/lessons/<int:lesson_id>", methods=["GET", "POST"])
@roles_required(Role.INSTRUCTOR)
def lesson_edit(course_id: int, lesson_id: int):
    course = _load_course(course_id)
    lesson = _load_lesson(course, lesson_id)
    lang = _lang(course)
    if request.method == "GET":
        text = _texts_of(course, lang)
        form = LessonForm(
            formdata=None,
            data={
                "title": text(lesson, "title")["own"],
                "body": text(lesson, "body")["own"],
                "kind": lesson.kind,
                "required": lesson.required,
                "estimated_minutes": lesson.estimated_minutes,
                "completion_threshold": round(lesson.completion_threshold * 100),
            },
        )
        return _lesson_page(course, lesson, lang, form)
    form = LessonForm()
    threshold = form.completion_threshold.data
    data = services.LessonData(
        kind=form.kind.data or "",
        title=form.title.data or "",
        language=lang,
        required=bool(form.required.data),
        estimated_minutes=form.estimated_minutes.data or 0,
        completion_threshold=(
            threshold / 100 if threshold is not None else lesson.completion_threshold
        ),
        body=form.body.data or "",
    )
    ok, _done = _attempt(form, lambda: services.update_lesson(get_session(), lesson, data))
    if ok:
        flash(_("The lesson is saved."), "success")
        return redirect(
            url_for("catalog.lesson_edit", course_id=course.id, lesson_id=lesson.id, lang=lang)
        )
    course = _load_course(course_id)
    return _lesson_page(course, _load_lesson(course, lesson_id), lang, form, 400)


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/move")
@roles_required(Role.INSTRUCTOR)
def lesson_move(course_id: int, lesson_id: int):
    course = _load_course(course_id)
    lesson = _load_lesson(course, lesson_id)
    lang = _lang(course)
    form = MoveForm()
    ok, _done = _attempt(form, lambda: services.move_lesson(get_session(), lesson, form.step))
    if ok:
        return redirect(_editor_url(course, lang, f"lesson-{lesson_id}"))
    return _editor(_load_course(course_id), lang, status=400)


@bp.post("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/module")
@roles_required(Role.INSTRUCTOR)
def lesson_relocate(course_id: int, lesson_id: int):
    course = _load_course(course_id)
    lesson = _load_lesson(course, lesson_id)
    lang = _lang(course)
    form = LessonModuleForm()
    target = str(form.module.data or "")
    module = get_session().get(Module, int(target)) if target.isdigit() else None
    if module is None or module.course_id != course.id:
        flash(_("Choose a module of this course."), "error")
        get_session().rollback()
        return _editor(_load_course(course_id), lang, status=400)
    ok, _done = _attempt(
        form, lambda: services.move_lesson_to_module(get_session(), lesson, module)
    )
    if ok:
        flash(_("The lesson is moved."), "success")
        return redirect(_editor_url(course, lang, f"lesson-{lesson_id}"))
    return _editor(_load_course(course_id), lang, status=400)


@bp.route("/teach/courses/<int:course_id>/lessons/<int:lesson_id>/archive", methods=["GET", "POST"])
@roles_required(Role.INSTRUCTOR)
def lesson_archive(course_id: int, lesson_id: int):
    course = _load_course(course_id)
    lesson = _load_lesson(course, lesson_id)
    lang = _lang(course)
    form = ConfirmForm(formdata=None) if request.method == "GET" else ConfirmForm()

    def page(status: int = 200):
        return render_template(
            "catalog/lesson_archive.html",
            course=course,
            lesson=lesson,
            lang=lang,
            text=_texts_of(course, lang),
            form=form,
        ), status

    if request.method == "GET":
        return page()
    ok, _done = _attempt(form, lambda: services.archive_lesson(get_session(), lesson))
    if ok:
        flash(_("The lesson is archived: it leaves the next published version."), "success")
        return redirect(_editor_url(course, lang, "modules"))
    return page(400)


# --- preview as a trainee --------------------------------------------------------------


def _preview_language(course: Course) -> str:
    lang = request.args.get("lang", "")
    if lang in CONTENT_LANGUAGES:
        return lang
    locale = get_locale()
    return locale.language if locale else course.default_language


@bp.get("/teach/courses/<int:course_id>/preview")
@roles_required(Role.INSTRUCTOR)
def course_preview(course_id: int):
    course = _load_course(course_id)
    lang = _preview_language(course)
    snapshot = services.snapshot(get_session(), course)
    return render_template(
        "learning/course.html",
        outline=learning.outline(course.id, snapshot, lang),
        preview=True,
        version=None,
        lesson_url=lambda lesson_id: url_for(
            "catalog.lesson_preview", course_id=course.id, lesson_id=lesson_id, lang=lang
        ),
        editor_url=_editor_url(course, lang),
    )


@bp.get("/teach/courses/<int:course_id>/preview/lessons/<int:lesson_id>")
@roles_required(Role.INSTRUCTOR)
def lesson_preview(course_id: int, lesson_id: int):
    course = _load_course(course_id)
    lang = _preview_language(course)
    db = get_session()
    snapshot = services.snapshot(db, course)
    outline = learning.outline(course.id, snapshot, lang)
    view = learning.lesson_view(outline, snapshot, lesson_id)
    if view is None:
        abort(404)
    if view.has_media:
        view.media = learning.media_view(
            db, get_storage(), learning.media_id_of(snapshot, lesson_id), lang
        )
    return render_template(
        "learning/lesson.html",
        outline=outline,
        view=view,
        preview=True,
        course_url=url_for("catalog.course_preview", course_id=course.id, lang=lang),
        lesson_url=lambda other: url_for(
            "catalog.lesson_preview", course_id=course.id, lesson_id=other, lang=lang
        ),
        editor_url=url_for(
            "catalog.lesson_edit", course_id=course.id, lesson_id=lesson_id, lang=lang
        ),
    )
