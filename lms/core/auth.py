"""Access checks shared by every blueprint."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

from flask import abort, request
from flask_login import current_user

from lms.accounts.models import Role
from lms.extensions import login_manager

F = TypeVar("F", bound=Callable[..., Any])


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Signed-in users holding one of ``roles`` (admins always pass)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(Role.ADMIN, *roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def is_safe_redirect(target: str | None) -> bool:
    """Only same-site paths: no scheme, no host, no protocol-relative ``//evil``."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    joined = urlsplit(urljoin(request.host_url, target))
    return joined.netloc == urlsplit(request.host_url).netloc and joined.scheme in ("http", "https")
