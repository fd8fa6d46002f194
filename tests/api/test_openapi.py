"""The OpenAPI document is valid and describes every route under /api/v1."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

PREFIX = "/api/v1"


def _document(client) -> dict:
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.json


def test_the_document_is_valid_openapi(client):
    document = _document(client)
    validate(document)  # raises on any error
    assert document["openapi"].startswith("3.1")


def test_every_api_route_and_method_is_described(app, client):
    paths = _document(client)["paths"]
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX) :])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = paths.get(path, {}).get(method.lower())
            if operation is None:
                missing.append(f"{method} {path}")
                continue
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            if declared != set(rule.arguments):
                missing.append(f"{method} {path}: path parameters {sorted(declared)}")
    assert not missing, f"not in /api/v1/openapi.json: {missing}"


def test_sponsor_endpoints_take_a_bearer_token_and_page_by_cursor(app, client):
    document = _document(client)
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    token_routes = [
        r
        for r in app.url_map.iter_rules()
        if getattr(app.view_functions[r.endpoint], "accepts_api_token", False)
    ]
    assert len(token_routes) >= 3
    for rule in token_routes:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX) :])
        assert {"bearer": []} in document["paths"][path]["get"]["security"], path
    listing = document["paths"]["/programmes/{programme_id}/completions"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"cursor", "limit", "since", "format"} <= names
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000
    assert document["paths"]["/openapi.json"]["get"]["security"] == []
