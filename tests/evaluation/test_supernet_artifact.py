"""The reusable supernet artifact: what it holds, that it resumes exactly, how paths are sampled."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from hwnas import __version__
from hwnas.errors import HwnasError
from hwnas.evaluation.supernet_artifact import (
    SupernetTrainConfig,
    _step_paths,
    extreme_gates,
    load_supernet,
    require_space,
    train_supernet,
)
from hwnas.space import get_space

# one stage of two layers: seconds per epoch on digits
SPEC = ('name = "micro"\nresolution = 16\nnum_classes = 10\nstem_channels = 8\nstem_stride = 1\n'
        'first_block_channels = 0\nhead_channels = 16\nstages = [[8, 2, 2]]\nkernels = [3, 5]\n'
        'expands = [2, 4]\n')


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


def test_a_killed_training_resumes_to_the_same_weights(micro, tmp_path):
    space = get_space(str(micro))
    cfg = _cfg(micro, epochs=2, sampling="sandwich", random_paths=0, distill=True)
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


def test_resume_refuses_other_settings(micro, tmp_path):
    space = get_space(str(micro))
    out = tmp_path / "sn"
    out.mkdir()
    train_supernet(space, _cfg(micro), out)
    with pytest.raises(HwnasError, match="other settings"):
        train_supernet(space, _cfg(micro, seed=1), out, resume=True)


def test_sandwich_trains_largest_smallest_and_k_random_paths(micro):
    space = get_space(str(micro))
    largest, smallest = extreme_gates(space)
    choices = space.choices()
    assert [choices[p][j] for p, j in enumerate(largest)] == ["k5e4", "k5e4"]
    assert choices[0][smallest[0]] == "k3e2" and choices[1][smallest[1]] == "zero"
    sizes = [len(c) for c in choices]
    rng = np.random.default_rng(0)
    sandwich = _step_paths(_cfg(micro, sampling="sandwich", random_paths=3), sizes, rng,
                           (largest, smallest))
    assert len(sandwich) == 5 and sandwich[0] == largest and sandwich[1] == smallest
    assert len(_step_paths(_cfg(micro), sizes, rng, None)) == 1


def test_bad_settings_and_foreign_spaces_are_refused(micro, tmp_path):
    with pytest.raises(HwnasError, match="--distill needs --sampling sandwich"):
        _cfg(micro, distill=True).check()
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
