"""Write `docs/parity.md` from the code; `--check` exits 1 with a diff when the file is stale.

    .venv/bin/python docs/gen_parity.py           # or `make parity`
    .venv/bin/python docs/gen_parity.py --check   # tests/test_parity_doc.py does the same

Generated, from the sources of truth:

- REST: each operation of the vendored spec (`fixtures/reference/perps_openapi.yaml`), served or
  not: a request of its method and path (path parameters filled in) is matched against the
  routes of `api.app.create_app` as Starlette matches them, which covers the plain routes of
  `api.rest.orders.HOT_ROUTES` mounted ahead of the routers; a route the app's OpenAPI document
  or `HOT_ROUTES` has under `/trade-api/v2` that the spec lacks is listed too.
- WebSocket: the channel table (`api.wire.ws.CHANNELS`, `FRAME_TYPES`, `SEQUENCED`,
  `EVENT_CONTRACT_CHANNELS`, the hub's public channels) against the spec's channel enum
  (`fixtures/reference/ws_schemas.json`); the spec's commands and `update_subscription` actions,
  each sent to an `api.ws.session.Session` (answered unless error 5 or 13).
- FIX: each MsgType sent to the acceptor's dispatch (`fix_acceptor.server`: `OrderEntry` from
  `application._HANDLERS` on KalshiNR/KalshiRT, `MarketDataSession` on KalshiMD, drop copy on
  KalshiDC) on a logged-on connection of each session type: handled, or answered with
  BusinessMessageReject (j) 380=3. The candidates are every MsgType the session layer knows
  (`session.is_known_msg_type`: one and two characters, and the Kalshi ones), so a new handler
  shows up; the session-level types are `session._SESSION_MSG_TYPES`.

Hand-written, here: the first table (`ROWS`, one row per capability, kept as it was written as
each part landed) and the notes keyed by item (`REST_NOTES` by operationId, `FIX_MESSAGES` by
MsgType, `SESSION_MESSAGES`). Edit them here, never `docs/parity.md`. The output is deterministic:
no timestamps, every list sorted or in the order of its source.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import functools
import itertools
import json
import re
import string
import sys
from pathlib import Path
from typing import Any, Final, cast

import yaml
from starlette.routing import Match

from api.app import REST_PREFIX, create_app
from api.rest.orders import HOT_ROUTES
from api.wire import ws as ws_wire
from api.ws import hub as ws_hub
from api.ws.endpoint import WS_PATH
from api.ws.session import Session
from fix_acceptor import application as fix_application
from fix_acceptor import session as fix_session
from fix_acceptor.message import Message, Tag
from fix_acceptor.server import FixServer, _Connection
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario

ROOT: Final = Path(__file__).resolve().parents[1]
OUTPUT: Final = ROOT / "docs" / "parity.md"
SPEC: Final = ROOT / "fixtures" / "reference" / "perps_openapi.yaml"
WS_SCHEMAS: Final = ROOT / "fixtures" / "reference" / "ws_schemas.json"

Row = tuple[str, str, str]
"""(area, item, state) of the first table."""

_REST_SUMMARY: Final = "<REST operations: counted from the spec and the routes>"
_REST_ITEM: Final = (
    "{count} operations of the vendored spec under `/trade-api/v2` (exchange, markets, order "
    "books, candlesticks, trades, orders, order groups, fills, positions, exit triggers, balance, "
    "risk, limits, fees, corporate actions, funding, transfers, subaccounts, FCM), every response "
    "validated against the spec in the tests"
)

# The first table, row by row, as written when each part landed (the REST count is derived).
ROWS: Final[list[Row | str]] = [
    ("Matching", "price-time priority, maker-price execution", "done (`matching/`)"),
    (
        "Matching",
        "`time_in_force`: `good_till_canceled`, `immediate_or_cancel`, `fill_or_kill`",
        "done (`matching/`)",
    ),
    ("Matching", "`post_only` → `PostOnlyCrossCancel`", "done (`matching/`)"),
    (
        "Matching",
        "`self_trade_prevention_type`: `taker_at_cross`, `maker` → `SelfTradeCancel`",
        "done (`matching/`)",
    ),
    (
        "Matching",
        "`reduce_only` cap → `ReduceOnlyCancel`",
        "done (`matching/`, capped to the position by `simulator/`)",
    ),
    (
        "Matching",
        "decrease `reduce_by` / `reduce_to`, amend priority rules, `expiration_time` → "
        "`ExpiryCancel`",
        "done (`matching/`)",
    ),
    ("Matching", "orderbook `depth` and `aggregation_tick_size`", "done (`matching/`, REST)"),
    (
        "Exchange",
        "order validation in the documented order: market, `market_version` (409), status, tick "
        "and 4 decimals, count granularity, price band (`invalid_price`), `reduce_only` only with "
        "IOC/FOK, future `expiration_time`, unique live `client_order_id`, "
        "`NOTIONAL_RISK_LIMIT_EXCEEDED`, initial margin (`insufficient_balance`)",
        "done (`simulator/`, REST)",
    ),
    (
        "Exchange",
        "fees: maker/taker rate x notional rounded up to $0.0001; positions with average entry, "
        "realized PnL on reduce and flip",
        "done (`simulator/`)",
    ),
    (
        "Exchange",
        "balance (`compute_available_balance`), positions (`roe`, `margin_used`), risk (leverage, "
        "estimated liquidation price), notional risk limit and usage, fee tiers, fee tier rates, "
        "risk parameters",
        "done (`simulator/risk/views.py`, REST)",
    ),
    (
        "Exchange",
        "marks: `reference_price`, `liquidation_mark_price` (median of bid, ask, reference, 1 "
        "Hz), `settlement_mark_price` (60 s TWAP, 10 s refresh), each with `ts_ms`",
        "done (`simulator/`)",
    ),
    (
        "Exchange",
        "funding: impact-price premium per second, interval average, deadband, cap, 00/08/16 New "
        "York schedule (metals 10:00 weekdays), payments with Kalshi-style rounding, user "
        "history, market history, estimate, premium index",
        "done (`simulator/`, REST)",
    ),
    (
        "Exchange",
        "liquidation: queue state at 0.91, `MarginCancel` of resting orders, system IOC orders "
        "(`order_source=system`, `order_reason=liquidation`) at the slippage cap, largest "
        "contributor first, deficits as negative cash; optional partial mode",
        "done (`simulator/`)",
    ),
    (
        "Exchange",
        "exit triggers: brackets (up to 20) and one trailing stop per cross position, anchored "
        "brackets, `stop_loss_past_liquidation`, orders with `order_reason=take_profit_stop_loss`",
        "done (`simulator/`); isolated positions are not modelled",
    ),
    (
        "Exchange",
        "order groups: contracts limit over a rolling 15 s window, trigger, reset, limit update, "
        "delete",
        "done (`simulator/`)",
    ),
    (
        "Exchange",
        "corporate actions: cash dividends, special dividends, spin-offs, splits, final "
        "settlement, ticker change, `market_version`",
        "done (`simulator/`)",
    ),
    (
        "Exchange",
        "subaccounts 1-63, transfers between them (idempotent), deposits",
        "done (`simulator/`)",
    ),
    (
        "Exchange",
        "`cancel_order_on_pause`, exchange pause, optional Thursday maintenance window",
        "done (`simulator/`)",
    ),
    (
        "Exchange",
        "market trading schedules (`schedule` object), isolated margin positions, interest on "
        "collateral, variation-margin cycles",
        "not yet",
    ),
    _REST_SUMMARY,
    (
        "REST",
        "RSA-PSS request signing (raw path without query, percent-escapes as sent), timestamp "
        "window on the wall clock, `open` auth mode",
        "done (`api/auth.py`)",
    ),
    (
        "REST",
        'error envelope `{"error": {"code", "message", "service"}}`, FastAPI\'s 422/404/405 '
        "remapped, `invalid_content_type`, oversized and malformed bodies → 400",
        "done (`api/errors.py`, `api/bodies.py`)",
    ),
    (
        "REST",
        'rate limits: token buckets per usage tier, read/write, 429 `{"error": "too many '
        'requests"}`, `/account/limits/perps`',
        "done (`simulator/server/rate_limits.py`, `api/ratelimit.py`), off by default; the same "
        "buckets as FIX",
    ),
    (
        "REST",
        'cursor pagination on orders, fills and trades (`"cursor": ""` on the last page)',
        "done",
    ),
    (
        "REST",
        "FCM subtraders, IM caps (enforced on order entry as `insufficient_balance`), member and "
        "admin notional limits; `require_category_cap` is stored but not enforced",
        "done (`simulator/risk/fcm.py`)",
    ),
    (
        "REST",
        "isolated exit triggers: list and delete work; set is refused (isolated positions are not "
        "modelled)",
        "partly",
    ),
    ("REST", "OAuth bearer tokens on fills/positions, Ed25519 keys", "not yet"),
    (
        "Simulator",
        "control plane `/sim/v1`: health, users, deposit, rate limits, clock, reference price, "
        "market and exchange status, reset, state export/import, events",
        "done (`api/control.py`)",
    ),
    (
        "Simulator",
        "`perps-sim serve`: flags and `PERPS_SIM_*` variables, port 0, ready file, clean "
        "shutdown, default scenario with a house market maker and a demo user",
        "done (`simulator/server/cli.py`, `simulator/server/serve.py`)",
    ),
    (
        "Simulator",
        "`--state-dir`: every command journaled before it is acknowledged (`--durability` "
        "`flush` or `fsync` with group commit), recovery on restart; snapshots every "
        "`--snapshot-every` commands (pickled in a forked child or inline) with the journal "
        "restarted after them",
        "done (`simulator/core/command_log.py`, `simulator/server/journal.py`, "
        "`simulator/server/snapshots.py`)",
    ),
    (
        "Simulator",
        "`/sim/v1/faults`: `latency` and `error` on REST routes, `ws_latency`, `ws_drop`, "
        "`fix_latency`, `fix_disconnect`, `fix_seq_gap`, `pause`; seeded `percent`, `count`",
        "done (`simulator/server/faults.py`, `api/control_faults.py`)",
    ),
    (
        "Simulator",
        "time travel: `POST /sim/v1/clock/advance` (`ms` or `to_ms`) in slices on the event loop "
        "(reads, pings and "
        'heartbeats served meanwhile, writes queued, 409 `advance_in_progress`), `"wait": '
        "false` with progress at `GET /sim/v1/clock`, progress and summary log lines; "
        "accelerated-clock lag and `--stats-interval` lines; a slow WebSocket or FIX reader "
        "paces an advance instead of overflowing or being buffered for without bound",
        "done (`simulator/server/advancer.py`, `simulator/server/pacing.py`, "
        "`simulator/server/clock_driver.py`, `simulator/server/run_stats.py`)",
    ),
    (
        "Simulator",
        "scenarios `default`, `bare`, `volatile`, `funding`, `liquidation-cascade`; house market "
        "maker (ladder, skew, position limit) and noise takers per market; random-walk, static "
        "and CSV replay feeds, with the progress of each replay (banner, `GET /sim/v1/clock` "
        "`replays`, log lines, dashboard); `perps-sim validate-scenario`",
        "done (`simulator/server/scenarios.py`, `simulator/server/bots.py`, "
        "`simulator/server/noise_takers.py`, `simulator/server/replays.py`)",
    ),
    (
        "Simulator",
        "retention of done orders, fills, trades, funding history, candles and the event "
        "journal (scenario `config`), bounded memory over a simulated week",
        "done (`simulator/risk/retention.py`)",
    ),
    (
        "Simulator",
        "dashboard at `/sim/ui`, live over `/sim/v1/ui/feed`",
        "done (`api/dashboard.py`, `api/ui/`)",
    ),
    (
        "Simulator",
        "pytest plugin: fixtures `perps_sim` and `perps_sim_user`, marker `perps_sim`, options "
        "`--perps-sim-scenario`, `--perps-sim-seed`, `--perps-sim-arg`",
        "done (`simulator/server/pytest_plugin.py`)",
    ),
    (
        "Simulator",
        "Docker image: default scenario on `0.0.0.0`, `PERPS_SIM_*` variables, non-root, "
        "`HEALTHCHECK` on `/sim/v1/health`",
        "done (`Dockerfile`)",
    ),
    (
        "WebSocket",
        'handshake auth (RSA-PSS over `ts + "GET" + path`, 401 on failure), `--auth open`, pings '
        "every 10 s and the Pong deadline, client pings answered",
        "done (`api/ws/endpoint.py`); the Ping payload is uvicorn's random 4 bytes, not "
        "`heartbeat`",
    ),
    (
        "WebSocket",
        "commands `subscribe`, `unsubscribe`, `update_subscription` (`add_markets`, "
        "`delete_markets`, `get_snapshot`, `sid`/`sids`), `list_subscriptions`; sids per "
        "connection, seq per sid; the §9 error table",
        "done (`api/ws/session.py`); the command rate limit (error 27) is per connection, not per "
        "subscription",
    ),
    (
        "WebSocket",
        "`orderbook_delta`: snapshot per market, deltas, owner-only "
        "`client_order_id`/`subaccount`/`last_update_reason`",
        "done",
    ),
    (
        "WebSocket",
        "`ticker`: coalesced to one per market per second, nested marks and funding rate, "
        "`send_initial_snapshot`",
        "done",
    ),
    ("WebSocket", "`trade` (with seq)", "done"),
    ("WebSocket", "`fill` (private; `trade_id` = the REST trade id)", "done"),
    ("WebSocket", "`user_orders` (private; `type` `user_order`)", "done"),
    ("WebSocket", "`order_group_updates` (private, sequenced)", "done"),
    (
        "WebSocket",
        "event-contract channels and `corporate_actions`",
        "answered with error 8, as documented",
    ),
    (
        "WebSocket",
        "the open questions of WEBSOCKET.md §14 as `--ws NAME=VALUE` switches; limits "
        "(connections per key, subscriptions, markets per subscription, send queue)",
        "done (`simulator/server/ws_settings.py`)",
    ),
    (
        "FIX",
        "transport: listeners 8228/8229/8230/8233, any session type on any port (routed by 56), "
        "optional TLS 1.2+, `--fix-host`/`--fix-ports`/`--no-fix`",
        "done (`fix_acceptor/server.py`)",
    ),
    (
        "FIX",
        "codec: SOH framing, BodyLength and CheckSum checked, partial reads, 64 KiB cap, garbage "
        "dropped without using a MsgSeqNum",
        "done (`fix_acceptor/codec.py`)",
    ),
    (
        "FIX",
        "session: Logon (A) with the RSA-PSS signature, SendingTime on the wall clock (30 s), "
        "141=Y on NR/DC/MD, duplicate refusal, Heartbeat (0), TestRequest (1), ResendRequest (2), "
        "Reject (3), SequenceReset (4), Logout (5); `--fix NAME=VALUE` settings (SendingTime "
        "tolerance, SenderCompID, heartbeat bounds, limits)",
        "done (`fix_acceptor/session.py`, `fix_acceptor/settings.py`)",
    ),
    (
        "FIX",
        "KalshiNR order entry: D, F, G, q/r, UOG/UOH, ExecutionReport (8) per lifecycle step, "
        "OrderCancelReject (9), BusinessMessageReject (j)",
        "done (`fix_acceptor/application.py`, `fix_acceptor/wire.py`); SkipPendingExecReports has "
        "nothing to skip (no pending reports are sent); PreserveOriginalOrderQty (21008) applied; "
        "EnableIocCancelReport (21007) accepted, and a partly filled IOC always gets its cancel "
        "report (as with 21007=Y: the docs do not say how the order would end without it)",
    ),
    (
        "FIX",
        "KalshiRT: sequence continuity across reconnects, reports queued while away, resend with "
        "43=Y/122 or gap fill",
        "done",
    ),
    ("FIX", "listener sessions (20126=Y)", "done"),
    (
        "FIX",
        "KalshiDC drop copy: U1 → replayed 8s + U2, or U3",
        "done (`fix_acceptor/drop_copy.py`)",
    ),
    (
        "FIX",
        "KalshiMD: V → W + X (levels and trades), Y; SecurityStatus (e/f)",
        "V/W/X/Y done (`fix_acceptor/market_data.py`); e/f answered with j",
    ),
    (
        "FIX",
        "rate limits on application messages (§2.11): the user's REST buckets, 10 write tokens "
        "per D/F/G/q/UOG and Logon, 10 read tokens per V/U1, one q a second per session; 35=j "
        "380=8, Logon refused with Logout",
        "done (`fix_acceptor/limits.py`), with `--rate-limits` or per user",
    ),
]

REST_NOTES: Final = {
    "GetMarginFCMOrders": "removed upstream, served because kalshi-sdk still calls it",
    "SetIsolatedMarginExitTrigger": "always refused: isolated positions are not modelled",
}
"""operationId -> what the route table cannot say."""

FIX_MESSAGES: Final = {
    "D": "NewOrderSingle",
    "F": "OrderCancelRequest",
    "G": "OrderCancelReplaceRequest",
    "q": "OrderMassCancelRequest (answered by r)",
    "UOG": "OrderGroupRequest (answered by UOH)",
    "U1": "drop copy request, BeginExecID/EndExecID (answered by the 8s, then U2; or U3)",
    "V": "MarketDataRequest (answered by W, then X; or Y)",
    "e": "SecurityStatusRequest (event KalshiMD; the margin docs are silent)",
    "f": "SecurityStatus (event KalshiMD; the margin docs are silent)",
    "R": "QuoteRequest (RFQ: event contracts only)",
    "b": "MassQuoteAcknowledgement (RFQ: event contracts only)",
    "S": "Quote (RFQ: event contracts only)",
    "AI": "QuoteStatusReport (RFQ: event contracts only)",
    "Z": "QuoteCancel (RFQ: event contracts only)",
    "AG": "QuoteRequestReject (RFQ: event contracts only)",
    **dict.fromkeys(
        ("U7", "U8", "U9", "UA", "UB", "UC", "UD", "UE"),
        "Kalshi RFQ message (event contracts only)",
    ),
    "UMS": "MarketSettlementReport (event contracts only)",
}
"""MsgType -> its name, for every application message a client may send that Kalshi's FIX docs
name (margin's, and the event-contract ones margin answers with j)."""

SESSION_MESSAGES: Final = {
    "0": "Heartbeat (`0`)",
    "1": "TestRequest (`1`)",
    "2": "ResendRequest (`2`, KalshiRT only: Reject 373=11 on the others)",
    "3": "Reject (`3`)",
    "4": "SequenceReset (`4`, KalshiRT only: Reject 373=11 on the others)",
    "5": "Logout (`5`)",
    "A": "Logon (`A`)",
}
"""Session-level MsgType -> its name and where it works."""

_PROBE_KEY: Final = "00000000-0000-4000-8000-000000000000"
_SAMPLE: Final = "sample"
_METHODS: Final = ("get", "post", "put", "delete", "patch")
_PARAM: Final = re.compile(r"\{[^}]*\}")


# ---------------------------------------------------------------- REST


@functools.cache
def _spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: ten times faster
    loaded: dict[str, Any] = yaml.load(SPEC.read_text(), Loader=loader)
    return loaded


def _template(path: str) -> str:
    return _PARAM.sub("{}", path)


def _served(routes: list[Any], method: str, path: str) -> bool:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def rest_rows(runtime: Runtime) -> tuple[list[Row], int, int]:
    """(method, path, state) of every spec operation, then the app's routes the spec lacks;
    and how many of the spec's operations are served, of how many."""
    spec = _spec()
    app = create_app(runtime)
    routes = app.router.routes
    hot = [
        (method, _template(route.path)) for route in HOT_ROUTES for method in route.methods or ()
    ]
    operations = sorted(
        (path, method.upper(), item[method]["operationId"])
        for path, item in spec["paths"].items()
        for method in _METHODS
        if method in item
    )
    rows: list[Row] = []
    served = 0
    for path, method, operation_id in operations:
        concrete = REST_PREFIX + _PARAM.sub(_SAMPLE, path)
        if _served(routes, method, concrete):
            served += 1
            state = "done"
            if (method, _template(path)) in hot:
                state += " (a plain Starlette route ahead of the routers: `HOT_ROUTES`)"
        else:
            state = "not yet"
        note = REST_NOTES.get(operation_id)
        if note is not None:
            state += f"; {note}"
        rows.append((method, f"`{path}` ({operation_id})", state))
    in_spec = {(method, _template(path)) for path, method, _ in operations}
    extra = {
        (method.upper(), path.removeprefix(REST_PREFIX))
        for path, item in app.openapi()["paths"].items()
        if path.startswith(REST_PREFIX)
        for method in item
        if method in _METHODS
    }
    extra |= {(method, route.path) for route in HOT_ROUTES for method in route.methods or ()}
    for method, path in sorted(extra):
        if (method, _template(path)) not in in_spec:
            rows.append((method, f"`{path}`", "served, not in the spec"))
    return rows, served, len(operations)


# ---------------------------------------------------------------- WebSocket


def _ws_reply(session: Session, command: dict[str, Any]) -> dict[str, Any]:
    session.outbox.clear()
    session.receive_text(json.dumps(command))
    reply: dict[str, Any] = json.loads(session.outbox[0])
    return reply


def _ws_error(reply: dict[str, Any]) -> int | None:
    return int(reply["msg"]["code"]) if reply["type"] == "error" else None


def websocket_rows(
    runtime: Runtime,
) -> tuple[list[list[str]], list[str], list[list[str]]]:
    """Channel rows, the channels answered with error 8, and (command, state) rows."""
    schemas = json.loads(WS_SCHEMAS.read_text())
    spec_channels: list[str] = schemas["$defs"]["channelName"]["enum"]
    actions: list[str] = schemas["$defs"]["updateAction"]["enum"]
    commands: list[str] = list(schemas["client_commands"])
    user = runtime.open_user(_PROBE_KEY)
    hub = ws_hub.Hub(runtime)

    def session() -> Session:
        return Session(hub, runtime, user.user_id, _PROBE_KEY, runtime.generation, wall_ms=int)

    def subscribe(channel: str) -> tuple[Session, dict[str, Any]]:
        s = session()
        params = {"channels": [channel], "market_tickers": ["KXBTCPERP"]}
        return s, _ws_reply(s, {"id": 1, "cmd": "subscribe", "params": params})

    candidates = list(
        dict.fromkeys([*spec_channels, *ws_wire.CHANNELS, *sorted(ws_wire.EVENT_CONTRACT_CHANNELS)])
    )
    channels: list[list[str]] = []
    unknown: list[str] = []
    for channel in candidates:
        s, reply = subscribe(channel)
        if _ws_error(reply) == 8:
            unknown.append(channel)
            continue
        updatable = []
        for action in actions:
            s, _ = subscribe(channel)
            params = {"sid": 1, "action": action, "market_tickers": ["KXETHPERP"]}
            answer = _ws_reply(s, {"id": 2, "cmd": "update_subscription", "params": params})
            if _ws_error(answer) != 13:
                updatable.append(f"`{action}`")
            hub.drop_all(s)
        channels.append(
            [
                f"`{channel}`",
                "public" if channel in ws_hub._PUBLIC else "private",
                f"`{ws_wire.FRAME_TYPES.get(channel, '?')}`",
                "yes" if channel in ws_wire.SEQUENCED else "no",
                ", ".join(updatable) or "none",
                "done" if channel in spec_channels else "served, not in the spec",
            ]
        )
    for channel in spec_channels:
        if channel in unknown:
            channels.append([f"`{channel}`", "", "", "", "", "not yet (error 8)"])
    unknown = sorted(c for c in unknown if c not in spec_channels)
    command_rows: list[list[str]] = []
    for command in commands:
        reply = _ws_reply(session(), {"id": 1, "cmd": command, "params": {}})
        command_rows.append([f"`{command}`", "not yet" if _ws_error(reply) == 5 else "done"])
    return channels, unknown, command_rows


# ---------------------------------------------------------------- FIX


class _Probe(_Connection):
    """A connection with no socket: logged on by hand, its application answers collected."""

    def __init__(self, server: FixServer) -> None:
        super().__init__(server, cast(asyncio.StreamReader, None), cast(asyncio.StreamWriter, None))
        self.answers: list[Message] = []

    def send_application(self, message: Message) -> None:
        self.answers.append(message)

    def log_on(self, session_type: str) -> None:
        logon = fix_session.Logon(
            key_id=_PROBE_KEY,
            session_type=session_type,
            heartbeat_s=30,
            reset=True,
            cancel_on_disconnect=False,
            listener=False,
            skip_pending=True,
            use_expired_status=False,
            ioc_cancel_report=False,
            preserve_order_qty=False,
            message=Message(),
        )
        self._attach(fix_session.LoggedOn(logon))

    def handles(self, msg_type: str) -> bool:
        """Whether `msg_type` gets anything but BusinessMessageReject 380=3."""
        self.answers.clear()
        self._deliver(Message([(Tag.MsgType, msg_type), (Tag.MsgSeqNum, "2")]))
        answers = self.answers
        return not (
            len(answers) == 1
            and answers[0].msg_type == "j"
            and answers[0].get(Tag.BusinessRejectReason) == "3"
        )


def _known_msg_types() -> list[str]:
    chars = string.digits + string.ascii_letters
    short = itertools.chain(chars, (a + b for a in chars for b in chars))
    known = {kind for kind in short if fix_session.is_known_msg_type(kind)}
    known |= fix_session._KALSHI_MSG_TYPES | set(FIX_MESSAGES)
    return sorted(known - fix_session._SESSION_MSG_TYPES)


async def fix_rows(runtime: Runtime) -> tuple[list[list[str]], list[list[str]]]:
    """Rows of the application MsgTypes some session type handles (MsgType, name, then `yes` or
    `j` per session type), and of the named ones every session type answers with j."""
    runtime.open_user(_PROBE_KEY)
    server = FixServer(runtime)
    candidates = _known_msg_types()
    handled: dict[str, dict[str, bool]] = {kind: {} for kind in candidates}
    try:
        for session_type in fix_session.SESSION_TYPES:
            probe = _Probe(server)
            probe.log_on(session_type)
            for kind in candidates:
                handled[kind][session_type] = probe.handles(kind)
            probe._detach()
    finally:
        await server.close()
    served = [kind for kind in candidates if any(handled[kind].values())]
    refused = [
        kind
        for kind in candidates
        if kind not in served and (kind in FIX_MESSAGES or kind in fix_application._NOT_ON_MARGIN)
    ]
    by_type = [
        [
            f"`{kind}`",
            FIX_MESSAGES.get(kind, ""),
            *("yes" if handled[kind][st] else "j" for st in fix_session.SESSION_TYPES),
        ]
        for kind in served
    ]
    return by_type, [[f"`{kind}`", FIX_MESSAGES.get(kind, "")] for kind in refused]


# ---------------------------------------------------------------- the file


def _table(header: list[str], rows: list[list[str]] | list[Row]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render() -> str:
    """The text of `docs/parity.md`."""
    runtime = Runtime(load_scenario("bare"), clock_mode="manual")
    try:
        rest, served, total = rest_rows(runtime)
        channels, unknown, commands = websocket_rows(runtime)
        fix, fix_refused = asyncio.run(fix_rows(runtime))
    finally:
        runtime.close()

    summary: list[Row] = []
    for row in ROWS:
        if row == _REST_SUMMARY:
            count = f"all {total}" if served == total else f"{served} of {total}"
            state = "done (`api/`)" if served == total else "partly: see [below](#rest-operations)"
            summary.append(("REST", _REST_ITEM.format(count=count), state))
        elif isinstance(row, tuple):
            summary.append(row)

    types = list(fix_session.SESSION_TYPES)
    session_level = ", ".join(
        SESSION_MESSAGES.get(kind, f"`{kind}`") for kind in sorted(fix_session._SESSION_MSG_TYPES)
    )
    lines = [
        "# Parity with Kalshi's Perps API",
        "",
        "<!-- Generated by docs/gen_parity.py (make parity): edit the notes there, not here. -->",
        "",
        "What a client can use today. Rows are added as each transport lands.",
        "",
        *_table(["area", "item", "state"], summary),
        "",
        "The lists below are generated from the code (`docs/gen_parity.py`, `make parity`).",
        "",
        "## REST operations",
        "",
        f"Each operation of the vendored spec (`fixtures/reference/perps_openapi.yaml`), {served}"
        f" of {total} served under `{REST_PREFIX}` (a request of its method and path, matched"
        " against the routes of `api.app.create_app`), then what is served beyond the spec.",
        "",
        *_table(["method", "path (operationId)", "state"], rest),
        "",
        "## WebSocket channels and commands",
        "",
        f"At `{WS_PATH}`. Channels of the spec (`fixtures/reference/ws_schemas.json`) and of"
        " `api/wire/ws.py`, each subscribed to, and the `update_subscription` actions each"
        " takes (others get error 13):",
        "",
        *_table(["channel", "access", "data `type`", "seq", "update actions", "state"], channels),
        "",
        "Answered with error 8 (Unknown channel name), as documented: "
        + ", ".join(f"`{channel}`" for channel in unknown)
        + ".",
        "",
        *_table(["command", "state"], commands),
        "",
        "## FIX messages",
        "",
        "What each session type does with each MsgType a client may send, found by sending it"
        " to the acceptor's dispatch (`fix_acceptor/server.py`) on a logged-on session: `yes`,"
        ' or `j`: BusinessMessageReject 380=3 "Unsupported Message Type" (a listener session,'
        " 20126=Y, answers order entry with j 380=6). Session level, on every session type"
        f" (`fix_acceptor/session.py`): {session_level}.",
        "",
        *_table(["MsgType", "message", *types], fix),
        "",
        "Answered with j on every session type:",
        "",
        *_table(["MsgType", "message"], fix_refused),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff when stale")
    args = parser.parse_args(argv)
    text = render()
    if not args.check:
        OUTPUT.write_text(text)
        return 0
    current = OUTPUT.read_text() if OUTPUT.is_file() else ""
    if current == text:
        return 0
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        text.splitlines(keepends=True),
        "docs/parity.md",
        "docs/gen_parity.py",
    )
    sys.stdout.writelines(diff)
    print("docs/parity.md is stale: run `make parity`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
