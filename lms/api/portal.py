"""The sponsor portal's API tokens page: ``/sponsor/tokens``.

Sponsor staff create and revoke their sponsor's tokens; admins see every sponsor's and
may revoke them (a leaked token can be stopped without the sponsor), but create none.
The secret is in the page that answers the creation, once: it is not redirected to
(a flash message would carry it in the session cookie) and the page is not cached.
Another sponsor's token id answers 404 like an unknown one.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from lms.accounts.models import Role
from lms.api import tokens
from lms.api.forms import TokenForm
from lms.core.auth import roles_required
from lms.core.forms import ActionForm
from lms.db import get_session, utcnow

bp = Blueprint("api_tokens", __name__, template_folder="templates")


def _page(form: TokenForm, new: tokens.NewToken | None = None, status: int = 200):
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    response = render_template(
        "api/tokens.html",
        form=form,
        new=new,
        tokens=tokens.visible_tokens(get_session(), user),
        can_create=user.has_role(Role.SPONSOR) and user.sponsor_id is not None,
        show_sponsor=user.has_role(Role.ADMIN),
        revoke_form=ActionForm(formdata=None),
        now=utcnow(),
        openapi_url=url_for("api.openapi", _external=True),
    )
    return response, status, {"Cache-Control": "no-store"}


@bp.route("/sponsor/tokens", methods=["GET", "POST"])
@roles_required(Role.SPONSOR)
def tokens_page():
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    if not tokens.can_manage_tokens(user):
        abort(403)
    if request.method == "GET":
        return _page(TokenForm(formdata=None))
    form = TokenForm()
    if not form.validate_on_submit():
        get_session().rollback()
        flash(_("Nothing was saved. Please correct the marked fields."), "error")
        return _page(form, status=400)
    try:
        new = tokens.create_token(
            get_session(),
            user,
            form.name.data or "",
            form.lifetime_days.data,
            ip=request.remote_addr or "",
        )
    except tokens.TokenError as error:
        get_session().rollback()
        if error.field and error.field in form:
            form[error.field].errors = [*form[error.field].errors, str(error.message)]
        flash(str(error.message), "error")
        return _page(form, status=400)
    return _page(TokenForm(formdata=None), new)


@bp.post("/sponsor/tokens/<int:token_id>/revoke")
@roles_required(Role.SPONSOR)
def revoke(token_id: int):
    db = get_session()
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    token = tokens.load_token_for(db, user, token_id) or abort(404)
    if not ActionForm().validate_on_submit():
        db.rollback()
        flash(_("Nothing was changed. Please reload the page and try again."), "error")
        return _page(TokenForm(formdata=None), status=400)
    if tokens.revoke_token(db, user, token, ip=request.remote_addr or ""):
        flash(_("The token %(name)s is revoked.", name=token.name), "success")
    else:
        flash(_("The token %(name)s was already revoked.", name=token.name), "info")
    return redirect(url_for("api_tokens.tokens_page"))
