"""``benchmarks/int8.py --quick`` runs and prints, per runtime, the figures the README table needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration  # ~15 s quiet, ~35 s at load 8: builds, quantizes and times 6 nets, trains one
def test_int8_benchmark_quick_prints_sane_figures(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "int8.py"), "--quick",
                           "--tables", str(tmp_path)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    (line,) = proc.stdout.strip().splitlines()
    out = json.loads(line)
    assert out["runtime"] == "onnxruntime" and out["quick"] is True and len(out["load_before"]) == 3
    sp = out["speedup"]
    assert sp["archs"] == 3 and sp["clock"] in ("thread", "wall")
    ratio = sp["speedup_fp32_over_int8"]
    assert 0 < ratio["min"] <= ratio["median"] <= ratio["max"] < 20
    assert 0 < sp["int8_ms"]["median"] < 100 and 0.0 <= sp["int8_faster_share"] <= 1.0
    fid = out["fidelity"]
    assert fid["table"] == "cpu-1t/onnxruntime-int8-mbconv-small" and fid["table_dtype"] == "int8"
    assert 0.0 <= fid["within_10pct"] <= 1.0 and 0.0 <= fid["repeat_within_10pct"] <= 1.0
    assert -1.0 <= fid["kendall_tau"] <= 1.0 and -1.0 <= fid["repeat_kendall_tau"] <= 1.0
    (acc,) = out["accuracy"]
    assert acc["data"] == "digits" and len(acc["archs"]) == 1
    row = acc["archs"][0]
    assert 0.0 <= row["fp32"] <= 1.0 and 0.0 <= row["int8"] <= 1.0
    assert row["drop_pts"] == pytest.approx((row["fp32"] - row["int8"]) * 100, abs=1e-2)
