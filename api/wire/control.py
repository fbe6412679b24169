"""The control plane on the wire: request structs, the shapes of its answers, and their docs.

The request structs are what the handlers decode bodies into (`api.bodies.read_json`), so the
schemas in `/openapi.json` are the parser's own. The answer structs only describe the dicts the
handlers render (nothing encodes through them); `tests/api/test_control_docs.py` checks live
answers against them and sends every request example to a server, so neither can drift.

Money in requests is a dollar string (at most 6 decimals, prices 4); money in answers is what
the exchange keeps, integer micro-dollars (`cash`); prices are dollar strings, times epoch ms.
An empty `POST /users` body (no JSON at all) is refused like every other malformed body (400
`invalid_parameters`); `{}` is a user with every default.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from simulator.server.rate_limits import TIERS
from simulator.server.snapshots import Snapshot, SnapshotV2

__all__ = [
    "DOCUMENTED",
    "AdvanceClockRequest",
    "AdvanceProgress",
    "CreateUserRequest",
    "DepositRequest",
    "ExchangeStatusRequest",
    "MarketStatusRequest",
    "RateLimitsRequest",
    "ReferencePriceRequest",
    "operation",
]

MAX_ADVANCE_MS = 7 * 86_400_000
"""Longest jump of one `POST /clock/advance`: every timer on the way fires, so the work grows
with the jump (a day of the default scenario is seconds); a bound keeps one request bounded."""

_TIER_NAMES = list(TIERS)
_DOLLARS = "dollars, a decimal string (at most 6 decimals)"


# ------------------------------------------------------------------------------ requests


class CreateUserRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /sim/v1/users`: every field may be left out (`{}` is a user with no money and a
    generated key pair); an empty body is 400 `invalid_parameters`."""

    balance: Annotated[
        str, Meta(description=f"opening cash on subaccount 0, {_DOLLARS}", examples=["10000"])
    ] = "0"
    public_key_pem: Annotated[
        str | None,
        Meta(
            description="RSA public key (PEM) that signs for the user; left out, the server "
            "generates a key pair and answers the private key once"
        ),
    ] = None
    user_id: Annotated[
        str | None, Meta(description="the user's id; left out, a generated UUID")
    ] = None
    api_key_id: Annotated[
        str | None, Meta(description="the API key id to sign with; left out, a generated UUID")
    ] = None
    notional_limit: Annotated[
        str | None,
        Meta(
            description="per-market notional risk limit in every market, "
            f"{_DOLLARS}; left out, each market's limit (the exchange default is $5,000)",
            examples=["20000"],
        ),
    ] = None
    usage_tier: Annotated[
        str | None,
        Meta(
            description="rate-limit tier (a runtime setting like `POST /users/{user_id}/"
            "rate_limits`: not journaled, forgotten by `POST /reset`); left out, basic",
            extra_json_schema={"enum": [*_TIER_NAMES, None]},
        ),
    ] = None


class DepositRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /sim/v1/users/{user_id}/deposit`."""

    amount: Annotated[str, Meta(description=f"cash to credit, {_DOLLARS}; positive")]
    subaccount: Annotated[int, Meta(description="subaccount number (0 = primary)")] = 0


class RateLimitsRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /sim/v1/users/{user_id}/rate_limits` (runtime settings, forgotten by a reset)."""

    enabled: Annotated[
        bool | None,
        Meta(description="enforce the user's token buckets; null follows `--rate-limits`"),
    ] = None
    usage_tier: Annotated[
        str | None,
        Meta(
            description="the user's tier; null keeps it",
            extra_json_schema={"enum": [*_TIER_NAMES, None]},
        ),
    ] = None


class AdvanceClockRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /sim/v1/clock/advance` (manual clock only): `ms` or `to_ms`, one of them."""

    ms: Annotated[
        int | None,
        Meta(
            description="simulated milliseconds to move; every timer due on the way fires, "
            "in time order",
            extra_json_schema={"minimum": 0, "maximum": MAX_ADVANCE_MS},
        ),
    ] = None
    to_ms: Annotated[
        int | None,
        Meta(
            description="instead of `ms`: the instant to move to (epoch ms, as `now_ms`), "
            "not before now and at most 7 days after it"
        ),
    ] = None
    wait: Annotated[
        bool,
        Meta(
            description="true: answer 200 once the clock is there (other requests are served "
            "meanwhile); false: answer 202 at once and advance in the background, progress in "
            "`GET /sim/v1/clock`. Either way, writes wait until it is done and another advance, "
            "a reset or a state import is 409 `advance_in_progress` until then"
        ),
    ] = True


class ReferencePriceRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /sim/v1/markets/{ticker}/reference_price`."""

    price: Annotated[
        str, Meta(description="the index now, dollars per contract (at most 4 decimals)")
    ]
    pin: Annotated[
        bool | None,
        Meta(
            description="true: the market's feed stops moving the price until `pin: false` "
            "(which resumes the feed from this price) or a reset; null keeps the pin as it is"
        ),
    ] = None


class MarketStatusRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /sim/v1/markets/{ticker}/status`."""

    status: Annotated[
        Literal["active", "inactive", "closed"],
        Meta(description="inactive pauses the market, closed ends it; both cancel orders"),
    ]
    halt_sources: Annotated[
        list[str] | None,
        Meta(description='why it is halted; left out, ["manual"] unless active'),
    ] = None


class ExchangeStatusRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /sim/v1/exchange/status`: a field left out keeps its value."""

    exchange_active: bool | None = None
    trading_active: bool | None = None


# ------------------------------------------------------------------------------- answers


class Health(msgspec.Struct):
    """`GET /sim/v1/health`: ready."""

    status: Literal["ok"]
    scenario: str
    clock: Literal["wall", "manual", "accelerated"]
    now_ms: int
    markets: list[str]


class CreatedUser(msgspec.Struct):
    """A new user and the key id that signs for it."""

    user_id: str
    api_key_id: str
    private_key_pem: Annotated[
        str | UnsetType,
        Meta(description="PKCS#8 PEM; only when the server generated the key pair"),
    ] = UNSET


class Deposited(msgspec.Struct):
    """The subaccount's cash after the deposit."""

    user_id: str
    subaccount: int
    cash: Annotated[int, Meta(description="cash balance, integer micro-dollars")]


class RateLimits(msgspec.Struct):
    """The user's rate-limit settings now."""

    user_id: str
    enabled: bool
    usage_tier: Annotated[str, Meta(extra_json_schema={"enum": _TIER_NAMES})]


class AdvanceProgress(msgspec.Struct):
    """An advance under way (`POST /sim/v1/clock/advance`)."""

    target_ms: Annotated[int, Meta(description="where the clock is going")]
    reached_ms: Annotated[int, Meta(description="where it is (the same as `now_ms`)")]
    percent: Annotated[float, Meta(description="share of the advance done, 0 to 100")]
    eta_ms: Annotated[
        int | None,
        Meta(description="wall ms left at the speed so far; null until the first slice is done"),
    ]


class ReplayProgress(msgspec.Struct):
    """How far a market's replayed reference (a `replay` feed) has got."""

    ticker: str
    points_reached: Annotated[int, Meta(description="replay points at or before now")]
    points_total: int
    first_ts_ms: int
    last_ts_ms: Annotated[int, Meta(description="the last point: the replay runs out then")]
    percent: Annotated[
        float, Meta(description="share of first_ts_ms to last_ts_ms passed, 0 to 100")
    ]
    done: Annotated[bool, Meta(description="the replay has run out: the reference stays until set")]


class Clock(msgspec.Struct):
    """The simulated clock."""

    mode: Literal["wall", "manual", "accelerated"]
    now_ms: int
    now: Annotated[str, Meta(description="RFC 3339, UTC")]
    lag_ms: Annotated[
        int | UnsetType,
        Meta(
            description="wall and accelerated clocks only: simulated ms from the oldest timer "
            "not fired yet to now (0 while the exchange keeps up)"
        ),
    ] = UNSET
    advance: Annotated[
        AdvanceProgress | UnsetType,
        Meta(description="only while an advance runs (manual clock): its progress"),
    ] = UNSET
    replays: Annotated[
        list[ReplayProgress] | UnsetType,
        Meta(description="only on a scenario with replayed references: each one's progress"),
    ] = UNSET


class ReferencePriceSet(msgspec.Struct):
    """The index as set, and whether the market's feed is pinned."""

    ticker: str
    price: str
    ts_ms: int
    mark_ts_ms: Annotated[int, Meta(description="when the liquidation mark last changed")]
    pinned: bool


class MarketStatus(msgspec.Struct):
    """The market's status now."""

    ticker: str
    status: Literal["active", "inactive", "closed"]
    halt_sources: list[str]


