"""The run folder: config, append-only candidate history, strategy checkpoint, result.

Layout (the contract ``hwnas report`` / ``export`` read)::

    RUN/config.json        what was asked for (compared on --resume)
    RUN/candidates.jsonl   one line per evaluated candidate, appended and fsynced
    RUN/state.json         strategy state + loop counters after the last finished batch
    RUN/result.json        Pareto set and the best arch under the budget
"""

from __future__ import annotations

from pathlib import Path

from hwnas.errors import HwnasError
from hwnas.io import append_jsonl, read_json, read_jsonl, write_json

# Config keys that may change between an interrupted run and its resumption.
RESUME_FREE = ("resume", "json", "ray_address", "executor", "progress")


class RunFolder:
    def __init__(self, path: Path | str):
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def candidates_path(self) -> Path:
        return self.path / "candidates.jsonl"

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    @property
    def result_path(self) -> Path:
        return self.path / "result.json"

    def create(self, config: dict, resume: bool) -> None:
        """Start a new run, or check that ``config`` matches the run being resumed."""
        if self.path.exists() and not self.path.is_dir():
            raise HwnasError(f"--out {self.path} is a file, not a folder", "pass a folder path")
        if self.config_path.exists():
            if not resume:
                raise HwnasError(f"{self.path} already holds a search run",
                                 "pass --resume to continue it, or choose another --out")
            saved = read_json(self.config_path, "run config")
            diff = sorted(k for k in set(saved) | set(config)
                          if k not in RESUME_FREE and saved.get(k) != config.get(k))
            if diff:
                shown = ", ".join(f"{k}: {saved.get(k)!r} -> {config.get(k)!r}" for k in diff[:4])
                raise HwnasError(f"cannot resume {self.path} with different settings ({shown})",
                                 "rerun with the original options or choose another --out")
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HwnasError(f"cannot create run folder {self.path}: {exc.strerror}",
                             "pass a writable --out") from None
        write_json(self.config_path, config)

    def candidates(self) -> list[dict]:
        return read_jsonl(self.candidates_path)

    def append(self, record: dict) -> None:
        append_jsonl(self.candidates_path, record)

    def load_state(self) -> dict | None:
        return read_json(self.state_path, "run state") if self.state_path.exists() else None

    def save_state(self, state: dict) -> None:
        write_json(self.state_path, state, indent=None)

    def save_result(self, result: dict) -> None:
        write_json(self.result_path, result)
