"""Small forms shared by every blueprint's button rows."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class MoveForm(FlaskForm):
    """A "move up" / "move down" button: keyboard-friendly reordering."""

    direction = HiddenField(validators=[AnyOf(["up", "down"])])

    @property
    def step(self) -> int:
        return -1 if self.direction.data == "up" else 1
