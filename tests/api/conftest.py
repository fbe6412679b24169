"""Fixtures for REST tests: one in-process server per module, reset before each test, and httpx
clients whose every `/trade-api/v2` response is validated against the vendored spec.

`server` serves the app in process (`tests.api.in_process`); a module that tests the wire
itself (`test_auth.py`) overrides it with a real socket (`tests.api.live`).

`COVERED` collects (METHOD, template, status) of every validated response;
`test_zz_spec_coverage.py` checks, when the whole directory runs, that every operation of the
spec was called and answered with a 2xx at least once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from simulator.server.scenarios import load_scenario
from tests.api import signing, spec
from tests.api.in_process import in_process_server
from tests.api.served import Served
from tests.e2e.spec_transport import SpecCheckingTransport

if TYPE_CHECKING:
    from kalshi.perps import PerpsClient

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


def make_client(server: Served, auth: httpx.Auth | None = None) -> httpx.Client:
    return server.client(auth, event_hooks={"response": [check_response]})


@contextmanager
def sdk_client(
    server: Served, key_id: str | None = None, private_key_pem: str | None = None
) -> Iterator[PerpsClient]:
    """kalshi-sdk's `PerpsClient` on `server`; its responses are validated and recorded too."""
    from kalshi.perps import PerpsClient

    transport = SpecCheckingTransport(server.transport)
    try:
        with PerpsClient(
            key_id=key_id,
            private_key=private_key_pem,
            base_url=server.rest_url,
            transport=transport,
        ) as sdk:
            yield sdk
    finally:
        COVERED.update(transport.statuses)


@contextmanager
def demo_sdk_client(server: Served) -> Iterator[PerpsClient]:
    """`sdk_client` signed as the demo user."""
    pem = (signing.FIXTURES / "keys" / "demo_private.pem").read_text()
    with sdk_client(server, signing.DEMO_KEY_ID, pem) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with in_process_server(load_scenario("bare")) as served:
        yield served


@pytest.fixture
def fresh(server: Served) -> Served:
    """The module's server, reset to the scenario's initial state."""
    server.control("POST", "/reset").raise_for_status()
    return server


@pytest.fixture
def client(fresh: Served) -> Iterator[httpx.Client]:
    """A client signed with the demo user's key."""
    auth = signing.KalshiAuth(signing.DEMO_KEY_ID, signing.demo_private_key())
    with make_client(fresh, auth) as c:
        yield c


@pytest.fixture
def public(fresh: Served) -> Iterator[httpx.Client]:
    """A client that sends no credentials."""
    with make_client(fresh) as c:
        yield c


# ------------------------------------------------- spec coverage: which runs count as complete

_HERE = Path(__file__).resolve().parent
COVERAGE_TEST = "test_zz_spec_coverage.py"


class Selection:
    """What this session selected and ran of tests/api, for `test_zz_spec_coverage.py`."""

    def __init__(self) -> None:
        self.deselected = 0
        self.modules: set[str] = set()
        self.items = 0
        self.passed = 0
        self.failed: list[str] = []

    def partial(self, config: pytest.Config) -> str | None:
        """Why this session is not a run of the whole directory, or None if it is."""
        on_disk = {path.name for path in _HERE.glob("test_*.py")}
        if missing := sorted(on_disk - self.modules):
            return f"tests/api modules not collected: {', '.join(missing)}"
        if self.deselected:
            return f"{self.deselected} tests/api tests deselected"
        for arg in config.args:
            path = Path(arg.split("::", 1)[0]).resolve()
            if "::" in arg and path.is_relative_to(_HERE):
                return f"only some tests of a module selected ({arg})"
        return None


SELECTION = Selection()


def _in_here(item: pytest.Item) -> bool:
    return item.path.parent == _HERE


def pytest_deselected(items: list[pytest.Item]) -> None:
    SELECTION.deselected += sum(1 for item in items if _in_here(item))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = [item for item in items if _in_here(item)]
    SELECTION.modules = {item.path.name for item in here}
    SELECTION.items = len(here)
    # the coverage check runs after every other test, whatever reordered them
    last = [item for item in here if item.path.name == COVERAGE_TEST]
    items[:] = [item for item in items if item not in last] + last


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.nodeid.startswith("tests/api/") or COVERAGE_TEST in report.nodeid:
        return
    if report.failed:
        SELECTION.failed.append(report.nodeid)
    elif report.when == "call" and report.passed:
        SELECTION.passed += 1
