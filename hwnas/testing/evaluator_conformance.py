"""A conformance suite every evaluator passes (as every strategy passes ``strategy_conformance``).

Subclass :class:`EvaluatorConformance` in a test module and implement :meth:`~EvaluatorConformance.make`
(an evaluator over :func:`hwnas.testing.tiny_space` with non-default settings),
:meth:`~EvaluatorConformance.settings` (those settings as ``describe()`` must report them) and
:meth:`~EvaluatorConformance.rebuild` (an evaluator from a ``describe()`` output); pytest collects the
checks: the same arch gets the same score (again, from a fresh evaluator with the same seed, and
after pickling, as Ray ships it), scores in [0, 1] that tell clearly different archs apart, latency
equal to the latency table's prediction, a JSON description that rebuilds the same evaluator, and a
typed error for an arch that is not in the space.

The evaluator is made and prepared once per test class; each class gets a folder holding a
synthetic latency table (:data:`LUT_NAME`) and whatever :meth:`~EvaluatorConformance.write_files` adds.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hwnas.errors import HwnasError
from hwnas.evaluation.base import Evaluator
from hwnas.latency.table import LatencyTable
from hwnas.runs import ACCURACY_KINDS, Candidate
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace
from hwnas.testing.fixtures import synthetic_table, tiny_space

LUT_NAME = "lut.json"


def probe_archs(space: SearchSpace) -> list[Arch]:
    """Three clearly different archs: the first choice everywhere, the last choice that is not a
    skip everywhere, and a seeded sample."""
    smallest = space.arch_from_indices([0] * len(space.choices()))
    largest = space.arch_from_indices([max(i for i, tok in enumerate(c) if tok != "zero")
                                       for c in space.choices()])
    return [smallest, largest, space.sample(np.random.default_rng(5))]


def bad_archs(space: SearchSpace) -> list[Arch]:
    """Archs of ``space``'s name no evaluator of it may score: a foreign token, a layer short."""
    good = probe_archs(space)[0]
    return [Arch(space.name, ("k9e9",) + good.choices[1:], good.notation),
            Arch(space.name, good.choices[:-1], good.notation)]


@dataclass(frozen=True)
class Prepared:
    """One prepared evaluator of a test class and its results on :func:`probe_archs`."""

    folder: Path
    space: SearchSpace
    evaluator: Evaluator
    archs: tuple[Arch, ...]
    results: tuple[Candidate, ...]


class EvaluatorConformance:
    """Checks every evaluator must pass; subclass and implement ``make``/``settings``/``rebuild``."""

    #: False where the evaluator cannot tell the probe archs apart (their scores may then tie)
    discriminates: bool = True

    def write_files(self, folder: Path, space: SearchSpace) -> None:
        """Write what :meth:`make` reads (e.g. a CSV) into ``folder``; the table is there already."""

    def make(self, folder: Path, space: SearchSpace) -> Evaluator:
        """A new, unprepared evaluator over ``space`` with the settings of :meth:`settings`."""
        raise NotImplementedError

    def settings(self, folder: Path) -> dict:
        """The settings :meth:`make` used, as key/value pairs ``describe()`` must contain."""
        raise NotImplementedError

    def rebuild(self, description: dict, space: SearchSpace) -> Evaluator:
        """An evaluator built only from a ``describe()`` output (what a resumed run has)."""
        raise NotImplementedError

    def expected_latency_ms(self, folder: Path, space: SearchSpace, arch: Arch) -> float:
        """Latency the evaluator must report: the table's prediction (override for a CSV column)."""
        return LatencyTable.load(folder / LUT_NAME).predict(space, arch)

    @pytest.fixture(scope="class")
    @classmethod
    def prepared(cls, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
        hooks = cls()
        folder = tmp_path_factory.mktemp(cls.__name__)
        space = tiny_space()
        synthetic_table(space, seed=0).save(folder / LUT_NAME)
        hooks.write_files(folder, space)
        ev = hooks.make(folder, space)
        ev.prepare(None)
        archs = probe_archs(space)
        return Prepared(folder, space, ev, tuple(archs), tuple(ev.evaluate(a) for a in archs))

    def test_same_arch_same_score(self, prepared: Prepared) -> None:
        ev = prepared.evaluator
        # in another order: a score must not depend on what was evaluated before it
        again = [ev.evaluate(a) for a in prepared.archs[1::-1]][::-1]
        assert [(r.accuracy, r.latency_ms) for r in again] == \
            [(r.accuracy, r.latency_ms) for r in prepared.results[:2]]

    def test_same_settings_same_score(self, prepared: Prepared) -> None:
        fresh = self.make(prepared.folder, prepared.space)
        fresh.prepare(None)
        arch, first = prepared.archs[1], prepared.results[1]
        assert fresh.evaluate(arch).accuracy == first.accuracy

    def test_pickled_evaluator_scores_the_same(self, prepared: Prepared) -> None:
        shipped = pickle.loads(pickle.dumps(prepared.evaluator))
        arch, first = prepared.archs[2], prepared.results[2]
        res = shipped.evaluate(arch)
        assert (res.accuracy, res.latency_ms) == (first.accuracy, first.latency_ms)

    def test_scores_in_unit_interval_and_tell_archs_apart(self, prepared: Prepared) -> None:
        scores = [r.accuracy for r in prepared.results]
        assert all(s is not None and 0.0 <= s <= 1.0 for s in scores), scores
        if self.discriminates:
            assert len(set(scores)) > 1, f"the same score for clearly different archs: {scores}"

    def test_candidates_say_what_they_are(self, prepared: Prepared) -> None:
        """Each result is the arch's own candidate record with the kind of its accuracy set."""
        for arch, res in zip(prepared.archs, prepared.results):
            assert res.arch == arch
            assert res.accuracy_kind in ACCURACY_KINDS and res.evaluator == prepared.evaluator.name

    def test_latency_is_the_table_prediction(self, prepared: Prepared) -> None:
        for arch, res in zip(prepared.archs, prepared.results):
            expected = self.expected_latency_ms(prepared.folder, prepared.space, arch)
            assert res.latency_ms == pytest.approx(expected, rel=1e-9), str(arch)
        assert len({r.latency_ms for r in prepared.results}) > 1

    def test_description_is_json_and_round_trips(self, prepared: Prepared) -> None:
        description = prepared.evaluator.describe()
        text = json.dumps(description, allow_nan=False)
        assert json.loads(text) == description
        settings = self.settings(prepared.folder)
        assert {k: description.get(k, "<missing>") for k in settings} == settings
        rebuilt = self.rebuild(json.loads(text), prepared.space)
        assert type(rebuilt) is type(prepared.evaluator)
        assert rebuilt.describe() == description

    def test_bad_arch_is_a_typed_error(self, prepared: Prepared) -> None:
        for bad in bad_archs(prepared.space):
            with pytest.raises(HwnasError):
                prepared.evaluator.evaluate(bad)

    def test_arch_of_another_space_is_a_typed_error(self, prepared: Prepared) -> None:
        good = prepared.archs[0]
        with pytest.raises(HwnasError):
            prepared.evaluator.evaluate(Arch(prepared.space.name + "-other", good.choices, good.notation))
