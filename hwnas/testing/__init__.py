"""Helpers shared by tests and conformance suites: tiny spaces and synthetic tables."""

from hwnas.testing.fixtures import MICRO_SPEC, micro_supernet, synthetic_table, tiny_space

__all__ = ["MICRO_SPEC", "micro_supernet", "synthetic_table", "tiny_space"]
