"""Shared test configuration: Hypothesis profiles, and the slow suite `make test` leaves out.

Profiles (`HYPOTHESIS_PROFILE`, default `default`):

- `default`, for `make test`: Hypothesis's 100 examples, unless a test sets its own count.
- `thorough`, for `make test-contract`: 1,000 examples for every test that takes its count from
  the profile (the state machines and the `budget()` tests of tests/simulator), and
  `SCHEMATHESIS_THOROUGH_EXAMPLES` generated requests per operation in tests/contract.

tests/contract (schemathesis against a live server) is collected only when named on the
command line, as `make test-contract` does; so is tests/container (the Docker image, with buildah
as root), as `make test-container` does, and tests/durability (`kill -9` under load, restarts),
as `make test-durability` does.

Under pytest-xdist (`make test` runs `-n auto --dist loadgroup`) the modules directly in tests/api
go to one worker together: `tests/api/test_zz_spec_coverage.py` checks what all of them called,
which only the worker that ran them all has seen. xdist's own `loadgroup` reads `xdist_group`
markers through a node attribute pytest 9.2 no longer has, so the grouping is done here, by
node id (`TestsApiTogether`); every other test is scheduled alone, as with `--dist load`.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from hypothesis import settings

THOROUGH_EXAMPLES = 1_000
SCHEMATHESIS_THOROUGH_EXAMPLES = 25

collect_ignore = ["contract", "container", "durability"]

settings.register_profile("default", deadline=None, print_blob=True)
settings.register_profile(
    "thorough", deadline=None, print_blob=True, max_examples=THOROUGH_EXAMPLES
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


_TESTS_API_MODULE = re.compile(r"tests/api/[^/]+\.py::")


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistScheduling(), "perps-sim-xdist-scheduling")


class _XdistScheduling:
    """Chooses the scheduler for `--dist loadgroup` (see the module docstring)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadgroup":
            return None
        from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

        class TestsApiTogether(LoadScopeScheduling):  # type: ignore[misc]
            def _split_scope(self, nodeid: str) -> str:
                return "tests/api" if _TESTS_API_MODULE.match(nodeid) else nodeid

        return TestsApiTogether(config, log)
