"""`GET/PUT /sim/v1/state` after compaction: the v2 format (a snapshot base and the tail),
through a real socket (httpx against uvicorn)."""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import jsonschema

from api.app import create_app, server_options
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.api.live import uvicorn_serving

BARE = load_scenario("bare")


@contextmanager
def control_plane(snapshot_every: int) -> Iterator[tuple[httpx.Client, Runtime]]:
    # inline snapshots: the tail's length is then exactly bounded (a forked snapshot's tail
    # also holds the commands served while its child ran, `test_snapshot_fork`)
    runtime = Runtime(
        BARE, clock_mode="manual", snapshot_every=snapshot_every, snapshot_mode="inline"
    )
    with uvicorn_serving(create_app(runtime), **server_options(runtime.settings)) as port:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}/sim/v1", timeout=30)
        try:
            yield client, runtime
        finally:
            client.close()


def activity(client: httpx.Client, deposits: int) -> None:
    user = client.post("/users", json={"balance": "1000.0000"}).json()["user_id"]
    for n in range(deposits):
        response = client.post(f"/users/{user}/deposit", json={"amount": f"{n + 1}.0000"})
        assert response.status_code == 200, response.text
        if n % 5 == 0:
            assert client.post("/clock/advance", json={"ms": 60_000}).status_code == 200


def state_hash(client: httpx.Client) -> str:
    value: str = client.get("/state/hash").json()["state_hash"]
    return value


def test_a_compacted_export_round_trips_through_the_api() -> None:
    with control_plane(snapshot_every=10) as (source, source_runtime):
        activity(source, 40)
        exported = source.get("/state")
        components = source.get(source.base_url.join("/openapi.json")).json()["components"]
        expected = state_hash(source)
    with control_plane(snapshot_every=10_000) as (target, target_runtime):
        activity(target, 3)

        imported = target.put(
            "/state", content=exported.content, headers={"content-type": "application/json"}
        )

        assert imported.status_code == 200, imported.text
        assert imported.json()["state_hash"] == expected == state_hash(target)
    snapshot = exported.json()
    # the documented answer schema (v1 or v2) holds the v2 export
    state_schema = {"$ref": "#/components/schemas/StateSnapshot", "components": components}
    jsonschema.Draft202012Validator(state_schema).validate(snapshot)
    assert snapshot["format"] == "perps-sim/state-v2"
    assert set(snapshot["base"]) == {"snapshot", "sha256", "state_hash", "now_ms", "commands"}
    assert 0 < len(snapshot["commands"]) <= 10
    assert source_runtime.snapshots_taken >= 4
    assert target_runtime.exchange.command_log.base is not None


def _damaged(snapshot: dict[str, Any], what: str) -> dict[str, Any]:
    base = dict(snapshot["base"])
    if what == "bytes":
        blob = base["snapshot"]
        base["snapshot"] = blob[:40] + ("A" if blob[40] != "A" else "B") + blob[41:]
    elif what == "sha256":
        base["sha256"] = "0" * 64
    elif what == "state_hash":
        base["state_hash"] = "0" * 64
    elif what == "base64":
        base["snapshot"] = "not base64!"
    return {**snapshot, "base": base}


def test_a_damaged_base_is_400_and_changes_nothing() -> None:
    with control_plane(snapshot_every=10) as (source, _):
        activity(source, 25)
        snapshot = source.get("/state").json()
    with control_plane(snapshot_every=10_000) as (target, runtime):
        activity(target, 2)
        before, generation = state_hash(target), runtime.generation

        for what in ("bytes", "sha256", "state_hash", "base64"):
            response = target.put("/state", json=_damaged(snapshot, what))

            assert response.status_code == 400, (what, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_parameters", what
        tail = {**snapshot, "state_hash": "0" * 64}
        assert target.put("/state", json=tail).status_code == 400
        assert state_hash(target) == before
        assert runtime.generation == generation


class _Calls:
    # pickles as a call of os.system: what a crafted snapshot would run
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, ("true",)


def test_a_crafted_base_with_a_matching_checksum_is_refused() -> None:
    crafted = pickle.dumps(_Calls(), protocol=5)
    with control_plane(snapshot_every=10) as (source, _):
        activity(source, 12)
        snapshot = source.get("/state").json()
    snapshot["base"]["snapshot"] = base64.b64encode(crafted).decode()
    snapshot["base"]["sha256"] = hashlib.sha256(crafted).hexdigest()
    with control_plane(snapshot_every=10_000) as (target, _):
        before = state_hash(target)

        response = target.put("/state", json=snapshot)

        assert response.status_code == 400
        assert "system" in response.json()["error"]["message"]
        assert state_hash(target) == before
