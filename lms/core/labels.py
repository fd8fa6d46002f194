"""Translated names for stored enum values, for templates."""

from flask import Flask
from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "admin": _l("Administrator"),
    "instructor": _l("Instructor"),
    "sponsor": _l("Sponsor staff"),
    "trainee": _l("Trainee"),
}
STATUS_LABELS = {
    "active": _l("Active"),
    "completed": _l("Completed"),
    "withdrawn": _l("Withdrawn"),
}
SPONSOR_KIND_LABELS = {
    "ministry": _l("Ministry"),
    "bank": _l("Development bank"),
    "agency": _l("Aid agency"),
    "other": _l("Other"),
}


def _label(table: dict, value: str) -> str:
    return str(table.get(value, value))


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(
        role_label=lambda v: _label(ROLE_LABELS, v),
        status_label=lambda v: _label(STATUS_LABELS, v),
        sponsor_kind_label=lambda v: _label(SPONSOR_KIND_LABELS, v),
    )
    from flask_babel import format_date, format_datetime  # noqa: PLC0415

    app.jinja_env.filters.update(format_date=format_date, format_datetime=format_datetime)
