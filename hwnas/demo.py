"""``hwnas demo``: the whole pipeline on the embedded default, stage by stage.

profile this CPU (onnxruntime, mbconv-small) -> validate + calibrate the table -> gradient search
under a hard budget on digits (and train the derived arch from scratch) -> export it to ONNX with
its parity and latency check -> evolution with one-shot evaluation for a front -> Pareto report.
Every stage writes into one folder and is timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwnas.io import write_json

SPACE = "mbconv-small"
RUNTIME = "onnxruntime"


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
            return cls(validate_samples=6, search_epochs=2, warmup_epochs=1, derived_epochs=2,
                       supernet_epochs=2, evolution_evals=12, population=6)
        return cls(validate_samples=20, search_epochs=6, warmup_epochs=2, derived_epochs=8,
                   supernet_epochs=6, evolution_evals=60, population=12)


@dataclass
class DemoLog:
    """Stage timings and artifacts, printed as the demo goes and saved as demo.json."""

    out: Path
    say: Callable[[str], None]
    stages: list[dict] = field(default_factory=list)

    def stage(self, name: str, fn: Callable[[], dict]) -> dict:
        self.say(f"[{len(self.stages) + 1}/6] {name} ...")
        start = time.perf_counter()
        info = fn()
        seconds = time.perf_counter() - start
        self.stages.append({"stage": name, "seconds": round(seconds, 2), **info})
        where = f" -> {info['artifact']}" if "artifact" in info else ""
        self.say(f"      done in {seconds:.1f} s{where}")
        return info


def run_demo(out: Path, quick: bool = False, seed: int = 0,
             say: Callable[[str], None] = print) -> dict:
    """Run every stage into ``out`` and return the summary (also written to out/demo.json)."""
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
    out.mkdir(parents=True, exist_ok=True)
    space = get_space(SPACE)
    log = DemoLog(out, say)
    start = time.perf_counter()
    lut = out / f"{RUNTIME}-{SPACE}.json"
    profiler = get_profiler(RUNTIME, MeasureProtocol())
    # A demo folder from an earlier run with other settings would hold an incompatible table.
    for stale in (lut, out / "proxyless", out / "evolution", out / "export"):
        _remove(stale)

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
        table = LatencyTable.load(lut)
        fastest, slowest = table.cost_model(space).price_range()
        budget["ms"] = round(fastest + settings.budget_fraction * (slowest - fastest), 4)
        config = GradientSearchConfig(
            SPACE, str(lut), budget["ms"], str(out / "proxyless"), epochs=settings.search_epochs,
            warmup_epochs=settings.warmup_epochs, derived_epochs=settings.derived_epochs, seed=seed)
        result = run_gradient_search(config, progress=False)
        budget["result"] = result
        return {"artifact": str(out / "proxyless"), "budget_ms": budget["ms"],
                "arch": str(result.best.arch), "predicted_ms": result.details["predicted"],
                "test_acc": result.details["test_acc"]}

    def export() -> dict:
        source = resolve_source(str(out / "proxyless"))
        record = export_arch(ExportRequest(source, "onnx", out / "export" / "net.onnx",
                                           table=LatencyTable.load(lut), table_name=str(lut)))
        check = record["check"]
        return {"artifact": record["artifact"],
                "parity_max_abs_diff": check["parity"]["max_abs_diff"],
                "measured_ms": check["latency_ms"]["p50"]}

    def evolve() -> dict:
        from hwnas.search.blackbox import BlackboxConfig

        res = run_blackbox(BlackboxConfig("evolution", "oneshot", SPACE, str(lut), budget["ms"],
                                          settings.evolution_evals, str(out / "evolution"), seed=seed,
                                          population=settings.population, sample_size=3,
                                          epochs=settings.supernet_epochs), progress=False)
        return {"artifact": str(out / "evolution"), "evaluations": res.evaluations,
                "front_size": len(res.pareto)}

    def report() -> dict:
        rep = build_report([out / "proxyless", out / "evolution"], out / "report",
                           lut_paths=[str(lut)], budget_ms=budget["ms"])
        hv = _first_hypervolume(rep.report)
        return {"artifact": str(out / "report" / "index.html"), "hypervolume": hv}

    profile_info = log.stage("profile this CPU (onnxruntime, mbconv-small)", profile)
    validation_info = log.stage("validate and calibrate the table", validate)
    search_info = log.stage("gradient search under a hard budget + train the derived arch", search)
    export_info = log.stage("export to ONNX and check it in ONNX Runtime", export)
    log.say("      (stage 5, training from scratch, ran inside stage 3)")
    evo_info = log.stage("evolution with one-shot evaluation", evolve)
    report_info = log.stage("Pareto report", report)
    summary = {
        "space": SPACE, "runtime": RUNTIME, "quick": quick, "seed": seed,
        "table_ops": profile_info["ops"],
        "table_within_10pct_calibrated": validation_info["within_10pct_calibrated"],
        "budget_ms": search_info["budget_ms"], "arch": search_info["arch"],
        "predicted_ms": search_info["predicted_ms"], "measured_ms": export_info["measured_ms"],
        "test_acc": search_info["test_acc"], "parity_max_abs_diff": export_info["parity_max_abs_diff"],
        "front_size": evo_info["front_size"], "hypervolume": report_info["hypervolume"],
        "wall_s": round(time.perf_counter() - start, 1), "stages": log.stages, "out": str(out),
    }
    write_json(out / "demo.json", summary)
    return summary


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _first_hypervolume(report: dict) -> float | None:
    for view in report.get("views", []):
        combined = view.get("combined") or {}
        if "hypervolume" in combined:
            return combined["hypervolume"]
        for run in view.get("runs", []):
            if run.get("hypervolume") is not None:
                return run["hypervolume"]
    return None
