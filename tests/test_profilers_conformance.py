"""Every registered profiler passes the shipped conformance suite (unavailable ones skip)."""

from hwnas.testing.profiler_conformance import ProfilerConformance


class TestAllProfilers(ProfilerConformance):
    pass
