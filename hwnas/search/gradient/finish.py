"""After the search: derive the arch, train it from scratch, record it in the run folder."""

from __future__ import annotations

import math
import time

import numpy as np

from hwnas.io import save_weights
from hwnas.latency.cost import CostModel
from hwnas.runs import Candidate, RunFolder, RunResult
from hwnas.search.gradient.config import GradientSearchConfig
from hwnas.search.gradient.derive import KnapsackResult, solve_budget
from hwnas.search.gradient.verdict import LearnedVerdict, judge


def derive_arch(cost: CostModel, probs: list[list[float]], budget: float, band_low: float,
                hard: bool) -> dict:
    """The derived arch and how it was chosen.

    ``hard`` (the budget loss): the most probable arch (max sum of log p) whose price is
    ``<= budget``, and ``>= band_low * budget`` when that band holds an arch: one knapsack on
    the cost model's (calibrated) costs, whose exact cost is the table's own prediction, so no
    reconciling is needed. The budget must be at least the fastest arch's price (the run checks
    it up front). Otherwise (soft losses): the argmax per layer, as the anchors do.
    """
    space = cost.space
    scores = [np.log(np.maximum(np.asarray(p, dtype=np.float64), 1e-300)) for p in probs]
    argmax_arch = space.arch_from_indices([int(np.argmax(p)) for p in probs])
    info = {"argmax_arch": str(argmax_arch), "argmax_predicted": cost.price(argmax_arch)}
    if not hard:
        return {**info, "arch": str(argmax_arch), "predicted": info["argmax_predicted"],
                "method": "argmax", "in_band": band_low * budget <= info["argmax_predicted"] <= budget}
    pick: KnapsackResult = solve_budget(cost.costs, scores, cost.fixed, budget, band_low * budget)
    arch = space.arch_from_indices(pick.indices)
    return {**info, "arch": str(arch), "predicted": cost.price(arch), "method": "knapsack",
            "raw_sum": pick.cost, "log_prob": pick.score, "in_band": pick.in_band}


def finish_run(config: GradientSearchConfig, space, table, cost, data, state, probs, expected: float,
               run: RunFolder, search_wall_s: float, epochs_run: int, progress: bool) -> RunResult:
    from hwnas.nn.builder import build_model, count_macs, count_params
    from hwnas.train import TrainConfig, seeded, train_model

    main = state.placement.ranks.is_main  # every rank derives and trains; rank 0 writes
    derived = derive_arch(cost, probs, config.budget_ms, config.band_low,
                          hard=config.loss == "budget")
    derived.update({"budget": config.budget_ms, "unit": cost.unit, "expected_final": expected,
                    "fastest": cost.price_range()[0], "slowest": cost.price_range()[1],
                    "loss": config.loss,
                    "relaxation": config.relaxation})
    if main:
        run.save_json("derived.json", derived)
    arch = space.parse(derived["arch"])
    scratch = None
    wall = 0.0
    if config.train_derived:
        started = time.perf_counter()
        model = seeded(config.seed, lambda: build_model(space, arch))
        trained = train_model(model, data, TrainConfig(epochs=config.derived_epochs,
                                                       batch_size=config.batch_size, lr=config.weight_lr,
                                                       seed=config.seed, device=config.device,
                                                       precision=config.precision),
                              progress=progress, label="derived arch from scratch")
        scratch = trained.to_dict()
        if main:
            save_weights(run.artifact("weights.pt"), model.state_dict())
        wall = time.perf_counter() - started
    model = build_model(space, arch)
    metric = "energy_mj" if table.meta.metric == "energy" else "latency_ms"
    candidate = Candidate(
        arch, None if scratch is None else scratch["val_acc"],
        derived["predicted"] if metric == "latency_ms" else None, count_params(model),
        count_macs(model, space.input_shape),
        derived["predicted"] if metric == "energy_mj" else None, wall,
        accuracy_kind="scratch-val", evaluator="scratch", strategy="proxyless", index=0)
    if main:
        run.write_candidates([candidate])
    test_acc = None if scratch is None else scratch["test_acc"]
    verdict = _verdict(cost, data, probs, expected, run)
    result = RunResult(
        "proxyless", space.name, ("accuracy", metric), config.budget_ms, (candidate,), candidate,
        candidate, 1, 1, True, lut=config.lut, run_dir=str(run.path), candidates=(candidate,),
        details={
            **verdict.to_dict(),  # first: the entries below (a finite expected_final) win
            "predicted": derived["predicted"], "unit": cost.unit, "metric": table.meta.metric,
            "in_band": bool(derived["in_band"]), "method": derived["method"],
            "argmax_arch": derived["argmax_arch"], "argmax_predicted": derived["argmax_predicted"],
            "expected_final": expected if math.isfinite(expected) else None,
            "fastest": cost.price_range()[0], "slowest": cost.price_range()[1],
            "multiplier": state.multiplier,
            "epochs_run": epochs_run, "search_wall_s": search_wall_s, "test_acc": test_acc,
            "scratch": scratch, "derived": derived, "arch_alphas": state.arch.alphas_lists(),
        })
    if main:
        run.save_result(result)
    return result


def _verdict(cost: CostModel, data, probs, expected: float,
             run: RunFolder) -> LearnedVerdict:
    """Judge the whole run from its logs (a resumed run's history holds every epoch)."""
    import torch

    from hwnas.search.gradient.objective import expected_latency

    history = run.read_log("history")
    uniform = [torch.full((len(c),), 1.0 / len(c), dtype=torch.float64) for c in cost.costs]
    with torch.no_grad():
        start = float(expected_latency(cost, uniform))
    return judge([float(h["val_acc"]) for h in history if h.get("val_acc") is not None],
                 data.num_classes, probs, start, expected, cost.unit,
                 searched=any(h.get("arch_steps") for h in history))
