"""``RunFolder``: the one module that writes, reads and resumes a run folder.

Layout (what ``hwnas search`` writes and ``report`` / ``export`` read)::

    RUN/config.json        what was asked for, plus format_version (compared on --resume)
    RUN/candidates.jsonl   one Candidate per line, appended and fsynced (a torn last line is skipped)
    RUN/state.json         black-box strategy state + loop counters after the last finished batch
    RUN/result.json        RunResult: Pareto set, best under the budget, knee, counts, details
    RUN/checkpoint.pt      gradient search state after each epoch (weights-only torch file)
    RUN/history.jsonl      gradient search: one record per epoch (and arch_probs.jsonl)

Folders written before the run contract (format 1: no ``format_version``) are read: their
candidate lines get the accuracy kind that their config implies. Resuming them is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hwnas.io import (
    append_jsonl,
    load_weights,
    read_json,
    read_jsonl,
    remove_stale_temps,
    save_weights,
    write_json,
    write_text,
)
from hwnas.runs.candidate import Candidate, RunError
from hwnas.runs.result import FORMAT_VERSION, RunResult

CONFIG, CANDIDATES, STATE, RESULT = "config.json", "candidates.jsonl", "state.json", "result.json"
CHECKPOINT = "checkpoint.pt"
LOGS = {"history": "history.jsonl", "arch_probs": "arch_probs.jsonl"}

# Config keys that may change between an interrupted run and its resumption.
RESUME_FREE = ("resume", "json", "ray_address", "executor", "progress", "stop_after_epoch",
               "format_version", "force", "threads", "device", "strategy_defaults")
# Options added after runs were already written: a saved config without one ran with its default,
# so an older run folder resumes under today's options (also inside the evaluator description).
ADDED_DEFAULTS = {"accuracy_of": "fp32", "precision": "fp32"}
# Everything a search writes into its folder: what ``--force`` removes before starting over.
OWN_FILES = (CONFIG, CANDIDATES, STATE, RESULT, CHECKPOINT, *LOGS.values(), "weights.pt",
             "derived.json", "supernet.pt")


@dataclass(frozen=True)
class RunSettings:
    """What a run says about itself (for readers that do not resume it)."""

    strategy: str
    spaces: tuple[str, ...]  # config's space (may be a spec path) first, then result's name
    budget_ms: float | None
    lut: str | None


class RunFolder:
    """A run folder at ``path``; nothing is touched until a method is called.

    Example:
        >>> run = RunFolder("runs/evo")
        >>> run.create({"strategy": "evolution", "seed": 0}, resume=False)  # doctest: +SKIP
        >>> run.append(candidate)                                            # doctest: +SKIP
        >>> run.candidates(space)                                            # doctest: +SKIP
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._created: tuple[bool] | None = None  # (made the folder,) after create() started a run

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # --- config, create, resume -------------------------------------------------------------
    def config(self) -> dict:
        """``config.json`` ({} when there is none)."""
        p = self.path / CONFIG
        if not p.is_file():
            return {}
        raw = read_json(p, "run config")
        if not isinstance(raw, dict):
            raise RunError(f"{p} is not a JSON object", "regenerate the run")
        return raw

    def format_version(self) -> int:
        return int(self.config().get("format_version", 1))

    def started(self) -> bool:
        return (self.path / CONFIG).is_file()

    def create(self, config: Mapping, resume: bool, force: bool = False) -> bool:
        """Start a new run, or check that ``config`` matches the run being resumed.

        ``force`` starts a new run over an existing one (its files go; a user's other files stay).
        Returns True when an existing run is resumed.
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunError(f"--out {self.path} is a file, not a folder", "pass a folder path")
        if self.started() and force and not resume:
            for name in OWN_FILES:
                (self.path / name).unlink(missing_ok=True)
        if self.started():
            if not resume:
                raise RunError(f"{self.path} already holds a search run",
                               "pass --resume to continue it, --force to start over, or choose "
                               "another --out")
            saved = self.config()
            version = saved.get("format_version", 1)
            if version != FORMAT_VERSION:
                raise RunError(f"cannot resume {self.path}: it was written in run-folder format "
                               f"{version}, this hwnas resumes format {FORMAT_VERSION}",
                               "start a new run with another --out (reports still read it)")
            saved, given = _comparable(saved), _comparable(config)
            diff = sorted(k for k in set(saved) | set(given)
                          if k not in RESUME_FREE and not _same(k, saved.get(k), given.get(k)))
            if diff:
                shown = ", ".join(f"{k}: {saved.get(k)!r} -> {given.get(k)!r}" for k in diff[:4])
                raise RunError(f"cannot resume {self.path}: the config differs in "
                               f"{', '.join(diff)} ({shown})",
                               "rerun with the original options or choose another --out")
            self.remove_stale_temps()  # only once the resume is accepted: a refusal changes nothing
            return True
        made_dir = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create run folder {self.path}: {exc.strerror}",
                           "pass a writable --out") from None
        self.remove_stale_temps()
        write_json(self.path / CONFIG, {**config, "format_version": FORMAT_VERSION})
        self._created = (made_dir,)
        return False

    def remove_stale_temps(self) -> list[Path]:
        """Delete the temp files that killed writers left in the folder (``.NAME.hwnas-PID.*.tmp``
        of a dead PID): an atomic write is only cleaned up by the next write of the same file,
        and a file that is never written again (a finished run's result.json, the supernet
        cache) would keep its temp for ever."""
        if not self.path.is_dir():
            return []
        removed: list[Path] = []
        for tmp in sorted(self.path.glob(".*.hwnas-*.tmp")):
            target = tmp.name[1:].rpartition(".hwnas-")[0]
            if target:
                removed += remove_stale_temps(self.path / target)
        return removed

    def abandon(self) -> None:
        """Undo ``create`` of a new run that recorded nothing (it failed on a bad input), so
        the corrected command runs in the same ``--out``; files a user keeps there stay."""
        created = self._created
        if created is None or (self.path / CANDIDATES).exists() or self.has_checkpoint():
            return
        for name in (CONFIG, STATE):
            (self.path / name).unlink(missing_ok=True)
        if created[0]:
            try:
                self.path.rmdir()  # only when empty
            except OSError:
                pass
        self._created = None

    # --- candidates ---------------------------------------------------------------------------
    def append(self, candidate: Candidate) -> None:
        append_jsonl(self.path / CANDIDATES, candidate.to_dict())

    def write_candidates(self, candidates: list[Candidate] | tuple[Candidate, ...]) -> None:
        """Replace the candidate log (a search that finds its candidates all at once)."""
        write_text(self.path / CANDIDATES, "".join(json.dumps(c.to_dict()) + "\n" for c in candidates))

    def candidates(self, space=None) -> tuple[Candidate, ...]:
        """Every recorded candidate in index order; archs parsed when ``space`` is given.

        A last line torn by a kill mid-write is skipped; any other bad line is a ``RunError``
        naming it.
        """
        path = self.path / CANDIDATES
        if not path.is_file():
            return ()
        config = self.config()
        kind = _implied_kind(config, self._raw_result())
        strategy = str(config.get("strategy") or "")
        lines = path.read_text().splitlines()
        out = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                if i == len(lines) - 1:
                    continue  # a last line torn by a kill mid-write
                raise RunError(f"{path} line {i + 1} is not valid JSON", "fix or drop that line") from None
            out.append(Candidate.from_dict(space, raw, f"{path} line {i + 1}", kind, strategy, i))
        return tuple(sorted(out, key=lambda c: c.index))

    # --- state, result --------------------------------------------------------------------------
    def load_state(self) -> dict | None:
        p = self.path / STATE
        return read_json(p, "run state") if p.exists() else None

    def save_state(self, state: dict) -> None:
        write_json(self.path / STATE, state, indent=None)

    def save_result(self, result: RunResult) -> None:
        write_json(self.path / RESULT, result.to_dict())

    def has_result(self) -> bool:
        return (self.path / RESULT).is_file()

    def _raw_result(self) -> dict:
        p = self.path / RESULT
        raw = read_json(p, "run result") if p.is_file() else {}
        if not isinstance(raw, dict):
            raise RunError(f"{p} is not a JSON object", "regenerate the run")
        return raw

    def read_result(self, space=None, with_candidates: bool = False) -> RunResult | None:
        """``result.json`` as a ``RunResult`` (None while the run has none)."""
        if not self.has_result():
            return None
        raw = self._raw_result()
        kind = _implied_kind(self.config(), raw)
        cands = self.candidates(space) if with_candidates else ()
        return RunResult.from_dict(space, raw, str(self.path / RESULT), kind, cands)

    def best_candidate(self, space=None) -> Candidate | None:
        """The best candidate under the budget of a finished run (what ``export`` takes)."""
        if not self.has_result():
            raise RunError(f"run {self.path} has no result yet", "finish the search (--resume) first")
        return self.read_result(space).best

    def check_readable(self) -> None:
        """Refuse a path that is not a run folder, naming what it lacks."""
        if not self.path.is_dir():
            raise RunError(f"run folder {self.path} does not exist" if not self.path.exists()
                           else f"{self.path} is a file, not a run folder",
                           "pass the --out folder of `hwnas search`")
        names = (CANDIDATES, RESULT, CONFIG)
        missing = [n for n in names if not (self.path / n).is_file()]
        if CANDIDATES in missing or (RESULT in missing and CONFIG in missing):
            raise RunError(f"{self.path} is not a run folder: it lacks {', '.join(missing)}",
                           f"pass the --out folder of `hwnas search` ({CANDIDATES} plus {RESULT} "
                           f"or {CONFIG})")

    def settings(self) -> RunSettings:
        """Strategy, space, budget and table of the run: result.json's, else config.json's."""
        config, result = self.config(), self._raw_result()
        budget = result.get("budget_ms", config.get("budget_ms"))
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))):
            raise RunError(f"{self.path / RESULT}: budget_ms is {budget!r}, not a number",
                           "regenerate the run")
        lut = result.get("lut", config.get("lut"))
        return RunSettings(
            strategy=str(result.get("strategy") or config.get("strategy")
                         or ("proxyless" if "relaxation" in config else "unknown")),
            spaces=tuple(s for s in (config.get("space"), result.get("space")) if isinstance(s, str) and s),
            budget_ms=None if budget is None else float(budget), lut=None if lut is None else str(lut))

    # --- what a gradient search keeps besides ---------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    def save_checkpoint(self, state: dict) -> None:
        save_weights(self.checkpoint_path, state)

    def load_checkpoint(self) -> dict | None:
        return load_weights(self.checkpoint_path) if self.has_checkpoint() else None

    def append_log(self, log: str, record: dict) -> None:
        append_jsonl(self.path / LOGS[log], record)

    def read_log(self, log: str) -> list[dict]:
        return read_jsonl(self.path / LOGS[log])

    def trim_log(self, log: str, keep: Callable[[dict], bool]) -> None:
        """Keep only the records ``keep`` accepts (records written after the last checkpoint)."""
        kept = [r for r in self.read_log(log) if keep(r)]
        write_text(self.path / LOGS[log], "".join(json.dumps(r) + "\n" for r in kept))

    def artifact(self, name: str) -> Path:
        """Where a search keeps a file of its own (``weights.pt``, ``derived.json``...)."""
        return self.path / name

    def save_json(self, name: str, obj) -> None:
        write_json(self.artifact(name), obj)


PATH_KEYS = ("out",)  # config values that name a folder: the same folder may be spelled apart
TABLE_KEYS = ("lut",)  # a table file or shipped name: the same table may be spelled apart too


def _comparable(config: dict) -> dict:
    """``config`` with resume-free keys dropped and added options at their defaults, at both
    levels (the evaluator's description is a nested dict)."""
    out = {**ADDED_DEFAULTS, **config}
    for key, value in config.items():
        if isinstance(value, dict):
            out[key] = {k: v for k, v in {**ADDED_DEFAULTS, **value}.items() if k not in RESUME_FREE}
    return out


def _same(key: str, saved, given) -> bool:
    if key in PATH_KEYS and isinstance(saved, str) and isinstance(given, str):
        return Path(saved).resolve() == Path(given).resolve()
    if key in TABLE_KEYS and isinstance(saved, str) and isinstance(given, str):
        return _table_file(saved) == _table_file(given)
    return saved == given


def _table_file(spec: str) -> Path:
    from hwnas.errors import HwnasError
    from hwnas.latency.shipped import resolve_table

    try:
        return resolve_table(spec).resolve()
    except HwnasError:  # gone since: compare as spelled, resolved
        return Path(spec).resolve()


def _implied_kind(config: dict, result: dict) -> str | None:
    """The accuracy kind of a format-1 candidate line, from what evaluated it."""
    evaluator = config.get("evaluator")
    name = evaluator.get("evaluator") if isinstance(evaluator, dict) else evaluator
    if isinstance(name, str):
        if name == "oneshot":
            return "oneshot-val"
        if name == "scratch":
            return "scratch-val"
        if name.startswith("table"):
            return "table"
    strategy = result.get("strategy") or config.get("strategy")
    if strategy == "proxyless" or "relaxation" in config:
        return "scratch-val"  # the derived arch trained from scratch, scored on validation
    return None
