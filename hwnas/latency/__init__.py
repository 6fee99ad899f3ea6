"""Latency lookup tables: per-op statistics with metadata, prediction, calibration, fidelity."""

from hwnas.latency.table import SCHEMA_VERSION, LatencyTable, OpStats, TableMeta

__all__ = ["SCHEMA_VERSION", "LatencyTable", "OpStats", "TableMeta"]
