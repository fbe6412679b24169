"""Shared test configuration: Hypothesis profiles.

`HYPOTHESIS_PROFILE=thorough` runs the property tests with many more examples.
"""

import os

from hypothesis import settings

settings.register_profile("default", deadline=None, print_blob=True)
settings.register_profile("thorough", deadline=None, print_blob=True, max_examples=2_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
