"""Specialize one trained supernet for several devices: a search per (table, budget), no retraining.

Per target the supernet scores a black-box search priced by the target's latency table (scores
come from and go to the supernet's ``scores.jsonl``, so archs seen for one device are free for
the next); the chosen arch (best under the budget) takes its weights from the supernet (BatchNorm
re-estimated, optionally fine-tuned), is exported to ONNX (and ExecuTorch for a phone), and is
timed here when the table's runtime runs here. ``OUT`` holds one run folder per device (the
normal run-folder contract) with ``specialized.json`` written last, and one report across them.

Example:
    >>> plan = plan_specialize("sn", ["pixel3/latency-fbnet-cifar100"], [40.0], "out")  # doctest: +SKIP
    >>> run_specialize(plan)                                                            # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hwnas.errors import HwnasError
from hwnas.io import read_json, save_weights, write_json
from hwnas.specialize.predictor import PREDICTED_KIND

DONE = "specialized.json"
PLAN = "specialize.json"
REPORT = "report"
LOCAL_RUNTIMES = ("onnxruntime", "torch-cpu")  # runtimes whose tables this CPU can check
ACCURACY_FROM = ("predictor", "supernet")


@dataclass(frozen=True)
class Target:
    """One device to specialize for: its table, budget and the run folder name under OUT."""

    lut: str
    budget_ms: float
    device: str
    runtime: str
    phone: bool
    folder: str


@dataclass(frozen=True)
class SpecializePlan:
    supernet: str
    space: str
    targets: tuple[Target, ...]
    out: str
    strategy: str = "evolution"
    evaluations: int = 300
    population: int = 20
    seed: int = 0
    finetune_epochs: int = 0
    executorch: bool = True
    accuracy_from: str = "supernet"  # predictor: search on predicted accuracy, then --rescore K
    rescore: int = 10

    def to_dict(self) -> dict:
        return {**asdict(self), "targets": [asdict(t) for t in self.targets]}


def is_phone(meta) -> bool:
    """A table measured on a phone (its exported model should also be a .pte)."""
    text = f"{meta.device_name} {meta.device_detail}".lower()
    return "phone" in text or bool(re.match(r"(pixel|galaxy|iphone)", meta.device_name.lower()))


def plan_specialize(supernet: str, luts: list[str], budgets_ms: list[float], out: str,
                    strategy: str = "evolution", evaluations: int = 300, population: int = 20,
                    seed: int = 0, finetune_epochs: int = 0, executorch: bool = True,
                    accuracy_from: str | None = None, rescore: int = 10) -> SpecializePlan:
    """Check every input (nothing is written): one table per budget, tables of the supernet's
    space, budgets the tables can meet, a predictor fitted for these weights when one is used.
    ``accuracy_from`` None: the predictor when ``predictor.json`` exists, else the supernet.
    Raises :class:`HwnasError` naming the cause and the fix."""
    from hwnas.evaluation.supernet_artifact import META, check_artifact_for
    from hwnas.latency import load_table
    from hwnas.search.registry import search_names
    from hwnas.space import get_space

    if not luts:
        raise HwnasError("no --lut given", "pass --lut TABLE --budget-ms B once per device")
    if len(luts) != len(budgets_ms):
        raise HwnasError(f"--lut given {len(luts)} time(s) but --budget-ms {len(budgets_ms)} time(s)",
                         "pass one --budget-ms per --lut, in the same order")
    if strategy in ("proxyless", "auto") or strategy not in search_names():
        raise HwnasError(f"--strategy {strategy!r} is not a black-box strategy",
                         "pass random, evolution, nsga2, rl or predictor")
    if evaluations < 1 or finetune_epochs < 0:
        raise HwnasError("--evaluations must be >= 1 and --finetune-epochs >= 0", "pass counts in range")
    if accuracy_from not in (None, *ACCURACY_FROM):
        raise HwnasError(f"unknown --accuracy-from {accuracy_from!r}", "pass predictor or supernet")
    if rescore < 1:
        raise HwnasError(f"--rescore {rescore} scores no arch with the supernet, so none could be "
                         "chosen", "pass --rescore 1 or more (10 is the default)")
    folder = Path(supernet)
    meta_path = folder / META
    if not meta_path.is_file():
        raise HwnasError(f"--supernet {folder} is not a trained supernet (no {META})",
                         "pass a folder written by `hwnas supernet train`")
    space_spec = str(read_json(meta_path, "supernet metadata").get("config", {}).get("space"))
    space = get_space(space_spec)  # a preset name or the spec file the supernet was trained on
    check_artifact_for(folder, space)
    if accuracy_from is None:
        from hwnas.specialize.predictor import PREDICTOR

        accuracy_from = "predictor" if (folder / PREDICTOR).is_file() else "supernet"
    if accuracy_from == "predictor":
        from hwnas.specialize.predictor import load_predictor

        load_predictor(folder, space)  # missing, damaged or stale: refused before anything is written
    targets, names = [], {}
    for lut, budget in zip(luts, budgets_ms):
        table = load_table(lut)
        table.check_space(space)  # a table of another space: "table was made for space ..."
        table.require(space)
        cheapest = table.cost_model(space).price_range()[0]
        if not budget > 0 or budget < cheapest:
            raise HwnasError(f"--budget-ms {budget:g} for {lut} is below its cheapest arch "
                             f"({cheapest:.4g} {table.meta.unit})",
                             f"pass --budget-ms {cheapest:.4g} or more for this table")
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", table.meta.device_name).strip("-") or "device"
        names[name] = names.get(name, 0) + 1
        name = name if names[name] == 1 else f"{name}-{names[name]}"
        targets.append(Target(lut, float(budget), table.meta.device_name, table.meta.runtime,
                              is_phone(table.meta), name))
    return SpecializePlan(str(folder), space_spec, tuple(targets), str(out), strategy, evaluations,
                          population, seed, finetune_epochs, executorch, accuracy_from, rescore)


def check_resume(plan: SpecializePlan) -> None:
    """Refuse to resume an OUT made for another plan (other tables, budgets, supernet...)."""
    path = Path(plan.out) / PLAN
    if not path.is_file():
        return
    if read_json(path, "specialize plan") != plan.to_dict():
        raise HwnasError(f"{Path(plan.out)} was specialized with other settings than these",
                         f"pass the settings in {path}, or another --out")


def run_specialize(plan: SpecializePlan, resume: bool = False, force: bool = False,
                   say=lambda _m: None) -> dict:
    """Specialize for every target (skipping finished ones on ``resume``); the summary."""
    from hwnas.evaluation.supernet_artifact import load_supernet

    out = Path(plan.out)
    if resume:
        check_resume(plan)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / PLAN, plan.to_dict())
    supernet = load_supernet(Path(plan.supernet))
    predicted = None  # (predictor, scorer): loaded once, shared by every device of the run
    if plan.accuracy_from == "predictor":
        from hwnas.specialize.predictor import load_predictor, supernet_scorer

        predicted = load_predictor(Path(plan.supernet), supernet.space), supernet_scorer(supernet)
    say(_accuracy_source(plan, predicted[0] if predicted else None))
    devices = []
    for target in plan.targets:
        done = out / target.folder / DONE
        if resume and done.is_file():
            say(f"{target.device}: already specialized, skipped")
            devices.append(read_json(done, "specialized device"))
            continue
        devices.append(_one_device(plan, target, supernet, resume, force, say, predicted))
    from hwnas.specialize.report import write_report

    report = write_report(plan, devices, out / REPORT)
    summary = {"out": str(out), "report": report, "devices": devices}
    write_json(out / "summary.json", summary)
    return summary


def _accuracy_source(plan: SpecializePlan, predictor) -> str:
    """The line that says where the search's accuracy comes from."""
    from hwnas.specialize.predictor import PREDICTOR

    if predictor is None:
        return (f"accuracy from: supernet (every evaluation scored with {plan.supernet}; "
                f"`hwnas supernet predictor {plan.supernet}` makes searches cheaper)")
    fidelity = predictor.meta.get("fidelity") or {}
    tau = fidelity.get("kendall_tau")
    return (f"accuracy from: predictor ({Path(plan.supernet) / PREDICTOR}, held-out Kendall tau "
            f"{'n/a' if tau is None else format(tau, '.3f')}); the top {plan.rescore} under each budget "
            "are scored with the supernet")


