"""``benchmarks/specialize.py --quick`` prints every figure the README table needs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "specialize.py"


@pytest.mark.integration  # trains a supernet and 3+3 nets: default suite, not the unit tier
def test_quick_run_prints_the_cost_and_finetune_figures(capsys):
    spec = importlib.util.spec_from_file_location("specialize_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--quick"])
    assert json.loads(capsys.readouterr().out) == result
    assert result["train_s"] > 0 and result["one_more_device_s"] > 0
    assert result["one_more_device_ratio"] == result["one_more_device_s"] / result["train_s"]
    assert result["meets_goal"] == (result["one_more_device_ratio"] <= 0.05)
    assert 0 < result["one_more_device_scores_reused"] <= result["evaluations"]
    assert len(result["loadavg_before"]) == 3
    fvs = result["finetune_vs_scratch"]
    assert fvs["epochs"] == 1 and len(fvs["seeds"]) == 1
    for key in ("inherited_test_acc", "finetuned_test_acc", "scratch_test_acc"):
        assert 0.0 <= fvs["seeds"][0][key] <= 1.0 and key in fvs["mean"]
