"""Sponsors and programmes: the training office's pages and the sponsor portal.

Every page runs a fixed number of queries, whatever the number of courses or
trainees. A refused change answers 400 with the form and its message, and the
request's unit of work is rolled back, so nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from lms.accounts.models import Role
from lms.core.auth import roles_required
from lms.core.forms import ActionForm, MoveForm
from lms.db import get_session
from lms.exports.portal import STAGE_LABELS, programme_counts
from lms.exports.views import sponsor_programme_or_abort, sponsor_programme_page
from lms.programs import services
from lms.programs.forms import (
    AddCourseForm,
    CourseRequiredForm,
    EnrolForm,
    EnrolmentStatusForm,
    ProgrammeForm,
    SponsorForm,
    sponsor_kind_choices,
    status_choices,
)
from lms.programs.models import Enrolment, Programme, Sponsor
from lms.programs.services import ProgrammeError

bp = Blueprint("programs", __name__, template_folder="templates")

T = TypeVar("T")


# --- helpers -------------------------------------------------------------------------


def _ip() -> str:
    return request.remote_addr or ""


def _int(value: Any) -> int:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else 0


def _failed(form: FlaskForm, error: ProgrammeError | None = None, *, inline: bool = True) -> None:
    """Undo the unit of work and put the message where the user will find it.

    ``inline``: the form is shown again, so a message about one of its fields goes
    next to that field; row buttons are not shown again, so theirs is flashed.
    """
    get_session().rollback()
    if error is None:
        flash(_("Nothing was saved. Please correct the marked fields."), "error")
    elif inline and error.field and error.field in form:
        field = form[error.field]
        field.errors = [*field.errors, str(error.message)]
        flash(_("Nothing was saved. Please correct the marked fields."), "error")
    else:
        flash(str(error.message), "error")


def _attempt(
    form: FlaskForm, action: Callable[[], T], *, inline: bool = True
) -> tuple[bool, T | None]:
    """Validate ``form`` and run ``action``; on failure roll back and mark the form."""
    if not form.validate_on_submit():
        _failed(form, inline=inline)
        return False, None
    try:
        return True, action()
    except ProgrammeError as error:
        _failed(form, error, inline=inline)
        return False, None


# --- sponsors ------------------------------------------------------------------------


def _sponsor_form(**kwargs: Any) -> SponsorForm:
    form = SponsorForm(**kwargs)
    form.kind.choices = sponsor_kind_choices()
    return form


def _sponsor_data(form: SponsorForm) -> services.SponsorData:
    return services.SponsorData(
        name=form.name.data or "",
        kind=form.kind.data or "",
        contact_name=form.contact_name.data or "",
        contact_email=form.contact_email.data or "",
    )


def _sponsors_page(form: SponsorForm):
    return render_template(
        "programs/sponsors.html", form=form, rows=services.sponsor_rows(get_session())
    )


@bp.route("/admin/sponsors", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def sponsors():
    if request.method == "GET":
        return _sponsors_page(_sponsor_form(formdata=None))
    form = _sponsor_form()
    ok, sponsor = _attempt(form, lambda: services.save_sponsor(get_session(), _sponsor_data(form)))
    if ok and sponsor is not None:
        flash(_("The sponsor %(name)s is created.", name=sponsor.name), "success")
        return redirect(url_for("programs.sponsor_detail", sponsor_id=sponsor.id))
    return _sponsors_page(form), 400


def _sponsor_page(sponsor_id: int, form: SponsorForm | None = None):
    db = get_session()
    sponsor = services.load_sponsor(db, sponsor_id) or abort(404)
    return render_template(
        "programs/sponsor.html",
        sponsor=sponsor,
        form=form or _sponsor_form(formdata=None, obj=sponsor),
        staff=services.sponsor_staff(db, sponsor.id),
    )


@bp.route("/admin/sponsors/<int:sponsor_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def sponsor_detail(sponsor_id: int):
    if request.method == "GET":
        return _sponsor_page(sponsor_id)
    db = get_session()
    sponsor = db.get(Sponsor, sponsor_id) or abort(404)
    form = _sponsor_form()
    ok, _saved = _attempt(form, lambda: services.save_sponsor(db, _sponsor_data(form), sponsor))
    if ok:
        flash(_("The sponsor is saved."), "success")
        return redirect(url_for("programs.sponsor_detail", sponsor_id=sponsor_id))
    return _sponsor_page(sponsor_id, form), 400


# --- programmes ----------------------------------------------------------------------


def _programme_form(**kwargs: Any) -> ProgrammeForm:
    form = ProgrammeForm(**kwargs)
    form.sponsor.choices = [(str(s.id), s.name) for s in services.all_sponsors(get_session())]
    return form


def _programme_data(form: ProgrammeForm) -> services.ProgrammeData:
    return services.ProgrammeData(
        code=form.code.data or "",
        title=form.title.data or "",
        sponsor_id=_int(form.sponsor.data),
        starts_on=form.starts_on.data,  # type: ignore[arg-type] - required by the form
        ends_on=form.ends_on.data,  # type: ignore[arg-type]
    )


def _programmes_page(form: ProgrammeForm):
    db = get_session()
    programmes = services.visible_programmes(db, current_user)
    return render_template(
        "programs/programmes.html",
        form=form,
        programmes=programmes,
        counts=services.enrolment_counts(db, [p.id for p in programmes]),
    )


@bp.route("/admin/programmes", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def programmes():
    if request.method == "GET":
        form = _programme_form(formdata=None)
        if request.args.get("sponsor", "").isdigit():
            form.sponsor.data = request.args["sponsor"]
        return _programmes_page(form)
    form = _programme_form()
    ok, programme = _attempt(
        form, lambda: services.save_programme(get_session(), _programme_data(form))
    )
    if ok and programme is not None:
        flash(_("The programme %(code)s is created.", code=programme.code), "success")
        return redirect(url_for("programs.programme_detail", programme_id=programme.id))
    return _programmes_page(form), 400


def _load_programme(programme_id: int) -> Programme:
    return services.load_programme(get_session(), programme_id) or abort(404)


def _programme_page(
    programme_id: int,
    *,
    form: ProgrammeForm | None = None,
    course_form: AddCourseForm | None = None,
    enrol_form: EnrolForm | None = None,
):
    """The programme's admin page; the form that failed, if any, keeps its input."""
    db = get_session()
    programme = _load_programme(programme_id)
    if form is None:
        form = _programme_form(formdata=None, obj=programme)
        form.sponsor.data = str(programme.sponsor_id)
    available, any_course = services.courses_to_add(db, programme)
    course_form = course_form or AddCourseForm(formdata=None)
    course_form.course.choices = [(str(c.id), f"{c.title} ({c.code})") for c in available]
    enrolments = services.programme_enrolments(db, programme.id)
    return render_template(
        "programs/programme.html",
        programme=programme,
        form=form,
        course_form=course_form,
        any_course=any_course,
        enrol_form=enrol_form or EnrolForm(formdata=None),
        enrolments=enrolments,
        counts=services.count_by_status(enrolments),
        status_choices=status_choices(),
        countries=get_locale().territories,
    )


