"""Forms of the authoring pages; the views turn them into plain values for the services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from lms.catalog.models import LessonKind
from lms.i18n import CONTENT_LANGUAGES

KIND_LABELS = {
    "video": _l("Video lecture"),
    "reading": _l("Reading"),
    "document": _l("Document (PDF handout)"),
    "quiz": _l("Quiz"),
    "tour": _l("Plant tour"),
}


def kind_choices() -> list[tuple[str, str]]:
    return [(str(kind), str(KIND_LABELS[str(kind)])) for kind in LessonKind]


def language_choices() -> list[tuple[str, str]]:
    return list(CONTENT_LANGUAGES.items())


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CourseCreateForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=40)],
        description=_l("Letters, digits, - and _; for example WTE-101."),
    )
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=4000)])
    default_language = SelectField(
        _l("Default language"),
        validate_choice=False,
        description=_l("Trainees see this language where their own has no text."),
    )


class CourseTextsForm(FlaskForm):
    title = StringField(_l("Title"), validators=[Length(max=200)])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=4000)])


class LanguageForm(FlaskForm):
    """The language whose texts are edited: a GET form, it changes nothing."""

    class Meta:
        csrf = False

    lang = SelectField(_l("Language of the texts"), validate_choice=False)


class ModuleForm(FlaskForm):
    title = StringField(_l("Module title"), validators=[Length(max=200)])


class ConfirmForm(FlaskForm):
    confirm = BooleanField(validators=[DataRequired(_l("Tick the box to confirm."))])


class LessonAddForm(FlaskForm):
    kind = SelectField(_l("Kind"), validate_choice=False)
    title = StringField(_l("Lesson title"), validators=[Length(max=200)])


class LessonForm(FlaskForm):
    title = StringField(_l("Title"), validators=[Length(max=200)])
    kind = SelectField(_l("Kind"), validate_choice=False)
    body = TextAreaField(_l("Text (Markdown)"), validators=[Optional(), Length(max=200_000)])
    required = BooleanField(_l("Required for completion"))
    estimated_minutes = IntegerField(
        _l("Estimated time (minutes)"),
        validators=[InputRequired(_l("Give the estimated time in minutes."))],
    )
    # The ranges are checked by the service, the one place that knows them.
    completion_threshold = IntegerField(
        _l("Completion threshold (percentage of the video watched)"),
        validators=[Optional()],
    )


class LessonModuleForm(FlaskForm):
    module = SelectField(_l("Move to module"), validate_choice=False)


class InstructorsForm(FlaskForm):
    instructors = MultiCheckboxField(_l("Instructors"), validate_choice=False)
