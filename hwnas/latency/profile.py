"""Build a latency table by profiling every op a space can produce (``hwnas profile``).

Ops are deduplicated by key and measured in chunks; each chunk is timed with interleaved rounds
(:mod:`hwnas.latency.measure`) and saved atomically when done, so a killed run (even ``kill -9``)
loses at most the chunk in flight and a rerun skips every finished entry. The runtime's per-call
overhead (an identity model through the same runner) is subtracted from every op and paid once
per network through the table's calibration (``{"method": "overhead", "offset_ms": ...}``).

With ``calibration_archs``, profiling ends by measuring a seeded sample of whole archs with the
same protocol (twice: the second pass is the device's repeat) and replacing that overhead with
the correction chosen by cross-validation (:mod:`hwnas.latency.calfit`); the measurements are
saved chunk by chunk in the table, so a kill during calibration resumes like one during ops.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from hwnas import __version__
from hwnas.errors import TableError
from hwnas.latency.calibration import Calibration
from hwnas.latency.machine import this_machine
from hwnas.latency.measure import measure_interleaved, process_settings_restored
from hwnas.latency.table import LatencyTable, OpStats, TableMeta
from hwnas.latency.whole import input_shape, measure_archs, sample_archs
from hwnas.space.arch import OpSpec
from hwnas.space.base import SearchSpace

CHUNK = 12  # ops prepared and interleaved together (memory of ORT sessions / ET programs)
CAL_CHUNK = 8  # whole archs measured (and saved) together by the calibration step


@dataclass(frozen=True)
class ProfileProgress:
    done: int
    total: int
    key: str


def unique_ops(space: SearchSpace) -> list[OpSpec]:
    seen: dict[str, OpSpec] = {}
    for op in space.all_ops():
        seen.setdefault(op.key, op)
    return list(seen.values())


def make_meta(space: SearchSpace, profiler, device_name: str) -> TableMeta:
    p = profiler.protocol
    return TableMeta(
        device_name=device_name, runtime=profiler.name, space=space.name,
        space_fingerprint=space.fingerprint(), resolution=space.resolution,
        device_detail=profiler.device_detail(), runtime_version=profiler.runtime_version(),
        torch_version=torch.__version__, threads=p.threads, batch=p.batch,
        dtype=getattr(profiler, "dtype", "float32"),  # int8 tables: hwnas profile --dtype int8
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), hwnas_version=__version__,
        protocol=p.to_dict(), source="measured by hwnas profile",
        host=this_machine(profiler.device_kind(), profiler.device_detail()
                          if profiler.device_kind() == "gpu" else None),
    )


def check_compatible(existing: LatencyTable, wanted: TableMeta, path: Path) -> None:
    """Refuse to extend a table measured for something else (naming both)."""
    for field_name in ("space", "space_fingerprint", "resolution", "runtime", "threads", "batch",
                       "dtype", "device_name"):
        have, want = getattr(existing.meta, field_name), getattr(wanted, field_name)
        if have != want:
            raise TableError(f"{path} was made for {field_name} {have!r}, not {want!r} as asked",
                             "choose another --out, or pass --force to start it over")
    have_host, want_host = existing.meta.host.get("host_id"), wanted.host.get("host_id")
    if have_host and want_host and have_host != want_host:
        # one table, two machines: its entries would no longer describe either
        raise TableError(f"{path} was measured on another host ({existing.meta.host.get('cpu', '?')}, "
                         f"host {have_host}; this is host {want_host})",
                         "choose another --out (or pass --force to replace it) to make a table "
                         "for this machine")
    for key in ("runs", "rounds", "warmup", "clock", "subtract_overhead", "in_context", "carrier"):
        have, want = existing.meta.protocol.get(key), wanted.protocol.get(key)
        if key == "carrier" and have is None and existing.meta.protocol.get("in_context"):
            have = "dense"  # in-context tables made before carriers were recorded
        if have is not None and have != want:
            how = ("its entries cannot be mixed with this hwnas's carrier layers" if key == "carrier"
                   else f"rerun with the same protocol (--{key} {have})")
            raise TableError(f"{path} was measured with protocol {key}={have!r}, not {want!r} as asked",
                             f"{how}, choose another --out, or pass --force to start it over")


def check_resume(space: SearchSpace, profiler, out: Path | str, device_name: str) -> int:
    """Fail early if ``out`` holds a table for something else; return how many ops it holds."""
    out = Path(out)
    if not out.exists():
        return 0
    existing = LatencyTable.load(out)
    check_compatible(existing, make_meta(space, profiler, device_name), out)
    return len(existing.entries)


def profile_space(space: SearchSpace, profiler, out: Path | str, device_name: str = "this-host",
                  on_progress: Callable[[ProfileProgress], None] | None = None,
                  chunk: int = CHUNK, calibration_archs: int = 0) -> LatencyTable:
    """Measure every op of ``space`` missing from ``out`` (created or resumed) and save it; with
    ``calibration_archs`` > 0, then measure that many whole archs and fit the table's correction
    on them (what ``hwnas profile`` does unless ``--no-calibrate``)."""
    with process_settings_restored():
        return _profile_space(space, profiler, out, device_name, on_progress, chunk, calibration_archs)


def _profile_space(space: SearchSpace, profiler, out: Path | str, device_name: str = "this-host",
                  on_progress: Callable[[ProfileProgress], None] | None = None,
                  chunk: int = CHUNK, calibration_archs: int = 0) -> LatencyTable:
    out = Path(out)
    meta = make_meta(space, profiler, device_name)
    entries: dict[str, OpStats] = {}
    calibration: Calibration | None = None
    extra: dict = {}
    if out.exists():
        existing = LatencyTable.load(out)
        check_compatible(existing, meta, out)
        entries = dict(existing.entries)
        calibration = existing.calibration
        extra = {k: v for k, v in existing.meta.protocol.items() if k not in meta.protocol}
        meta = replace(meta, created=existing.meta.created)
    ops = unique_ops(space)
    todo = [op for op in ops if op.key not in entries]
    act = space.activation
    proto = profiler.protocol
    profiler.setup()
    rng = np.random.default_rng(proto.seed)
    seconds = float(extra.get("profile_seconds", 0.0))
    t_start = time.perf_counter()
    from hwnas.nn.ops import build_op

    def save() -> LatencyTable:
        # the machine's load (1 min average) as this save ended: `hwnas lut show` says what the
        # table was measured under (a busy machine's single-thread timings read high)
        protocol = {**meta.protocol, **extra,
                    "profile_seconds": round(seconds + time.perf_counter() - t_start, 2),
                    **({"load_avg_1min": round(os.getloadavg()[0], 2)} if hasattr(os, "getloadavg") else {})}
        table = LatencyTable(replace(meta, protocol=protocol), dict(entries), calibration)
        table.save(out)
        return table

    if on_progress:
        on_progress(ProfileProgress(len(ops) - len(todo), len(ops), ""))
    if proto.subtract_overhead and "call_overhead_ms" not in extra:
        ident = measure_interleaved([profiler.identity_runner(input_shape(space))], runs=proto.runs,
                                    rounds=proto.rounds, warmup=proto.warmup, rng=rng,
                                    timed_block=profiler.timed_block())
        extra["call_overhead_ms"] = ident.stats[0].p50
    overhead = float(extra.get("call_overhead_ms", 0.0))
    if proto.subtract_overhead:
        calibration = calibration or Calibration.overhead(overhead)
    save()
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        if proto.in_context:
            _measure_in_context(part, profiler, act, rng, entries)
        else:
            runners = [profiler.prepare(build_op(op, act), op.in_shape) for op in part]
            result = measure_interleaved(runners, runs=proto.runs, rounds=proto.rounds,
                                         warmup=proto.warmup, rng=rng, timed_block=profiler.timed_block())
            for op, st in zip(part, result.stats):
                entries[op.key] = _minus(st, overhead)
            del runners
        if on_progress:
            on_progress(ProfileProgress(len(ops) - len(todo) + start + len(part), len(ops), part[-1].key))
        save()
    if calibration_archs > 0:
        calibration = _calibrate(space, profiler, calibration, extra, calibration_archs, save,
                                 refit=bool(todo), on_progress=on_progress, total=len(ops))
    return save()


def _calibrate(space: SearchSpace, profiler, calibration: Calibration | None, extra: dict, n_archs: int,
               save: Callable[[], LatencyTable], refit: bool,
               on_progress: Callable[[ProfileProgress], None] | None, total: int) -> Calibration | None:
    """Measure ``n_archs`` whole archs twice (pass B = the device's repeat) and fit the table's
    correction on them (:func:`~hwnas.latency.calfit.fit_calibration`).

    The archs come from the protocol's seed, so a resumed profile measures the same ones; every
    finished chunk is saved in the table (``protocol.calibration_measured``: arch, pass A ms,
    pass B ms), so a kill loses at most the chunk in flight and keeps every op entry.
    """
    from hwnas.latency.calfit import fit_calibration

    proto = profiler.protocol
    archs = sample_archs(space, n_archs, np.random.default_rng([proto.seed, 1]))
    done = {row[0]: row for row in extra.get("calibration_measured", [])}
    todo = [a for a in archs if str(a) not in done]
    if calibration is not None and calibration.fitted and not refit and not todo:
        return calibration  # a finished profile, rerun: nothing to measure or refit
    for start in range(0, len(todo), CAL_CHUNK):
        part = todo[start:start + CAL_CHUNK]
        (pass_a, pass_b), _ = measure_archs(space, part, profiler,
                                            np.random.default_rng([proto.seed, 2, len(done)]))
        for arch, a_ms, b_ms in zip(part, pass_a, pass_b):
            done[str(arch)] = [str(arch), float(a_ms), float(b_ms)]
        extra["calibration_measured"] = list(done.values())
        save()
        if on_progress:
            measured = len(archs) - len(todo) + start + len(part)
            on_progress(ProfileProgress(total, total, f"calibration: {measured}/{len(archs)} archs"))
    rows = np.array([done[str(a)][1:] for a in archs], dtype=float)
    table = replace(save(), calibration=None)
    return fit_calibration(table, space, archs, rows[:, 0], rows[:, 1],
                           np.random.default_rng([proto.seed, 3]), "hwnas profile")


def _measure_in_context(part: list[OpSpec], profiler, act: str, rng: np.random.Generator,
                        entries: dict[str, OpStats]) -> None:
    """Time each op between carriers, and each carrier pair alone, all interleaved."""
    from hwnas.latency.context import sandwich
    from hwnas.nn.ops import build_op

    proto = profiler.protocol
    runners, pair_index, op_pairs = [], {}, []
    bare_models = {}
    for op in part:
        with_op, bare, key = sandwich(build_op(op, act), tuple(op.in_shape))
        runners.append(profiler.prepare(with_op, tuple(op.in_shape)))
        if key not in bare_models:
            bare_models[key] = (bare, tuple(op.in_shape))
        op_pairs.append(key)
    for key, (bare, shape) in bare_models.items():
        pair_index[key] = len(runners)
        runners.append(profiler.prepare(bare, shape))
    result = measure_interleaved(runners, runs=proto.runs, rounds=proto.rounds, warmup=proto.warmup,
                                 rng=rng, timed_block=profiler.timed_block())
    for i, op in enumerate(part):
        pair = result.stats[pair_index[op_pairs[i]]]
        # per round difference, then the median over rounds: drift cancels within a round
        diffs = result.round_medians[:, i] - result.round_medians[:, pair_index[op_pairs[i]]]
        st = result.stats[i]
        p50 = max(0.0, float(np.median(diffs)))
        entries[op.key] = OpStats(p50, max(0.0, st.p10 - pair.p50), max(0.0, st.p90 - pair.p50),
                                  max(0.0, st.mean - pair.mean), float(np.hypot(st.std, pair.std)), st.n)


def _minus(st: OpStats, overhead_ms: float) -> OpStats:
    f = lambda v: max(0.0, v - overhead_ms)
    return OpStats(f(st.p50), f(st.p10), f(st.p90), f(st.mean), st.std, st.n)
