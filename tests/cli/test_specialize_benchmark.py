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
    assert result["one_more_device_ratio_amortised"] == pytest.approx(
        result["one_more_device_s"] / (result["train_s"] + result["predictor_build_s"]))
    assert result["meets_goal"] == (result["one_more_device_ratio"] <= 0.05)
    assert 0 < result["one_more_device_supernet_scored"] <= result["rescore"] == 3
    for key in ("first_device_breakdown_s", "one_more_device_breakdown_s"):
        parts = result[key]
        assert set(parts) == {"search_s", "rescore_s", "weights_s", "export_s", "check_s",
                              "load_and_report_s"}
        assert sum(parts.values()) == pytest.approx(result[key.replace("_breakdown", "")])
    assert result["predictor"]["samples"] == 12 and result["predictor"]["held_out"]["folds"] == 3
    quality = result["quality"]
    assert quality["supernet_val_acc_gap"] == pytest.approx(
        quality["supernet_path"]["supernet_val_acc"] - quality["predictor_path"]["supernet_val_acc"])
    assert len(result["loadavg_before"]) == 3
    fvs = result["finetune_vs_scratch"]
    assert fvs["epochs"] == 1 and len(fvs["seeds"]) == 1
    for key in ("inherited_test_acc", "finetuned_test_acc", "scratch_test_acc"):
        assert 0.0 <= fvs["seeds"][0][key] <= 1.0 and key in fvs["mean"]
