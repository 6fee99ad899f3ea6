"""The supernet's accuracy predictor: fitted on the supernet's own scores (through the score
cache), written as JSON with its provenance and held-out fidelity, refused when stale."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from hwnas.errors import HwnasError
from hwnas.evaluation.oneshot import OneShotConfig
from hwnas.evaluation.score_cache import SCORES, append_score
from hwnas.evaluation.supernet_artifact import score_key
from hwnas.io import load_weights, save_weights
from hwnas.space import get_space
from hwnas.specialize.predictor import PREDICTOR, build_predictor, load_predictor
from hwnas.testing import micro_supernet


def _every_arch(space):
    rows = itertools.product(*(range(len(c)) for c in space.choices()))
    return [space.arch_from_indices(list(r)) for r in rows]


def _additive(space, arch) -> float:
    """A known score: additive in the choices, so a ridge on one-hot choices can recover it."""
    return 0.3 + 0.05 * sum((p + 1) * i for p, i in enumerate(space.indices(arch)))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """A micro supernet (1 epoch) whose scores.jsonl already holds a known score for every arch."""
    root = tmp_path_factory.mktemp("predictor")
    space, sn = micro_supernet(root)
    key = score_key(sn, OneShotConfig(data="digits"), "supernet-fp32")
    for arch in _every_arch(space):
        append_score(sn, key, str(arch), _additive(space, arch), "oneshot-val")
    return space, sn


@pytest.mark.integration  # trains a micro supernet (seconds)
def test_fit_reads_the_score_cache_and_recovers_known_scores(artifact):
    space, sn = artifact
    lines = (sn / SCORES).read_text().count("\n")
    record = build_predictor(sn, samples=16, seed=0, folds=4)
    assert (sn / SCORES).read_text().count("\n") == lines  # every score came from the cache
    saved = json.loads((sn / PREDICTOR).read_text())  # JSON only
    assert saved["samples"] == 16 and saved["seed"] == 0 and saved["scored_as"] == "supernet-fp32"
    assert saved["space_fingerprint"] == space.fingerprint() and len(saved["weights_sha256"]) == 64
    assert saved["fidelity"]["folds"] == 4 and saved["fidelity"]["kendall_tau"] > 0.9
    # the encoding with the lower held-out error is kept (pairs overfit 12 training scores here)
    tried = saved["encodings_tried"]
    assert tried["onehot"]["mae"] < tried["structure"]["mae"] and saved["encoding"] == "onehot"
    assert record["fidelity"] == tried["onehot"] and record["fidelity"]["mae"] < 0.02
    assert saved["score_s"] >= 0 and saved["fit_s"] > 0
    predictor = load_predictor(sn, space)
    archs = _every_arch(space)  # 4 of the 20 were never fitted on
    truth = np.array([_additive(space, a) for a in archs])
    assert np.abs(predictor.predict(space, archs) - truth).max() < 0.02


@pytest.mark.integration
def test_a_predictor_of_other_weights_or_another_space_is_refused(artifact, tmp_path):
    space, sn = artifact
    build_predictor(sn, samples=16, seed=0, folds=4)
    copy = tmp_path / "sn"
    copy.mkdir()
    for name in ("supernet.json", PREDICTOR):
        (copy / name).write_bytes((sn / name).read_bytes())
    state = load_weights(sn / "supernet.pt")
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = state[first] + torch.full_like(state[first], 1e-3)  # weights trained further
    save_weights(copy / "supernet.pt", state)
    with pytest.raises(HwnasError, match="stale: it was fitted for other supernet weights") as err:
        load_predictor(copy, space)
    assert "hwnas supernet predictor" in err.value.fix
    other = get_space("mbconv-small")
    with pytest.raises(HwnasError, match="fitted for another space"):
        load_predictor(sn, other)
    (copy / PREDICTOR).unlink()
    with pytest.raises(HwnasError, match="has no predictor.json"):
        load_predictor(copy, space)


def test_too_few_samples_for_the_folds_are_refused():
    from hwnas.specialize.predictor import check_build

    with pytest.raises(HwnasError, match="too few for a 5-fold"):
        check_build(9, 5)
    check_build(10, 5)
