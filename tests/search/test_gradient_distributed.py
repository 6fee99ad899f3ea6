"""The gradient search on 2 gloo ranks (CPU) against 1 process: same paths, same global batches,
bit-identical architecture parameters on every rank, and (here) the same derived arch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hwnas.search.gradient import GradientSearchConfig, run_gradient_search
from hwnas.testing.gradient_conformance import write_tiny_world
from hwnas.train import cores_available, launch_local, ranks_from_env


def search_rank(config: GradientSearchConfig, folder: str) -> dict:
    """One rank (module level: spawned ranks import it): each writes its own final alphas."""
    torch.set_num_threads(config.threads)  # as the CLI's ranks do: the cores are shared
    result = run_gradient_search(config, progress=False)
    rank = ranks_from_env().rank
    record = {"rank": rank, "alphas": [[v.hex() for v in a] for a in result.details["arch_alphas"]],
              "arch": None if result.best is None else str(result.best.arch),
              "complete": result.complete}
    Path(folder, f"rank{rank}.json").write_text(json.dumps(record))
    return record


def _config(root: Path, budget: float, out: str, **kw) -> GradientSearchConfig:
    base = dict(space=str(root / "tiny.json"), lut=str(root / "table.json"), budget_ms=budget,
                out=str(root / out), data="synthetic", epochs=3, warmup_epochs=1, batch_size=64,
                train_derived=False, arch_lr=0.05, seed=5, threads=1)
    base.update(kw)
    return GradientSearchConfig(**base)


def _one_process(config: GradientSearchConfig):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_gradient_search(config, progress=False)
    finally:
        torch.set_num_threads(before)


def _floats(alphas: list[list[str]]) -> torch.Tensor:
    return torch.tensor([float.fromhex(v) for a in alphas for v in a], dtype=torch.float64)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    return write_tiny_world(tmp_path_factory.mktemp("gradient-ranks"))


@pytest.mark.integration  # about 25 s: two spawned ranks import torch and search
@pytest.mark.skipif(cores_available() < 2, reason="needs 2 cores for 2 ranks")
def test_two_gloo_ranks_hold_identical_arch_params_and_derive_the_one_process_arch(world, tmp_path):
    root, budget = world["root"], world["budget_ms"]
    single = _one_process(_config(root, budget, "one"))
    two = _config(root, budget, "two")
    launch_local(2, search_rank, (two, str(tmp_path)))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    # all-reduced architecture gradients: the same bits on both ranks (hex of every float64)
    assert ranks[0]["alphas"] == ranks[1]["alphas"]
    assert ranks[0]["arch"] == ranks[1]["arch"] is not None
    # the same global batches and paths as one process; only BatchNorm's batch statistics
    # (64 images in one process, 32 per rank) differ: the alphas stay close and derive one arch
    assert ranks[0]["arch"] == str(single.best.arch)
    one_alphas = torch.tensor([v for a in single.details["arch_alphas"] for v in a], dtype=torch.float64)
    diff = (_floats(ranks[0]["alphas"]) - one_alphas).abs().max().item()
    moved = one_alphas.abs().max().item()
    assert 0 < diff < 0.25 * moved, (diff, moved)
    # only rank 0 wrote, and it wrote what one process writes
    written = sorted(p.name for p in Path(two.out).iterdir())
    assert written == sorted(p.name for p in Path(single.run_dir).iterdir())
    assert torch.load(Path(two.out, "checkpoint.pt"), weights_only=True)["world_size"] == 2


@pytest.mark.slow  # three launches of 2 ranks
@pytest.mark.skipif(cores_available() < 2, reason="needs 2 cores for 2 ranks")
def test_a_resume_continues_on_the_same_or_another_world_size(world, tmp_path, capfd):
    root, budget = world["root"], world["budget_ms"]
    seen = {name: tmp_path / name for name in ("whole", "part", "other")}
    for folder in seen.values():
        folder.mkdir()
    launch_local(2, search_rank, (_config(root, budget, "whole"), str(seen["whole"])))
    # interrupted after epoch 1 on 2 ranks, resumed on 2: the uninterrupted run, bit for bit
    launch_local(2, search_rank, (_config(root, budget, "part", stop_after_epoch=1), str(seen["part"])))
    launch_local(2, search_rank, (_config(root, budget, "part", resume=True), str(seen["part"])))
    resumed = [json.loads((seen["part"] / f"rank{r}.json").read_text()) for r in (0, 1)]
    whole = json.loads((seen["whole"] / "rank0.json").read_text())
    assert resumed[0]["complete"] and resumed[0]["alphas"] == resumed[1]["alphas"] == whole["alphas"]
    # the same checkpoint continues in one process, saying what differs
    other = _config(root, budget, "other", stop_after_epoch=1)
    launch_local(2, search_rank, (other, str(seen["other"])))
    capfd.readouterr()
    result = _one_process(_config(root, budget, "other", resume=True))
    assert result.complete and result.best is not None
    assert "resuming a 2-rank gradient search on 1 rank(s)" in capfd.readouterr().err


def test_the_ranks_slices_of_each_global_batch_are_the_one_process_batches():
    from torch.utils.data import TensorDataset

    from hwnas.search.gradient.ranks import global_batches
    from hwnas.train import Ranks

    data = TensorDataset(torch.arange(70).float(), torch.arange(70))
    one = [(x, n) for x, _, n in global_batches(data, 16, torch.Generator().manual_seed(3), Ranks())]
    for world in (2, 4):
        parts = [list(global_batches(data, 16, torch.Generator().manual_seed(3), Ranks(r, world)))
                 for r in range(world)]
        assert all(len(p) == len(one) for p in parts)  # the last batch (6) has a sample per rank
        for step, (x, n) in enumerate(one):
            assert torch.equal(torch.cat([p[step][0] for p in parts]), x)
            assert all(p[step][2] == n for p in parts)
    # a last batch smaller than the world gives some rank nothing: every rank skips it
    eight = [list(global_batches(data, 16, torch.Generator().manual_seed(3), Ranks(r, 8))) for r in range(8)]
    assert {len(p) for p in eight} == {len(one) - 1}


@pytest.mark.skipif(cores_available() < 2, reason="--nproc 2 needs 2 cores (1: the core check refuses first)")
def test_a_global_batch_the_ranks_cannot_share_is_refused_before_anything(tmp_path):
    from hwnas.errors import HwnasError
    from hwnas.search.gradient.run import check_placement

    config = _config(tmp_path, 1.0, "run", batch_size=63, device="cpu")
    with pytest.raises(HwnasError, match="the global batch 63 cannot be split over 2 ranks"):
        check_placement(config, 2)
    assert not (tmp_path / "run").exists()
