"""The vendored Kalshi spec as a test oracle: operations, and response-body validation.

OpenAPI 3.0 schemas become JSON Schema (draft 7) by turning `nullable: true` into a union with
null and `oneOf` into `anyOf` (the spec's `ErrorBody` alternatives overlap); `$ref`s resolve
inside the converted document. `date-time` strings must be RFC 3339.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "reference" / "perps_openapi.yaml"
METHODS = ("get", "post", "put", "delete", "patch")


@functools.cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _convert(value) for key, value in node.items() if not key.startswith("x-")}
    if "oneOf" in out:  # ErrorBody's alternatives overlap (every field optional): any will do
        out["anyOf"] = out.pop("oneOf")
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _components() -> dict[str, Any]:
    converted: dict[str, Any] = _convert(spec()["components"])
    return converted


_FORMATS = jsonschema.FormatChecker()
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@_FORMATS.checks("date-time")
def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):  # formats only constrain strings; `type` checks the rest
        return True
    if _RFC3339.match(value) is None:
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def operations() -> list[tuple[str, str, str]]:
    """(METHOD, path template, operationId) for every operation in the spec."""
    found = []
    for path, item in spec()["paths"].items():
        for method in METHODS:
            if method in item:
                found.append((method.upper(), path, item[method]["operationId"]))
    return found


def operation(method: str, template: str) -> dict[str, Any]:
    op: dict[str, Any] = spec()["paths"][template][method.lower()]
    return op


@functools.cache
def _template_patterns() -> list[tuple[re.Pattern[str], str]]:
    patterns = []
    for template in spec()["paths"]:
        escaped = re.escape(template).replace("\\{", "{").replace("\\}", "}")
        regex = re.sub(r"\{[^}]+\}", "[^/]+", escaped)
        patterns.append((re.compile(f"^{regex}$"), template))
    # literal paths first so /margin/markets/orderbooks beats /margin/markets/{ticker}
    patterns.sort(key=lambda item: item[1].count("{"))
    return patterns


def template_for(path: str) -> str:
    """The spec path template matching a concrete path relative to `/trade-api/v2`."""
    for pattern, template in _template_patterns():
        if pattern.match(path):
            return template
    raise KeyError(path)


def response_schema(method: str, template: str, status: int) -> dict[str, Any] | None:
    """The declared JSON schema for a status code (None when the status declares no body)."""
    responses = operation(method, template)["responses"]
    declared = responses.get(str(status)) or responses.get("default")
    if declared is None:
        raise AssertionError(f"{method} {template} does not declare status {status}")
    if "$ref" in declared:
        declared = spec()["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
    content = declared.get("content")
    if not content:
        return None
    schema: dict[str, Any] = _convert(content["application/json"]["schema"])
    return schema


def validate_response(method: str, path: str, status: int, body: bytes) -> Any:
    """Check a response against the spec; returns the parsed JSON (None for an empty body)."""
    template = template_for(path)
    schema = response_schema(method, template, status)
    if schema is None:
        assert body == b"", f"{method} {template} {status} must have no body, got {body[:200]!r}"
        return None
    document = json.loads(body)
    root = {**schema, "components": _components()}
    jsonschema.Draft7Validator(root, format_checker=_FORMATS).validate(document)
    return document
