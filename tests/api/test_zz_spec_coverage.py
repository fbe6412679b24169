"""Every operation of the vendored spec is exercised by the tests of this directory.

`COVERED` (tests/api/conftest.py) holds every response the spec check validated. Run after all
the other tests of tests/api (the conftest orders it last), this asserts that each of the spec's
54 operations was called and got at least one 2xx answer that conformed to its schema, except
the operations the simulator always refuses (`REFUSED`, each of which must still be called).
The check means something only when the whole directory ran, so a partial selection (some
modules, `-k`, `-m`, `--lf`, single tests) skips it and says why.
"""

from __future__ import annotations

import pytest

from tests.api import spec
from tests.api.conftest import COVERED, SELECTION

# operationId -> why no request can succeed (docs/parity.md)
REFUSED = {
    "SetIsolatedMarginExitTrigger": "isolated positions are not modelled",
}


def test_every_spec_operation_is_called_and_answered_with_a_2xx(
    request: pytest.FixtureRequest,
) -> None:
    reason = SELECTION.partial(request.config)
    if reason is not None:
        pytest.skip(f"spec coverage needs the whole tests/api directory: {reason}")

    called = {(method, template) for method, template, _ in COVERED}
    succeeded = {(method, template) for method, template, status in COVERED if status < 300}
    operations = spec.operations()
    never_called = [
        f"{method} {template} ({operation_id})"
        for method, template, operation_id in operations
        if (method, template) not in called
    ]
    never_succeeded = [
        f"{method} {template} ({operation_id})"
        for method, template, operation_id in operations
        if (method, template) not in succeeded and operation_id not in REFUSED
    ]
    now_succeeding = [
        operation_id
        for method, template, operation_id in operations
        if (method, template) in succeeded and operation_id in REFUSED
    ]

    failed = f" (failing tests may explain it: {SELECTION.failed})" if SELECTION.failed else ""
    assert len(operations) == 54
    assert not never_called, "operations no test called" + failed + ":\n" + "\n".join(never_called)
    assert not never_succeeded, (
        "operations never answered with a 2xx" + failed + ":\n" + "\n".join(never_succeeded)
    )
    assert not now_succeeding, (
        f"answered with a 2xx now, take them out of REFUSED: {now_succeeding}"
    )
