"""The OpenAPI 3.1 document served at ``/api/v1/openapi.json``.

Written by hand, next to the views it describes; ``tests/api/test_openapi.py`` validates
it with openapi-spec-validator and fails when a ``/api/v1`` route is missing from it.
"""

from __future__ import annotations

from typing import Any

from lms.api.completions import DEFAULT_LIMIT, MAX_LIMIT
from lms.api.tokens import DEFAULT_LIFETIME_DAYS, MAX_LIFETIME_DAYS

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_UNAUTHORIZED = {
    "description": "No credentials, or a token that is unknown, expired or revoked.",
    "headers": {
        "WWW-Authenticate": {
            "description": 'Bearer realm="kenshu", with error="invalid_token" for a bad token.',
            "schema": {"type": "string"},
        }
    },
    "content": {JSON: {"schema": _ref("Error")}},
}
_FORBIDDEN = _error("Signed in, but not as a sponsor's staff member or an admin.")
_TOO_MANY = {
    "description": "Too many calls with this credential; wait as Retry-After says.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    "content": {JSON: {"schema": _ref("Error")}},
}
_SPONSOR_SECURITY = [{"bearer": []}, {"session": []}]
_ID_PARAM = {"type": "integer", "minimum": 1}


def _schemas() -> dict[str, Any]:
    nullable_string = {"type": ["string", "null"]}
    nullable_time = {"type": ["string", "null"], "format": "date-time"}
    progress = {
        "type": "object",
        "properties": {
            "lesson_id": {"type": "integer"},
            "kind": {"type": "string"},
            "status": {"type": "string"},
            "position": {"type": "number"},
            "watched_seconds": {"type": "number"},
            "duration": {"type": ["number", "null"]},
            "share": {"type": "number"},
            "threshold": {"type": "number"},
            "completed_at": nullable_time,
            "last_activity_at": nullable_time,
        },
    }
    completion_properties: dict[str, Any] = {
        "id": {
            "type": "integer",
            "description": "The record's id in this API: for /records/{record_id} and cursors.",
        },
        "record_id": {
            "type": "string",
            "format": "uuid",
            "description": "The record's public id, as in the portal's CSV and XLSX lists.",
        },
        "trainee_name": {"type": "string"},
        "native_name": {"type": "string", "description": "The name in the trainee's script."},
        "email": {"type": "string"},
        "country": {"type": "string", "description": "ISO 3166-1 alpha-2, or empty."},
        "organisation": {"type": "string"},
        "programme_code": {"type": "string"},
        "programme_title": {"type": "string"},
        "courses_completed": {"type": "string", "description": "Courses, separated by '; '."},
        "scores": {
            "type": "string",
            "description": "'CODE: score' pairs (percentages), or empty.",
        },
        "course_scores": {
            "type": "array",
            "description": (
                "The completed courses with their score: the mean of the percentages of "
                "the course's quizzes (best or last attempt, per quiz); null for a "
                "course without a graded quiz."
            ),
            "items": {
                "type": "object",
                "required": ["code", "title", "score"],
                "properties": {
                    "course_id": {"type": ["integer", "null"]},
                    "code": {"type": "string"},
                    "title": {"type": "string"},
                    "score": {"type": ["number", "null"], "description": "Percent."},
                },
            },
        },
        "hours": {"type": "number", "description": "Estimated study hours."},
        "completion_date": {"type": "string", "format": "date"},
        "status": {"type": "string", "enum": ["valid", "revoked"]},
        "verification_code": {"type": "string"},
        "verification_url": {"type": "string", "format": "uri"},
        "issued_at": {"type": "string", "format": "date-time"},
        "revoked_at": nullable_time,
        "updated_at": {
            "type": "string",
            "format": "date-time",
            "description": "The later of issued_at and revoked_at: what `since` compares.",
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["status", "message"],
                    "properties": {
                        "status": {"type": "integer"},
                        "message": {
                            "type": "string",
                            "description": "In the language of Accept-Language or the user.",
                        },
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
                "locale": nullable_string,
                "timezone": {"type": "string"},
                "roles": {"type": "array", "items": {"type": "string"}},
                "sponsor_id": {"type": ["integer", "null"]},
            },
        },
        "Programme": {
            "type": "object",
            "required": ["id", "code", "title", "sponsor_id", "starts_on", "ends_on"],
            "properties": {
                "id": {"type": "integer"},
                "code": {"type": "string"},
                "title": {"type": "string"},
                "sponsor_id": {"type": "integer"},
                "sponsor_name": {"type": "string"},
                "starts_on": {"type": "string", "format": "date"},
                "ends_on": {"type": "string", "format": "date"},
            },
        },
        "ProgrammeList": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "array", "items": _ref("Programme")}},
        },
        "Completion": {
            "type": "object",
            "required": ["id", "record_id", "status", "issued_at", "updated_at"],
            "properties": completion_properties,
        },
        "CompletionRecord": {
            "allOf": [
                _ref("Completion"),
                {
                    "type": "object",
                    "properties": {
                        "replaced_by_id": {
                            "type": ["integer", "null"],
                            "description": "The reissued record that replaces a revoked one.",
                        }
                    },
                },
            ]
        },
        "CompletionPage": {
            "type": "object",
            "required": ["data", "next_cursor", "has_more", "as_of"],
            "properties": {
                "data": {"type": "array", "items": _ref("Completion")},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page; null on the last.",
                },
                "has_more": {"type": "boolean"},
                "as_of": {
                    "type": "string",
                    "format": "date-time",
                    "description": "Pass as `since` on your next incremental pull.",
                },
            },
        },
        "Beat": {
            "type": "object",
            "required": ["session", "seq"],
            "properties": {
                "session": {"type": "string", "format": "uuid"},
                "seq": {"type": "integer", "minimum": 0},
                "intervals": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "items": {"type": "number"},
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
                "position": {"type": "number"},
                "rate": {"type": "number"},
                "t": {"type": "integer", "description": "Client time, ms since 1970."},
                "csrf_token": {"type": "string", "description": "For beacons (no headers)."},
            },
        },
        "BeatResult": {
            "type": "object",
            "properties": {
                "duplicate": {"type": "boolean"},
                "credited": {"type": "number"},
                "clipped": {"type": "number"},
                "progress": _ref("LessonProgress"),
            },
        },
        "LessonProgress": progress,
    }


