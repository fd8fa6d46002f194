"""Error pages: HTML for pages, JSON for ``/api/``; both translated."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("Please sign in to continue."),
    403: _l("You do not have permission to see this page."),
    404: _l("This page does not exist."),
    405: _l("This action is not allowed here."),
    413: _l("The file or form you sent is too large."),
    416: _l("The requested range cannot be served."),
    429: _l("Too many attempts. Please wait a minute and try again."),
    500: _l("Something went wrong on our side. Please try again later."),
}
TITLES = {
    400: _l("Bad request"),
    401: _l("Sign-in required"),
    403: _l("Forbidden"),
    404: _l("Not found"),
    405: _l("Not allowed"),
    413: _l("Too large"),
    416: _l("Range not satisfiable"),
    429: _l("Too many requests"),
    500: _l("Server error"),
}
CSRF_MESSAGE = _l(
    "Your form expired or was not sent from this site. Please reload the page and try again."
)


def wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def render_error(status: int, message: str | None = None):
    text = str(message or MESSAGES.get(status, MESSAGES[500]))
    if wants_json():
        return jsonify(error={"status": status, "message": text}), status
    title = str(TITLES.get(status, TITLES[500]))
    return render_template("core/error.html", status=status, title=title, message=text), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(_error: CSRFError):
        return render_error(400, str(CSRF_MESSAGE))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        status = error.code or 500
        if status < 400:
            return error
        body, code = render_error(status)
        # Keep what the exception says about itself: Retry-After, Allow, Content-Range.
        headers = {
            k: v
            for k, v in error.get_headers()
            if k.lower() not in ("content-type", "content-length")
        }
        return body, code, headers

    @app.errorhandler(InternalServerError)
    def _server_error(_error: InternalServerError):
        return render_error(500)

    @app.errorhandler(Exception)
    def _unhandled(error: Exception):
        app.logger.exception("unhandled error", exc_info=error)
        return render_error(500)
