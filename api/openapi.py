"""The OpenAPI document at `/openapi.json`, and the docs pages that render it offline.

FastAPI generates the document from the routes; `install_openapi` replaces `app.openapi` so the
first call builds it once, with three additions:

- the control plane's schemas (`api.wire.control.DOCUMENTED`, from msgspec) and, for
  `GET`/`PUT /sim/v1/state`, a snapshot of this server's scenario at its start as the example;
- `POST /trade-api/v2/margin/orders` (`CreateMarginOrder`), which is served by a plain Starlette
  route (`api.rest.orders.HOT_ROUTES`) FastAPI does not see: copied from Kalshi's spec
  (`fixtures/reference/perps_openapi.yaml`) with every component it references;
- FastAPI's 422 validation answers are left out: the simulator answers those 400 in Kalshi's
  envelope (`api.errors`).

`/docs` (Swagger UI) and `/redoc` load their scripts and styles from the installed
`fastapi-offline` package (`DOCS_ASSETS`), never from a CDN.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import yaml
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.wire.control import DOCUMENTED
from api.wire.faults import DOCUMENTED as FAULTS_DOCUMENTED
from simulator.core.clock import ManualClock
from simulator.server import snapshots
from simulator.server.runtime import Runtime
from simulator.server.scenarios import FIXTURES_DIR

__all__ = ["DOCS_ASSETS", "KALSHI_SPEC", "install_openapi"]

KALSHI_SPEC = FIXTURES_DIR / "reference" / "perps_openapi.yaml"
DOCS_ASSETS = "/static-offline-docs"
"""Where `fastapi_offline.FastAPIOffline` mounts the Swagger UI and ReDoc files."""

_REF = "#/components/schemas/{name}"
_STATE_SCHEMA = "StateSnapshot"
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_HOT_OPERATIONS = (("/margin/orders", "post"),)  # (path in the spec, method)


def install_openapi(
    app: FastAPI, runtime: Runtime, *, rest_prefix: str, control_prefix: str
) -> None:
    """Make `app.openapi()` build the document described above, once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _drop_validation_answers(document)
            _add_kalshi_operations(document, rest_prefix)
            _add_control_schemas(document)
            _add_snapshot_examples(document, runtime, control_prefix)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _components(document: dict[str, Any]) -> dict[str, Any]:
    components: dict[str, Any] = document.setdefault("components", {})
    return components


def _merge(section: dict[str, Any], name: str, value: Any) -> None:
    if name in section and section[name] != value:
        raise ValueError(f"two different OpenAPI components are named {name!r}")
    section[name] = value


def _drop_validation_answers(document: dict[str, Any]) -> None:
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None and "400" not in responses:
                responses["400"] = {"$ref": "#/components/responses/BadRequestError"}
    schemas = _components(document).get("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)


def _add_kalshi_operations(document: dict[str, Any], rest_prefix: str) -> None:
    spec = yaml.load(KALSHI_SPEC.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    # the control plane's errors, and the 400 that replaces FastAPI's 422
    needed = {("schemas", "ErrorEnvelope"), ("responses", "BadRequestError")}
    for path, method in _HOT_OPERATIONS:
        operation = copy.deepcopy(spec["paths"][path][method])
        document["paths"].setdefault(rest_prefix + path, {})[method] = operation
        _refs(operation, needed)
        for requirement in operation.get("security", []):
            needed.update(("securitySchemes", name) for name in requirement)
    done: set[tuple[str, str]] = set()
    components = _components(document)
    while needed - done:
        kind, name = (needed - done).pop()
        done.add((kind, name))
        value = spec["components"][kind][name]
        _refs(value, needed)
        _merge(components.setdefault(kind, {}), name, value)


def _refs(node: Any, found: set[tuple[str, str]]) -> None:
    """Add every `#/components/KIND/NAME` that `node` references to `found`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                _, _, kind, name = value.split("/")
                found.add((kind, name))
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _add_control_schemas(document: dict[str, Any]) -> None:
    _, schemas = msgspec.json.schema_components(DOCUMENTED + FAULTS_DOCUMENTED, ref_template=_REF)
    section = _components(document).setdefault("schemas", {})
    for name, schema in schemas.items():
        _merge(section, name, schema)


def _add_snapshot_examples(document: dict[str, Any], runtime: Runtime, prefix: str) -> None:
    scenario = runtime.scenario
    start = snapshots.build(scenario, ManualClock(scenario.start_ms), runtime.seed)
    snapshot = snapshots.export_state(start)
    item = document["paths"][f"{prefix}/state"]
    # either format: v1 (the command log from the origin) until the first snapshot, then v2
    _components(document).setdefault("schemas", {})[_STATE_SCHEMA] = {
        "title": _STATE_SCHEMA,
        "description": "perps-sim/state-v1 (Snapshot: scenario, seed and every command) or, "
        "once the server has taken a snapshot, perps-sim/state-v2 (SnapshotV2: the pickled "
        "base state in base64 and the commands after it); PUT takes both",
        "oneOf": [{"$ref": _REF.format(name="Snapshot")}, {"$ref": _REF.format(name="SnapshotV2")}],
    }
    state_ref = {"$ref": _REF.format(name=_STATE_SCHEMA)}
    answer = item["get"]["responses"]["200"]["content"]["application/json"]
    answer["schema"] = state_ref
    answer["example"] = snapshot
    body = item["put"]["requestBody"]["content"]["application/json"]
    body["schema"] = state_ref
    body["examples"] = {
        "start": {
            "summary": f"the {scenario.name} scenario at its start (GET /sim/v1/state answers "
            "the current state in this shape)",
            "value": snapshot,
        }
    }