def _lesson_param() -> dict[str, Any]:
    return {"name": "lesson_id", "in": "path", "required": True, "schema": _ID_PARAM}


def _csrf_param() -> dict[str, Any]:
    return {
        "name": "X-CSRFToken",
        "in": "header",
        "required": False,
        "description": "The session's CSRF token (required with a cookie session).",
        "schema": {"type": "string"},
    }


def _progress_paths() -> dict[str, Any]:
    session_only = [{"session": []}]
    common = {
        "401": _error("Not signed in."),
        "403": _error("The lesson is not readable by this user."),
        "404": _error("Unknown lesson."),
    }
    return {
        "/lessons/{lesson_id}/beats": {
            "post": {
                "operationId": "postBeat",
                "tags": ["progress"],
                "summary": "A heartbeat from the video player",
                "security": session_only,
                "parameters": [_lesson_param(), _csrf_param()],
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Beat")}}},
                "responses": {
                    "200": _json(_ref("BeatResult"), "The beat was recorded."),
                    "400": _error("An invalid beat or a missing CSRF token."),
                    **common,
                    "409": _error("Not a video lesson, or another playback session."),
                    "410": _error("The lesson is archived."),
                    "413": _error("The beat is too large."),
                    "503": _error("Too many updates at once; retry."),
                },
            }
        },
        "/lessons/{lesson_id}/progress": {
            "get": {
                "operationId": "getLessonProgress",
                "tags": ["progress"],
                "summary": "The user's progress in a lesson and where to resume",
                "security": session_only,
                "parameters": [_lesson_param()],
                "responses": {
                    "200": _json(_ref("LessonProgress"), "The progress."),
                    **common,
                },
            }
        },
        "/lessons/{lesson_id}/done": {
            "post": {
                "operationId": "markLessonDone",
                "tags": ["progress"],
                "summary": "Mark a reading or document lesson as done",
                "security": session_only,
                "parameters": [_lesson_param(), _csrf_param()],
                "responses": {
                    "200": _json(_ref("LessonProgress"), "The progress."),
                    "400": _error("A missing CSRF token."),
                    **common,
                    "409": _error("This lesson cannot be marked done by hand."),
                    "503": _error("Too many updates at once; retry."),
                },
            }
        },
    }


