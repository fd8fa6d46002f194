"""Forms of the media pages; the views turn them into plain values for the services."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField

from lms.i18n import CONTENT_LANGUAGES


def language_choices() -> list[tuple[str, str]]:
    """Content languages by their own names (an endonym needs no translation)."""
    return [(code, f"{name} ({code})") for code, name in CONTENT_LANGUAGES.items()]


class CaptionForm(FlaskForm):
    language = SelectField(_l("Language of the captions"))
    file = FileField(
        _l("Caption file (WebVTT or SRT)"),
        validators=[FileRequired(_l("Choose a caption file."))],
    )
    next = HiddenField()

    def __init__(self, *args: object, taken: Iterable[str] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.language.choices = language_choices()
        if not self.language.data:
            # Suggest the first language that has no captions yet.
            used = set(taken)
            self.language.data = next(
                (code for code in CONTENT_LANGUAGES if code not in used), "en"
            )


class ActionForm(FlaskForm):
    """A button that changes something: the CSRF token and where to return."""

    next = HiddenField()
