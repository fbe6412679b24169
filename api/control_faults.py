"""`/sim/v1/faults`: list, add, remove and clear injected faults (`simulator.server.faults`).

Handlers only parse, call the runtime (`Runtime.add_fault` and the like) and render. Faults
are runtime settings: kept until removed, cleared by `POST /sim/v1/reset`, never journaled
(the commands of a `pause` are, `simulator.server.fault_pauses`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from api import deps
from api.bodies import read_json
from api.errors import ApiError, BadRequestError
from api.responses import json_response
from api.wire import control as wire
from api.wire.faults import FaultList, FaultsCleared, FaultView, fault_view
from simulator.server.faults import FaultSpec

router = APIRouter(tags=["simulator"])

FaultId = Annotated[str, Path(description="a fault's id", examples=["fault-1"])]

_EXAMPLE = {
    "fault_id": "fault-1",
    "kind": "error",
    "target": "POST /trade-api/v2/margin/orders",
    "percent": 100,
    "count": 1,
    "latency_ms": 0,
    "status": 503,
    "close_code": 1011,
    "gap": 1,
    "channel": None,
    "applied": 0,
}


class _FaultNotFound(ApiError):
    status = 404
    code = "fault_not_found"


@router.get(
    "/faults", **wire.operation("Injected faults", FaultList, {"faults": [_EXAMPLE]}, errors={})
)
async def list_faults(runtime: deps.CurrentRuntime) -> Response:
    return json_response({"faults": [fault_view(fault) for fault in runtime.faults.held()]})


@router.post(
    "/faults",
    **wire.operation(
        "Inject a fault: REST latency or errors, WebSocket drops, FIX disconnects or gaps, pauses",
        FaultView,
        _EXAMPLE,
        body=FaultSpec,
        examples={
            "one_503_on_orders": {
                "kind": "error",
                "target": "POST /trade-api/v2/margin/orders",
                "status": 503,
                "count": 1,
            },
            "slow_reads": {"kind": "latency", "target": "GET /trade-api/v2/*", "latency_ms": 5},
            "drop_websockets": {"kind": "ws_drop", "percent": 10},
            "fix_gap": {"kind": "fix_seq_gap", "target": "demo-user", "gap": 2, "count": 1},
            "slow_book_frames": {
                "kind": "ws_latency",
                "channel": "orderbook_delta",
                "latency_ms": 200,
            },
            "slow_fix_reports": {"kind": "fix_latency", "latency_ms": 50, "percent": 10},
            "pause_a_market": {"kind": "pause", "target": "KXBTCPERP"},
        },
        status=201,
        errors={400: "invalid_parameters", 404: "market_not_found"},
    ),
    status_code=201,
)
async def add_fault(request: Request, runtime: deps.CurrentRuntime) -> Response:
    spec = await read_json(request, FaultSpec)
    try:
        fault = runtime.add_fault(spec)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    return json_response(fault_view(fault), status=201)


@router.delete(
    "/faults",
    **wire.operation("Remove every fault", FaultsCleared, {"removed": 1}, errors={}),
)
async def clear_faults(runtime: deps.CurrentRuntime) -> Response:
    removed = runtime.clear_faults()
    return json_response({"removed": removed})


@router.delete(
    "/faults/{fault_id}",
    **wire.operation(
        "Remove one fault",
        FaultView,
        _EXAMPLE,
        errors={400: "invalid_parameters", 404: "fault_not_found"},
    ),
)
async def remove_fault(fault_id: FaultId, runtime: deps.CurrentRuntime) -> Response:
    fault = runtime.remove_fault(fault_id)
    if fault is None:
        raise _FaultNotFound(f"no fault {fault_id!r}")
    return json_response(fault_view(fault))
