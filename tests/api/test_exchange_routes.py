"""Exchange-wide operations."""

from __future__ import annotations

import httpx

from tests.api.served import Served


def test_exchange_status_is_public(public: httpx.Client) -> None:
    response = public.get("/margin/exchange/status")
    assert response.status_code == 200
    assert response.json() == {"exchange_active": True, "trading_active": True}


def test_enabled_needs_a_signature(public: httpx.Client, client: httpx.Client) -> None:
    assert public.get("/margin/enabled").status_code == 401
    assert client.get("/margin/enabled").json() == {"enabled": True}


def test_risk_parameters(public: httpx.Client) -> None:
    body = public.get("/margin/risk_parameters").json()
    assert body["liquidation_margin_ratio_threshold"] == 1.0
    assert body["queue_entry_margin_ratio_threshold"] == 0.91
    assert body["initial_margin_multiplier"] == {
        "KXBTCPERP": 1.3,
        "KXETHPERP": 1.3,
        "KXSOLPERP": 1.3,
    }


def test_api_limits_report_the_basic_tier(client: httpx.Client) -> None:
    body = client.get("/account/limits/perps").json()
    assert body == {
        "usage_tier": "basic",
        "read": {"refill_rate": 200, "bucket_capacity": 200},
        "write": {"refill_rate": 100, "bucket_capacity": 200},
        "grants": [],
    }


def test_fastapi_openapi_document_and_docs_page_are_served(fresh: Served) -> None:
    with fresh.client(base_url=fresh.base) as bare:
        document = bare.get("/openapi.json")
        page = bare.get("/docs")
    assert document.status_code == 200
    paths = document.json()["paths"]
    assert "/trade-api/v2/margin/balance" in paths and "/sim/v1/health" in paths
    assert page.status_code == 200 and "swagger" in page.text.lower()
