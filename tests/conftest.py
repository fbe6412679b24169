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
"""

import os

from hypothesis import settings

THOROUGH_EXAMPLES = 1_000
SCHEMATHESIS_THOROUGH_EXAMPLES = 25

collect_ignore = ["contract", "container", "durability"]

settings.register_profile("default", deadline=None, print_blob=True)
settings.register_profile(
    "thorough", deadline=None, print_blob=True, max_examples=THOROUGH_EXAMPLES
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
