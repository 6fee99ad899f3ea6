"""Every registered profiler passes the shipped conformance suite (unavailable ones skip)."""

import pytest

from hwnas.testing.profiler_conformance import ProfilerConformance

pytestmark = pytest.mark.integration  # exports / measures on every runtime


class TestAllProfilers(ProfilerConformance):
    pass
