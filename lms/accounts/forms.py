from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from lms.accounts.services import MIN_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])
    remember = BooleanField(_l("Remember me on this device"))
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1000)],
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    native_name = StringField(
        _l("Name in your own script"), validators=[Optional(), Length(max=200)]
    )
    country = SelectField(_l("Country"), validators=[Optional()])
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=200)])
    locale = SelectField(_l("Preferred language"), validators=[Optional()])
    timezone = SelectField(_l("Time zone"), validators=[DataRequired()])


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language"))
    next = HiddenField()


class InviteForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    country = SelectField(_l("Country"), validators=[Optional()])
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=200)])
    language = SelectField(_l("Language"), validators=[Optional()])
    role = SelectField(_l("Role"))
    sponsor = SelectField(_l("Sponsor (for sponsor staff)"), validators=[Optional()])
    programme = SelectField(_l("Enrol in programme"), validators=[Optional()])


class InviteCsvForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()])
