"""Distributed training on torch.distributed (gloo, CPU): 2 ranks against 1, checkpoints, world sizes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.data import load_data
from hwnas.errors import HwnasError
from hwnas.nn import build_model
from hwnas.testing.fixtures import TINY, tiny_space
from hwnas.train import TrainConfig, TrainIO, check_nproc, cores_available, launch_local, seeded, train_model
from hwnas.train.checkpoint import CheckpointError, load_checkpoint

SPACE = tiny_space()
ARCH = str(SPACE.sample(np.random.default_rng(0)))
CFG = TrainConfig(epochs=2, batch_size=32, lr=0.05, seed=3, threads=1)


def _digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for value in model.state_dict().values():
        h.update(value.cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def train_rank(folder: str, config: TrainConfig, resume: bool) -> dict:
    """One rank's work (module level: spawned processes import it); rank 0's return comes back."""
    from hwnas.train import ranks_from_env

    space = tiny_space()
    model = seeded(1, lambda: build_model(space, space.parse(ARCH)))
    io = TrainIO(checkpoint_dir=Path(folder), resume=resume)
    result = train_model(model, load_data("synthetic", space.resolution), config, progress=False, io=io)
    rank = ranks_from_env().rank
    record = {"rank": rank, "digest": _digest(model), **result.to_dict()}
    Path(folder, f"rank{rank}.json").write_text(json.dumps(record))
    return record


def _one_process(folder: Path, config: TrainConfig = CFG) -> dict:
    before = torch.get_num_threads()
    try:
        return train_rank(str(folder), config, False)
    finally:
        torch.set_num_threads(before)


@pytest.mark.integration
@pytest.mark.skipif(cores_available() < 2, reason="needs 2 cores for 2 ranks")
def test_two_gloo_ranks_follow_the_one_process_curve_with_identical_weights(tmp_path):
    single = _one_process(tmp_path / "one")
    (tmp_path / "two").mkdir()
    launch_local(2, train_rank, (str(tmp_path / "two"), CFG, False))
    ranks = [json.loads((tmp_path / "two" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["digest"] == ranks[1]["digest"]  # DDP: one model on every rank
    for key in ("train_loss", "val_acc", "test_acc"):  # all-reduced: every rank reports the same
        assert ranks[0][key] == ranks[1][key]
    assert ranks[0]["world_size"] == 2
    # same global batch, other sample order and per-rank BatchNorm batches: close, not equal
    for one, two in zip(single["history"], ranks[0]["history"]):
        assert abs(one["train_loss"] - two["train_loss"]) < 0.1 * one["train_loss"]
    assert ranks[0]["history"][-1]["train_loss"] < ranks[0]["history"][0]["train_loss"]
    # the 2-rank checkpoint resumes in one process, saying the result will differ
    said = []
    state = load_checkpoint(tmp_path / "two", CFG, 1, said.append)
    assert state["world_size"] == 2 and "will not equal" in said[0]


def test_a_checkpoint_refuses_a_world_size_that_cannot_split_the_batch(tmp_path):
    config = TrainConfig(epochs=1, batch_size=32, threads=1)
    _one_process(tmp_path, config)
    with pytest.raises(CheckpointError, match="cannot be split over 3"):
        load_checkpoint(tmp_path, config, 3)
    assert load_checkpoint(tmp_path, config, 1)["epoch"] == 1


def test_nproc_beyond_the_cores_or_gpus_is_refused():
    with pytest.raises(HwnasError, match=f"exceeds the {cores_available()} CPU core"):
        check_nproc(cores_available() + 1, "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(HwnasError, match="needs 2 GPUs but torch sees 0"):
            check_nproc(2, "cuda")
    with pytest.raises(HwnasError, match="names one GPU"):
        check_nproc(2, "cuda:0")
    with pytest.raises(HwnasError, match=">= 1"):
        check_nproc(0, "cpu")


@pytest.mark.slow  # about 20 s: two processes import torch
def test_a_rank_error_comes_back_as_one_line(tmp_path):
    with pytest.raises(HwnasError, match="nothing to resume"):
        launch_local(2, train_rank, (str(tmp_path), TrainConfig(epochs=1, batch_size=32, threads=1), True))


def _spec(tmp_path: Path) -> str:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({
        "name": "tiny", "resolution": TINY.resolution, "num_classes": TINY.num_classes,
        "stem_channels": TINY.stem_channels, "stem_stride": TINY.stem_stride,
        "first_block_channels": TINY.first_block_channels, "head_channels": TINY.head_channels,
        "stages": [[s.channels, s.layers, s.stride] for s in TINY.stages],
        "kernels": list(TINY.kernels), "expands": list(TINY.expands)}))
    return str(path)


@pytest.mark.slow
def test_cli_nproc_2_trains_and_only_rank_0_writes(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", ARCH, "--space", _spec(tmp_path), "--data", "synthetic",
                                 "--epochs", "1", "--batch-size", "32", "--nproc", "2", "--out", str(out),
                                 "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["world_size"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json", "metrics.jsonl",
                                                     "weights.pt"]
