"""Helpers shared by tests and conformance suites: tiny spaces and synthetic tables."""

from hwnas.testing.fixtures import synthetic_table, tiny_space

__all__ = ["synthetic_table", "tiny_space"]
