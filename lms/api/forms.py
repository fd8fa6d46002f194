"""Forms of the API tokens page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from lms.api.tokens import DEFAULT_LIFETIME_DAYS, MAX_LIFETIME_DAYS, NAME_MAX


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=NAME_MAX)],
        description=_l("What uses the token, e.g. “HR system, nightly import”."),
    )
    lifetime_days = IntegerField(
        _l("Valid for (days)"),
        default=DEFAULT_LIFETIME_DAYS,
        validators=[InputRequired(), NumberRange(min=1, max=MAX_LIFETIME_DAYS)],
    )
