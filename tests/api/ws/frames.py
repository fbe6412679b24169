"""Checks every server frame against the vendored WebSocket schemas (fixtures/reference)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[3] / "fixtures" / "reference" / "ws_schemas.json"


@cache
def _root() -> dict[str, Any]:
    root: dict[str, Any] = json.loads(SCHEMAS.read_text())
    return root


@cache
def _validator(name: str) -> Draft202012Validator:
    root = _root()
    registry: Registry[Any] = Registry().with_resource(root["$id"], Resource.from_contents(root))
    schema = {"$ref": f"{root['$id']}#/server_messages/{name}"}
    return Draft202012Validator(schema, registry=registry)


def schema_name(frame: dict[str, Any]) -> str:
    """The `server_messages` schema of a frame (`ok` with a list is the list reply)."""
    kind = frame["type"]
    if kind == "ok" and isinstance(frame.get("msg"), list):
        return "ok_list_subscriptions"
    return str(kind)


def check(frame: dict[str, Any]) -> None:
    """Raise `jsonschema.ValidationError` unless `frame` matches its type's schema."""
    _validator(schema_name(frame)).validate(frame)
