"""The attempt form's fields, turned into raw responses for :mod:`lms.quizzes.questions`.

The same field names serve the plain HTML form (posted whole, without JavaScript) and
the page's autosave (quiz.js posts one question's fields as JSON), so there is one
parser for both. Question ``n`` (its position in the attempt) uses:

- ``q<n>``: the choice id(s), ``true``/``false``, or the typed number or text;
- ``q<n>.<prompt id>``: the option chosen for a matching prompt;
- ``q<n>.<item id>``: the place (1, 2, ...) given to an ordering item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l

from lms.quizzes.attempts import InvalidAnswer

Fields = Mapping[str, Sequence[str]]


def field_name(position: int, sub: str | None = None) -> str:
    return f"q{position}" if sub is None else f"q{position}.{sub}"


def _first(fields: Fields, name: str) -> str | None:
    values = fields.get(name) or []
    if isinstance(values, str):
        return values
    return values[0] if values else None


def check_fields(value: Any) -> dict[str, list[str]]:
    """JSON ``{"name": "value" | ["values"]}`` as posted by quiz.js, or :class:`InvalidAnswer`."""
    if not isinstance(value, dict) or len(value) > 200:
        raise InvalidAnswer(_l("The answer must be sent as form fields."))
    result: dict[str, list[str]] = {}
    for name, values in value.items():
        if isinstance(values, str):
            values = [values]
        if (
            not isinstance(name, str)
            or not isinstance(values, list)
            or len(values) > 100
            or not all(isinstance(v, str) for v in values)
        ):
            raise InvalidAnswer(_l("The answer must be sent as form fields."))
        result[name] = values
    return result


def raw_response(spec: Mapping[str, Any], position: int, fields: Fields) -> Any:
    """The raw response to question ``position`` in the posted fields (None: unanswered)."""
    kind = spec["type"]
    name = field_name(position)
    if kind == "multiple_response":
        values = fields.get(name) or []
        return [values] if isinstance(values, str) else list(values)
    if kind == "matching":
        return {
            prompt["id"]: _first(fields, field_name(position, prompt["id"])) or ""
            for prompt in spec["prompts"]
        }
    if kind == "ordering":
        return _ordering(spec, position, fields)
    return _first(fields, name)


def _ordering(spec: Mapping[str, Any], position: int, fields: Fields) -> list[str] | None:
    ids = [item["id"] for item in spec["items"]]
    places: dict[str, int] = {}
    for item_id in ids:
        value = (_first(fields, field_name(position, item_id)) or "").strip()
        if not value:
            continue
        try:
            places[item_id] = int(value)
        except ValueError:
            places[item_id] = -1
    if not places:
        return None
    if len(places) != len(ids) or sorted(places.values()) != list(range(1, len(ids) + 1)):
        raise InvalidAnswer(
            _l("Give each item its own place, from 1 to %(count)d.", count=len(ids))
        )
    return sorted(ids, key=lambda item_id: places[item_id])


def ordering_places(response: Sequence[str] | None) -> dict[str, int]:
    """The place of each item in a saved ordering response, to fill the form again."""
    return {item_id: index + 1 for index, item_id in enumerate(response or [])}
