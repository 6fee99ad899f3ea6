"""A GPU check in one command: every stage through the ``hwnas`` CLI, each with its own timeout.

    python benchmarks/gpu_check.py                       # CUDA, about 8 minutes at most (H100/H200)
    python benchmarks/gpu_check.py --device cpu --quick  # the same stages, small, on the CPU (CI)

Stages: a latency table for mbconv-small (torch-cuda, or torch-cpu on the CPU), its fidelity
from ``lut validate``, training throughput in fp32 and bf16 (224 x 224 synthetic images on the
GPU), 2 epochs of gradient search (proxyless) and an ONNX export checked in ONNX Runtime. A
stage that fails or runs out of time is recorded with its error; the next one still runs. Prints
one JSON object. Only the CLI is used, so the check follows the product, not its internals.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HWNAS = [sys.executable, "-c", "from hwnas.cli import main; main()"]
# A small mbconv space (16 x 16 inputs) that keeps --quick's stages at seconds each.
QUICK_SPACE = {"name": "quick", "resolution": 16, "num_classes": 10, "stem_channels": 8, "stem_stride": 1,
               "first_block_channels": 0, "head_channels": 32, "stages": [[8, 1, 1], [16, 1, 2]],
               "kernels": [3, 5], "expands": [2, 4]}


def run_stage(name: str, args: list[str], timeout_s: float, env: dict | None = None) -> dict:
    """Run one CLI stage; its --json output, or why there is none."""
    start = time.perf_counter()
    try:
        proc = subprocess.run([*HWNAS, *args], capture_output=True, text=True, timeout=timeout_s,
                              cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"stage": name, "ok": False, "wall_s": round(time.perf_counter() - start, 1),
                "error": f"timed out after {timeout_s:.0f} s"}
    record = {"stage": name, "ok": proc.returncode == 0, "wall_s": round(time.perf_counter() - start, 1)}
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        record["error"] = f"exit {proc.returncode}: {lines[-1] if lines else 'no output'}"[:400]
        return record
    try:
        record["result"] = json.loads(proc.stdout)
    except ValueError:
        record["ok"], record["error"] = False, "stdout is not JSON: " + proc.stdout[-200:]
    return record


def _number(result, *keys: str) -> float | None:
    """The first of ``keys`` that ``result`` holds as a number (CLI JSON may be renamed)."""
    if isinstance(result, dict):
        for key in keys:
            if isinstance(result.get(key), (int, float)):
                return float(result[key])
    return None


def _pick(result: dict | None, *keys: str) -> dict:
    return {k: result.get(k) for k in keys} if isinstance(result, dict) else {}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda | cuda:N | cpu")
    parser.add_argument("--quick", action="store_true", help="small stages (CPU CI)")
    parser.add_argument("--out", type=Path, default=None, help="keep the artifacts here")
    args = parser.parse_args(argv)
    cpu = args.device == "cpu"
    work = args.out or Path(tempfile.mkdtemp(prefix="hwnas-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.quick:
        space = str(work / "quick.json")
        Path(space).write_text(json.dumps(QUICK_SPACE))
        arch = train_arch = "k3e2-k5e4"
        train_space, train_data, epochs, batch = space, "synthetic:200", 1, 32
        search_data = "synthetic:200"
        profile_extra, samples, timeout = ["--runs", "3", "--rounds", "1", "--warmup", "1"], "4", 120
        # one thread: on a busy CI machine torch's default pool mostly spins
        threads = ["--threads", "1"]
    else:
        space, arch = "mbconv-small", "-".join(["k5e3"] * 13)
        # ImageNet-sized training: proxyless-mobile at 224 x 224, 1000 outputs
        train_space, train_arch = "proxyless-mobile", "-".join(["k3e6"] * 21)
        train_data, epochs, batch, search_data = "synthetic:3000", 3, 128, "synthetic"
        profile_extra = ["--runs", "30", "--rounds", "3", "--warmup", "5"]
        samples, timeout, threads = "20", 150, []
    runtime = "torch-cpu" if cpu else "torch-cuda"
    table = work / "table.json"
    started = time.perf_counter()
    stages = [run_stage("profile", ["profile", "--space", space, "--runtime", runtime, "--out", str(table),
                                    "--device-name", "gpu-check", *profile_extra, "--json"], timeout)]
    stages.append(run_stage("lut_validate", ["lut", "validate", str(table), "--space", space,
                                             "--samples", samples, "--json"], timeout))
    for precision in ("fp32", "bf16"):
        stages.append(run_stage(f"train_{precision}", [
            "train", train_arch, "--space", train_space, "--data", train_data, "--epochs", str(epochs),
            "--batch-size", str(batch), "--precision", precision, "--device", args.device, *threads,
            "--out", str(work / f"train-{precision}"), "--force", "--json"], timeout))
    # the budget: the table's prediction for a mid-sized arch, so a feasible arch exists
    predict = run_stage("lut_predict", ["lut", "predict", str(table), arch, "--space", space, "--json"], 60)
    stages.append(predict)
    budget = _number(predict.get("result"), "predicted", "latency_ms", "predicted_ms")
    # bf16 on a GPU (its tensor cores), fp32 on the CPU (what the default suite pins down)
    search_precision = "fp32" if cpu else "bf16"
    stages.append(run_stage("gradient_search", [
        "search", "--strategy", "proxyless", "--space", space, "--lut", str(table), "--data", search_data,
        "--budget-ms", f"{budget or 1.0:.6g}", "--epochs", "2", "--no-train-derived",
        "--device", args.device, "--precision", search_precision, *threads,
        "--out", str(work / "search"), "--force", "--json"], timeout * 1.5))
    # on a GPU: the PyTorch reference there, and ONNX Runtime's CUDA provider when installed
    stages.append(run_stage("onnx_export", [
        "export", arch, "--space", space, "--format", "onnx", "--data", "synthetic",
        "--device", args.device, "--out", str(work / "net.onnx"), "--force", "--json"], timeout))
    summary = {"device": args.device, "quick": args.quick, "work": str(work),
               "search_precision": search_precision,
               "wall_s": round(time.perf_counter() - started, 1),
               "passed": sum(s["ok"] for s in stages), "failed": [s["stage"] for s in stages if not s["ok"]],
               "figures": _figures(stages), "stages": stages}
    try:
        import onnxruntime

        summary["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        summary["onnxruntime_providers"] = []
    print(json.dumps(summary, indent=2, default=str))
    return summary


def _figures(stages: list[dict]) -> dict:
    """The headline numbers of each stage that passed (the full results stay in "stages")."""
    by = {s["stage"]: s.get("result") for s in stages}
    figures = {}
    for precision in ("fp32", "bf16"):
        result = by.get(f"train_{precision}")
        if isinstance(result, dict) and result.get("history") is None:
            figures[f"train_{precision}_images_per_s"] = result.get("images_per_s")
    validate = by.get("lut_validate")
    if isinstance(validate, dict):
        figures["lut_validate"] = validate.get("fidelity") or {
            k: v for k, v in validate.items() if not isinstance(v, (list, dict))}
    search = by.get("gradient_search")
    if isinstance(search, dict):  # the search's JSON: a run result, its figures under "details"
        flat = {**search, **(search.get("details") or {}), "arch": (search.get("best") or {}).get("arch"),
                "budget": search.get("budget_ms")}
        figures["gradient_search"] = _pick(flat, "arch", "predicted", "budget", "in_band", "epochs_run",
                                           "search_wall_s")
    else:
        figures["gradient_search"] = {}
    figures["onnx_export"] = {k: v for k, v in (by.get("onnx_export") or {}).items()
                              if not isinstance(v, (list, dict))}
    return figures


if __name__ == "__main__":
    result = main()
    sys.exit(0 if not result["failed"] else 1)
