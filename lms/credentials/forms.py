"""Forms of the public verification page and the admin record pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional


class VerifyForm(FlaskForm):
    # Not required here: an empty or malformed code gets the "not found" answer.
    code = StringField(
        _l("Verification code"),
        validators=[Optional(), Length(max=64)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )


class RecordFilterForm(FlaskForm):
    class Meta:
        csrf = False

    programme = SelectField(_l("Programme"), validate_choice=False)


class RevokeForm(FlaskForm):
    # Checked by the service (it answers "A reason is required").
    reason = TextAreaField(_l("Reason"), validators=[Length(max=500)])


class ReissueForm(FlaskForm):
    pass
