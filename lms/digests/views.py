"""The sponsor portal's digest page: ``/sponsor/digest``, subscribe and unsubscribe.

Only sponsor staff with a sponsor may subscribe (a subscription is for their own
sponsor); anyone else gets 403, admins included (they belong to no sponsor).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from lms.accounts.models import Role, User
from lms.core.auth import roles_required
from lms.core.forms import ActionForm
from lms.db import get_session
from lms.digests import services

bp = Blueprint("digests", __name__, template_folder="templates")


def _subscriber() -> User:
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    if not services.may_subscribe(user):
        abort(403)
    return user


def _page(user: User, status: int = 200):
    page = render_template(
        "digests/digest.html",
        subscription=services.subscription_of(get_session(), user.id),
        form=ActionForm(formdata=None),
    )
    return page, status


@bp.get("/sponsor/digest")
@roles_required(Role.SPONSOR)
def digest_page():
    return _page(_subscriber())


def _refused(user: User):
    get_session().rollback()
    flash(_("Nothing was changed. Please reload the page and try again."), "error")
    return _page(user, 400)


@bp.post("/sponsor/digest/subscribe")
@roles_required(Role.SPONSOR)
def subscribe():
    user = _subscriber()
    if not ActionForm().validate_on_submit():
        return _refused(user)
    services.subscribe(get_session(), user, ip=request.remote_addr or "")
    flash(_("You will receive the weekly email of new completions."), "success")
    return redirect(url_for("digests.digest_page"))


@bp.post("/sponsor/digest/unsubscribe")
@roles_required(Role.SPONSOR)
def unsubscribe():
    user = _subscriber()
    if not ActionForm().validate_on_submit():
        return _refused(user)
    services.unsubscribe(get_session(), user, ip=request.remote_addr or "")
    flash(_("You will no longer receive the weekly email of new completions."), "success")
    return redirect(url_for("digests.digest_page"))