def _search(plan: SpecializePlan, target: Target, resume: bool, force: bool):
    from hwnas.search.blackbox import BlackboxConfig, run_blackbox

    run_dir = Path(plan.out) / target.folder
    cfg = BlackboxConfig(plan.strategy, f"supernet:{plan.supernet}", plan.space, target.lut,
                         target.budget_ms, plan.evaluations, str(run_dir),
                         resume=resume and (run_dir / "config.json").is_file(), seed=plan.seed,
                         population=plan.population, sample_size=min(5, plan.population), force=force)
    return run_blackbox(cfg, progress=False)


def _one_device(plan: SpecializePlan, target: Target, supernet, resume: bool, force: bool, say,
                predicted=None) -> dict:
    """One device's search, choice, weights, exports and check; ``predicted``: the run's
    (predictor, supernet scorer) when its search runs on predicted accuracy."""
    from hwnas.evaluation.score_cache import SCORES
    from hwnas.evaluation.supernet_artifact import cached_archs

    timings = {}
    started = time.perf_counter()
    before = cached_archs(Path(plan.supernet))
    if predicted is not None:
        from hwnas.specialize.rescore import predicted_search, rescore

        predictor, score = predicted
        res = predicted_search(plan, target, predictor, supernet.space)
        timings["search_s"] = time.perf_counter() - started
        started = time.perf_counter()
        chosen = rescore(plan, target, supernet, res, plan.rescore, score)
        timings["rescore_s"] = time.perf_counter() - started
        scored = {str(c.arch) for c in chosen.candidates}
        predicted_acc = {str(c.arch): c.accuracy for c in res.candidates}
        say(f"{target.device}: searched {res.evaluations} archs on predicted accuracy, scored the "
            f"top {len(scored)} with the supernet ({len(scored & before)} from "
            f"{Path(plan.supernet) / SCORES})")
    else:
        res = _search(plan, target, resume, force)
        timings["search_s"] = time.perf_counter() - started
        timings["rescore_s"] = 0.0
        chosen, scored, predicted_acc = res, {str(c.arch) for c in res.candidates}, {}
        say(f"{target.device}: searched {res.evaluations} archs ({len(scored & before)} scores reused "
            f"from {Path(plan.supernet) / SCORES})")
    if chosen.best is None:
        raise HwnasError(f"the search for {target.device} found no arch under {target.budget_ms:g} ms",
                         "raise --budget-ms or --evaluations for this table")
    run_dir = Path(plan.out) / target.folder
    arch = supernet.space.parse(str(chosen.best.arch))
    started = time.perf_counter()
    weights = _weights(plan, supernet, arch, run_dir)
    timings["weights_s"] = time.perf_counter() - started
    started = time.perf_counter()
    exports = _export(plan, target, supernet.space, arch, weights["state"], run_dir, weights["data"], say)
    timings["export_s"] = time.perf_counter() - started
    started = time.perf_counter()
    measured = _measure(target, supernet.space, arch)
    timings["check_s"] = time.perf_counter() - started
    record = {"device": target.device, "runtime": target.runtime, "lut": target.lut,
              "budget_ms": target.budget_ms, "run_dir": str(run_dir), "arch": str(arch),
              "accuracy_from": plan.accuracy_from,
              "search_accuracy_kind": PREDICTED_KIND if predicted is not None else "oneshot-val",
              "supernet_val_acc": chosen.best.accuracy, "supernet_val_acc_kind": chosen.best.accuracy_kind,
              "predicted_val_acc": predicted_acc.get(str(arch)), "predicted_ms": chosen.best.latency_ms,
              "evaluations": res.evaluations, "supernet_scored": len(scored),
              "scores_reused": len(scored & before),
              **{k: v for k, v in weights.items() if k != "state"}, "exports": exports,
              "measured": measured, "timings_s": timings}
    write_json(run_dir / DONE, record)  # last: its presence means this device is finished
    say(f"{target.device}: chose {arch} (predicted {record['predicted_ms']:.4g} ms, supernet score "
        f"{record['supernet_val_acc']:.4f})")
    return record