def _tour_paths() -> dict[str, Any]:
    session_only = [{"session": []}]
    params = [
        _lesson_param(),
        {"name": "stop_uid", "in": "path", "required": True, "schema": {"type": "string"}},
    ]
    state = {"type": "object", "description": "The stop's (and the tour's) progress."}
    common = {
        "401": _error("Not signed in."),
        "403": _error("The lesson is not readable by this user."),
        "404": _error("Unknown lesson or stop."),
    }
    base = "/lessons/{lesson_id}/tour/stops/{stop_uid}"
    return {
        f"{base}/visit": {
            "post": {
                "operationId": "visitTourStop",
                "tags": ["progress"],
                "summary": "A photo or panorama stop has been open for the dwell time",
                "security": session_only,
                "parameters": [*params, _csrf_param()],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["token"],
                                "properties": {
                                    "token": {
                                        "type": "string",
                                        "description": "The signed token of the stop's page.",
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(state, "The visit is counted."),
                    "400": _error("A stale page token or a missing CSRF token."),
                    **common,
                    "409": _error("A video stop, or the dwell time has not passed."),
                    "503": _error("Too many updates at once; retry."),
                },
            }
        },
        f"{base}/beats": {
            "post": {
                "operationId": "postTourStopBeat",
                "tags": ["progress"],
                "summary": "A heartbeat from a video stop's player",
                "security": session_only,
                "parameters": [*params, _csrf_param()],
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Beat")}}},
                "responses": {
                    "200": _json(state, "The beat was recorded."),
                    "400": _error("An invalid beat or a missing CSRF token."),
                    **common,
                    "409": _error("Not a video stop."),
                    "413": _error("The beat is too large."),
                    "503": _error("Too many updates at once; retry."),
                },
            }
        },
        f"{base}/progress": {
            "get": {
                "operationId": "getTourStopProgress",
                "tags": ["progress"],
                "summary": "What was watched of a video stop, and where to resume",
                "security": session_only,
                "parameters": params,
                "responses": {"200": _json(state, "The progress."), **common},
            }
        },
    }


def _quiz_paths() -> dict[str, Any]:
    session_only = [{"session": []}]
    params = [{"name": "attempt_id", "in": "path", "required": True, "schema": _ID_PARAM}]
    state = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string"},
            "finish_reason": {"type": ["string", "null"]},
            "server_time": {"type": "string", "format": "date-time"},
            "deadline_at": {"type": ["string", "null"], "format": "date-time"},
            "answers": {"type": "array", "items": {"type": "object"}},
            "result_url": {"type": "string"},
        },
    }
    common = {
        "401": _error("Not signed in."),
        "403": _error("Not the user's own attempt."),
        "404": _error("Unknown attempt."),
    }
    busy = {"503": _error("Too many updates at once; retry.")}
    return {
        "/quiz-attempts/{attempt_id}": {
            "get": {
                "operationId": "getQuizAttempt",
                "tags": ["quiz"],
                "summary": "An attempt's status, deadline, server time and saved answers",
                "security": session_only,
                "parameters": params,
                "responses": {"200": _json(state, "The attempt."), **common},
            }
        },
        "/quiz-attempts/{attempt_id}/answers": {
            "post": {
                "operationId": "saveQuizAnswer",
                "tags": ["quiz"],
                "summary": "Save one answer (autosave)",
                "security": session_only,
                "parameters": [*params, _csrf_param()],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["position", "revision"],
                                "properties": {
                                    "position": {"type": "integer", "minimum": 0},
                                    "revision": {
                                        "type": "integer",
                                        "minimum": 1,
                                        "maximum": 2**53 - 1,
                                        "description": (
                                            "The client's counter for this answer (a ms "
                                            "clock or a sequence): only a revision newer "
                                            "than the stored one is applied."
                                        ),
                                    },
                                    "fields": {"type": "object"},
                                    "response": {},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["saved", "position", "applied", "revision"],
                            "properties": {
                                "saved": {"type": "boolean"},
                                "position": {"type": "integer"},
                                "applied": {
                                    "type": "boolean",
                                    "description": (
                                        "false when a revision as new or newer was already "
                                        "stored (a replayed or late save): nothing changed."
                                    ),
                                },
                                "revision": {
                                    "type": "integer",
                                    "description": "The revision now stored.",
                                },
                            },
                        },
                        "The answer as stored (also for a save older than the stored one).",
                    ),
                    "400": _error(
                        'An invalid answer or revision (error.code "invalid_answer": resending '
                        "it cannot succeed), or a missing or expired CSRF token (no code: "
                        "reload the page, then resend)."
                    ),
                    **common,
                    "409": _error("The attempt is over (submitted, or its time ran out)."),
                    "413": _error("The answer is too large."),
                    **busy,
                },
            }
        },
        "/quiz-attempts/{attempt_id}/submit": {
            "post": {
                "operationId": "submitQuizAttempt",
                "tags": ["quiz"],
                "summary": "Submit the attempt for grading (once)",
                "security": session_only,
                "parameters": [*params, _csrf_param()],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "graded": {"type": "boolean"},
                                "status": {"type": "string"},
                                "finish_reason": {"type": ["string", "null"]},
                                "result_url": {"type": "string"},
                            },
                        },
                        "The attempt is submitted.",
                    ),
                    "400": _error("A missing CSRF token."),
                    **common,
                    **busy,
                },
            }
        },
    }


