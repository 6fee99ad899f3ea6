"""The reusable supernet artifact: what it holds, that it resumes exactly, how paths are sampled."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from hwnas import __version__
from hwnas.errors import HwnasError
from hwnas.evaluation.path_sampling import SAMPLINGS, PathSampler, choice_macs, extreme_gates
from hwnas.evaluation.supernet_artifact import (
    SupernetTrainConfig,
    load_supernet,
    require_space,
    train_supernet,
)
from hwnas.space import get_space
from hwnas.testing import MICRO_SPEC

SPEC = MICRO_SPEC  # one stage of two layers: seconds per epoch on digits
# two stages of four layers: enough positions for a sum of choices to pile up mid-range
WIDE = SPEC.replace('"micro"', '"wide"').replace("[[8, 2, 2]]", "[[8, 4, 1], [16, 4, 2]]")


@pytest.fixture
def micro(tmp_path):
    path = tmp_path / "micro.toml"
    path.write_text(SPEC)
    return path


def _cfg(spec, **kw) -> SupernetTrainConfig:
    return SupernetTrainConfig(**{"space": str(spec), "epochs": 1, "batch_size": 256, **kw})


def test_artifact_holds_tensor_weights_and_what_they_were_trained_for(micro, tmp_path):
    out = tmp_path / "sn"
    out.mkdir()
    train_supernet(get_space(str(micro)), _cfg(micro, seed=3), out)
    meta = json.loads((out / "supernet.json").read_text())
    space = get_space(str(micro))
    assert meta["space"] == "micro" and meta["space_fingerprint"] == space.fingerprint()
    assert meta["config"]["data"] == "digits" and meta["config"]["epochs"] == 1
    assert meta["config"]["sampling"] == "uniform" and meta["config"]["seed"] == 3
    assert meta["hwnas_version"] == __version__ and meta["fidelity"] is None and meta["complete"]
    state = torch.load(out / "supernet.pt", weights_only=True)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())
    loaded = load_supernet(out)
    assert loaded.space.fingerprint() == space.fingerprint()
    assert all(torch.equal(loaded.net.state_dict()[k], v) for k, v in state.items())


@pytest.mark.parametrize("augment", ["none", "cifar"])
def test_a_killed_training_resumes_to_the_same_weights(micro, tmp_path, augment):
    space = get_space(str(micro))
    cfg = _cfg(micro, epochs=2, sampling="sandwich", random_paths=0, distill=True, augment=augment)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    whole.mkdir()
    cut.mkdir()
    train_supernet(space, cfg, whole)

    def die_after_first_epoch(msg: str) -> None:
        if msg.startswith("epoch 1/2"):
            raise KeyboardInterrupt  # as a kill right after the epoch's checkpoint

    with pytest.raises(KeyboardInterrupt):
        train_supernet(space, cfg, cut, say=die_after_first_epoch)
    assert not (cut / "supernet.pt").exists()
    said = []
    train_supernet(space, cfg, cut, resume=True, say=said.append)
    assert said[0].startswith("resuming") and "after epoch 1" in said[0]
    a = torch.load(whole / "supernet.pt", weights_only=True)
    b = torch.load(cut / "supernet.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    assert json.loads((cut / "supernet.json").read_text())["epochs_done"] == 2


def test_augmented_training_differs_is_recorded_and_leaves_the_callers_rng_alone(micro, tmp_path):
    space = get_space(str(micro))
    weights = {}
    for augment in ("none", "cifar"):
        out = tmp_path / augment
        out.mkdir()
        torch.manual_seed(123)
        before = torch.get_rng_state()
        train_supernet(space, _cfg(micro, augment=augment), out)
        assert torch.equal(torch.get_rng_state(), before)  # per-epoch seeding is undone
        weights[augment] = torch.load(out / "supernet.pt", weights_only=True)
        trained_for = json.loads((out / "supernet.json").read_text())["trained_for"]
        # "none" is left out, so artifacts from before the option keep their keys and --resume
        assert trained_for.get("augment") == (None if augment == "none" else "cifar")
    assert any(not torch.equal(weights["none"][k], weights["cifar"][k]) for k in weights["none"])
    with pytest.raises(HwnasError, match="unknown --augment 'mixup'"):
        _cfg(micro, augment="mixup").check()


def test_resume_refuses_other_settings(micro, tmp_path):
    space = get_space(str(micro))
    out = tmp_path / "sn"
    out.mkdir()
    train_supernet(space, _cfg(micro), out)
    with pytest.raises(HwnasError, match="other settings"):
        train_supernet(space, _cfg(micro, seed=1), out, resume=True)


def test_sandwich_and_spread_train_largest_smallest_and_k_random_paths(micro):
    space = get_space(str(micro))
    largest, smallest = extreme_gates(space)
    choices = space.choices()
    assert [choices[p][j] for p, j in enumerate(largest)] == ["k5e4", "k5e4"]
    assert choices[0][smallest[0]] == "k3e2" and choices[1][smallest[1]] == "zero"
    rng = np.random.default_rng(0)
    for sampling in ("sandwich", "spread"):
        paths = PathSampler.for_space(space, sampling, 3).step(rng)
        assert len(paths) == 5 and paths[0] == largest and paths[1] == smallest
    for sampling in ("uniform", "tilted"):  # one path a step, whatever k says
        assert len(PathSampler.for_space(space, sampling, 3).step(rng)) == 1


def test_spread_paths_cover_the_mac_range_and_uniform_paths_do_not(tmp_path):
    path = tmp_path / "wide.toml"
    path.write_text(WIDE)
    space = get_space(str(path))
    macs = choice_macs(space)
    lo, hi = sum(m.min() for m in macs), sum(m.max() for m in macs)

    def random_path_fractions(sampling: str, seed: int) -> np.ndarray:
        sampler = PathSampler.for_space(space, sampling, 1)
        rng = np.random.default_rng([seed, 0])  # as the trainer seeds epoch 0
        paths = [sampler.step(rng)[-1] for _ in range(500)]  # the random path of each step
        return np.array([(sum(m[i] for m, i in zip(macs, p)) - lo) / (hi - lo) for p in paths])

    spread, uniform = random_path_fractions("spread", 0), random_path_fractions("uniform", 0)
    # measured: spread puts ~19 % of its paths in each outer tenth of the range, uniform none
    assert (spread < 0.1).mean() > 0.1 and (spread > 0.9).mean() > 0.1
    tilted = random_path_fractions("tilted", 0)  # the same draw, one path a step
    assert (tilted < 0.1).mean() > 0.1 and (tilted > 0.9).mean() > 0.1
    assert (uniform < 0.1).mean() < 0.02 and (uniform > 0.9).mean() < 0.02
    assert np.array_equal(spread, random_path_fractions("spread", 0))  # seeded
    assert not np.array_equal(spread, random_path_fractions("spread", 1))


def test_a_spread_supernet_trains_with_distillation_and_records_its_rule(micro, tmp_path):
    out = tmp_path / "sn"
    out.mkdir()
    meta = train_supernet(get_space(str(micro)), _cfg(micro, sampling="spread", random_paths=1,
                                                      distill=True), out)
    assert meta["config"]["sampling"] == "spread" and meta["complete"]
    assert load_supernet(out).meta["trained_for"]["sampling"] == "spread"
    assert SAMPLINGS == ("uniform", "tilted", "sandwich", "spread")


def test_bad_settings_and_foreign_spaces_are_refused(micro, tmp_path):
    with pytest.raises(HwnasError, match="--distill needs --sampling sandwich or spread"):
        _cfg(micro, distill=True).check()
    with pytest.raises(HwnasError, match="largest path, which tilted does not train"):
        _cfg(micro, distill=True, sampling="tilted").check()
    with pytest.raises(HwnasError, match="unknown --sampling"):
        _cfg(micro, sampling="greedy").check()
    out = tmp_path / "sn"
    out.mkdir()
    train_supernet(get_space(str(micro)), _cfg(micro), out)
    with pytest.raises(HwnasError, match="trained for space 'micro'.*pass --space"):
        require_space(load_supernet(out), get_space("mbconv-small"))
    micro.write_text(SPEC.replace("head_channels = 16", "head_channels = 24"))
    with pytest.raises(HwnasError, match="has changed since the supernet"):
        load_supernet(out)
    with pytest.raises(HwnasError, match="not a trained supernet"):
        load_supernet(tmp_path)
    assert replace(_cfg(micro), device="cuda").trained_for() == _cfg(micro).trained_for()
