"""The OpenAPI 3.1 description of the JSON API, served at GET /api/openapi.json.

It is written by hand as YAML fragments in bot/console/openapi/: base.yaml holds what every
part shares (info, security schemes, the Error schema, the error responses) and each other
file describes one area's routes (top-level `paths:` and optional `components:`). Fragments
let each part of the console describe its own routes without editing one big file.
tests/test_openapi.py checks that the document and the app's routes agree, and
tests/test_schemathesis.py runs schemathesis against it."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from bot.console.auth import public
from bot.httputil import json_error

log = logging.getLogger("gigdesk.console")
FRAGMENTS = Path(__file__).resolve().parent / "openapi"
BASE = "base.yaml"


class OpenAPIError(ValueError):
    """A fragment that cannot be read, or two fragments that describe the same thing."""


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise OpenAPIError(f"{path.name}: cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise OpenAPIError(f"{path.name}: should be a mapping with `paths:`")
    return data


def _merge_fragment(doc: dict[str, Any], data: dict[str, Any], name: str, owners: dict[str, str]) -> None:
    """Adds one fragment's paths and components; `owners` remembers which file gave what, so a
    clash names both files."""
    unknown = set(data) - {"paths", "components"}
    if unknown:
        raise OpenAPIError(f"{name}: only `paths:` and `components:` belong in a fragment, not {sorted(unknown)}")
    for path, item in (data.get("paths") or {}).items():
        if path in doc["paths"]:
            raise OpenAPIError(f"{name}: path {path} is already described in {owners['path ' + path]}")
        doc["paths"][path] = item
        owners["path " + path] = name
    for section, entries in (data.get("components") or {}).items():
        target = doc["components"].setdefault(section, {})
        for key, value in (entries or {}).items():
            if key in target and target[key] != value:
                raise OpenAPIError(f"{name}: components/{section}/{key} is already defined differently "
                                   f"in {owners.get(f'{section} {key}', BASE)}")
            target[key] = value
            owners.setdefault(f"{section} {key}", name)


def build_document(folder: Path = FRAGMENTS) -> dict[str, Any]:
    """base.yaml plus every other *.yaml in the folder, in file-name order."""
    doc = _read(folder / BASE)
    doc.setdefault("paths", {})
    doc["paths"] = dict(doc["paths"] or {})
    doc.setdefault("components", {})
    owners = {"path " + path: BASE for path in doc["paths"]}
    for path in sorted(folder.glob("*.yaml")):
        if path.name != BASE:
            _merge_fragment(doc, _read(path), path.name, owners)
    return doc


class OpenAPIDocument:
    """Built at the first request and kept: the fragments ship with the code and do not change
    while it runs. A broken fragment answers a clear error here (and fails tests/test_openapi.py)
    rather than stopping the whole server."""

    def __init__(self, folder: Path = FRAGMENTS) -> None:
        self.folder = folder
        self._body: bytes | None = None

    @public  # the API's description holds nothing secret
    async def serve(self, request: web.Request) -> web.Response:
        if self._body is None:
            try:
                self._body = json.dumps(build_document(self.folder), ensure_ascii=False, default=str).encode()
            except OpenAPIError as exc:
                log.error("the OpenAPI document cannot be built: %s", exc)
                return json_error(500, f"接口说明文件有误：{exc}")
        return web.Response(body=self._body, content_type="application/json", charset="utf-8")


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", OpenAPIDocument().serve)