def _sponsor_paths() -> dict[str, Any]:
    bad_query = _error("An invalid limit, cursor, since or format.")
    not_found = _error("Unknown programme.")
    record_not_found = _error("Unknown record, or another sponsor's: the same answer for both.")
    foreign = _error("Another sponsor's programme, or not a sponsor's staff member or admin.")
    return {
        "/programmes": {
            "get": {
                "operationId": "listProgrammes",
                "tags": ["sponsor"],
                "summary": "The sponsor's programmes",
                "description": "A token sees its sponsor's programmes; an admin's session all.",
                "security": _SPONSOR_SECURITY,
                "responses": {
                    "200": _json(_ref("ProgrammeList"), "The programmes."),
                    "401": _UNAUTHORIZED,
                    "429": _TOO_MANY,
                    "403": _FORBIDDEN,
                },
            }
        },
        "/programmes/{programme_id}/completions": {
            "get": {
                "operationId": "listCompletions",
                "tags": ["sponsor"],
                "summary": "The programme's completion records, a page at a time",
                "description": (
                    "Ordered by record id. Revoked records are included with "
                    '`status: "revoked"`, so that pulls see revocations. For incremental '
                    "pulls pass the `as_of` of the previous pull as `since` (it lags by a "
                    "minute, so a record may come twice: de-duplicate by `id`). Every call "
                    "is written to the audit log."
                ),
                "security": _SPONSOR_SECURITY,
                "parameters": [
                    {
                        "name": "programme_id",
                        "in": "path",
                        "required": True,
                        "schema": _ID_PARAM,
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "required": False,
                        "description": "Opaque: the `next_cursor` of the previous page.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "description": "Records per page.",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_LIMIT,
                            "default": DEFAULT_LIMIT,
                        },
                    },
                    {
                        "name": "since",
                        "in": "query",
                        "required": False,
                        "description": (
                            "Only records issued or revoked at or after this moment "
                            "(ISO 8601; without an offset, UTC)."
                        ),
                        "schema": {"type": "string", "format": "date-time"},
                    },
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "description": (
                            "csv: UTF-8 with a byte-order mark, the columns of the portal's "
                            "list; the next cursor is in the X-Next-Cursor and Link headers."
                        ),
                        "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A page of records.",
                        "headers": {
                            "X-Next-Cursor": {
                                "description": "The cursor of the next page, if any.",
                                "schema": {"type": "string"},
                            },
                            "Link": {
                                "description": 'The next page\'s URL, rel="next".',
                                "schema": {"type": "string"},
                            },
                            "X-As-Of": {
                                "description": "As `as_of` in the JSON body.",
                                "schema": {"type": "string", "format": "date-time"},
                            },
                        },
                        "content": {
                            JSON: {"schema": _ref("CompletionPage")},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "400": bad_query,
                    "401": _UNAUTHORIZED,
                    "429": _TOO_MANY,
                    "403": foreign,
                    "404": not_found,
                },
            }
        },
        "/records/{record_id}": {
            "get": {
                "operationId": "getCompletionRecord",
                "tags": ["sponsor"],
                "summary": "One completion record, by its `id`",
                "description": "Written to the audit log.",
                "security": _SPONSOR_SECURITY,
                "parameters": [
                    {"name": "record_id", "in": "path", "required": True, "schema": _ID_PARAM}
                ],
                "responses": {
                    "200": _json(_ref("CompletionRecord"), "The record."),
                    "401": _UNAUTHORIZED,
                    "429": _TOO_MANY,
                    "403": _FORBIDDEN,
                    "404": record_not_found,
                },
            }
        },
    }


