"""Where a 224x224 table loses time: every MobileNetV2 block's cost inside the network vs its table entry.

    taskset -c 0 python benchmarks/lut_gap.py [--runtimes onnxruntime,torch-cpu] [--runs 40]

MobileNetV2 is rebuilt from ``examples/mobilenetv2.json`` (``k3e6`` in all 16 positions,
3,504,872 parameters like torchvision's). For each of its 21 ops (stem, blocks, head, pool, FC):

* ``table_ms``: the op *in context*, exactly as ``hwnas profile`` measures a table entry
  (carrier + op + carrier minus the carriers, interleaved rounds, thread CPU clock);
* ``alone_ms``: the op timed by itself, minus the runtime's per-call overhead (the pre-context
  protocol);
* ``in_network_ms``: the op's marginal time inside the network, on the same runtime, protocol and
  clock: ``T(net[:k+1]) - T(net[:k])`` over the network's prefixes, timed interleaved (block k
  runs after exactly what precedes it in the network, with the network's activations streaming
  through the cache; the sum telescopes to the whole network minus one call's overhead);
  torch-cpu also gives ``in_network_hooks_ms``: forward pre/post hooks on the block inside one
  forward (median over runs).

Then the sums beside the whole network timed end to end. Prints one JSON object per runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hwnas.latency.measure import MeasureProtocol, measure_interleaved, process_settings_restored
from hwnas.latency.profile import _measure_in_context
from hwnas.latency.whole import input_shape
from hwnas.nn import build_model
from hwnas.nn.ops import build_op
from hwnas.plugins import get_profiler
from hwnas.space import get_space

SPEC = Path(__file__).resolve().parent.parent / "examples" / "mobilenetv2.json"


def table_and_alone(ops, prof, act: str, seed: int) -> tuple[dict, dict]:
    """In-context entries (the table's protocol) and alone-minus-overhead timings, per op key."""
    unique = list({op.key: op for op in ops}.values())
    rng = np.random.default_rng(seed)
    entries: dict = {}
    _measure_in_context(unique, prof, act, rng, entries)
    proto = prof.protocol
    runners = [prof.prepare(build_op(op, act), op.in_shape) for op in unique]
    ident = prof.identity_runner(tuple(unique[0].in_shape))
    res = measure_interleaved(runners, runs=proto.runs, rounds=proto.rounds, warmup=proto.warmup, rng=rng,
                              reference=ident, timed_block=prof.timed_block())
    alone = {op.key: max(0.0, st.p50 - res.reference_ms) for op, st in zip(unique, res.stats)}
    return {k: v.p50 for k, v in entries.items()}, alone


def in_network_torch(model, shape, runs: int) -> np.ndarray:
    """(runs, blocks) thread-CPU ms of each top-level block, by hooks, inside one forward."""
    blocks = list(model.children())
    times = np.zeros((runs, len(blocks)))
    current = {"run": -1}
    starts: dict[int, int] = {}

    def pre(i):
        def hook(_m, _x):
            starts[i] = time.thread_time_ns()
        return hook

    def post(i):
        def hook(_m, _x, _y):
            if current["run"] >= 0:
                times[current["run"], i] += (time.thread_time_ns() - starts[i]) / 1e6
        return hook

    handles = [b.register_forward_pre_hook(pre(i)) for i, b in enumerate(blocks)]
    handles += [b.register_forward_hook(post(i)) for i, b in enumerate(blocks)]
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for _ in range(10):
            model(x)
        for r in range(runs):
            current["run"] = r
            model(x)
    for h in handles:
        h.remove()
    return times


def in_network_prefix(model, shape, prof, seed: int) -> np.ndarray:
    """(blocks,) marginal in-network ms of each block: ``T(net[:k+1]) - T(net[:k])``, all prefixes
    timed interleaved with the table's protocol on its clock (a prefix ends where the network
    goes on, so block k runs after exactly the blocks it follows in the network; the sum
    telescopes to the whole network)."""
    blocks = list(model.children())
    proto = prof.protocol
    runners = [prof.prepare(torch.nn.Sequential(*blocks[:k]).eval(), shape)
               for k in range(1, len(blocks) + 1)]
    ident = prof.identity_runner(shape)
    res = measure_interleaved([ident, *runners], runs=proto.runs, rounds=proto.rounds, warmup=proto.warmup,
                              rng=np.random.default_rng(seed), timed_block=prof.timed_block())
    medians = np.median(res.round_medians, axis=0)  # per item: median over rounds
    return np.diff(medians)  # block 0 is net[:1] minus the identity call


def run_one(runtime: str, args) -> dict:
    space = get_space(str(SPEC))
    arch = space.parse("-".join(["k3e6"] * space.num_positions))
    ops = space.ops(arch)
    model = build_model(space, arch).eval()
    assert len(list(model.children())) == len(ops)
    proto = MeasureProtocol(runs=args.runs, rounds=args.rounds)
    prof = get_profiler(runtime, proto)
    t0 = time.perf_counter()
    with process_settings_restored():
        prof.setup()
        table, alone = table_and_alone(ops, prof, space.activation, args.seed)
        whole = prof.time_runner(prof.prepare(model, input_shape(space))).p50
        prefix = in_network_prefix(model, input_shape(space), prof, args.seed)
        hooks = (np.median(in_network_torch(model, input_shape(space), args.runs), axis=0)
                 if runtime == "torch-cpu" else None)
    rows = []
    for i, op in enumerate(ops):
        t, a, n = table[op.key], alone[op.key], float(prefix[i])
        row = {"block": i, "op": op.key, "table_ms": round(t, 4), "alone_ms": round(a, 4),
               "in_network_ms": round(n, 4), "in_network_over_table": round(n / t, 3) if t else None}
        if hooks is not None:
            row["in_network_hooks_ms"] = round(float(hooks[i]), 4)
        rows.append(row)
    sums = {k: sum(r[k] for r in rows) for k in ("table_ms", "alone_ms", "in_network_ms")}
    if hooks is not None:
        sums["in_network_hooks_ms"] = float(hooks.sum())
    return {"runtime": runtime, "arch": str(arch), "rows": rows,
            "sums": {k: round(v, 3) for k, v in sums.items()},
            "whole_network_ms": round(whole, 3), "seconds": round(time.perf_counter() - t0, 1),
            "load_avg_1min": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtimes", default="onnxruntime,torch-cpu")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for runtime in args.runtimes.split(","):
        print(json.dumps(run_one(runtime, args)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