def _back_to(programme_id: int, section: str):
    url = url_for("programs.programme_detail", programme_id=programme_id)
    return redirect(f"{url}#{section}")


@bp.route("/admin/programmes/<int:programme_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def programme_detail(programme_id: int):
    if request.method == "GET":
        return _programme_page(programme_id)
    db = get_session()
    programme = db.get(Programme, programme_id) or abort(404)
    form = _programme_form()
    ok, _saved = _attempt(
        form, lambda: services.save_programme(db, _programme_data(form), programme)
    )
    if ok:
        flash(_("The programme is saved."), "success")
        return redirect(url_for("programs.programme_detail", programme_id=programme_id))
    return _programme_page(programme_id, form=form), 400


@bp.post("/admin/programmes/<int:programme_id>/courses")
@roles_required(Role.ADMIN)
def programme_course_add(programme_id: int):
    programme = _load_programme(programme_id)
    form = AddCourseForm()
    ok, _done = _attempt(
        form,
        lambda: services.add_course(
            get_session(), programme, _int(form.course.data), bool(form.required.data)
        ),
    )
    if ok:
        flash(_("The course is added to the programme."), "success")
        return _back_to(programme_id, "courses")
    return _programme_page(programme_id, course_form=form), 400


def _course_action(programme_id: int, form: FlaskForm, action: Callable[[Programme], None]):
    programme = _load_programme(programme_id)
    ok, _done = _attempt(form, lambda: action(programme), inline=False)
    if ok:
        return _back_to(programme_id, "courses")
    return _programme_page(programme_id), 400


@bp.post("/admin/programmes/<int:programme_id>/courses/<int:item_id>/move")
@roles_required(Role.ADMIN)
def programme_course_move(programme_id: int, item_id: int):
    form = MoveForm()
    return _course_action(
        programme_id,
        form,
        lambda programme: services.move_course(get_session(), programme, item_id, form.step),
    )


@bp.post("/admin/programmes/<int:programme_id>/courses/<int:item_id>/remove")
@roles_required(Role.ADMIN)
def programme_course_remove(programme_id: int, item_id: int):
    return _course_action(
        programme_id,
        ActionForm(),
        lambda programme: services.remove_course(get_session(), programme, item_id),
    )


@bp.post("/admin/programmes/<int:programme_id>/courses/<int:item_id>/required")
@roles_required(Role.ADMIN)
def programme_course_required(programme_id: int, item_id: int):
    form = CourseRequiredForm()
    return _course_action(
        programme_id,
        form,
        lambda programme: services.set_course_required(
            get_session(), programme, item_id, form.required.data == "1"
        ),
    )


@bp.post("/admin/programmes/<int:programme_id>/enrolments")
@roles_required(Role.ADMIN)
def programme_enrol(programme_id: int):
    programme = _load_programme(programme_id)
    form = EnrolForm()
    ok, enrolment = _attempt(
        form,
        lambda: services.enrol_by_email(
            get_session(), current_user, programme, form.email.data or "", ip=_ip()
        ),
    )
    if ok and enrolment is not None:
        flash(_("%(email)s is enrolled.", email=enrolment.user.email), "success")
        return _back_to(programme_id, "enrolments")
    return _programme_page(programme_id, enrol_form=form), 400


@bp.post("/admin/programmes/<int:programme_id>/enrolments/<int:enrolment_id>/status")
@roles_required(Role.ADMIN)
def enrolment_status(programme_id: int, enrolment_id: int):
    db = get_session()
    enrolment = db.get(Enrolment, enrolment_id)
    if enrolment is None or enrolment.programme_id != programme_id:
        abort(404)
    form = EnrolmentStatusForm()
    ok, _done = _attempt(
        form,
        lambda: services.set_enrolment_status(
            db, current_user, enrolment, form.status.data or "", ip=_ip()
        ),
        inline=False,
    )
    if ok:
        flash(
            _(
                "The status of %(name)s is now %(status)s.",
                name=enrolment.user.display_name,
                status=dict(status_choices()).get(enrolment.status, enrolment.status),
            ),
            "success",
        )
        return _back_to(programme_id, "enrolments")
    return _programme_page(programme_id), 400


# --- the sponsor portal ----------------------------------------------------------------


@bp.get("/sponsor")
@roles_required(Role.SPONSOR)
def sponsor_home():
    db = get_session()
    programmes = services.visible_programmes(db, current_user)
    return render_template(
        "programs/sponsor_home.html",
        programmes=programmes,
        counts=programme_counts(db, [p.id for p in programmes]),
        stage_labels=STAGE_LABELS,
    )


@bp.get("/sponsor/programmes/<int:programme_id>")
@roles_required(Role.SPONSOR)
def sponsor_programme(programme_id: int):
    # The portal's programme page lives with the completion-list downloads it offers.
    return sponsor_programme_page(sponsor_programme_or_abort(programme_id))
