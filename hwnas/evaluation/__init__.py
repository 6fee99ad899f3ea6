"""Evaluators: ``oneshot`` (shared supernet weights), ``scratch`` (short training) and
``table:FILE.csv`` (published tabular benchmarks)."""

from hwnas.evaluation.base import Evaluator, arch_costs, load_lut
from hwnas.evaluation.oneshot import OneShotConfig, OneShotEvaluator
from hwnas.evaluation.scratch import ScratchConfig, ScratchEvaluator
from hwnas.evaluation.table import TableEvaluator, read_table

__all__ = ["Evaluator", "OneShotConfig", "OneShotEvaluator", "ScratchConfig",
           "ScratchEvaluator", "TableEvaluator", "arch_costs", "load_lut", "read_table"]
