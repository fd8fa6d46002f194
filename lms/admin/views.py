"""The training office's pages: users, invitations, the audit log."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from lms.accounts import services as accounts
from lms.accounts.forms import InviteCsvForm, InviteForm
from lms.accounts.models import Role, User, UserRole
from lms.accounts.views import country_choices, language_choices, send_invitation
from lms.admin.forms import UserRolesForm, UserSearchForm
from lms.audit.models import AuditEvent
from lms.core.auth import roles_required
from lms.core.labels import ROLE_LABELS
from lms.db import get_session
from lms.programs.models import Programme, Sponsor

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
PAGE_SIZE = 50


def _role_choices() -> list[tuple[str, str]]:
    return [(str(r), str(ROLE_LABELS[r])) for r in Role]


def _sponsor_choices() -> list[tuple[str, str]]:
    sponsors = get_session().scalars(select(Sponsor).order_by(Sponsor.name))
    return [("", "—")] + [(str(s.id), s.name) for s in sponsors]


def _programme_choices() -> list[tuple[str, str]]:
    programmes = get_session().scalars(select(Programme).order_by(Programme.code))
    return [("", "—")] + [(p.code, f"{p.code} — {p.title}") for p in programmes]


def _page() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


@bp.get("/")
@roles_required(Role.ADMIN)
def dashboard():
    return redirect(url_for("core.home"))


@bp.get("/users")
@roles_required(Role.ADMIN)
def users():
    form = UserSearchForm(request.args)
    form.role.choices = [("", _("All roles")), *_role_choices()]
    query = select(User).options(selectinload(User.roles)).order_by(User.name, User.email)
    if form.q.data:
        pattern = f"%{form.q.data.strip().lower()}%"
        query = query.where(
            or_(func.lower(User.name).like(pattern), func.lower(User.email).like(pattern))
        )
    if form.role.data:
        query = query.where(User.roles.any(UserRole.role == form.role.data))
    page = _page()
    rows = list(get_session().scalars(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)))
    return render_template(
        "admin/users.html",
        form=form,
        users=rows[:PAGE_SIZE],
        page=page,
        has_next=len(rows) > PAGE_SIZE,
    )


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def user_detail(user_id: int):
    db = get_session()
    user = db.get(User, user_id) or abort(404)
    form = UserRolesForm(
        data={
            "roles": sorted(user.role_names),
            "sponsor": str(user.sponsor_id or ""),
            "active": user.active,
        }
    )
    if request.method == "POST":
        form = UserRolesForm()
    form.roles.choices = _role_choices()
    form.sponsor.choices = _sponsor_choices()
    if form.validate_on_submit():
        try:
            accounts.set_roles(
                db,
                current_user,
                user,
                form.roles.data or [],
                sponsor_id=int(form.sponsor.data) if form.sponsor.data else None,
                ip=request.remote_addr or "",
            )
            accounts.set_active(
                db, current_user, user, bool(form.active.data), ip=request.remote_addr or ""
            )
        except accounts.AccountError as error:
            db.rollback()
            flash(str(error.message), "error")
            return render_template("admin/user.html", user=db.get(User, user_id), form=form), 400
        flash(_("The account is saved."), "success")
        return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/user.html", user=user, form=form)


@bp.route("/invitations", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def invite():
    form = InviteForm(prefix="one")
    form.country.choices = country_choices()
    form.language.choices = language_choices()
    form.role.choices = _role_choices()
    form.sponsor.choices = _sponsor_choices()
    form.programme.choices = _programme_choices()
    if not form.role.data:
        form.role.data = str(Role.TRAINEE)
    csv_form = InviteCsvForm(prefix="csv")
    if form.validate_on_submit():
        invitee = accounts.Invitee(
            name=form.name.data or "",
            email=form.email.data or "",
            country=form.country.data or "",
            organisation=form.organisation.data or "",
            language=form.language.data or "",
            programme_code=form.programme.data or "",
            roles=[form.role.data or str(Role.TRAINEE)],
            sponsor_id=int(form.sponsor.data) if form.sponsor.data else None,
        )
        if invitee.programme_code and Role.TRAINEE not in invitee.roles:
            invitee.roles.append(str(Role.TRAINEE))
        try:
            if Role.SPONSOR in invitee.roles and invitee.sponsor_id is None:
                raise accounts.AccountError(_("Sponsor staff must belong to a sponsor."))
            accounts.invite(
                get_session(),
                current_user,
                [invitee],
                lifetime=_invitation_lifetime(),
                send=send_invitation,
                ip=request.remote_addr or "",
            )
        except accounts.AccountError as error:
            flash(str(error.message), "error")
            return render_template("admin/invite.html", form=form, csv_form=csv_form), 400
        flash(_("Invitation sent to %(email)s.", email=invitee.email), "success")
        return redirect(url_for("admin.invite"))
    return render_template("admin/invite.html", form=form, csv_form=csv_form)


def _invitation_lifetime() -> timedelta:
    return timedelta(days=current_app.config["LMS_SETTINGS"].invitation_token_days)


@bp.post("/invitations/csv")
@roles_required(Role.ADMIN)
def invite_csv():
    form = InviteForm(prefix="one", formdata=None)
    form.country.choices = country_choices()
    form.language.choices = language_choices()
    form.role.choices = _role_choices()
    form.sponsor.choices = _sponsor_choices()
    form.programme.choices = _programme_choices()
    csv_form = InviteCsvForm(prefix="csv")
    problems: list[accounts.CsvProblem] = []
    if csv_form.validate_on_submit():
        db = get_session()
        try:
            invitees = accounts.parse_invitation_csv(db, csv_form.file.data.read())
            created = accounts.invite(
                db,
                current_user,
                invitees,
                lifetime=_invitation_lifetime(),
                send=send_invitation,
                ip=request.remote_addr or "",
            )
        except accounts.InvitationCsvError as error:
            problems = error.problems
            flash(str(error.message), "error")
        else:
            flash(
                ngettext("%(num)d invitation sent.", "%(num)d invitations sent.", len(created)),
                "success",
            )
            return redirect(url_for("admin.invite"))
    return render_template(
        "admin/invite.html", form=form, csv_form=csv_form, problems=problems
    ), 400


@bp.get("/audit")
@roles_required(Role.ADMIN)
def audit_log():
    page = _page()
    action = request.args.get("action", "")
    query = (
        select(AuditEvent)
        .options(selectinload(AuditEvent.actor))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    )
    if action:
        query = query.where(AuditEvent.action == action)
    rows = list(get_session().scalars(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)))
    actions = get_session().scalars(
        select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    )
    return render_template(
        "admin/audit.html",
        events=rows[:PAGE_SIZE],
        page=page,
        has_next=len(rows) > PAGE_SIZE,
        actions=list(actions),
        action=action,
    )
