"""The OpenAPI document at /api/openapi.json: valid OpenAPI 3.1, served without a log-in, and
in step with the app's routes both ways, so a new route cannot go undescribed and a removed
one cannot linger in the document. schemathesis runs against it in test_schemathesis.py."""
from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from bot.app import create_app
from bot.console.openapi import BASE, OpenAPIError, build_document

pytestmark = pytest.mark.both_backends

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def app_api_routes(app) -> set[tuple[str, str]]:
    """(METHOD, path template) of every /api route; HEAD is aiohttp's automatic twin of GET."""
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/") and route.method != "HEAD":
            found.add((route.method, path))
    return found


def documented_operations(doc: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


async def test_the_document_is_served_to_anyone_and_is_valid_openapi_3_1(client):
    resp = await client.get("/api/openapi.json")  # no log-in: it holds nothing secret
    assert resp.status == 200 and resp.content_type == "application/json"
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises with the offending place when the document breaks the specification
    assert doc["components"]["securitySchemes"]["session"]["name"] == "gigdesk_console"  # auth.COOKIE
    assert doc["components"]["securitySchemes"]["csrf"]["name"] == "X-CSRF-Token"  # auth.CSRF_HEADER


def test_every_api_route_is_described_and_every_description_is_a_route(settings):
    routes = app_api_routes(create_app(settings))
    described = documented_operations(build_document())
    assert len(routes) >= 25  # the walk found the API, not nothing
    assert sorted(routes - described) == [], "routes missing from bot/console/openapi/*.yaml"
    assert sorted(described - routes) == [], "described in bot/console/openapi/*.yaml but not routes"


def test_every_write_asks_for_the_csrf_token_and_every_route_states_who_may_call_it(settings):
    doc = build_document()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            codes = set(operation["responses"])
            if operation.get("security") == []:
                continue  # public: this document itself
            assert "401" in codes, (method, path)
            if method != "get":
                assert operation["security"] == [{"session": [], "csrf": []}], (method, path)
                assert "403" in codes, (method, path)  # the CSRF token or Origin is wrong


def _fragments(tmp_path, **files: str):
    (tmp_path / BASE).write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n"
                                 "components: {schemas: {Error: {type: object}}}\n", encoding="utf-8")
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_fragments_are_merged_and_a_clash_names_both_files(tmp_path):
    one = "paths:\n  /api/a:\n    get: {responses: {'200': {description: ok}}}\ncomponents: {schemas: {A: {type: string}}}\n"
    two = "paths:\n  /api/b:\n    get: {responses: {'200': {description: ok}}}\n"
    doc = build_document(_fragments(tmp_path, one=one, two=two))
    assert set(doc["paths"]) == {"/api/a", "/api/b"} and set(doc["components"]["schemas"]) == {"Error", "A"}

    (tmp_path / "three.yaml").write_text(one.split("components")[0], encoding="utf-8")
    with pytest.raises(OpenAPIError, match=r"three.yaml: path /api/a is already described in one.yaml"):
        build_document(tmp_path)
    (tmp_path / "three.yaml").write_text("components: {schemas: {Error: {type: string}}}\n", encoding="utf-8")
    with pytest.raises(OpenAPIError, match=r"components/schemas/Error is already defined differently in base"):
        build_document(tmp_path)
    (tmp_path / "three.yaml").write_text("paths: [oops\n", encoding="utf-8")
    with pytest.raises(OpenAPIError, match=r"three.yaml: cannot be read"):
        build_document(tmp_path)
