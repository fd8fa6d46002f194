from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user

from lms.accounts import services
from lms.accounts.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LanguageForm,
    LoginForm,
    ProfileForm,
    SetPasswordForm,
)
from lms.accounts.models import TokenPurpose, User
from lms.core.auth import is_safe_redirect
from lms.db import get_session
from lms.extensions import limiter, login_manager
from lms.i18n import LANGUAGES
from lms.mail import get_mailer

bp = Blueprint("accounts", __name__, template_folder="templates")


def _settings():
    return current_app.config["LMS_SETTINGS"]


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load_user(user_id: str) -> User | None:
        # The id carries the user's session token: a password change or a
        # deactivation rotates it, which logs out every existing session.
        ident, _sep, token = user_id.partition(":")
        if not ident.isdigit():
            return None
        user = get_session().get(User, int(ident))
        if user is None or not user.active or user.session_token != token:
            return None
        return user

    @login_manager.unauthorized_handler
    def _unauthorized():
        from lms.core.errors import render_error, wants_json  # noqa: PLC0415

        if wants_json():
            return render_error(401)
        flash(str(login_manager.login_message), "info")
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))

    @app.context_processor
    def _language_switcher():
        # Display only: never read the request body here, so that error pages (413
        # above all) can render without touching the form data again.
        form = LanguageForm(prefix="lang", formdata=None)
        form.locale.choices = list(LANGUAGES.items())
        form.locale.data = str(get_locale())
        # A page may name a different place to come back to (see credentials._not_found).
        form.next.data = g.get("language_next") or request.full_path.rstrip("?")
        return {"language_form": form, "languages": LANGUAGES}


def _ip() -> str:
    return request.remote_addr or ""


def _email_link(endpoint: str, token: str) -> str:
    return _settings().base_url + url_for(endpoint, token=token)


def send_invitation(user: User, token: str) -> None:
    with force_locale(user.locale or _settings().default_locale):
        body = render_template(
            "accounts/email/invitation.txt",
            user=user,
            link=_email_link("accounts.accept_invitation", token),
            days=_settings().invitation_token_days,
        )
        get_mailer().send(user.email, _("You are invited to Kenshu"), body)


def send_reset(user: User, token: str) -> None:
    with force_locale(user.locale or str(get_locale())):
        body = render_template(
            "accounts/email/reset.txt",
            user=user,
            link=_email_link("accounts.reset_password", token),
            minutes=_settings().reset_token_minutes,
        )
        get_mailer().send(user.email, _("Reset your Kenshu password"), body)


def _login_limit() -> str:
    return _settings().login_rate_limit


def _reset_limit() -> str:
    return _settings().reset_rate_limit


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = services.authenticate(
            get_session(), form.email.data or "", form.password.data or "", ip=_ip()
        )
        if user is not None:
            login_user(user, remember=bool(form.remember.data))
            session.pop("locale", None)  # the profile's language wins from now on
            target = form.next.data
            return redirect(target if is_safe_redirect(target) else url_for("core.home"))
        flash(_("Wrong email or password."), "error")
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(
            get_session(),
            form.email.data or "",
            lifetime=timedelta(minutes=_settings().reset_token_minutes),
            send=send_reset,
            ip=_ip(),
        )
        # The same answer whether or not the address is known.
        flash(_("If this address has an account, a reset link is on its way."), "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot.html", form=form)


def _redeem(purpose: TokenPurpose, token: str, template: str, done_message: str):
    db = get_session()
    try:
        user = services.peek_token(db, token, purpose).user
    except services.TokenError as error:
        return render_template("accounts/link_error.html", message=error.message), 400
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.redeem_token(db, token, purpose, form.password.data or "", ip=_ip())
        except services.AccountError as error:
            flash(str(error.message), "error")
        else:
            logout_user()
            login_user(user)
            flash(done_message, "success")
            return redirect(url_for("core.home"))
    return render_template(template, form=form, user=user)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def reset_password(token: str):
    return _redeem(
        TokenPurpose.RESET, token, "accounts/reset.html", _("Your password has been changed.")
    )


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def accept_invitation(token: str):
    return _redeem(TokenPurpose.INVITATION, token, "accounts/accept.html", _("Welcome to Kenshu!"))


def country_choices() -> list[tuple[str, str]]:
    territories = get_locale().territories
    codes = sorted(services.COUNTRY_CODES, key=lambda c: territories.get(c, c))
    return [("", "—")] + [(c, territories.get(c, c)) for c in codes]


def timezone_choices() -> list[tuple[str, str]]:
    return [(tz, tz.replace("_", " ")) for tz in sorted(services.TIMEZONES)]


def language_choices(blank: str = "—") -> list[tuple[str, str]]:
    return [("", blank), *LANGUAGES.items()]


@bp.route("/account", methods=["GET", "POST"])
@login_required
def profile():
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    form = ProfileForm(obj=user)
    form.country.choices = country_choices()
    form.locale.choices = language_choices(_("Use my browser's language"))
    form.timezone.choices = timezone_choices()
    if form.validate_on_submit():
        try:
            services.update_profile(
                user,
                services.ProfileData(
                    name=form.name.data or "",
                    native_name=form.native_name.data or "",
                    country=form.country.data or "",
                    organisation=form.organisation.data or "",
                    locale=form.locale.data or None,
                    timezone=form.timezone.data or "UTC",
                ),
            )
        except services.AccountError as error:
            flash(str(error.message), "error")
        else:
            flash(_("Your profile is saved."), "success")
            return redirect(url_for("accounts.profile"))
    return render_template(
        "accounts/profile.html", form=form, password_form=ChangePasswordForm(prefix="pw")
    )


@bp.post("/account/password")
@login_required
def change_password():
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    form = ChangePasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            services.change_password(
                get_session(), user, form.current.data or "", form.password.data or "", ip=_ip()
            )
        except services.AccountError as error:
            flash(str(error.message), "error")
        else:
            login_user(user)  # keep this session; the rotated token ends all others
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("accounts.profile"))
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
    return redirect(url_for("accounts.profile"))


@bp.post("/language")
def set_language():
    form = LanguageForm(prefix="lang")
    form.locale.choices = list(LANGUAGES.items())
    if form.validate_on_submit():
        session["locale"] = form.locale.data
        if current_user.is_authenticated:
            current_user.locale = form.locale.data
    target = form.next.data
    return redirect(target if is_safe_redirect(target) else url_for("core.home"))
