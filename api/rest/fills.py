"""The caller's fills, cursor-paginated (newest first; see `api.wire.fills`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api import deps
from api.responses import json_response
from api.wire import fills as wire

router = APIRouter()


@router.get("/margin/fills")
async def get_fills(
    caller: deps.Authenticated,
    subaccount: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    min_ts: int | None = None,
    max_ts: int | None = None,
) -> Response:
    exchange = caller.exchange
    positions = exchange.fill_index.of(caller.user_id)
    return json_response(
        wire.fill_page(
            exchange,
            positions,
            exchange.fill_index.dropped(caller.user_id),
            subaccount=subaccount,
            min_ts=min_ts,
            max_ts=max_ts,
            limit=limit,
            cursor=cursor,
        )
    )
