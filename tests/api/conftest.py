"""Fixtures for REST tests: one live server per module, reset before each test, and httpx
clients whose every `/trade-api/v2` response is validated against the vendored spec.

`COVERED` collects (METHOD, template, status) of every validated response;
`test_zz_spec_coverage.py` checks that every operation was called.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulator.server.scenarios import load_scenario
from tests.api import signing, spec
from tests.api.live import LiveServer, live_server

COVERED: set[tuple[str, str, int]] = set()
_PREFIX = "/trade-api/v2"


def check_response(response: httpx.Response) -> None:
    """httpx response hook: validate REST responses against the spec and record coverage."""
    path = response.request.url.path
    if not path.startswith(_PREFIX):
        return
    response.read()
    relative = path[len(_PREFIX) :]
    method = response.request.method
    spec.validate_response(method, relative, response.status_code, response.content)
    COVERED.add((method, spec.template_for(relative), response.status_code))


def make_client(server: LiveServer, auth: httpx.Auth | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=server.rest_url,
        auth=auth,
        event_hooks={"response": [check_response]},
        timeout=30,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(load_scenario("bare")) as live:
        yield live


@pytest.fixture
def fresh(server: LiveServer) -> LiveServer:
    """The module's server, reset to the scenario's initial state."""
    httpx.post(f"{server.control_url}/reset", timeout=30).raise_for_status()
    return server


@pytest.fixture
def client(fresh: LiveServer) -> Iterator[httpx.Client]:
    """A client signed with the demo user's key."""
    auth = signing.KalshiAuth(signing.DEMO_KEY_ID, signing.demo_private_key())
    with make_client(fresh, auth) as c:
        yield c


@pytest.fixture
def public(fresh: LiveServer) -> Iterator[httpx.Client]:
    """A client that sends no credentials."""
    with make_client(fresh) as c:
        yield c
