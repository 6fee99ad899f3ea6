"""``hwnas supernet train --nproc 2``: two gloo ranks on the CPU end with identical weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hwnas.errors import HwnasError
from hwnas.evaluation.supernet_artifact import SupernetTrainConfig, train_supernet
from hwnas.evaluation.supernet_ranks import state_digest
from hwnas.space import get_space
from hwnas.testing import MICRO_SPEC
from hwnas.train import cores_available, launch_local, ranks_from_env

SPEC = MICRO_SPEC  # one stage of two layers: seconds per epoch on digits


def rank_entry(cfg: SupernetTrainConfig, out: str, report: str, stop_after: int) -> dict:
    """One rank: train, then record this rank's weights digest (rank 0 may stop early)."""
    torch.set_num_threads(1)
    rank = ranks_from_env().rank

    def say(msg: str) -> None:
        if msg.startswith(f"epoch {stop_after}/"):
            raise HwnasError("stopped on purpose", "resume")

    meta = train_supernet(get_space(cfg.space), cfg, Path(out), resume=stop_after < 0, say=say)
    Path(report, f"rank{rank}.json").write_text(json.dumps({"digest": meta["state_digest"]}))
    return meta


def _cfg(tmp_path, epochs: int) -> SupernetTrainConfig:
    spec = tmp_path / "micro.toml"
    spec.write_text(SPEC)
    return SupernetTrainConfig(space=str(spec), epochs=epochs, batch_size=128, sampling="sandwich",
                               random_paths=1)


def _ranks(report: Path) -> list[str]:
    return [json.loads((report / f"rank{r}.json").read_text())["digest"] for r in (0, 1)]


@pytest.mark.integration  # two processes: default suite, not the unit tier
@pytest.mark.skipif(cores_available() < 2, reason="needs 2 cores for 2 ranks")
def test_two_gloo_ranks_end_with_identical_weights_and_only_rank_0_writes(tmp_path):
    cfg, out, report = _cfg(tmp_path, 1), tmp_path / "sn", tmp_path / "report"
    out.mkdir()
    report.mkdir()
    meta = launch_local(2, rank_entry, (cfg, str(out), str(report), 0))
    assert meta["world_size"] == 2 and meta["complete"]
    digests = _ranks(report)
    assert digests[0] == digests[1]
    assert state_digest(torch.load(out / "supernet.pt", weights_only=True)) == digests[0]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "supernet.json", "supernet.pt"]


@pytest.mark.slow
@pytest.mark.skipif(cores_available() < 2, reason="needs 2 cores for 2 ranks")
def test_an_interrupted_two_rank_training_resumes_to_the_same_weights(tmp_path):
    cfg = _cfg(tmp_path, 2)
    whole, cut, report = tmp_path / "whole", tmp_path / "cut", tmp_path / "report"
    for d in (whole, cut, report):
        d.mkdir()
    launch_local(2, rank_entry, (cfg, str(whole), str(report), 0))
    expected = _ranks(report)[0]
    with pytest.raises(HwnasError, match="stopped on purpose"):
        launch_local(2, rank_entry, (cfg, str(cut), str(report), 1))
    assert not (cut / "supernet.pt").exists() and (cut / "checkpoint.pt").is_file()
    launch_local(2, rank_entry, (cfg, str(cut), str(report), -1))
    assert _ranks(report) == [expected, expected]


@pytest.mark.skipif(cores_available() < 2, reason="--nproc 2 needs 2 cores (1: the core check refuses first)")
def test_nproc_that_cannot_split_the_batch_is_one_line_and_writes_nothing(tmp_path):
    from typer.testing import CliRunner

    from hwnas.cli import app
    from hwnas.testing.cli_checks import assert_one_line_error

    spec = tmp_path / "micro.toml"
    spec.write_text(SPEC)
    r = CliRunner().invoke(app, ["supernet", "train", "--space", str(spec), "--batch-size", "65",
                                 "--nproc", "2", "--out", str(tmp_path / "sn")])
    assert_one_line_error(r, "cannot be split over 2 ranks", "divisible by 2")
    assert not (tmp_path / "sn").exists()


@pytest.mark.slow
@pytest.mark.skipif(cores_available() < 2, reason="needs 2 cores for 2 ranks")
def test_cli_nproc_2_writes_one_artifact(tmp_path):
    from typer.testing import CliRunner

    from hwnas.cli import app

    spec = tmp_path / "micro.toml"
    spec.write_text(SPEC)
    out = tmp_path / "sn"
    r = CliRunner().invoke(app, ["supernet", "train", "--space", str(spec), "--epochs", "1",
                                 "--batch-size", "128", "--nproc", "2", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    meta = json.loads(r.output[r.output.index("{"):])
    assert meta["world_size"] == 2 and meta["complete"]
    assert meta["state_digest"] == state_digest(torch.load(out / "supernet.pt", weights_only=True))
