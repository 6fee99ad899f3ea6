"""Latency-table fidelity per runtime: profile a space, measure random archs end to end twice.

    python benchmarks/lut_fidelity.py [--space mbconv-small] [--runtimes torch-cpu,onnxruntime,executorch]
                                      [--samples 40] [--tables DIR] [--seed 0]

Prints one JSON object per runtime: the table's agreement with end-to-end measurement
(within_10pct, within_5pct, mape, kendall_tau, ...), the device's own repeatability (the same archs
measured again with the same protocol: repeat_within_10pct, repeat_kendall_tau), the held-out
figures after ``--calibrate``-style linear calibration, seconds to profile the whole table and
seconds per end-to-end measurement (export/lowering included). Existing tables in ``--tables``
are reused (resume), so a rerun measures only what is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from hwnas.latency.fidelity import validate_table
from hwnas.latency.measure import MeasureProtocol
from hwnas.latency.profile import profile_space
from hwnas.plugins import get_profiler
from hwnas.space import get_space


def run_one(
    space_name: str, runtime: str, samples: int, tables: Path, seed: int, protocol: MeasureProtocol
) -> dict:
    space = get_space(space_name)
    prof = get_profiler(runtime, protocol)
    path = tables / f"{runtime}-{space.name}.json"
    existed = path.exists()
    t0 = time.perf_counter()
    table = profile_space(space, prof, path, device_name="bench-host")
    profile_wall = time.perf_counter() - t0
    v, calibrated = validate_table(table, space, prof, samples, np.random.default_rng(seed), calibrate=True)
    held = v.calibrated["held_out"]
    return {
        "runtime": runtime,
        "space": space.name,
        "samples": samples,
        "device_detail": table.meta.device_detail,
        "clock": protocol.resolved_clock,
        "within_10pct": v.fidelity.within_10pct,
        "within_5pct": v.fidelity.within_5pct,
        "mape": v.fidelity.mape,
        "rmse_ms": v.fidelity.rmse_ms,
        "kendall_tau": v.fidelity.kendall_tau,
        "spearman_rho": v.fidelity.spearman_rho,
        "bias_pct": v.fidelity.bias_pct,
        "repeat_within_10pct": v.repeat.within_10pct,
        "repeat_within_5pct": v.repeat.within_5pct,
        "repeat_mape": v.repeat.mape,
        "repeat_kendall_tau": v.repeat.kendall_tau,
        "calibrated_held_out": {
            k: held[k] for k in ("n", "within_10pct", "within_5pct", "mape", "kendall_tau")
        },
        "repeat_held_out": {k: v.calibrated["repeat_held_out"][k] for k in ("within_10pct", "kendall_tau")},
        "profile_table_seconds": table.meta.protocol.get("profile_seconds"),
        "profile_wall_this_run_seconds": round(profile_wall, 2),
        "table_resumed": existed,
        "ops_in_table": len(table.entries),
        "seconds_per_e2e_measurement": v.seconds_per_measurement,
        "seconds_20_e2e": round(20 * v.seconds_per_measurement, 2),
        "call_overhead_ms": table.meta.protocol.get("call_overhead_ms"),
        "load_avg_1min": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="mbconv-small")
    ap.add_argument("--runtimes", default="torch-cpu,onnxruntime,executorch")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--tables", type=Path, default=Path("bench_tables"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    args.tables.mkdir(parents=True, exist_ok=True)
    protocol = MeasureProtocol(runs=args.runs, rounds=args.rounds)
    for runtime in args.runtimes.split(","):
        print(
            json.dumps(run_one(args.space, runtime, args.samples, args.tables, args.seed, protocol)),
            flush=True,
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
