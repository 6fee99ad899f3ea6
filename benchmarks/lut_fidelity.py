"""Latency-table fidelity per runtime and resolution: raw and calibrated on held-out archs, beside the repeat.

    taskset -c 1 python benchmarks/lut_fidelity.py [--runtimes onnxruntime,torch-cpu]
        [--configs small,224] [--calibration-archs 24] [--samples 20] [--tables DIR] [--seed 0]
    python benchmarks/lut_fidelity.py --quick        # the check the default test suite runs

For each runtime and each config (``small``: ``mbconv-small`` at 32x32; ``224``: the space of
``examples/mobilenetv2.json``, torchvision's MobileNetV2 with kernels {3,5} and expands {3,6}
at 224x224), it

1. profiles the table as ``hwnas profile`` does: every op, then ``--calibration-archs`` whole
   archs measured twice and the correction chosen by cross-validation (resumed from ``--tables``);
2. measures ``--samples`` *other* random archs (held out: none was used to fit) end to end
   twice, and reports the raw table's and the calibrated table's agreement with pass A beside
   pass B's (the device's repeat, the ceiling), as within-10 % and Kendall tau, with the ratios
   calibrated / repeat; the linear model refitted on the same calibration archs is shown too;
3. (224 only) times torchvision's own ``mobilenet_v2(weights=None)`` (random init: timing needs
   no weights) and the spec file's build of the same arch, interleaved, twice, and compares the
   table's raw and calibrated prediction of ``k3e6`` x 16 with it.

Prints one JSON object per (runtime, config), then a summary with the wall seconds of every
stage and the load average. Run it pinned to one core (``taskset -c 1``) on a quiet machine.
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

from hwnas.latency.agreement import agreement
from hwnas.latency.calfit import design, fit_linear, predict
from hwnas.latency.calibration import Calibration
from hwnas.latency.measure import MeasureProtocol, measure_interleaved, process_settings_restored
from hwnas.latency.profile import profile_space
from hwnas.latency.whole import input_shape, measure_archs, sample_archs
from hwnas.plugins import get_profiler
from hwnas.space import get_space

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"small": "mbconv-small", "224": str(ROOT / "examples" / "mobilenetv2.json")}
QUICK_SPEC = {"name": "quick", "resolution": 16, "num_classes": 10, "stem_channels": 8, "stem_stride": 1,
              "first_block_channels": 0, "stages": [[8, 2, 1], [16, 2, 2]], "head_channels": 16,
              "kernels": [3, 5], "expands": [2, 4]}


def _agree(pred: np.ndarray, meas: np.ndarray) -> dict:
    a = agreement(pred, meas)
    return {"within_10pct": a.within_10pct, "within_5pct": a.within_5pct, "kendall_tau": a.kendall_tau,
            "mape": a.mape, "bias_pct": a.bias_pct}


def _ratio(x: float, ceiling: float) -> float | None:
    return None if not ceiling or not np.isfinite(ceiling) else round(x / ceiling, 3)


def held_out_archs(space, table, n: int, seed: int) -> list:
    """``n`` random archs none of which the table's calibration was fitted on."""
    used = {row[0] for row in table.meta.protocol.get("calibration_measured", [])}
    pool = sample_archs(space, n + len(used), np.random.default_rng([seed, 17]))
    return [a for a in pool if str(a) not in used][:n]


def mobilenetv2_check(space, table, prof, seed: int) -> dict:
    """torchvision's MobileNetV2 (random init) against the spec file's prediction of it."""
    import torch
    import torchvision

    from hwnas.nn import build_model

    arch = space.parse("-".join(["k3e6"] * space.num_positions))
    torch.manual_seed(seed)  # random init only: the timing needs no trained weights
    tv = torchvision.models.mobilenet_v2(weights=None).eval()
    ours = build_model(space, arch).eval()
    params = [sum(p.numel() for p in m.parameters()) for m in (tv, ours)]
    proto = prof.protocol
    with process_settings_restored():
        prof.setup()
        runners = [prof.prepare(tv, input_shape(space)), prof.prepare(ours, input_shape(space))]
        rng = np.random.default_rng([seed, 5])
        passes = [measure_interleaved(runners, runs=proto.runs, rounds=proto.rounds, warmup=proto.warmup,
                                      rng=rng, timed_block=prof.timed_block()) for _ in range(2)]
    tv_a, tv_b = passes[0].stats[0].p50, passes[1].stats[0].p50
    ours_a = passes[0].stats[1].p50
    raw = replace(table, calibration=Calibration.overhead(table.meta.protocol.get("call_overhead_ms", 0.0)))
    pred_raw, pred_cal = raw.predict(space, arch), table.predict(space, arch)
    repeat_pct = abs(tv_b - tv_a) / tv_a * 100
    cal_err = (pred_cal - tv_a) / tv_a * 100
    return {"arch": str(arch), "params_torchvision": params[0], "params_spec": params[1],
            "measured_torchvision_ms": [round(tv_a, 4), round(tv_b, 4)],
            "measured_spec_build_ms": round(ours_a, 4),
            "predicted_raw_ms": round(pred_raw, 4), "predicted_calibrated_ms": round(pred_cal, 4),
            "raw_error_pct": round((pred_raw - tv_a) / tv_a * 100, 2),
            "calibrated_error_pct": round(cal_err, 2),
            "repeat_pct": round(repeat_pct, 2),
            "calibrated_within_repeat_plus_5pct": bool(abs(cal_err) <= repeat_pct + 5)}


