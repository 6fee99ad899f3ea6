"""A conformance suite every relaxation of the gradient search passes (like
:mod:`hwnas.testing.strategy_conformance` for the black-box strategies).

Subclass :class:`GradientConformance` in a test module and set ``relaxation``; pytest collects
the checks, all on the tiny space, synthetic data and a synthetic table (seconds each): same
seed same result, a run interrupted after its first epoch and resumed equals an uninterrupted
one (derived arch and architecture probabilities), the derived arch's table prediction is
within the budget (and within the band when the band holds an arch), and the run folder reads
back through :class:`hwnas.runs.RunFolder` with the accuracy kind set.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from hwnas.testing.fixtures import TINY, synthetic_table, tiny_space


def write_tiny_world(root: Path) -> dict:
    """The tiny space as a spec file, its synthetic table, and a budget 40 % into its range."""
    spec = asdict(TINY)
    spec["stages"] = [[s.channels, s.layers, s.stride] for s in TINY.stages]
    (root / "tiny.json").write_text(json.dumps(spec))
    space = tiny_space()
    table = synthetic_table(space)
    table.save(root / "table.json")
    fastest, slowest = table.cost_model(space).price_range()
    return {"root": root, "space": space, "table": table, "budget_ms": fastest + 0.4 * (slowest - fastest)}


def _all_predictions(space, table) -> np.ndarray:
    """Table prediction of every arch of the (tiny) space, from its per-choice costs."""
    cost = table.cost_model(space)
    total = np.array([cost.fixed])
    for costs in cost.costs:
        total = np.add.outer(total, np.asarray(costs, dtype=float)).ravel()
    return total


class GradientConformance:
    """Checks every relaxation of the gradient search must pass; subclass, set ``relaxation``."""

    relaxation: str = "binary"
    epochs: int = 2
    band_low: float = 0.9

    @pytest.fixture(scope="class")
    @classmethod
    def world(cls, tmp_path_factory) -> dict:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small nets: one thread is faster and steadier on shared cores
        world = write_tiny_world(tmp_path_factory.mktemp(f"gradient-{cls.relaxation}"))
        world["full"] = cls.search(world, "full")
        yield world
        torch.set_num_threads(threads)

    @classmethod
    def config(cls, world: dict, out: str, **changes):
        from hwnas.search.gradient import GradientSearchConfig

        root = world["root"]
        base = GradientSearchConfig(
            space=str(root / "tiny.json"), lut=str(root / "table.json"), budget_ms=world["budget_ms"],
            out=str(root / out), relaxation=cls.relaxation, data="synthetic", epochs=cls.epochs,
            warmup_epochs=0, batch_size=256, train_derived=False, arch_lr=0.05,
            band_low=cls.band_low)
        return replace(base, **changes)

    @classmethod
    def search(cls, world: dict, out: str, **changes):
        from hwnas.search.gradient import run_gradient_search

        return run_gradient_search(cls.config(world, out, **changes), progress=False)

    @staticmethod
    def probs(result) -> list:
        from hwnas.runs import RunFolder

        return RunFolder(result.run_dir).read_log("arch_probs")

    def test_same_seed_same_result(self, world) -> None:
        again = self.search(world, "again")
        assert again.best.arch == world["full"].best.arch
        assert self.probs(again) == self.probs(world["full"])
        assert len(self.probs(again)) == self.epochs

    def test_resume_equals_uninterrupted(self, world) -> None:
        part = self.search(world, "part", stop_after_epoch=0)
        assert not part.complete and part.best is None
        assert len(self.probs(part)) == 1
        resumed = self.search(world, "part", resume=True)
        assert resumed.complete
        assert resumed.best.arch == world["full"].best.arch
        assert self.probs(resumed) == self.probs(world["full"])

    def test_derived_arch_within_budget_and_band(self, world) -> None:
        space, table, budget = world["space"], world["table"], world["budget_ms"]
        result = world["full"]
        predicted = table.predict(space, result.best.arch)
        assert predicted <= budget
        assert predicted == pytest.approx(result.details["predicted"])
        everything = _all_predictions(space, table)
        band_holds_an_arch = bool(np.any((everything >= self.band_low * budget) & (everything <= budget)))
        assert band_holds_an_arch  # the budget above is chosen so that it does
        assert result.details["in_band"] and predicted >= self.band_low * budget

    def test_run_folder_reads_back(self, world) -> None:
        from hwnas.runs import ACCURACY_KINDS, RunFolder

        result = world["full"]
        folder = RunFolder(result.run_dir)
        assert folder.read_result(world["space"]) == result
        (candidate,) = folder.candidates(world["space"])
        assert candidate == result.best
        assert candidate.accuracy_kind == "scratch-val" and candidate.accuracy_kind in ACCURACY_KINDS
        assert candidate.strategy == "proxyless"
        assert folder.read_log("history")[-1]["epoch"] == self.epochs - 1
