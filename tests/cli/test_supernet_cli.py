"""``hwnas supernet train`` / ``rank`` on the command line: artifacts written, bad input refused."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.testing import MICRO_SPEC
from hwnas.testing.cli_checks import assert_one_line_error as _one_line_error

SPEC = MICRO_SPEC  # one stage of two layers: seconds per epoch on digits


def _hashes(folder) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def micro(tmp_path):
    path = tmp_path / "micro.toml"
    path.write_text(SPEC)
    return path


def _train(micro, out, *extra):
    return CliRunner().invoke(app, ["supernet", "train", "--space", str(micro), "--epochs", "1",
                                    "--batch-size", "256", "--out", str(out), *extra])


def test_train_writes_the_artifact_and_refuses_to_overwrite_it(micro, tmp_path):
    out = tmp_path / "sn"
    r = _train(micro, out, "--json")
    assert r.exit_code == 0, r.output
    meta = json.loads(r.output)
    assert meta["space"] == "micro" and meta["config"]["sampling"] == "uniform" and meta["complete"]
    assert json.loads((out / "supernet.json").read_text()) == meta
    before = _hashes(out)
    _one_line_error(_train(micro, out), "is not empty", "--force")
    assert _hashes(out) == before
    r = _train(micro, out, "--force", "--seed", "1", "--json")
    assert r.exit_code == 0, r.output
    assert _hashes(out)["supernet.pt"] != before["supernet.pt"]


@pytest.mark.parametrize(("args", "needles"), [
    (["--sampling", "greedy"], ["unknown --sampling 'greedy'", "uniform, tilted, sandwich, spread"]),
    (["--distill"], ["--distill needs --sampling sandwich or spread"]),
    (["--precision", "fp16", "--device", "cpu"], ["fp16 is not supported on the CPU"]),
    (["--resume"], ["nothing to resume"]),
    (["--augment", "mixup"], ["unknown --augment 'mixup'", "none, "]),
])
def test_bad_train_input_is_one_line_and_writes_nothing(micro, tmp_path, args, needles):
    out = tmp_path / "sn"
    _one_line_error(_train(micro, out, *args), *needles)
    assert not out.exists() or not any(out.iterdir())


def test_rank_refuses_a_foreign_or_missing_artifact(micro, tmp_path):
    out = tmp_path / "sn"
    assert _train(micro, out).exit_code == 0
    before = _hashes(out)
    r = CliRunner().invoke(app, ["supernet", "rank", str(out), "--samples", "2"])
    _one_line_error(r, "--samples must be >= 3")
    micro.write_text(SPEC.replace("head_channels = 16", "head_channels = 24"))
    r = CliRunner().invoke(app, ["supernet", "rank", str(out), "--samples", "4", "--epochs", "1"])
    _one_line_error(r, "has changed since the supernet", "train the supernet again")
    r = CliRunner().invoke(app, ["supernet", "rank", str(tmp_path / "none")])
    _one_line_error(r, "is not a trained supernet")
    assert _hashes(out) == before


@pytest.mark.slow
def test_rank_measures_and_stores_the_fidelity(micro, tmp_path):
    out = tmp_path / "sn"
    assert _train(micro, out).exit_code == 0
    r = CliRunner().invoke(app, ["supernet", "rank", str(out), "--samples", "4", "--epochs", "1",
                                 "--json"])
    assert r.exit_code == 0, r.output
    printed = json.loads(r.output)
    fidelity = json.loads((out / "supernet.json").read_text())["fidelity"]
    assert fidelity["split"] == "val" and fidelity["k"] == 1 and len(fidelity["archs"]) == 4
    for key in ("supernet_vs_standalone", "seed_to_seed_ceiling"):
        assert printed[key] == fidelity[key]
        figures = fidelity[key]
        for name in ("kendall_tau", "spearman_rho"):  # None only for a constant column
            assert figures[name] is None or -1.0 <= figures[name] <= 1.0
        assert 0.0 <= figures["top_k_overlap"] <= 1.0
    macs = [a["macs"] for a in fidelity["archs"]]
    assert macs == sorted(macs) and len(set(fidelity["archs"][i]["arch"] for i in range(4))) == 4
    for row in fidelity["archs"]:
        assert 0.0 <= row["inherited_val_acc"] <= 1.0 and len(row["standalone_val_acc"]) == 2
    assert (out / "fidelity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _search(micro, out, supernet, *extra):
    return CliRunner().invoke(app, ["search", "--space", str(micro), "--strategy", "random",
                                    "--max-evals", "3", "--lut", str(micro.parent / "lut.json"),
                                    "--supernet", str(supernet), "--out", str(out), "--json", *extra])


def test_search_reuses_the_artifact_and_refuses_a_foreign_one(micro, tmp_path, monkeypatch):
    from hwnas.evaluation.oneshot import OneShotEvaluator
    from hwnas.space import get_space
    from hwnas.testing.fixtures import synthetic_table

    sn = tmp_path / "sn"
    assert _train(micro, sn).exit_code == 0
    synthetic_table(get_space(str(micro))).save(tmp_path / "lut.json")

    def no_training(*_args):
        raise AssertionError("a search with --supernet trained a supernet")

    monkeypatch.setattr(OneShotEvaluator, "_train", no_training)
    r = _search(micro, tmp_path / "run", sn)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["evaluations"] == 3  # stderr holds a note on the synthetic table
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["evaluator"]["supernet"] == str(sn)
    rows = [json.loads(line) for line in (tmp_path / "run" / "candidates.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and not (tmp_path / "run" / "supernet.pt").exists()
    assert all(c["accuracy_kind"] == "oneshot-val" and 0 <= c["accuracy"] <= 1 for c in rows)

    other = tmp_path / "other.toml"
    other.write_text(SPEC.replace("head_channels = 16", "head_channels = 24"))
    synthetic_table(get_space(str(other))).save(tmp_path / "lut.json")
    r = CliRunner().invoke(app, ["search", "--space", str(other), "--strategy", "random",
                                 "--lut", str(tmp_path / "lut.json"), "--supernet", str(sn),
                                 "--out", str(tmp_path / "run2")])
    _one_line_error(r, "was trained for space 'micro'", "fingerprint")
    assert not (tmp_path / "run2").exists()
    r = _search(micro, tmp_path / "run3", sn, "--evaluator", "scratch")
    _one_line_error(r, "--supernet scores with the one-shot evaluator")
    r = _search(micro, tmp_path / "run4", tmp_path / "nothing")
    _one_line_error(r, "is not a trained supernet")
    assert not (tmp_path / "run3").exists() and not (tmp_path / "run4").exists()
