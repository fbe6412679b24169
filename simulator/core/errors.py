"""Business rejections of the exchange, each carrying the codes every transport maps it to.

A command that raises a `RejectError` has changed nothing. Each subclass fixes:

- `code`: Kalshi's REST error code (`{"error": {"code": ..., "message": ...}}`, REST.md (b));
- `http_status`: the REST status;
- `fix_text`: Text (58) of a rejecting ExecutionReport or OrderCancelReject (FIX.md 3.6);
- `fix_reason`: OrdRejReason (103).

Hierarchy:

- `RejectError`
  - `InvalidOrderError` (400 `invalid_order`): precision, tick, count granularity, expiry,
    reduce_only with GTC, malformed amend or decrease
  - `InvalidPriceError` (400 `invalid_price`): outside the price band
  - `InvalidParametersError` (400 `invalid_parameters`): malformed ids, cursors, arguments
  - `InsufficientBalanceError` (400 `insufficient_balance`): initial margin or transfer funds
  - `NotionalRiskLimitError` (400 `NOTIONAL_RISK_LIMIT_EXCEEDED`)
  - `OrderGroupTriggeredError` (400 `exceeded_order_group_risk_limit`)
  - `StopLossPastLiquidationError` (400 `stop_loss_past_liquidation`)
  - `MarketNotFoundError`, `OrderNotFoundError`, `OrderGroupNotFoundError`,
    `ExitTriggerNotFoundError`, `SubaccountNotFoundError`, `UserNotFoundError` (404)
  - `OrderAlreadyExistsError` (409 `order_already_exists`)
  - `MarketVersionMismatchError` (409 `market_version_mismatch`)
  - `MarketInactiveError`, `MarketClosedError`, `TradingPausedError` (409)
  - `AnchorOrderUnavailableError`, `IdempotencyKeyUsedError` (409)
  - `LimitExceededError` (400 `limit_exceeded`): caps such as 63 subaccounts, 25,000 groups

Assumption: Kalshi's REST codes for inactive/closed markets, unknown subaccounts and triggered
order groups were never captured; these follow the FIX Text (58) values in lower case.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AnchorOrderUnavailableError",
    "ExitTriggerNotFoundError",
    "IdempotencyKeyUsedError",
    "InsufficientBalanceError",
    "InvalidOrderError",
    "InvalidParametersError",
    "InvalidPriceError",
    "LimitExceededError",
    "MarketClosedError",
    "MarketInactiveError",
    "MarketNotFoundError",
    "MarketVersionMismatchError",
    "NotionalRiskLimitError",
    "OrderAlreadyExistsError",
    "OrderGroupNotFoundError",
    "OrderGroupTriggeredError",
    "OrderNotFoundError",
    "RejectError",
    "StopLossPastLiquidationError",
    "SubaccountNotFoundError",
    "TradingPausedError",
    "UserNotFoundError",
]


class RejectError(Exception):
    """A command the exchange refuses; nothing changed."""

    code: ClassVar[str] = "bad_request"
    http_status: ClassVar[int] = 400
    fix_text: ClassVar[str] = "INVALID_ORDER"
    fix_reason: ClassVar[int] = 99
    default_message: ClassVar[str] = "bad request"

    def __init__(self, message: str | None = None, *, details: str | None = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message if details is None else f"{self.message}: {details}")


class InvalidOrderError(RejectError):
    code = "invalid_order"
    fix_text = "INVALID_ORDER"
    fix_reason = 11
    default_message = "invalid order"


class InvalidPriceError(RejectError):
    code = "invalid_price"
    fix_text = "INVALID_ORDER"
    fix_reason = 11
    default_message = "invalid price"


class InvalidParametersError(RejectError):
    code = "invalid_parameters"
    fix_text = "INVALID_ORDER"
    fix_reason = 99
    default_message = "invalid parameters"


class InsufficientBalanceError(RejectError):
    code = "insufficient_balance"
    fix_text = "INSUFFICIENT_BALANCE"
    fix_reason = 3
    default_message = "insufficient balance"


class NotionalRiskLimitError(RejectError):
    code = "NOTIONAL_RISK_LIMIT_EXCEEDED"
    fix_text = "EXCEEDED_PER_MARKET_RISK_LIMIT"
    fix_reason = 3
    default_message = "notional risk limit exceeded"


class OrderGroupTriggeredError(RejectError):
    code = "exceeded_order_group_risk_limit"
    fix_text = "EXCEEDED_ORDER_GROUP_RISK_LIMIT"
    fix_reason = 3
    default_message = "order group is triggered; reset it to place orders"


class StopLossPastLiquidationError(RejectError):
    code = "stop_loss_past_liquidation"
    default_message = "stop loss price is at or beyond the liquidation price"


class LimitExceededError(RejectError):
    code = "limit_exceeded"
    default_message = "limit exceeded"


class _NotFound(RejectError):
    code = "not_found"
    http_status = 404
    default_message = "not found"


class MarketNotFoundError(_NotFound):
    code = "market_not_found"
    fix_text = "MARKET_NOT_FOUND"
    fix_reason = 1
    default_message = "market not found"


class OrderNotFoundError(_NotFound):
    fix_text = "ORDER_NOT_FOUND"
    fix_reason = 5
    default_message = "order not found"


class OrderGroupNotFoundError(_NotFound):
    fix_text = "ORDER_GROUP_NOT_FOUND"
    fix_reason = 11
    default_message = "order group not found"


class ExitTriggerNotFoundError(_NotFound):
    default_message = "exit trigger not found"


class SubaccountNotFoundError(_NotFound):
    code = "subaccount_not_found"
    fix_text = "CUSTOMER_ACCOUNT_NOT_FOUND"
    fix_reason = 15
    default_message = "subaccount not found"


class UserNotFoundError(_NotFound):
    code = "user_not_found"
    fix_text = "CUSTOMER_ACCOUNT_NOT_FOUND"
    fix_reason = 15
    default_message = "user not found"


class _Conflict(RejectError):
    http_status = 409


class OrderAlreadyExistsError(_Conflict):
    code = "order_already_exists"
    fix_text = "ORDER_ALREADY_EXISTS"
    fix_reason = 6
    default_message = "order already exists"


class MarketVersionMismatchError(_Conflict):
    code = "market_version_mismatch"
    fix_reason = 11
    default_message = "market version mismatch"


class MarketInactiveError(_Conflict):
    code = "market_inactive"
    fix_text = "MARKET_INACTIVE"
    fix_reason = 2
    default_message = "market is inactive"


class MarketClosedError(_Conflict):
    code = "market_closed"
    fix_text = "MARKET_ALREADY_CLOSED"
    fix_reason = 2
    default_message = "market is closed"


class TradingPausedError(_Conflict):
    code = "trading_is_paused"
    fix_text = "EXCHANGE_PAUSED"
    fix_reason = 2
    default_message = "trading is paused"


class AnchorOrderUnavailableError(_Conflict):
    code = "anchor_order_unavailable"
    default_message = "anchor order is not available yet"


class IdempotencyKeyUsedError(_Conflict):
    code = "idempotency_key_already_used"
    default_message = "idempotency key already used"
