"""Forms of the sponsor and programme pages; the views turn them into plain values."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional

from lms.core.labels import SPONSOR_KIND_LABELS, STATUS_LABELS
from lms.programs.models import EnrolmentStatus, SponsorKind


def sponsor_kind_choices() -> list[tuple[str, str]]:
    return [(str(kind), str(SPONSOR_KIND_LABELS[kind])) for kind in SponsorKind]


def status_choices() -> list[tuple[str, str]]:
    return [(str(status), str(STATUS_LABELS[status])) for status in EnrolmentStatus]


class SponsorForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"))
    contact_name = StringField(_l("Contact name"), validators=[Optional(), Length(max=200)])
    contact_email = EmailField(
        _l("Contact email"), validators=[Optional(), Email(), Length(max=254)]
    )


class ProgrammeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    # Not checked against the choices here: the service says "Unknown sponsor."
    sponsor = SelectField(_l("Sponsor"), validate_choice=False)
    starts_on = DateField(_l("Start date"), validators=[InputRequired()])
    ends_on = DateField(_l("End date"), validators=[InputRequired()])


class AddCourseForm(FlaskForm):
    course = SelectField(_l("Course"), validate_choice=False)
    required = BooleanField(_l("Required for completion"), default=True)


class EnrolForm(FlaskForm):
    email = EmailField(_l("Email of the trainee"), validators=[DataRequired(), Length(max=254)])


class CourseRequiredForm(FlaskForm):
    required = HiddenField()


class EnrolmentStatusForm(FlaskForm):
    status = SelectField(_l("Status"), validate_choice=False)
