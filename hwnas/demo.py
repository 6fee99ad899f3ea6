"""``hwnas demo``: the whole pipeline on the embedded default, stage by stage.

profile this CPU (onnxruntime, mbconv-small) -> validate + calibrate the table -> gradient search
under a hard budget on digits (and train the derived arch from scratch) -> export it to ONNX with
its parity and latency check -> evolution with one-shot evaluation for a front -> Pareto report.
Every stage writes into one folder and is timed.

The folder is the demo's own: ``demo-progress.json`` marks it and records each finished stage, so
rerunning the same command after an interruption skips what is done and resumes the rest (the
searches resume their run folders). A non-empty folder without that mark, or a demo made with
other options, is refused; nothing in the folder is ever deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwnas.errors import HwnasError
from hwnas.io import read_json, write_json

SPACE = "mbconv-small"
RUNTIME = "onnxruntime"
PROGRESS = "demo-progress.json"  # marks a folder as the demo's own and records finished stages


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of each stage; ``quick`` is the CI-sized run used by the tests."""

    validate_samples: int
    search_epochs: int
    warmup_epochs: int
    derived_epochs: int
    supernet_epochs: int
    evolution_evals: int
    population: int
    budget_fraction: float = 0.4  # budget = fastest + this share of the (fastest, slowest) range

    @classmethod
    def for_mode(cls, quick: bool) -> DemoSettings:
        if quick:
            # 2 epochs of 17 steps left the derived arch at 0.11-0.31 test accuracy (1 thread,
            # two budgets); 4 reached 0.97-0.98 with 1 and 2 threads
            return cls(validate_samples=6, search_epochs=2, warmup_epochs=1, derived_epochs=4,
                       supernet_epochs=2, evolution_evals=12, population=6)
        return cls(validate_samples=20, search_epochs=6, warmup_epochs=2, derived_epochs=8,
                   supernet_epochs=6, evolution_evals=60, population=12)


def resume_command(out: Path, quick: bool, seed: int) -> str:
    """The command line that continues the demo in ``out`` (for messages)."""
    import shlex

    return f"hwnas demo --out {shlex.quote(str(out))}" + (" --quick" if quick else "") + \
        (f" --seed {seed}" if seed else "")


def open_demo_folder(out: Path, quick: bool, seed: int) -> dict:
    """Check that ``out`` is new, empty or this demo's own folder; return its progress record.

    Raises ``HwnasError`` (before anything is written) for a file, a non-empty folder the demo did
    not make, or a demo made with other options (its table and runs would not fit).
    """
    settings = {"quick": quick, "seed": seed, "space": SPACE, "runtime": RUNTIME}
    if out.exists() and not out.is_dir():
        raise HwnasError(f"--out {out} is a file, not a folder", "pass a folder path")
    marker = out / PROGRESS
    if marker.is_file():
        progress = read_json(marker, "demo progress file")
        saved = progress.get("settings") if isinstance(progress, dict) else None
        if not isinstance(saved, dict) or not isinstance(progress.get("stages"), dict):
            raise HwnasError(f"{marker} is malformed",
                             "choose another --out (the folder is left as it is)")
        if saved != settings:
            theirs = resume_command(out, bool(saved.get("quick")), saved.get("seed") or 0)
            raise HwnasError(f"{out} holds a demo made with other options ({theirs})",
                             "rerun that command to resume it, or choose another --out")
        return progress
    if out.is_dir():
        present = sorted(p.name for p in out.iterdir())
        if present:
            shown = ", ".join(present[:3]) + (f" and {len(present) - 3} more" if len(present) > 3 else "")
            raise HwnasError(f"--out {out} is not empty and is not a demo folder (it holds {shown})",
                             "choose an empty or new --out; the demo never writes into other folders")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HwnasError(f"cannot create output folder {out}: {exc.strerror}",
                         "pass a writable --out") from None
    progress = {"settings": settings, "stages": {}}
    write_json(marker, progress)
    return progress