def _weights(plan: SpecializePlan, supernet, arch, run_dir: Path) -> dict:
    """The chosen arch's inherited weights, BN re-estimated, optionally fine-tuned; saved."""
    import torch

    from hwnas.data import load_for_space
    from hwnas.nn import input_batches, recalibrate_bn
    from hwnas.train import TrainConfig, train_model
    from hwnas.train.loop import evaluate

    data_spec = supernet.meta["config"]["data"]
    data = load_for_space(data_spec, supernet.space)
    model = supernet.net.extract(arch)
    with torch.no_grad():  # the supernet's running statistics belong to the mixture of paths
        recalibrate_bn(model, input_batches(data, 4, 64))
    model.eval()
    inherited = evaluate(model, data.loader("test", 256))[1]
    tuned = None
    if plan.finetune_epochs:
        cfg = TrainConfig(plan.finetune_epochs, 64, 0.01, seed=plan.seed)
        with torch.random.fork_rng(devices=[]):
            tuned = train_model(model, data, cfg, progress=False, say=lambda _m: None).test_acc
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_weights(run_dir / "weights.pt", state)
    return {"state": state, "data": data_spec, "inherited_test_acc": inherited,
            "finetune_epochs": plan.finetune_epochs, "finetuned_test_acc": tuned,
            "weights": str(run_dir / "weights.pt")}


