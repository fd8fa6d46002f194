"""Security headers on every response."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from flask_wtf.csrf import validate_csrf


def content_security_policy(extra_origins: list[str]) -> str:
    extra = " ".join(extra_origins)
    directives = {
        "default-src": "'self'",
        # No inline scripts or styles anywhere: every script is a file under /static.
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": f"'self' data: blob: {extra}",
        "media-src": f"'self' blob: {extra}",
        "connect-src": f"'self' {extra}",
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value.strip()}" for name, value in directives.items())


def init_app(app: Flask) -> None:
    settings = app.config["LMS_SETTINGS"]
    origins = []
    if settings.storage == "s3" and settings.s3_endpoint_url:
        parts = urlsplit(settings.s3_endpoint_url)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    elif settings.storage == "s3":
        origins.append("https://*.amazonaws.com")
    policy = content_security_policy(origins)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        if settings.secure_cookies:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response


def check_beacon_csrf(payload: Any) -> None:
    """The CSRF check for JSON endpoints that also take ``navigator.sendBeacon`` posts.

    A beacon cannot set headers, so such views are exempt from the automatic header check
    and call this instead: the token comes from the ``X-CSRFToken`` header when there is
    one (fetch), else from the JSON body's ``csrf_token`` (beacon), and is validated
    against the session exactly as the automatic check would. Raises
    ``flask_wtf.csrf.ValidationError``.
    """
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    token = request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")
    if not token and isinstance(payload, dict) and isinstance(payload.get("csrf_token"), str):
        token = payload["csrf_token"]
    validate_csrf(token)