def run_one(runtime: str, config: str, space_name: str, args, protocol: MeasureProtocol) -> dict:
    stages: dict[str, float] = {}
    space = get_space(space_name)
    prof = get_profiler(runtime, protocol)
    path = args.tables / f"{runtime}-{space.name}.json"
    t0 = time.perf_counter()
    table = profile_space(space, prof, path, device_name="bench-host",
                          calibration_archs=args.calibration_archs)
    stages["profile_and_calibrate_s"] = round(time.perf_counter() - t0, 1)
    archs = held_out_archs(space, table, args.samples, args.seed)
    t0 = time.perf_counter()
    with process_settings_restored():
        (pass_a, pass_b), per_arch = measure_archs(space, archs, prof, np.random.default_rng([args.seed, 9]))
    stages["held_out_measure_s"] = round(time.perf_counter() - t0, 1)
    meas, rep = np.array(pass_a), np.array(pass_b)
    p50 = {k: v.p50 for k, v in table.entries.items()}
    d = design(p50, space, archs)
    overhead = table.meta.protocol.get("call_overhead_ms", 0.0)
    raw_pred = d.raw_ms + overhead
    cal_pred = predict(table.calibration, d)
    rows = table.meta.protocol["calibration_measured"]
    fit_d = design(p50, space, [space.parse(r[0]) for r in rows])
    linear = fit_linear(fit_d.raw_ms, fit_d.n_ops, np.array([r[1] for r in rows]))
    repeat = _agree(rep, meas)
    calibrated = _agree(cal_pred, meas)
    out = {
        "runtime": runtime, "config": config, "space": space.name, "resolution": space.resolution,
        "held_out_archs": len(archs), "calibration_archs": len(rows),
        "device_detail": table.meta.device_detail,
        "calibration": table.calibration.to_dict(),
        "raw": _agree(raw_pred, meas),
        "calibrated": calibrated,
        "linear_refit": _agree(predict(linear, d), meas),
        "repeat": repeat,
        "calibrated_over_repeat": {"within_10pct": _ratio(calibrated["within_10pct"], repeat["within_10pct"]),
                                   "kendall_tau": _ratio(calibrated["kendall_tau"], repeat["kendall_tau"])},
        "seconds_per_e2e_measurement": round(per_arch, 3),
        "ops_in_table": len(table.entries),
        "table_profile_seconds": table.meta.protocol.get("profile_seconds"),
        "held_out": [str(a) for a in archs],
    }
    if config == "224" or (args.quick and args.torchvision):
        t0 = time.perf_counter()
        out["mobilenetv2"] = mobilenetv2_check(get_space(CONFIGS["224"]) if args.quick else space,
                                               _for(table, args, runtime, protocol), prof, args.seed)
        stages["torchvision_check_s"] = round(time.perf_counter() - t0, 1)
    out["stages"] = stages
    out["load_avg_1min"] = round(os.getloadavg()[0], 2)
    return out


def _for(table, args, runtime, protocol):
    """The table the MobileNetV2 check prices with (in --quick, a 224 table profiled without
    calibration at a very short protocol: only the wiring is checked there)."""
    if not args.quick:
        return table
    space = get_space(CONFIGS["224"])
    prof = get_profiler(runtime, protocol)
    return profile_space(space, prof, args.tables / f"{runtime}-{space.name}.json", device_name="bench-host",
                         calibration_archs=4)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtimes", default="onnxruntime,torch-cpu")
    ap.add_argument("--configs", default="small,224", help="small (mbconv-small, 32x32) and/or 224 "
                    "(examples/mobilenetv2.json, 224x224)")
    ap.add_argument("--calibration-archs", type=int, default=24)
    ap.add_argument("--samples", type=int, default=20, help="held-out random archs per table")
    ap.add_argument("--tables", type=Path, default=Path("bench_tables"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="a tiny 16x16 spec, short protocol, few archs")
    ap.add_argument("--torchvision", action="store_true", help="with --quick: run the MobileNetV2 check too")
    args = ap.parse_args(argv)
    args.tables.mkdir(parents=True, exist_ok=True)
    configs = {c: CONFIGS[c] for c in args.configs.split(",")}
    if args.quick:
        spec = args.tables / "quick.json"
        spec.write_text(json.dumps(QUICK_SPEC))
        configs = {"quick": str(spec)}
        args.calibration_archs, args.samples = min(args.calibration_archs, 8), min(args.samples, 6)
        args.runs, args.rounds = min(args.runs, 6), min(args.rounds, 2)
    protocol = MeasureProtocol(runs=args.runs, rounds=args.rounds, warmup=1 if args.quick else 10,
                               pin_cpu=not args.quick)
    results, t_start = [], time.perf_counter()
    for runtime in args.runtimes.split(","):
        for config, space_name in configs.items():
            result = run_one(runtime, config, space_name, args, protocol)
            results.append(result)
            print(json.dumps(result), flush=True)
    print(json.dumps({"summary": [{k: r[k] for k in ("runtime", "config", "stages")} for r in results],
                      "wall_s": round(time.perf_counter() - t_start, 1),
                      "load_avg": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count(),
                      "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else None}),
          flush=True)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
