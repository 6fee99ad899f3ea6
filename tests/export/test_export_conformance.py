"""Every registered exporter passes the shipped conformance suite (unavailable ones skip)."""

import pytest

from hwnas.testing.exporter_conformance import *  # noqa: F401,F403

pytestmark = pytest.mark.integration  # exports / measures on every runtime