def openapi_document(base_url: str) -> dict[str, Any]:
    me = _ref("Me")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kenshu API",
            "version": "1",
            "description": (
                "Sponsors' systems authenticate with an API token created by their staff "
                "in the sponsor portal (/sponsor/tokens): `Authorization: Bearer <token>`. "
                f"A token is valid for {DEFAULT_LIFETIME_DAYS} days unless set otherwise "
                f"(at most {MAX_LIFETIME_DAYS}) and sees only its sponsor's data. Errors "
                "are JSON objects `{error: {status, message}}`."
            ),
        },
        "servers": [{"url": base_url.rstrip("/") + "/api/v1"}],
        "tags": [
            {"name": "sponsor", "description": "For sponsors' systems."},
            {"name": "account", "description": "The signed-in user."},
            {"name": "progress", "description": "Used by the learning pages."},
            {"name": "quiz", "description": "Used by the quiz pages (autosave)."},
        ],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "ksk_ followed by 43 characters",
                    "description": "An API token of a sponsor.",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "session",
                    "description": "A signed-in browser; writes need the X-CSRFToken header.",
                },
            },
            "schemas": _schemas(),
        },
        "security": [{"session": []}],
        "paths": {
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": _json({"type": "object"}, "The OpenAPI document."),
                    },
                }
            },
            "/me": {
                "get": {
                    "operationId": "getMe",
                    "tags": ["account"],
                    "summary": "The signed-in user",
                    "responses": {
                        "200": _json(me, "The user."),
                        "401": _error("Not signed in."),
                    },
                },
                "patch": {
                    "operationId": "updateMe",
                    "tags": ["account"],
                    "summary": "Update the signed-in user's profile",
                    "description": "Needs the CSRF token in the X-CSRFToken header.",
                    "parameters": [_csrf_param()],
                    "requestBody": {"required": True, "content": {JSON: {"schema": me}}},
                    "responses": {
                        "200": _json(me, "The updated user."),
                        "400": _error("Invalid fields or a missing CSRF token."),
                        "401": _error("Not signed in."),
                    },
                },
            },
            **_sponsor_paths(),
            **_progress_paths(),
            **_tour_paths(),
            **_quiz_paths(),
        },
    }
