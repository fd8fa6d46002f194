"""The filter form of a programme's completion list (GET: nothing is changed, no CSRF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError

from lms.exports.completions import STATUSES, CompletionFilters


class CompletionFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET that only reads

    since = DateField(_l("Completed from"), validators=[Optional()])
    until = DateField(_l("Completed until"), validators=[Optional()])
    status = SelectField(_l("Record status"), validators=[Optional()])
    country = SelectField(_l("Country"), validators=[Optional()])

    def __init__(self, *args, countries: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.status.choices = [("", str(_l("Valid and revoked")))] + [
            (key, str(label)) for key, label in STATUSES.items()
        ]
        self.country.choices = [("", str(_l("All countries")))] + countries

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end date is before the start date."))

    def filters(self) -> CompletionFilters:
        return CompletionFilters(
            since=self.since.data,
            until=self.until.data,
            status=self.status.data or None,
            country=self.country.data or None,
        )
