"""`perps-sim validate-scenario`: good scenarios summarised, bad ones named with where and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.server.cli import main
from simulator.server.scenarios import FIXTURES_DIR, ScenarioError, load_scenario


def test_every_built_in_scenario_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    names = sorted(path.stem for path in (FIXTURES_DIR / "scenarios").glob("*.json"))
    assert main(["validate-scenario", *names]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == names
    default = next(line for line in out if line.startswith("default:"))
    assert "3 market(s) (KXBTCPERP, KXETHPERP, KXSOLPERP)" in default
    assert "reference feeds random_walk" in default
    assert "house market maker on 3 market(s)" in default
    bare = next(line for line in out if line.startswith("bare:"))
    assert "reference feeds static" in bare and "no house market maker" in bare
    cascade = next(line for line in out if line.startswith("liquidation-cascade:"))
    assert "reference feeds replay/static (replay KXBTCPERP 31 points over 10m29s), " in cascade


def test_bots_given_no_tickers_quote_and_trade_nowhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "idle.json"
    path.write_text(json.dumps({"name": "idle", "liquidity": {"tickers": []},
                                "takers": {"tickers": ["KXETHPERP"]}}))  # fmt: skip
    assert main(["validate-scenario", str(path)]) == 0
    out = capsys.readouterr().out
    assert "house market maker on 0 market(s), noise takers on 1 market(s)," in out


def test_a_replay_that_misses_the_start_is_pointed_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = load_scenario("bare").start_ms
    (tmp_path / "old.csv").write_text("ts_ms,price\n1700000000000,6.0\n1700000060000,6.1\n")
    (tmp_path / "late.csv").write_text(f"{start + 300_000},6.0\n{start + 460_000},6.1\n")
    feeds = {"KXBTCPERP": {"kind": "replay", "path": str(tmp_path / "old.csv")},
             "KXETHPERP": {"kind": "replay", "path": str(tmp_path / "late.csv")},
             "*": {"kind": "static"}}  # fmt: skip
    path = tmp_path / "replays.json"
    path.write_text(json.dumps({"name": "replays", "markets_file": "markets/default.json",
                                "start_time": "2026-06-15T00:00:00Z", "feeds": feeds}))  # fmt: skip
    assert main(["validate-scenario", str(path)]) == 0
    assert (
        "(replay KXBTCPERP 2 points over 1m00s, all before the start: its last price throughout; "
        "KXETHPERP 2 points over 2m40s, the first 5m00s after the start: no reference until then)"
    ) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"name": "x",\n "seed": 1,\n "oops"\n}', ":4:1: JSON is malformed"),
        ('{"name": "x", "liquidity": {"levels": "8"}}', "Expected `int`, got `str`"),
        ('{"name": "x", "liquidity": {"levels": "8"}}', "$.liquidity.levels"),
        ('{"name": "x", "colour": "red"}', "unknown field `colour`"),
        ('{"name": "x", "tickers": ["NOPE"]}', "names unknown markets ['NOPE']"),
        ('{"name": "x", "feeds": {"*": {"kind": "brownian"}}}', "feed 'kind' must be one of"),
        ('{"name": "x", "config": {"nope": 1}}', "unknown settings ['nope']"),
        ('{"name": "x", "config": ' + "[" * 5000 + "]" * 5000 + "}", "at `$.config`"),
    ],
)
def test_a_bad_scenario_is_refused_with_its_file_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, reason: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    assert main(["validate-scenario", "bare", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("bare: ok:")
    (error,) = captured.err.splitlines()
    assert error.startswith(f"error: {path}")
    assert reason in error


def test_a_scenario_that_is_not_utf8_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"name": "x",\n "description": "caf\xe9"}')
    assert main(["validate-scenario", str(path)]) == 1
    (error,) = capsys.readouterr().err.splitlines()
    assert error == f"error: {path}:2:21: not UTF-8 text"


def test_an_unknown_name_lists_the_built_in_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-scenario", "no-such-scenario"]) == 1
    assert "built-in scenarios: ['bare'" in capsys.readouterr().err


def test_serve_reports_a_malformed_scenario_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "x"})[:-1] + ',\n"seed": }')
    assert main(["serve", "--port", "0", "--scenario", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"scenario {path}:2:9: JSON is malformed" in err
    with pytest.raises(ScenarioError, match=":2:9:"):
        load_scenario(str(path))


def test_relative_paths_are_found_beside_the_scenario_from_any_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "data" / "btc.csv").write_text("ts_ms,price\n1781481600000,6.0\n1781481660000,6.1\n")
    (mine / "markets.json").write_text((FIXTURES_DIR / "markets" / "default.json").read_text())
    (mine / "alice_public.pem").write_text((FIXTURES_DIR / "keys" / "demo_public.pem").read_text())
    scenario = {"name": "mine", "markets_file": "markets.json", "tickers": ["KXBTCPERP"],
                "users": [{"user_id": "alice", "api_key_id": "alice-key",
                           "public_key_file": "alice_public.pem"}],
                "feeds": {"KXBTCPERP": {"kind": "replay", "path": "data/btc.csv"}}}  # fmt: skip
    (mine / "scenario.json").write_text(json.dumps(scenario))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (elsewhere / "missing.json").write_text(json.dumps({"name": "m", "markets_file": "nope.json"}))

    assert main(["validate-scenario", str(mine / "scenario.json")]) == 0
    assert "(replay KXBTCPERP 2 points over 1m00s)" in capsys.readouterr().out
    assert main(["validate-scenario", "missing.json"]) == 1
    (error,) = capsys.readouterr().err.splitlines()
    assert error.endswith(
        f"'nope.json' is not a file beside the scenario, under {FIXTURES_DIR} or in the "
        f"working directory ({elsewhere})"
    )
