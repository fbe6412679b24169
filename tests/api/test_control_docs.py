"""The OpenAPI document documents the control plane, and its examples work on a live server.

Every `/sim/v1` operation has the `simulator` tag, a request body schema where it takes a body,
a 2xx answer schema and examples; each request example, sent to a freshly reset server over a
real socket, is accepted and answered in the documented shape. The hot `POST /margin/orders`
is in the document as Kalshi's spec has it, and `/docs` and `/redoc` need no network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from fastapi.routing import APIRoute

from api import control, control_faults
from simulator.server.scenarios import load_scenario
from tests.api import spec
from tests.api.live import LiveServer, live_server
from tests.api.served import Served

CONTROL = "/sim/v1"
TAKES_NO_BODY = {("post", "/sim/v1/reset")}


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with live_server(load_scenario("bare")) as served:
        yield served


@pytest.fixture(scope="module")
def document(live: LiveServer) -> dict[str, Any]:
    with live.client(base_url=live.base) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith(CONTROL)
        for method, operation in item.items()
    ]


def _answer(operation: dict[str, Any], code: str | None = None) -> tuple[int, dict[str, Any]]:
    # the answer of a request example; an operation may also answer 202 (`POST /clock/advance`
    # with `"wait": false`), which `code="202"` picks
    codes = sorted(code for code in operation["responses"] if code.startswith("2"))
    assert codes and set(codes[1:]) <= {"202"}, codes
    chosen = codes[0] if code is None else code
    content: dict[str, Any] = operation["responses"][chosen]["content"]["application/json"]
    return int(chosen), content


def _validate(document: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """Check `value` against a schema of the document (its `$ref`s resolve in the document)."""
    root = {**schema, "components": document["components"]}
    jsonschema.Draft202012Validator(root).validate(value)


def _examples(content: dict[str, Any]) -> dict[str, Any]:
    if "examples" in content:
        return {name: example["value"] for name, example in content["examples"].items()}
    return {"example": content["example"]} if "example" in content else {}


def _path(path: str, operation: dict[str, Any]) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = parameter["schema"]["examples"][0]
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


def test_every_control_route_is_in_the_document(document: dict[str, Any]):
    served = {
        (method.lower(), CONTROL + route.path)
        for router in (control.router, control_faults.router)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    documented = {(method, path) for method, path, _ in _operations(document)}
    assert documented == served
    assert len(documented) == 18


def test_every_control_operation_is_tagged_typed_and_exemplified(document: dict[str, Any]):
    for method, path, operation in _operations(document):
        where = f"{method.upper()} {path}"
        assert operation["tags"] == ["simulator"], where
        assert operation.get("summary"), where
        for code in [code for code in operation["responses"] if code.startswith("2")]:
            _, answer = _answer(operation, code)
            assert answer["schema"]["$ref"].startswith("#/components/schemas/"), where
            answers = _examples(answer)
            assert answers, where
            for example in answers.values():
                _validate(document, answer["schema"], example)
        for code, response in operation["responses"].items():
            if code.startswith("4"):
                error = response["content"]["application/json"]
                _validate(document, error["schema"], error["example"])
        if method in ("post", "put") and (method, path) not in TAKES_NO_BODY:
            body = operation["requestBody"]["content"]["application/json"]
            assert body["schema"]["$ref"].startswith("#/components/schemas/"), where
            requests = _examples(body)
            assert requests, where
            for example in requests.values():
                _validate(document, body["schema"], example)
        else:
            assert "requestBody" not in operation, where


def test_every_request_example_is_accepted_by_a_live_server(
    live: LiveServer, document: dict[str, Any]
):
    tried = 0
    for method, path, operation in _operations(document):
        status, answer = _answer(operation)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        examples = _examples(body) if body else {"no body": None}
        for name, example in examples.items():
            assert live.control("POST", "/reset").status_code == 200
            url = _path(path, operation)[len(CONTROL) :]
            if path == "/sim/v1/faults/{fault_id}":  # the example's fault, made first
                made = live.control("POST", "/faults", json={"kind": "ws_drop"})
                assert made.json()["fault_id"] == url.rsplit("/", 1)[1], made.text
            response = live.control(method.upper(), url, json=example)
            where = f"{method.upper()} {path} example {name!r}: {response.text[:300]}"
            assert response.status_code == status, where
            _validate(document, answer["schema"], response.json())
            tried += 1
    assert tried >= 21


def test_the_documented_empty_user_body_is_refused(document: dict[str, Any], live: LiveServer):
    body = document["components"]["schemas"]["CreateUserRequest"]
    assert body["required"] == []  # `{}` is a user with every default ...
    assert "an empty body is 400" in body["description"]
    response = live.control(  # ... no JSON at all is not
        "POST", "/users", content=b"", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


def test_the_hot_order_route_is_documented_from_kalshis_spec(document: dict[str, Any]):
    operation = document["paths"]["/trade-api/v2/margin/orders"]["post"]
    assert operation == spec.operation("POST", "/margin/orders")
    assert operation["operationId"] == "CreateMarginOrder"
    assert {"get", "delete"} <= document["paths"]["/trade-api/v2/margin/orders"].keys()
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    order = {
        "ticker": "KXBTCPERP",
        "client_order_id": "doc-1",
        "side": "bid",
        "count": "2",
        "price": "6.2590",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }
    _validate(document, body, order)
    for name in ("kalshiAccessKey", "kalshiAccessSignature", "kalshiAccessTimestamp"):
        assert name in document["components"]["securitySchemes"]


def test_every_reference_in_the_document_resolves(document: dict[str, Any]):
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            refs.update([node["$ref"]] if isinstance(node.get("$ref"), str) else [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    for ref in refs:
        _, _, kind, name = ref.split("/")
        assert name in document["components"][kind], ref
    assert not any(
        "422" in op["responses"] for item in document["paths"].values() for op in item.values()
    )


def test_docs_pages_load_every_asset_from_the_app(fresh: Served) -> None:
    with fresh.client(base_url=fresh.base) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200
            assert "cdn." not in html.text
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
            urls += re.findall(r"""(?:url|spec-url)[:=]\s*["']([^"']+)["']""", html.text)
            assert urls, page
            for url in urls:
                assert not re.match(r"(https?:)?//", url), f"{page} loads {url} from elsewhere"
                asset = client.get(url)
                assert asset.status_code == 200, f"{page}: {url} answers {asset.status_code}"
                assert asset.content, url


def test_the_document_is_built_once(fresh: Served) -> None:
    assert fresh.app.openapi() is fresh.app.openapi()


def test_a_replayed_reference_shows_its_progress_on_the_clock(
    live: LiveServer, document: dict[str, Any]
):
    _, answer = _answer(document["paths"]["/sim/v1/clock"]["get"])
    with live_server(load_scenario("liquidation-cascade")) as cascade:
        start = cascade.control("GET", "/clock").json()
        advanced = cascade.control("POST", "/clock/advance", json={"ms": 11 * 60_000}).json()
    for body in (start, advanced):
        _validate(document, answer["schema"], body)
    first_ms = start["now_ms"]
    assert start["replays"] == [
        {
            "ticker": "KXBTCPERP",
            "points_reached": 1,
            "points_total": 31,
            "first_ts_ms": first_ms,
            "last_ts_ms": first_ms + 629_000,
            "percent": 0.0,
            "done": False,
        }
    ]
    (ended,) = advanced["replays"]
    assert (ended["points_reached"], ended["percent"], ended["done"]) == (31, 100.0, True)
    assert "replays" not in live.control("GET", "/clock").json()  # bare: no replay
