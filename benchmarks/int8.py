"""int8 against float32 per runtime: end-to-end speedup, int8 table fidelity, accuracy drop.

    python benchmarks/int8.py [--runtimes onnxruntime[,executorch]] [--archs 20] [--acc-archs 5]
                              [--epochs 3] [--data imagefolder:PATH] [--seed 0] [--quick]

Prints one JSON object per runtime (and one line per skipped runtime, with why):

- ``speedup``: ``--archs`` random ``mbconv-small`` archs built with seeded weights, each loaded in
  float32 and in int8 (the runtime's own int8 path: QDQ in onnxruntime, PT2E/XNNPACK in
  ExecuTorch) and timed in interleaved rounds on one pinned core (the profiler's protocol: the
  measuring thread's CPU clock where the runtime computes on that thread); per arch fp32 / int8
  median latency, summarised as median, p10, p90, min and max.
- ``fidelity``: the shipped int8 table (``cpu-1t/<runtime>-int8-<space>``, else one profiled into
  ``--tables``) validated like ``hwnas lut validate``: agreement with end-to-end measurement beside
  the device's repeatability on the same archs (the ceiling a table can reach).
- ``accuracy``: ``--acc-archs`` archs trained ``--epochs`` epochs from seeded weights on digits
  and on ``--data``, then test-split accuracy of the float32 net (PyTorch) and of its int8 version
  (calibrated on the training split, run in the runtime: :func:`hwnas.evaluation.quantized.int8_accuracy`).

ExecuTorch is not in the default ``--runtimes``: no int8 table of it ships (the fidelity part would
profile one: the float32 profile alone took ~10 min) and its int8 scoring calibrates and lowers
image by image (~2 min per net at load 15), more than a loaded 2-core machine gave this run.

``--quick`` (the test suite's smoke run): 3 archs, 2 rounds, 4 validation archs, 1 arch trained
1 epoch on a tenth of digits, no imagefolder. Record ``uptime``'s load beside every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset

from hwnas.data import load_for_space
from hwnas.evaluation.quantized import int8_accuracy
from hwnas.latency.fidelity import sample_archs, validate_table
from hwnas.latency.measure import MeasureProtocol, measure_interleaved, process_settings_restored
from hwnas.latency.shipped import shipped_names, table_path
from hwnas.latency.table import LatencyTable
from hwnas.nn import build_model
from hwnas.plugins import get_profiler
from hwnas.space import get_space
from hwnas.train import TrainConfig, evaluate, seeded, train_model

RUNTIMES = ("onnxruntime", "executorch")
CIFAR = "shared/data/cifar10-subset"


def default_data() -> str:
    """``imagefolder:`` the CIFAR-10 subset in a ``shared/`` folder beside the checkout (or above)."""
    for parent in Path(__file__).resolve().parents[1:]:
        if (parent / CIFAR).is_dir():
            return f"imagefolder:{parent / CIFAR}"
    return f"imagefolder:../{CIFAR}"


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def spread(values: list[float]) -> dict:
    v = np.asarray(values, dtype=float)
    return {"median": float(np.median(v)), "p10": float(np.percentile(v, 10)),
            "p90": float(np.percentile(v, 90)), "min": float(v.min()), "max": float(v.max()), "n": len(v)}


def speedup(space, runtime: str, archs: list, protocol: MeasureProtocol, rng: np.random.Generator) -> dict:
    """fp32 / int8 end-to-end median latency per arch, all runners interleaved in one measurement."""
    fp32, int8 = get_profiler(runtime, protocol), get_profiler(runtime, protocol, dtype="int8")
    shape = tuple(space.input_shape)
    with process_settings_restored():
        int8.setup()
        runners = []
        for i, arch in enumerate(archs):
            model = seeded(i, lambda a=arch: build_model(space, a)).eval()
            runners += [fp32.prepare(model, shape), int8.prepare(model, shape)]
        result = measure_interleaved(runners, runs=protocol.runs, rounds=protocol.rounds,
                                     warmup=protocol.warmup, rng=rng, timed_block=int8.timed_block())
    ms = [s.p50 for s in result.stats]
    fp32_ms, int8_ms = ms[0::2], ms[1::2]
    return {"archs": len(archs), "clock": protocol.resolved_clock, "fp32_ms": spread(fp32_ms),
            "int8_ms": spread(int8_ms),
            "speedup_fp32_over_int8": spread([f / q for f, q in zip(fp32_ms, int8_ms)]),
            "int8_faster_share": float(np.mean([q < f for f, q in zip(fp32_ms, int8_ms)]))}


def int8_table(space, runtime: str, protocol: MeasureProtocol, tables: Path) -> tuple[LatencyTable, str]:
    name = f"cpu-1t/{runtime}-int8-{space.name}"
    if name in shipped_names():
        return LatencyTable.load(table_path(name)), name
    from hwnas.latency.profile import profile_space

    path = tables / f"{runtime}-int8-{space.name}.json"
    prof = get_profiler(runtime, protocol, dtype="int8")
    return profile_space(space, prof, path, device_name="bench-host"), str(path)


def fidelity(space, runtime: str, samples: int, protocol: MeasureProtocol, tables: Path,
             rng: np.random.Generator) -> dict:
    table, name = int8_table(space, runtime, protocol, tables)
    prof = get_profiler(runtime, protocol, dtype="int8")
    v, _ = validate_table(table, space, prof, samples, rng)
    keys = ("within_10pct", "within_5pct", "mape", "kendall_tau", "bias_pct")
    return {"table": name, "table_dtype": table.meta.dtype, "samples": samples,
            **{k: getattr(v.fidelity, k) for k in keys},
            **{f"repeat_{k}": getattr(v.repeat, k) for k in keys}}


def accuracy(space, runtime: str, data_spec: str, archs: list, epochs: int, subset: float, seed: int) -> dict:
    """Test accuracy of each arch trained from seeded weights, float32 (PyTorch) and int8 (runtime)."""
    data = load_for_space(data_spec, space)
    if subset < 1.0:
        keep = max(64, int(len(data.train) * subset))
        data = replace(data, train=Subset(data.train, list(range(keep))))
    rows = []
    for i, arch in enumerate(archs):
        model = seeded(seed + i, lambda a=arch: build_model(space, a))
        train_model(model, data, TrainConfig(epochs=epochs, seed=seed + i), progress=False,
                    say=lambda _m: None)
        _, acc_fp32 = evaluate(model, data.loader("test", 256))
        acc_int8 = int8_accuracy(model, data, runtime, split="test")
        rows.append({"arch": str(arch), "fp32": acc_fp32, "int8": acc_int8,
                     "drop_pts": round((acc_fp32 - acc_int8) * 100, 3)})
    drops = [r["drop_pts"] for r in rows]
    return {"data": data_spec, "epochs": epochs, "train_images": len(data.train), "archs": rows,
            "mean_fp32": float(np.mean([r["fp32"] for r in rows])),
            "mean_int8": float(np.mean([r["int8"] for r in rows])),
            "mean_drop_pts": float(np.mean(drops)), "max_drop_pts": float(np.max(drops))}


def note(out: dict, part: str) -> None:
    """Each finished part on stderr with the load now: a long run killed midway keeps its figures."""
    print(json.dumps({"part": part, "figures": out[part], "load": load()}), file=sys.stderr, flush=True)


def run_runtime(runtime: str, args, protocol: MeasureProtocol) -> dict:
    space = get_space(args.space)
    rng = np.random.default_rng(args.seed)
    started, load_before = time.perf_counter(), load()
    out = {"runtime": runtime, "space": space.name, "quick": args.quick, "load_before": load_before}
    out["speedup"] = speedup(space, runtime, sample_archs(space, args.archs, rng), protocol, rng)
    note(out, "speedup")
    out["fidelity"] = fidelity(space, runtime, args.samples, protocol, args.tables, rng)
    note(out, "fidelity")
    acc_archs = sample_archs(space, args.acc_archs, np.random.default_rng(args.seed + 1))
    datasets = ["digits"] if args.quick else ["digits", args.data]
    subset = 0.1 if args.quick else 1.0
    out["accuracy"] = []
    for d in datasets:
        out["accuracy"].append(accuracy(space, runtime, d, acc_archs, args.epochs, subset, args.seed))
        note(out, "accuracy")
    out.update(load_after=load(), wall_s=round(time.perf_counter() - started, 1),
               torch_threads=torch.get_num_threads())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runtimes", default="onnxruntime")
    p.add_argument("--space", default="mbconv-small")
    p.add_argument("--archs", type=int, default=20)
    p.add_argument("--samples", type=int, default=20, help="archs of the table validation")
    p.add_argument("--acc-archs", type=int, default=5)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--data", default=default_data())
    p.add_argument("--tables", type=Path, default=Path("bench_tables"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.archs, args.samples, args.acc_archs, args.epochs = 3, 4, 1, 1
    protocol = MeasureProtocol(runs=10 if args.quick else 50, rounds=2 if args.quick else 5,
                               warmup=2 if args.quick else 10, seed=args.seed)
    torch.set_num_threads(1)  # one core: the tables and the timing protocol are single-threaded
    for runtime in args.runtimes.split(","):
        if runtime not in RUNTIMES:
            print(json.dumps({"runtime": runtime,
                              "skipped": f"no int8 path; use one of {', '.join(RUNTIMES)}"}))
            continue
        print(json.dumps(run_runtime(runtime, args, protocol)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
