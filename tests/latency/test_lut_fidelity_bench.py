"""``benchmarks/lut_fidelity.py --quick``: the benchmark's wiring, on a tiny spec and a short protocol."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # profiles and measures real networks (a few seconds)

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "lut_fidelity.py"


def test_quick_reports_raw_and_calibrated_held_out_beside_the_repeat(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("lut_fidelity", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (result,) = bench.main(["--quick", "--runtimes", "torch-cpu", "--tables", str(tmp_path)])
    assert result["held_out_archs"] == 6 and result["calibration_archs"] == 8
    fitted = {row[0] for row in __import__("json").loads((tmp_path / "torch-cpu-quick.json").read_text())
              ["meta"]["protocol"]["calibration_measured"]}
    assert len(fitted) == 8 and len(result["held_out"]) == 6
    assert not fitted & set(result["held_out"])  # held out: no arch the correction was fitted on
    for part in ("raw", "calibrated", "linear_refit", "repeat"):
        assert {"within_10pct", "kendall_tau", "bias_pct"} <= set(result[part])
    assert set(result["calibrated_over_repeat"]) == {"within_10pct", "kendall_tau"}
    assert result["calibration"]["method"] in ("linear", "per_kind")
    assert set(result["stages"]) == {"profile_and_calibrate_s", "held_out_measure_s"}
