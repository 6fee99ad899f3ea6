"""gpu_check.py --device cpu --quick: the GPU check's stages, small, on the CPU (so it cannot rot)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # 60-95 s on a shared 2-core machine: seven CLI processes, each importing torch
def test_gpu_check_quick_on_cpu_passes_every_stage(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu",
                           "--quick", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    summary = json.loads(proc.stdout)
    assert summary["failed"] == [], [s.get("error") for s in summary["stages"] if not s["ok"]]
    assert proc.returncode == 0
    stages = [s["stage"] for s in summary["stages"]]
    assert stages == ["profile", "lut_validate", "train_fp32", "train_bf16", "lut_predict",
                      "gradient_search", "onnx_export"]
    figures = summary["figures"]
    assert figures["train_fp32_images_per_s"] > 0 and figures["train_bf16_images_per_s"] > 0
    assert figures["lut_validate"]["n"] == 4
    assert figures["gradient_search"]["epochs_run"] == 2
    assert (tmp_path / "net.onnx").is_file()


@pytest.mark.integration
def test_a_failing_stage_is_recorded_and_the_rest_still_run(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    arch = "-".join(["k3e3"] * 13)
    bad = gpu_check.run_stage("bad", ["train", arch, "--out", str(tmp_path / "x"), "--device", "tpu"], 120)
    assert not bad["ok"] and "unknown device 'tpu'" in bad["error"]
    slow = gpu_check.run_stage("slow", ["spaces"], 0.01)
    assert not slow["ok"] and "timed out" in slow["error"]
