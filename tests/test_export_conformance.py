"""Every registered exporter passes the shipped conformance suite (unavailable ones skip)."""

from hwnas.testing.exporter_conformance import *  # noqa: F401,F403
