"""Test-wide settings.

Hypothesis profiles: property tests explore new examples on every local run (that is how
they find bugs), but CI must be reproducible -- a red CI run that a rerun turns green tells
nobody anything.  With ``CI`` set (``CI=true``, as the CI machine runs ``.ci/run``) the
``ci`` profile derandomizes every property test (the examples are a function of the test)
and prints the reproduction blob of a failure; a test's own ``@settings`` still overrides
the example counts.  ``HYPOTHESIS_PROFILE=ci`` selects it locally.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True, database=None)
settings.register_profile("dev", print_blob=True)

_ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if _ci else "dev"))
