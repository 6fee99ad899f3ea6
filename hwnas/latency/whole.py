"""Measuring whole archs: sample distinct archs of a space, build them, time them end to end.

``hwnas profile`` (its calibration step) and ``hwnas lut validate`` both measure whole archs this
way, with the table's own runtime and protocol: two independent interleaved passes, so pass B
against pass A is the device's repeatability, the ceiling no table can beat.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from hwnas.errors import HwnasError, SpaceError
from hwnas.latency.measure import measure_interleaved, process_settings_restored
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace

MAX_ARCHS = 1000  # each is built, exported and timed twice: more is a mistake, not a check
ARCHS_FORMAT = ("a JSON list of arch strings, `hwnas arch sample --json` output, or a text file with one "
                "arch string per line (# comments allowed)")


def sample_archs(space: SearchSpace, n: int, rng: np.random.Generator) -> list:
    seen, out = set(), []
    for _ in range(n * 50):
        a = space.sample(rng)
        if str(a) not in seen:
            seen.add(str(a))
            out.append(a)
        if len(out) == n:
            break
    return out


def measure_archs(space: SearchSpace, archs: list, profiler, rng: np.random.Generator,
                  passes: int = 2) -> tuple[list[list[float]], float]:
    """End-to-end p50 per arch for each of ``passes`` interleaved passes, and the seconds one
    end-to-end measurement costs (building + exporting/lowering the arch, plus one pass).

    The profiler's setup pins the process to one core; it is undone on return, so a caller that
    goes on to train or score (``hwnas specialize``'s next device) keeps every core."""
    with process_settings_restored():
        return _measure_archs(space, archs, profiler, rng, passes)


def _measure_archs(space: SearchSpace, archs: list, profiler, rng: np.random.Generator,
                   passes: int) -> tuple[list[list[float]], float]:
    from hwnas.nn import build_model

    proto = profiler.protocol
    profiler.setup()
    t0 = time.perf_counter()
    shape = input_shape(space)
    runners = [profiler.prepare(build_model(space, a), shape) for a in archs]
    prepare_s = time.perf_counter() - t0
    out, pass_s = [], []
    for _ in range(passes):
        t1 = time.perf_counter()
        res = measure_interleaved(runners, runs=proto.runs, rounds=proto.rounds, warmup=proto.warmup,
                                  rng=rng, timed_block=profiler.timed_block())
        pass_s.append(time.perf_counter() - t1)
        out.append([s.p50 for s in res.stats])
    per_arch = (prepare_s + float(np.mean(pass_s))) / max(1, len(archs))
    return out, per_arch


def input_shape(space: SearchSpace) -> tuple[int, int, int]:
    """The network input (C, H, W) of ``space`` (its first op's input)."""
    first = space.prefix_ops() or space.candidate_ops(0)[0]
    return tuple(first[0].in_shape) if first else (3, space.resolution, space.resolution)


def read_archs(path: Path, space: SearchSpace) -> list[Arch]:
    """The archs listed in ``path`` (see ``ARCHS_FORMAT``), parsed in ``space``; at least two,
    distinct. Any problem is one ``HwnasError`` naming the file, the entry and the fix."""
    path = Path(path)
    if not path.is_file():
        raise HwnasError(f"--archs {path} is not a file", f"pass {ARCHS_FORMAT}")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise HwnasError(f"cannot read --archs {path}: {exc}", f"pass {ARCHS_FORMAT}") from None
    entries = _entries(text, path)
    if len(entries) < 2:
        raise HwnasError(f"--archs {path} lists {len(entries)} arch(s)",
                         "list at least 2 (the rank agreement needs two)")
    if len(entries) > MAX_ARCHS:
        raise HwnasError(f"--archs {path} lists {len(entries)} archs", f"list at most {MAX_ARCHS}")
    archs, seen = [], {}
    for where, raw in entries:
        if not isinstance(raw, str):
            raise HwnasError(f"--archs {path} {where} is {raw!r}, not an arch string", f"pass {ARCHS_FORMAT}")
        try:
            arch = space.parse(raw)
        except SpaceError as exc:
            fix = exc.fix or f"write archs of space {space.name} as `hwnas arch sample` does"
            raise HwnasError(f"--archs {path} {where}: {exc.message}", fix) from None
        if str(arch) in seen:
            raise HwnasError(f"--archs {path} {where} repeats {seen[str(arch)]}", "list each arch once")
        seen[str(arch)] = where
        archs.append(arch)
    return archs


def _entries(text: str, path: Path) -> list[tuple[str, object]]:
    """(where, value) of every listed arch: JSON first when the file starts like JSON, else lines."""
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise HwnasError(f"--archs {path} is not valid JSON: {exc}", f"pass {ARCHS_FORMAT}") from None
        if isinstance(raw, dict):
            raw = raw.get("archs")
        if not isinstance(raw, list):
            raise HwnasError(f"--archs {path} holds no list of archs", f"pass {ARCHS_FORMAT}")
        return [(f"entry {i}", value) for i, value in enumerate(raw)]
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            out.append((f"line {number}", line))
    return out
