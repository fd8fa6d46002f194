"""The JSON API under /api/v1/, described by /api/v1/openapi.json.

Session-authenticated writes need the CSRF token in an ``X-CSRFToken`` header,
like every form.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from lms.accounts import services as accounts
from lms.accounts.models import User

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _me(user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "native_name": user.native_name,
        "country": user.country,
        "organisation": user.organisation,
        "locale": user.locale,
        "timezone": user.timezone,
        "roles": sorted(user.role_names),
        "sponsor_id": user.sponsor_id,
    }


@bp.get("/me")
@login_required
def me():
    return jsonify(_me(current_user))


@bp.patch("/me")
@login_required
def update_me():
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify(error={"status": 400, "message": _("Send a JSON object.")}), 400
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    allowed = {"name", "native_name", "country", "organisation", "locale", "timezone"}
    unknown = sorted(set(payload) - allowed)
    if unknown or not all(isinstance(v, str | None) for v in payload.values()):
        message = _("Unknown or invalid fields: %(fields)s", fields=", ".join(unknown) or "-")
        return jsonify(error={"status": 400, "message": message}), 400
    data = accounts.ProfileData(
        name=payload.get("name", user.name) or user.name,
        native_name=payload.get("native_name", user.native_name) or "",
        country=payload.get("country", user.country) or "",
        organisation=payload.get("organisation", user.organisation) or "",
        locale=payload.get("locale", user.locale),
        timezone=payload.get("timezone", user.timezone) or "UTC",
    )
    try:
        accounts.update_profile(user, data)
    except accounts.AccountError as error:
        return jsonify(error={"status": 400, "message": str(error.message)}), 400
    return jsonify(_me(user))


@bp.get("/openapi.json")
def openapi():
    base = current_app.config["LMS_SETTINGS"].base_url
    error = {"$ref": "#/components/schemas/Error"}
    me_schema = {"$ref": "#/components/schemas/Me"}
    return jsonify(
        {
            "openapi": "3.1.0",
            "info": {"title": "Kenshu API", "version": "1"},
            "servers": [{"url": base + "/api/v1"}],
            "components": {
                "securitySchemes": {
                    "session": {"type": "apiKey", "in": "cookie", "name": "session"}
                },
                "schemas": {
                    "Error": {
                        "type": "object",
                        "properties": {
                            "error": {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "integer"},
                                    "message": {"type": "string"},
                                },
                            }
                        },
                    },
                    "Me": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer"},
                            "email": {"type": "string"},
                            "name": {"type": "string"},
                            "native_name": {"type": "string"},
                            "country": {"type": "string"},
                            "organisation": {"type": "string"},
                            "locale": {"type": ["string", "null"]},
                            "timezone": {"type": "string"},
                            "roles": {"type": "array", "items": {"type": "string"}},
                            "sponsor_id": {"type": ["integer", "null"]},
                        },
                    },
                },
            },
            "security": [{"session": []}],
            "paths": {
                "/me": {
                    "get": {
                        "summary": "The signed-in user",
                        "responses": {
                            "200": {"content": {"application/json": {"schema": me_schema}}},
                            "401": {"content": {"application/json": {"schema": error}}},
                        },
                    },
                    "patch": {
                        "summary": "Update the signed-in user's profile",
                        "description": "Needs the CSRF token in the X-CSRFToken header.",
                        "requestBody": {"content": {"application/json": {"schema": me_schema}}},
                        "responses": {
                            "200": {"content": {"application/json": {"schema": me_schema}}},
                            "400": {"content": {"application/json": {"schema": error}}},
                            "401": {"content": {"application/json": {"schema": error}}},
                        },
                    },
                },
            },
        }
    )
