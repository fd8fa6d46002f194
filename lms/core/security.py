"""Security headers on every response."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response


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
