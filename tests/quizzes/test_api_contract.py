"""The saving endpoint answers as /api/v1/openapi.json documents it."""

from __future__ import annotations

import jsonschema
import pytest
from flask import Flask

from tests.quizzes.test_attempts import QuizWorld, _client, build_quiz


def _operation(client) -> dict:
    document = client.get("/api/v1/openapi.json").json
    return document["paths"]["/quiz-attempts/{attempt_id}/answers"]["post"]


def _schema(operation: dict, status: str | None = None) -> dict:
    if status is None:
        return operation["requestBody"]["content"]["application/json"]["schema"]
    return operation["responses"][status]["content"]["application/json"]["schema"]


@pytest.fixture
def world(app: Flask, make_user) -> QuizWorld:
    return build_quiz(app, make_user)


def test_saves_match_the_document(app: Flask, world: QuizWorld) -> None:
    client = _client(app, world)
    lesson_url = f"/courses/{world.course_id}/lessons/{world.quiz_id}"
    attempt_id = int(client.post(f"{lesson_url}/quiz/start").headers["Location"].rsplit("/", 1)[1])
    api = f"/api/v1/quiz-attempts/{attempt_id}/answers"
    operation = _operation(client)
    request_schema, ok_schema = _schema(operation), _schema(operation, "200")

    # A revision older than the stored one: 200 with applied false, as documented.
    for revision, applied in ((5, True), (3, False)):
        body = {"position": 0, "response": "k7", "revision": revision}
        jsonschema.validate(body, request_schema)
        response = client.post(api, json=body)
        assert response.status_code == 200
        jsonschema.validate(response.json, ok_schema)
        assert response.json["applied"] is applied and response.json["revision"] == 5
    assert "newer revision" not in operation["responses"]["409"]["description"]

    # No revision, or null: refused by the server, and by the document.
    for body in ({"position": 0, "response": "k7", "revision": None}, {"position": 0}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(body, request_schema)
        refused = client.post(api, json=body)
        assert refused.status_code == 400
        assert refused.json["error"]["code"] == "invalid_answer"
