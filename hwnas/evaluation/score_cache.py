"""Supernet scores kept beside the supernet: score an arch once, reuse it on every device.

An arch's inherited accuracy does not depend on the device a search prices it for, so the
scores of ``hwnas search --supernet DIR`` (and ``hwnas specialize``) live in ``DIR/scores.jsonl``,
one JSON object per line, and every later search reads them instead of scoring again.

A line is reused only when everything that changes a score matches: the weights (sha256 of
``supernet.pt``), the space fingerprint, the data and split scored on, the BatchNorm
recalibration (batches and batch size), the seed, and ``accuracy_of`` (what was scored: the fp32
subnet today; an int8 score would be another value). Those fields form a :class:`ScoreKey`, and
each line carries the key's digest and fields.

Lines are appended with one ``write`` on an ``O_APPEND`` descriptor under an exclusive
``flock``, so parallel workers never interleave bytes. A line that does not parse (a write torn
by kill -9, a hand edit) is skipped with one warning on stderr and its arch is scored again:
a damaged cache costs time, never a search. The file is JSON only; nothing in it is unpickled.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

SCORES = "scores.jsonl"
FORMAT = 1


@dataclass(frozen=True)
class ScoreKey:
    """Everything that changes a supernet score, besides the arch."""

    weights_sha256: str
    space_fingerprint: str
    data: str
    split: str = "val"
    calib_batches: int = 4
    calib_batch_size: int = 64
    seed: int = 0
    accuracy_of: str = "supernet-fp32"

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def weights_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _parse(line: str) -> dict | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    ok = (isinstance(row, dict) and row.get("v") == FORMAT and isinstance(row.get("key"), str)
          and isinstance(row.get("arch"), str) and isinstance(row.get("accuracy"), (int, float))
          and not isinstance(row.get("accuracy"), bool) and 0.0 <= row["accuracy"] <= 1.0)
    return row if ok else None


def read_scores(folder: Path, key: ScoreKey, warn=None) -> dict[str, float]:
    """{arch string: accuracy} of the lines in ``folder/scores.jsonl`` made under ``key``.

    Unparseable lines are skipped; ``warn`` (default: one line on stderr) hears about them once.
    """
    path = Path(folder) / SCORES
    if not path.is_file():
        return {}
    digest, scores, bad = key.digest(), {}, []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = _parse(line)
            if row is None:
                bad.append(number)
            elif row["key"] == digest:
                scores[row["arch"]] = float(row["accuracy"])
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        message = (f"warning: skipped {len(bad)} damaged line(s) of {path} (line {shown}); "
                   "those archs are scored again")
        (warn or (lambda m: print(m, file=sys.stderr)))(message)
    return scores


def append_score(folder: Path, key: ScoreKey, arch: str, accuracy: float, kind: str) -> None:
    """Add one score as one line; safe against concurrent writers and torn earlier lines."""
    row = {"v": FORMAT, "key": key.digest(), "arch": arch, "accuracy": float(accuracy),
           "accuracy_kind": kind, "scored_under": asdict(key)}
    data = (json.dumps(row, sort_keys=True) + "\n").encode()
    fd = os.open(Path(folder) / SCORES, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.lseek(fd, 0, os.SEEK_END) > 0:
            # a line torn by kill -9 has no newline: start ours on a fresh line so only it is lost
            with open(Path(folder) / SCORES, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    data = b"\n" + data
        os.write(fd, data)
    finally:
        os.close(fd)  # closing releases the lock
