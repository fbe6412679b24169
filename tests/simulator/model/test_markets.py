"""The market file: validation, unit conversion and the shipped realistic markets."""

from __future__ import annotations

import json

import pytest

from simulator.core.money import RATE_SCALE
from simulator.model.markets import DEFAULT_MARKETS_FILE, load_markets, parse_market_file


def _raw():
    return json.loads(DEFAULT_MARKETS_FILE.read_text())


def test_default_markets_include_btc_eth_sol_with_realistic_terms():
    specs = {s.ticker: s for s in load_markets()}

    assert {"KXBTCPERP", "KXETHPERP", "KXSOLPERP"} <= set(specs)
    btc = specs["KXBTCPERP"]
    assert (btc.contract_size, btc.tick, btc.count_step) == ("0.000100", 1, 100)
    assert btc.im_multiplier == 13 * RATE_SCALE // 10
    assert (btc.maker_fee_rate, btc.taker_fee_rate) == (500_000_000, 1_200_000_000)
    assert btc.funding.impact_notional == 10_000 * 1_000_000
    assert specs["KXSOLPERP"].funding.impact_notional == 1_000 * 1_000_000


@pytest.mark.parametrize("ticker", ["KXBTCPERP", "KXETHPERP", "KXSOLPERP", "KXGOLDPERP"])
def test_margin_curves_reproduce_the_published_leverage_estimates(ticker):
    spec = {s.ticker: s for s in load_markets()}[ticker]

    for notional, leverage in spec.leverage_estimates.items():
        fitted = spec.long_curve.leverage_at(int(notional))
        assert fitted == pytest.approx(leverage, rel=0.02)


def test_unknown_key_is_rejected():
    raw = _raw()
    raw["markets"][0]["surprise"] = 1

    with pytest.raises(ValueError, match="surprise"):
        parse_market_file(json.dumps(raw).encode())


def test_wrong_type_is_rejected():
    raw = _raw()
    raw["markets"][0]["fractional_trading_enabled"] = "no"

    with pytest.raises(ValueError, match="invalid market file"):
        parse_market_file(json.dumps(raw).encode())


def test_duplicate_tickers_are_rejected():
    raw = _raw()
    raw["markets"].append(raw["markets"][0])

    with pytest.raises(ValueError, match="duplicate"):
        parse_market_file(json.dumps(raw).encode())


def test_malformed_json_is_rejected():
    with pytest.raises(ValueError, match="not JSON"):
        parse_market_file(b"{")


def test_a_market_file_that_is_not_utf8_is_rejected():
    raw = json.dumps(_raw()).encode().replace(b'"KXBTCPERP"', b'"KXBTC\xffPERP"', 1)
    with pytest.raises(ValueError, match="not JSON: it is not UTF-8 text"):
        parse_market_file(raw)


def test_off_scale_tick_is_rejected():
    raw = _raw()
    raw["markets"][0]["tick_size"] = "0.00001"

    with pytest.raises(ValueError):
        parse_market_file(json.dumps(raw).encode())
