"""Who is calling the sponsor API: a bearer token, or a signed-in sponsor's staff or admin.

**Bearer tokens** (``Authorization: Bearer ksk_…``) are what sponsors' systems use. A
request that carries an Authorization header is judged by that header alone: the
session cookie, if any, is ignored, and a bad token is a 401 even for a signed-in user,
so that a script never works by accident with someone's browser session.

**Cookie sessions** of sponsor staff (their own sponsor) and admins (every sponsor) may
call the same read-only endpoints, so that staff can try the API in a browser. They are
GET endpoints only, so CSRF does not arise; if a writing endpoint is ever added, token
requests carry no cookie and need no CSRF token, session requests still do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, jsonify, make_response, request
from flask_babel import gettext as _
from flask_login import current_user

from lms.accounts.models import Role
from lms.api.tokens import TokenRefused, authenticate, bearer_secret
from lms.core.errors import MESSAGES
from lms.db import get_session
from lms.extensions import limiter

F = TypeVar("F", bound=Callable[..., Any])

# A nightly pull of 100,000 records is 100 calls of 1000: well within a minute's budget.
DEFAULT_RATE_LIMIT = "300 per minute"


@dataclass(frozen=True)
class ApiCaller:
    sponsor_id: int | None  # None: every sponsor (an admin's session)
    user_id: int | None  # the signed-in user; None for a token
    token_id: int | None = None
    token_prefix: str = ""

    @property
    def via(self) -> str:
        return "token" if self.token_id is not None else "session"

    def sees(self, sponsor_id: int) -> bool:
        return self.sponsor_id is None or self.sponsor_id == sponsor_id


def api_error(status: int, message: object, **headers: str):
    response = jsonify(error={"status": status, "message": str(message)})
    response.status_code = status
    response.headers.update(headers)
    return response


def _unauthorized(message: object, error: str | None = None):
    challenge = 'Bearer realm="kenshu"'
    if error:
        challenge += f', error="{error}"'
    return api_error(401, message, **{"WWW-Authenticate": challenge})


def current_caller() -> ApiCaller:
    return g.api_caller


def _rate_key() -> str:
    """One budget per credential: the token (hashed), else the session's user, else the IP."""
    header = request.headers.get("Authorization")
    if header:
        return "api-token:" + hashlib.sha256(header.encode()).hexdigest()[:32]
    if current_user.is_authenticated:
        return f"api-user:{current_user.id}"
    return "api-ip:" + (request.remote_addr or "")


def _rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def sponsor_api(view: F) -> F:
    """Resolve the caller into ``g.api_caller`` or answer 401/403 in JSON; rate-limited
    per credential (429 in JSON); answers are never cached (they hold personal data)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        response = make_response(_authorised(view, *args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        return response

    limited = limiter.limit(_rate_limit, key_func=_rate_key)(wrapped)
    limited.accepts_api_token = True  # type: ignore[attr-defined] - read by the tests
    return limited  # type: ignore[return-value]


def _authorised(view: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    header = request.headers.get("Authorization")
    if header is not None:
        secret = bearer_secret(header)
        if not secret:
            return _unauthorized(
                _("Send the API token as “Authorization: Bearer <token>”."),
                "invalid_request",
            )
        try:
            token = authenticate(get_session(), secret)
        except TokenRefused as refused:
            return _unauthorized(refused.message, "invalid_token")
        g.api_caller = ApiCaller(token.sponsor_id, None, token.id, token.prefix)
    elif current_user.is_authenticated:
        if current_user.has_role(Role.ADMIN):
            g.api_caller = ApiCaller(None, current_user.id)
        elif current_user.has_role(Role.SPONSOR) and current_user.sponsor_id is not None:
            g.api_caller = ApiCaller(current_user.sponsor_id, current_user.id)
        else:
            return api_error(403, MESSAGES[403])
    else:
        return _unauthorized(_("Send an API token: “Authorization: Bearer <token>”."))
    return view(*args, **kwargs)
