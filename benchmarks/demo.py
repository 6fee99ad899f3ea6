"""Run ``hwnas demo`` (full size unless --quick) and print its per-stage times as JSON.

    python benchmarks/demo.py [--quick] [--out /tmp/hwnas-demo-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

from hwnas.demo import run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="hwnas-demo-bench-"))
    summary = run_demo(out, quick=args.quick, say=lambda _msg: None)
    print(json.dumps({
        "benchmark": "demo", "quick": args.quick, "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "stage_seconds": {s["stage"]: s["seconds"] for s in summary["stages"]},
        "wall_s": summary["wall_s"],
        **{k: summary[k] for k in ("budget_ms", "arch", "predicted_ms", "measured_ms", "test_acc",
                                   "table_within_10pct_calibrated", "front_size", "hypervolume")},
    }, indent=2))


if __name__ == "__main__":
    main()