class ExchangeStatus(msgspec.Struct):
    """The exchange's switches now."""

    exchange_active: bool
    trading_active: bool


class Reset(msgspec.Struct):
    """Back at the scenario's start: the clock after the reset."""

    mode: Literal["wall", "manual", "accelerated"]
    now_ms: int
    now: str
    status: Literal["reset"]


class JournalEvent(msgspec.Struct):
    """One event of the journal."""

    seq: int
    event: Annotated[
        dict[str, Any],
        Meta(description="the event (`simulator.core.events`), its kind in `type`"),
    ]


class Events(msgspec.Struct):
    """A page of the event journal, oldest first."""

    events: list[JournalEvent]
    first_seq: Annotated[
        int, Meta(description="the oldest event still kept (last_seq + 1 while none is)")
    ]
    last_seq: Annotated[int, Meta(description="the newest event's seq (0 before any)")]
    truncated: Annotated[
        bool,
        Meta(
            description="true when events after `after` were dropped (older than first_seq): "
            "this page starts at first_seq, and the events in between are gone"
        ),
    ]


class StateImported(msgspec.Struct):
    """The snapshot was replayed and installed."""

    status: Literal["imported"]
    now_ms: int
    state_hash: str


class StateHash(msgspec.Struct):
    """SHA-256 of the whole observable state (`simulator.server.state_hash`)."""

    state_hash: str


DOCUMENTED: tuple[type, ...] = (
    CreateUserRequest,
    DepositRequest,
    RateLimitsRequest,
    AdvanceClockRequest,
    ReferencePriceRequest,
    MarketStatusRequest,
    ExchangeStatusRequest,
    Health,
    AdvanceProgress,
    ReplayProgress,
    CreatedUser,
    Deposited,
    RateLimits,
    Clock,
    ReferencePriceSet,
    MarketStatus,
    ExchangeStatus,
    Reset,
    Events,
    Snapshot,
    SnapshotV2,
    StateImported,
    StateHash,
)
"""Every struct the control plane's operations name in `/openapi.json` (`api.openapi`)."""


# ---------------------------------------------------------------------------------- docs

_ERRORS = {
    400: "invalid input: not JSON, an unknown field or a bad value",
    404: "the path's user, market or fault does not exist",
    409: "a conflict",
}
_CONFLICTS = {
    "clock_not_manual": "the clock is not manual (`clock_not_manual`), or an advance is running "
    "(`advance_in_progress`)",
    "advance_in_progress": "an advance is running (`advance_in_progress`); nothing changed",
}


def _ref(struct: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{struct.__name__}"}


def operation(
    summary: str,
    answer: type,
    answer_example: Any,
    *,
    body: type | None = None,
    examples: dict[str, Any] | None = None,
    status: int = 200,
    errors: dict[int, str] | None = None,
    accepted: tuple[type, Any] | None = None,
) -> dict[str, Any]:
    """The route decorator's documentation arguments for one control-plane operation.

    `examples` names each request example (`{"minimal": {...}}`); `answer_example` is a
    sample answer; `errors` maps each error status to the code of its example (400
    `invalid_parameters` by default). Errors carry Kalshi's envelope (`ErrorEnvelope`).
    `accepted` is the answer struct and example of a 202 (work left running).
    """
    responses: dict[int | str, Any] = {
        status: {
            "description": (answer.__doc__ or summary).splitlines()[0],
            "content": {"application/json": {"schema": _ref(answer), "example": answer_example}},
        }
    }
    if accepted is not None:
        struct, example = accepted
        responses[202] = {
            "description": "Accepted: running in the background",
            "content": {"application/json": {"schema": _ref(struct), "example": example}},
        }
    chosen = {400: "invalid_parameters"} if errors is None else errors
    for code, error_code in chosen.items():
        text = _CONFLICTS.get(error_code, _ERRORS[code]) if code == 409 else _ERRORS[code]
        example = {"error": {"code": error_code, "message": text, "service": "exchange"}}
        responses[code] = {
            "description": text,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorEnvelope"},
                    "example": example,
                }
            },
        }
    documented: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        content: dict[str, Any] = {"schema": _ref(body)}
        if examples:
            content["examples"] = {name: {"value": value} for name, value in examples.items()}
        documented["openapi_extra"] = {
            "requestBody": {"required": True, "content": {"application/json": content}}
        }
    return documented
