"""Locale and time-zone selection for Flask-Babel.

Locale: the user's choice (profile, or the switcher for visitors), else the
browser's Accept-Language, else the configured default.
"""

from __future__ import annotations

from pathlib import Path

from babel import Locale

# The languages we ship a complete catalogue for, with their names in themselves.
LANGUAGES: dict[str, str] = {"en": "English", "ja": "日本語"}

# Languages course content may be written in (the interface ships LANGUAGES only).
CONTENT_LANGUAGES: dict[str, str] = {
    "en": "English",
    "ja": "日本語",
    "th": "ไทย",
    "vi": "Tiếng Việt",
    "id": "Bahasa Indonesia",
    "ms": "Bahasa Melayu",
    "fil": "Filipino",
    "zh": "中文",
    "ko": "한국어",
    "mn": "Монгол",
    "ne": "नेपाली",
    "bn": "বাংলা",
    "hi": "हिन्दी",
    "ur": "اردو",
    "ar": "العربية",
    "fa": "فارسی",
    "tr": "Türkçe",
    "ru": "Русский",
    "uk": "Українська",
    "fr": "Français",
    "es": "Español",
    "pt": "Português",
    "sw": "Kiswahili",
}

TRANSLATIONS_DIR = Path(__file__).parent / "translations"


def select_locale() -> str:
    from flask import current_app, has_request_context, request, session  # noqa: PLC0415
    from flask_login import current_user  # noqa: PLC0415

    if not has_request_context():  # CLI commands and background jobs
        return current_app.config["LMS_SETTINGS"].default_locale

    chosen = None
    if current_user and current_user.is_authenticated:
        chosen = current_user.locale
    chosen = chosen or session.get("locale")
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(list(LANGUAGES))
    return best or current_app.config["LMS_SETTINGS"].default_locale


def select_timezone() -> str:
    from flask import current_app, has_request_context  # noqa: PLC0415
    from flask_login import current_user  # noqa: PLC0415

    if not has_request_context():
        return current_app.config["LMS_SETTINGS"].default_timezone

    if current_user and current_user.is_authenticated and current_user.timezone:
        return current_user.timezone
    return current_app.config["LMS_SETTINGS"].default_timezone


def text_direction(locale_code: str) -> str:
    return "rtl" if Locale.parse(locale_code).character_order == "right-to-left" else "ltr"
