from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserRolesForm(FlaskForm):
    roles = MultiCheckboxField(_l("Roles"))
    sponsor = SelectField(_l("Sponsor (for sponsor staff)"), validators=[Optional()])
    active = BooleanField(_l("Account active"))


class UserSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField(_l("Search by name or email"), validators=[Optional()])
    role = SelectField(_l("Role"), validators=[Optional()])