@dataclass
class DemoLog:
    """Stage timings and artifacts, printed as the demo goes, saved as demo.json; a stage the
    progress record holds is not run again."""

    out: Path
    say: Callable[[str], None]
    progress: dict = field(default_factory=lambda: {"stages": {}})
    stages: list[dict] = field(default_factory=list)

    def stage(self, key: str, name: str, fn: Callable[[], dict]) -> dict:
        done = self.progress["stages"].get(key)
        if done is not None:
            self.stages.append(done)
            self.say(f"[{len(self.stages)}/6] {name}: done earlier")
            return {k: v for k, v in done.items() if k not in ("stage", "seconds")}
        self.say(f"[{len(self.stages) + 1}/6] {name} ...")
        start = time.perf_counter()
        info = fn()
        seconds = time.perf_counter() - start
        entry = {"stage": name, "seconds": round(seconds, 2), **info}
        self.stages.append(entry)
        self.record(key, entry)
        where = f" -> {info['artifact']}" if "artifact" in info else ""
        self.say(f"      done in {seconds:.1f} s{where}")
        return info

    def record(self, key: str, entry: dict) -> None:
        self.progress["stages"][key] = entry
        self.save()

    def save(self) -> None:
        write_json(self.out / PROGRESS, self.progress)


def run_demo(out: Path, quick: bool = False, seed: int = 0,
             say: Callable[[str], None] = print, threads: int = 0) -> dict:
    """Run every stage into ``out`` and return the summary (also written to out/demo.json).

    ``out`` must be new, empty or a demo folder made with the same options, which is resumed.
    """
    from hwnas.export.pipeline import ExportRequest, export_arch, resolve_source
    from hwnas.latency.fidelity import validate_table
    from hwnas.latency.measure import MeasureProtocol
    from hwnas.latency.profile import profile_space
    from hwnas.latency.table import LatencyTable
    from hwnas.plugins import get_profiler
    from hwnas.report import build_report
    from hwnas.search.blackbox import run_blackbox
    from hwnas.search.gradient import GradientSearchConfig, run_gradient_search
    from hwnas.space import get_space

    settings = DemoSettings.for_mode(quick)
    space = get_space(SPACE)
    log = DemoLog(out, say, open_demo_folder(out, quick, seed))
    start = time.perf_counter()
    lut = out / f"{RUNTIME}-{SPACE}.json"
    profiler = get_profiler(RUNTIME, MeasureProtocol())

    def profile() -> dict:
        table = profile_space(space, profiler, lut, device_name="this-cpu")
        return {"artifact": str(lut), "ops": len(table.entries)}

    def validate() -> dict:
        table = LatencyTable.load(lut)
        validation, calibrated = validate_table(table, space, profiler, settings.validate_samples,
                                                np.random.default_rng(seed), calibrate=True)
        calibrated.save(lut)
        figures = validation.to_dict()
        write_json(out / "validation.json", figures)
        held = (figures.get("calibrated") or {}).get("held_out", {})
        return {"artifact": str(out / "validation.json"),
                "within_10pct_raw": figures["fidelity"]["within_10pct"],
                "within_10pct_calibrated": held.get("within_10pct"),
                "repeat_within_10pct": figures["repeat"]["within_10pct"]}

    budget: dict = {}

    def search() -> dict:
        if "budget_ms" not in log.progress:  # kept, so that a resumed search gets the same config
            table = LatencyTable.load(lut)
            fastest, slowest = table.cost_model(space).price_range()
            log.progress["budget_ms"] = round(fastest + settings.budget_fraction * (slowest - fastest), 4)
            log.save()
        budget["ms"] = log.progress["budget_ms"]
        config = GradientSearchConfig(
            SPACE, str(lut), budget["ms"], str(out / "proxyless"), epochs=settings.search_epochs,
            warmup_epochs=settings.warmup_epochs, derived_epochs=settings.derived_epochs, seed=seed,
            resume=True, threads=threads)  # a new folder starts; one an interrupted demo left continues
        result = run_gradient_search(config, progress=False)
        return {"artifact": str(out / "proxyless"), "budget_ms": budget["ms"],
                "arch": str(result.best.arch), "predicted_ms": result.details["predicted"],
                "test_acc": result.details["test_acc"]}

    def export() -> dict:
        source = resolve_source(str(out / "proxyless"))
        # force: an interrupted export stage may have left its own artifact in the demo's folder
        record = export_arch(ExportRequest(source, "onnx", out / "export" / "net.onnx",
                                           table=LatencyTable.load(lut), table_name=str(lut),
                                           force=True))
        check = record["check"]
        return {"artifact": record["artifact"],
                "parity_max_abs_diff": check["parity"]["max_abs_diff"],
                "measured_ms": check["latency_ms"]["p50"]}

    def evolve() -> dict:
        from hwnas.search.blackbox import BlackboxConfig

        res = run_blackbox(BlackboxConfig("evolution", "oneshot", SPACE, str(lut), budget["ms"],
                                          settings.evolution_evals, str(out / "evolution"),
                                          resume=True, seed=seed,
                                          population=settings.population, sample_size=3,
                                          epochs=settings.supernet_epochs, threads=threads),
                          progress=False)
        return {"artifact": str(out / "evolution"), "evaluations": res.evaluations,
                "front_size": len(res.pareto)}

    def report() -> dict:
        rep = build_report([out / "proxyless", out / "evolution"], out / "report",
                           lut_paths=[str(lut)], budget_ms=budget["ms"])
        hv = _evolution_hypervolume(rep.report)
        return {"artifact": str(out / "report" / "index.html"), "hypervolume": hv["value"],
                "hypervolume_accuracy_kind": hv["accuracy_kind"]}

    profile_info = log.stage("profile", "profile this CPU (onnxruntime, mbconv-small)", profile)
    validation_info = log.stage("validate", "validate and calibrate the table", validate)
    search_info = log.stage("search", "gradient search under a hard budget + train the derived arch",
                            search)
    budget["ms"] = search_info["budget_ms"]
    export_info = log.stage("export", "export to ONNX and check it in ONNX Runtime", export)
    log.say("      (stage 5, training from scratch, ran inside stage 3)")
    evo_info = log.stage("evolution", "evolution with one-shot evaluation", evolve)
    report_info = log.stage("report", "Pareto report", report)
    summary = {
        "space": SPACE, "runtime": RUNTIME, "quick": quick, "seed": seed,
        "table_ops": profile_info["ops"],
        "table_within_10pct_calibrated": validation_info["within_10pct_calibrated"],
        "budget_ms": search_info["budget_ms"], "arch": search_info["arch"],
        "predicted_ms": search_info["predicted_ms"], "measured_ms": export_info["measured_ms"],
        "test_acc": search_info["test_acc"], "parity_max_abs_diff": export_info["parity_max_abs_diff"],
        "front_size": evo_info["front_size"], "hypervolume": report_info["hypervolume"],
        "hypervolume_accuracy_kind": report_info.get("hypervolume_accuracy_kind"),
        "threads": threads, "wall_s": round(time.perf_counter() - start, 1), "stages": log.stages,
        "out": str(out),
    }
    write_json(out / "demo.json", summary)
    return summary


def _evolution_hypervolume(report: dict) -> dict:
    """The evolution run's hypervolume and the accuracy kind it is measured on: kinds are ranked
    apart (one-shot validation for evolution, scratch for the gradient search), so the demo
    reports the one-shot front's figure and says so rather than whichever view came first."""
    for view in report.get("views", []):
        for run in view.get("runs", []):
            if str(run.get("run", "")).startswith("evolution") and run.get("hypervolume") is not None:
                return {"value": run["hypervolume"], "accuracy_kind": run.get("accuracy_kind")}
    return {"value": None, "accuracy_kind": None}
