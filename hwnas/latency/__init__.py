"""Latency lookup tables: per-op statistics with metadata, prediction, calibration, fidelity."""

from hwnas.latency.shipped import load_table, resolve_table, shipped_names
from hwnas.latency.table import SCHEMA_VERSION, LatencyTable, OpStats, TableMeta

__all__ = ["SCHEMA_VERSION", "LatencyTable", "OpStats", "TableMeta", "load_table", "resolve_table",
           "shipped_names"]
