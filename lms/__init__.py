"""Kenshu: the application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from lms.config import ConfigError, load_settings

__all__ = ["ConfigError", "create_app"]


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the application.

    ``overrides`` may hold ``LMS_*`` settings (validated like the environment)
    and plain Flask config keys (``TESTING``, ``WTF_CSRF_ENABLED`` ...).
    Migrations never run here: ``lms init`` runs them.
    """
    overrides = dict(overrides or {})
    env = {**os.environ, **{k: str(v) for k, v in overrides.items() if k.startswith("LMS_")}}
    settings = load_settings(env)

    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(
        LMS_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_mb * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_DURATION=60 * 60 * 24 * 30,
        WTF_CSRF_TIME_LIMIT=None,  # tokens live as long as the session
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_DEFAULT_TIMEZONE=settings.default_timezone,
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_KEY_PREFIX="lms",
        JSON_SORT_KEYS=False,
        MEDIA_MAX_VIDEO_MB=settings.max_video_mb,
        MEDIA_MAX_DOCUMENT_MB=settings.max_document_mb,
        MEDIA_MAX_IMAGE_MB=settings.max_image_mb,
        MEDIA_MAX_CAPTION_KB=settings.max_caption_kb,
    )
    app.config.update({k: v for k, v in overrides.items() if not k.startswith("LMS_")})
    if settings.trusted_proxies:
        # Behind a load balancer: take the client address and scheme from its headers,
        # so rate limits and the audit log see real addresses.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    from lms import db, extensions, i18n, jobs, mail, storage
    from lms.core import labels, security

    db.init_app(app, settings.database_url)
    extensions.csrf.init_app(app)
    extensions.babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        timezone_selector=i18n.select_timezone,
        default_translation_directories=str(i18n.TRANSLATIONS_DIR),
    )
    extensions.limiter.init_app(app)
    mail.init_app(app, settings)
    storage.init_app(app, settings)
    import lms.certificates.jobs  # noqa: F401 - declares the certificate job
    import lms.quizzes.attempts  # noqa: F401 - declares the quiz deadline job
    from lms.digests.jobs import schedule_periodic_jobs as schedule_digests

    jobs.init_app(app, settings)
    from lms.media.tasks import schedule_periodic_jobs

    schedule_periodic_jobs(app)  # the hourly clean-up of abandoned uploads
    schedule_digests(app)  # the weekly completion emails (checked hourly)
    security.init_app(app)
    labels.init_app(app)

    import lms.certificates.services  # noqa: F401 - makes a certificate for each issued record
    import lms.credentials.services  # noqa: F401 - issues records on programme completion
    import lms.learning.completion  # noqa: F401 - completion rules listen to lesson events
    from lms.accounts.views import bp as accounts_bp
    from lms.accounts.views import init_login
    from lms.admin.views import bp as admin_bp
    from lms.api.portal import bp as api_tokens_bp
    from lms.api.views import bp as api_bp
    from lms.catalog.views import bp as catalog_bp
    from lms.certificates.views import bp as certificates_bp
    from lms.core.views import bp as core_bp
    from lms.credentials.views import bp as credentials_bp
    from lms.digests.views import bp as digests_bp
    from lms.exports.views import bp as exports_bp
    from lms.learning.beats import bp as progress_bp
    from lms.learning.report_views import bp as reports_bp
    from lms.learning.views import bp as learning_bp
    from lms.media.views import bp as media_bp
    from lms.programs.views import bp as programs_bp
    from lms.quizzes.authoring_views import bp as quiz_authoring_bp
    from lms.quizzes.views import bp as quizzes_bp
    from lms.storage.views import bp as storage_bp
    from lms.tours.views import bp as tours_bp

    init_login(app)
    blueprints = (
        core_bp,
        accounts_bp,
        admin_bp,
        programs_bp,
        catalog_bp,
        learning_bp,
        media_bp,
        progress_bp,
        reports_bp,
        credentials_bp,
        certificates_bp,
        exports_bp,
        quizzes_bp,
        quiz_authoring_bp,
        storage_bp,
        tours_bp,
        api_bp,
        api_tokens_bp,
        digests_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    from lms.cli import register_commands
    from lms.core.errors import register_error_handlers

    register_error_handlers(app)
    register_commands(app)
    return app
