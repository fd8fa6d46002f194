"""Settings read from ``LMS_*`` environment variables and validated at start-up.

Every setting has an embedded default so that a bare machine works; a bad value
stops the application with a message that names the variable and what is wrong.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

STORAGE_KINDS = ("local", "s3")
PREFIX = "LMS_"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is meant for the operator."""


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    secret_key: str
    database_url: str
    base_url: str = "http://127.0.0.1:5000"
    storage: str = "local"
    storage_path: Path | None = None
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    redis_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "Kenshu <no-reply@kenshu.localhost>"
    signed_url_ttl: int = 3600
    max_request_mb: int = 64
    reset_token_minutes: int = 60
    invitation_token_days: int = 14
    login_rate_limit: str = "10 per minute"
    reset_rate_limit: str = "5 per minute"
    default_locale: str = "en"
    default_timezone: str = "UTC"
    trusted_proxies: int = 0
    max_video_mb: int = 8192
    max_document_mb: int = 100
    max_image_mb: int = 50
    max_caption_kb: int = 2048
    # Ed25519 key that signs credentials; None: generated into instance/signing-keys.
    signing_key_file: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{PREFIX}{name} must be at least {minimum}, not {value}")
    return value


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate limit such as ``10 per minute``; a bad one would silently disable the limit."""
    from limits import parse_many  # noqa: PLC0415

    value = env.get(PREFIX + name) or default
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(
            f"{PREFIX}{name} must be a rate limit such as '10 per minute', not {value!r}"
        ) from None
    return value


def _check_database_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"LMS_DATABASE_URL is not a database URL: {url!r} "
            "(expected sqlite:///path/to/file.db or postgresql+psycopg://user@host/db)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"LMS_DATABASE_URL uses {backend!r}; Kenshu supports sqlite and postgresql"
        )
    if backend == "postgresql" and parsed.drivername == "postgresql":
        # psycopg 3 is the driver we install; plain postgresql:// would ask for psycopg2.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _check_url(name: str, value: str | None, schemes: tuple[str, ...]) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(
            f"{PREFIX}{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
            f", not {value!r}"
        )
    return value


def _signing_key_file(env: Mapping[str, str]) -> Path | None:
    """``LMS_SIGNING_KEY_FILE``: checked now, so a bad key stops start-up, not issuing."""
    raw = env.get(PREFIX + "SIGNING_KEY_FILE")
    if not raw:
        return None
    from lms.credentials.keys import SigningKeyError, load_key_file  # noqa: PLC0415

    path = Path(raw).expanduser().resolve()
    try:
        load_key_file(path)
    except SigningKeyError as error:
        # The message names the file and the problem, never the key material.
        raise ConfigError(f"{PREFIX}SIGNING_KEY_FILE: {error}") from None
    return path


def _secret_key(instance_path: Path, env: Mapping[str, str]) -> str:
    if env.get("LMS_SECRET_KEY"):
        return env["LMS_SECRET_KEY"]
    # Embedded default: one random key per instance folder, kept across restarts.
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    instance_path = Path(env.get("LMS_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
    try:
        instance_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"LMS_INSTANCE_PATH {instance_path} cannot be created: {exc}") from None

    database_url = _check_database_url(
        env.get("LMS_DATABASE_URL") or f"sqlite:///{instance_path / 'kenshu.db'}"
    )

    storage = (env.get("LMS_STORAGE") or "local").strip().lower()
    if storage not in STORAGE_KINDS:
        raise ConfigError(f"LMS_STORAGE must be one of {', '.join(STORAGE_KINDS)}, not {storage!r}")
    s3_bucket = env.get("LMS_S3_BUCKET") or None
    s3_endpoint = _check_url("S3_ENDPOINT_URL", env.get("LMS_S3_ENDPOINT_URL"), ("http", "https"))
    if storage == "s3" and not s3_bucket:
        raise ConfigError("LMS_STORAGE=s3 needs LMS_S3_BUCKET, the name of the bucket to use")

    base_url = _check_url("BASE_URL", env.get("LMS_BASE_URL"), ("http", "https"))
    default_locale = env.get("LMS_DEFAULT_LOCALE") or "en"
    from lms.i18n import LANGUAGES  # noqa: PLC0415 - avoid an import cycle at module load

    if default_locale not in LANGUAGES:
        raise ConfigError(
            f"LMS_DEFAULT_LOCALE must be one of {', '.join(LANGUAGES)}, not {default_locale!r}"
        )
    default_timezone = env.get("LMS_DEFAULT_TIMEZONE") or "UTC"
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    try:
        ZoneInfo(default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"LMS_DEFAULT_TIMEZONE is not a time zone: {default_timezone!r}"
        ) from None

    return Settings(
        instance_path=instance_path,
        secret_key=_secret_key(instance_path, env),
        database_url=database_url,
        base_url=(base_url or "http://127.0.0.1:5000").rstrip("/"),
        storage=storage,
        storage_path=Path(env["LMS_STORAGE_PATH"]).resolve()
        if env.get("LMS_STORAGE_PATH")
        else instance_path / "storage",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=s3_bucket,
        s3_region=env.get("LMS_S3_REGION") or "us-east-1",
        s3_access_key=env.get("LMS_S3_ACCESS_KEY") or None,
        s3_secret_key=env.get("LMS_S3_SECRET_KEY") or None,
        redis_url=_check_url("REDIS_URL", env.get("LMS_REDIS_URL"), ("redis", "rediss")),
        smtp_url=_check_url("SMTP_URL", env.get("LMS_SMTP_URL"), ("smtp", "smtps")),
        mail_from=env.get("LMS_MAIL_FROM") or Settings.mail_from,
        signed_url_ttl=_int(env, "SIGNED_URL_TTL", 3600),
        max_request_mb=_int(env, "MAX_REQUEST_MB", 64),
        reset_token_minutes=_int(env, "RESET_TOKEN_MINUTES", 60),
        invitation_token_days=_int(env, "INVITATION_TOKEN_DAYS", 14),
        login_rate_limit=_rate_limit(env, "LOGIN_RATE_LIMIT", Settings.login_rate_limit),
        reset_rate_limit=_rate_limit(env, "RESET_RATE_LIMIT", Settings.reset_rate_limit),
        default_locale=default_locale,
        default_timezone=default_timezone,
        trusted_proxies=_int(env, "TRUSTED_PROXIES", 0, minimum=0),
        max_video_mb=_int(env, "MAX_VIDEO_MB", 8192),
        max_document_mb=_int(env, "MAX_DOCUMENT_MB", 100),
        max_image_mb=_int(env, "MAX_IMAGE_MB", 50),
        max_caption_kb=_int(env, "MAX_CAPTION_KB", 2048),
        signing_key_file=_signing_key_file(env),
    )
