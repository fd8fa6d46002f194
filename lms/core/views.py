from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from sqlalchemy import text

from lms.db import get_session
from lms.programs import services as programmes
from lms.storage import StorageError, get_storage

bp = Blueprint("core", __name__, template_folder="templates")


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return render_template("core/welcome.html")
    return render_template(
        "core/home.html", **programmes.home_sections(get_session(), current_user)
    )


@bp.get("/healthz")
def healthz():
    checks: dict[str, dict[str, str]] = {}
    try:
        get_session().execute(text("SELECT 1"))
        checks["database"] = {"status": "ok"}
    except Exception as error:  # noqa: BLE001 - any failure means "down"
        checks["database"] = {"status": "down", "error": type(error).__name__}
    try:
        get_storage().check()
        checks["storage"] = {"status": "ok", "kind": get_storage().kind}
    except StorageError as error:
        checks["storage"] = {"status": "down", "kind": get_storage().kind, "error": str(error)}
    healthy = all(c["status"] == "ok" for c in checks.values())
    return jsonify(status="ok" if healthy else "down", checks=checks), 200 if healthy else 503


@bp.app_context_processor
def _page_language() -> dict[str, str]:
    from flask_babel import get_locale  # noqa: PLC0415

    from lms.i18n import text_direction  # noqa: PLC0415

    locale = str(get_locale())
    return {"current_locale": locale.replace("_", "-"), "text_dir": text_direction(locale)}