def _export(plan: SpecializePlan, target: Target, space, arch, state: dict, run_dir: Path, data_spec: str,
            say) -> list:
    """ONNX (and ExecuTorch for a phone), each checked against PyTorch on ``data_spec`` images."""
    from hwnas.export.pipeline import ExportRequest, ExportSource, export_arch
    from hwnas.plugins import get_exporter

    source = ExportSource(space, arch, state, str(run_dir / "weights.pt"), str(run_dir))
    formats = [("onnx", "model.onnx")]
    if target.phone and plan.executorch:
        formats.append(("executorch", "model.pte"))
    done = []
    for fmt, name in formats:
        try:
            get_exporter(fmt).require()
        except HwnasError as exc:  # a missing optional runtime skips its format, said in the report
            say(f"warning: {target.device}: {fmt} export skipped: {exc.message}")
            done.append({"format": fmt, "artifact": None, "skipped": exc.message})
            continue
        record = export_arch(ExportRequest(source, fmt, run_dir / name, force=True, check=True,
                                           calibration_data=data_spec))
        done.append({"format": fmt, "artifact": record["artifact"], "bytes": record["bytes"]})
    return done


def _measure(target: Target, space, arch) -> dict:
    """Measured vs predicted latency when the table's runtime runs here; otherwise why not."""
    import numpy as np

    from hwnas.latency import load_table
    from hwnas.latency.fidelity import measure_archs
    from hwnas.latency.measure import MeasureProtocol
    from hwnas.plugins import get_profiler, runtime_names

    table = load_table(target.lut)
    predicted = table.predict(space, arch)
    if target.runtime not in LOCAL_RUNTIMES or target.runtime not in runtime_names():
        return {"measurable": False, "predicted_ms": predicted,
                "note": f"not measurable here ({target.runtime} runs on {target.device})"}
    protocol = MeasureProtocol(threads=table.meta.threads, batch=table.meta.batch)
    profiler = get_profiler(target.runtime, protocol)
    runs, _per_arch_s = measure_archs(space, [arch], profiler, np.random.default_rng(0), passes=1)
    measured = float(runs[0][0])
    foreign = table.provenance(target.lut).warning()
    return {"measurable": True, "predicted_ms": predicted, "measured_ms": measured,
            "error_pct": (measured - predicted) / predicted * 100.0, "note": foreign or ""}
