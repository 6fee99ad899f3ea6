"""After the search: derive the arch, train it from scratch, write derived / candidates / result."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from hwnas.errors import HwnasError
from hwnas.io import save_weights, write_json, write_text
from hwnas.search.gradient.config import GradientSearchConfig, GradientSearchResult
from hwnas.search.gradient.derive import KnapsackResult, solve_budget


def derive_arch(space, table, cost, probs: list[list[float]], budget: float, band_low: float,
                hard: bool) -> dict:
    """The derived arch and how it was chosen.

    ``hard`` (the budget loss): the most probable arch (max sum of log p) whose table latency is
    ``<= budget``, and ``>= band_low * budget`` when that band holds an arch. The table's own
    prediction is checked; a calibrated table whose prediction exceeds the budget lowers the raw
    budget until it does not. Otherwise (soft losses): the argmax per layer, as the anchors do.
    """
    scores = [np.log(np.maximum(np.asarray(p, dtype=np.float64), 1e-300)) for p in probs]
    argmax = [int(np.argmax(p)) for p in probs]
    argmax_arch = space.arch_from_indices(argmax)
    info = {"argmax_arch": str(argmax_arch), "argmax_predicted": table.predict(space, argmax_arch)}
    if not hard:
        return {**info, "arch": str(argmax_arch), "predicted": info["argmax_predicted"],
                "method": "argmax", "in_band": band_low * budget <= info["argmax_predicted"] <= budget}
    upper = budget
    for _ in range(20):
        pick: KnapsackResult = solve_budget(cost.costs, scores, cost.fixed, upper, band_low * budget)
        arch = space.arch_from_indices(pick.indices)
        predicted = table.predict(space, arch)
        if predicted <= budget:
            return {**info, "arch": str(arch), "predicted": predicted, "method": "knapsack",
                    "raw_sum": pick.cost, "log_prob": pick.score,
                    "in_band": predicted >= band_low * budget}
        upper -= max(predicted - budget, 1e-9 * budget)  # calibration pushed it over: tighten
        if upper < cost.fastest():
            break
    raise HwnasError(f"no arch found whose calibrated prediction meets the budget {budget:g}",
                     "raise the budget or use an uncalibrated table")


def finish_run(config: GradientSearchConfig, space, table, cost, data, state, probs, expected: float,
               out: Path, search_wall_s: float, epochs_run: int, progress: bool) -> GradientSearchResult:
    from hwnas.nn.builder import build_model, count_macs, count_params
    from hwnas.train import TrainConfig, seeded, train_model

    derived = derive_arch(space, table, cost, probs, config.budget_ms, config.band_low,
                          hard=config.loss == "budget")
    derived.update({"budget": config.budget_ms, "unit": cost.unit, "expected_final": expected,
                    "fastest": cost.fastest(), "slowest": cost.slowest(), "loss": config.loss,
                    "relaxation": config.relaxation})
    write_json(out / "derived.json", derived)
    arch = space.parse(derived["arch"])
    scratch = None
    wall = 0.0
    if config.train_derived:
        started = time.perf_counter()
        model = seeded(config.seed, lambda: build_model(space, arch))
        trained = train_model(model, data, TrainConfig(epochs=config.derived_epochs,
                                                       batch_size=config.batch_size, lr=config.weight_lr,
                                                       seed=config.seed),
                              progress=progress, label="derived arch from scratch")
        scratch = trained.to_dict()
        save_weights(out / "weights.pt", model.state_dict())
        wall = time.perf_counter() - started
    model = build_model(space, arch)
    metric = "energy_mj" if table.meta.metric == "energy" else "latency_ms"
    candidate = {
        "index": 0, "arch": str(arch),
        "accuracy": None if scratch is None else scratch["val_acc"],
        "test_accuracy": None if scratch is None else scratch["test_acc"],
        "latency_ms": derived["predicted"] if metric == "latency_ms" else None,
        "params": count_params(model), "macs": count_macs(model, (3, space.resolution, space.resolution)),
        "wall_s": wall, "strategy": "proxyless",
    }
    if metric == "energy_mj":
        candidate["energy_mj"] = derived["predicted"]
    write_text(out / "candidates.jsonl", json.dumps(candidate) + "\n")
    result = GradientSearchResult(
        arch=str(arch), predicted=derived["predicted"], budget=config.budget_ms, unit=cost.unit,
        in_band=bool(derived["in_band"]), expected_final=expected, fastest=cost.fastest(),
        slowest=cost.slowest(), epochs_run=epochs_run, search_wall_s=search_wall_s, scratch=scratch,
        run_dir=str(out), extra={"method": derived["method"], "argmax_arch": derived["argmax_arch"],
                                 "argmax_predicted": derived["argmax_predicted"]},
    )
    write_json(out / "result.json", {
        "strategy": "proxyless", "space": space.name, "budget_ms": config.budget_ms,
        "lut": config.lut, "best": candidate, "pareto": [candidate], "derived": derived,
        "search_wall_s": search_wall_s, "metric": table.meta.metric, "unit": cost.unit,
        "multiplier": state.multiplier, "test_acc": None if scratch is None else scratch["test_acc"],
        "expected_final": expected if math.isfinite(expected) else None,
    })
    return result
