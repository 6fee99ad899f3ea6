"""The gradient search's learned/not-learned verdict: a stuck search says so in its result."""

from pathlib import Path

import pytest
import torch

from hwnas.io import read_json
from hwnas.search.gradient import GradientSearchConfig, run_gradient_search
from hwnas.search.gradient.verdict import LearnedVerdict, judge
from hwnas.testing.gradient_conformance import write_tiny_world

UNIFORM = [[0.25] * 4, [0.5, 0.5]]
MOVED = [[0.7, 0.1, 0.1, 0.1], [0.5, 0.5]]


def test_learned_when_accuracy_beats_chance_and_probabilities_move():
    v = judge([0.15, 0.45, 0.62], 10, MOVED, 18.0, 15.0, "ms", searched=True)
    assert v.learned and v.reasons == () and v.best_val_acc == 0.62
    assert v.arch_move == pytest.approx(0.45)  # total variation of the first layer from uniform


def test_accuracy_near_chance_is_named_with_both_figures():
    v = judge([0.09, 0.16, 0.12], 10, MOVED, 18.0, 15.0, "ms", searched=True)
    assert not v.learned
    assert v.reasons == ("supernet validation accuracy peaked at 0.160, chance is 0.100",)
    # the margin scales with chance: 0.19 is below 0.20 on 10 classes, 0.07 clears 0.06 on 100
    assert not judge([0.19], 10, MOVED, 1, 1, "ms", True).learned
    assert judge([0.07], 100, MOVED, 1, 1, "ms", True).learned


def test_frozen_probabilities_are_named_with_the_expected_latency():
    v = judge([0.9], 10, UNIFORM, 18.04, 18.04, "ms", searched=True)
    assert not v.learned
    assert v.reasons == ("architecture probabilities stayed uniform (largest change 0.000; "
                         "E[LAT] 18.04 -> 18.04 ms)",)
    assert "guess, not a search result" in v.message() and "--epochs" in v.message()


def test_only_warmup_epochs_is_not_a_search():
    v = judge([0.9], 10, UNIFORM, 1.0, 1.0, "ms", searched=False)
    assert v.reasons == ("no architecture step ran (every epoch was warm-up)",)


def test_verdict_round_trips_through_result_details():
    v = judge([0.1], 10, UNIFORM, 2.0, 2.0, "mJ", searched=True)
    assert LearnedVerdict.from_dict(v.to_dict()) == v


@pytest.mark.integration
def test_a_search_that_cannot_learn_records_learned_false(tmp_path):
    """Zero learning rates: the supernet stays at its init and the alphas at zero."""
    world = write_tiny_world(tmp_path)
    fastest, slowest = world["table"].cost_model(world["space"]).price_range()
    torch.set_num_threads(1)
    cfg = GradientSearchConfig(space=str(world["root"] / "tiny.json"),
                               lut=str(world["root"] / "table.json"),
                               budget_ms=fastest + 0.4 * (slowest - fastest), out=str(tmp_path / "run"),
                               data="synthetic", epochs=2, warmup_epochs=1, batch_size=128,
                               train_derived=False, weight_lr=0.0, arch_lr=0.0)
    result = run_gradient_search(cfg, progress=False)
    assert result.details["learned"] is False
    assert any("stayed uniform" in r for r in result.details["learned_reasons"])
    saved = read_json(Path(cfg.out) / "result.json")["details"]
    assert saved["learned"] is False and saved["learned_reasons"] == result.details["learned_reasons"]
    # with learning rates and 4 epochs of 32-sample batches it learns (val 0.50, move 0.48
    # measured; synthetic data is easy): the check can pass
    good = run_gradient_search(GradientSearchConfig(**{**cfg.to_dict(), "out": str(tmp_path / "ok"),
                                                       "weight_lr": 0.05, "arch_lr": 0.05,
                                                       "epochs": 4, "batch_size": 32}),
                               progress=False)
    assert good.details["learned"] is True, good.details["learned_reasons"]
