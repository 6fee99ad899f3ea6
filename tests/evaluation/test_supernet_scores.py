"""Supernet scores cached beside the supernet: scored once, reused by every later search."""

from __future__ import annotations

import json
import pickle

import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.evaluation.oneshot import OneShotEvaluator
from hwnas.evaluation.score_cache import SCORES, ScoreKey, append_score, read_scores
from hwnas.testing import micro_supernet, synthetic_table


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("scores")
    space, out = micro_supernet(root)
    spec = root / "micro.toml"
    tables = []
    for seed, runtime in ((0, "device-a"), (1, "device-b")):
        path = root / f"{runtime}.json"
        synthetic_table(space, seed=seed, runtime=runtime).save(path)
        tables.append(path)
    return spec, out, tables


@pytest.fixture
def forward_count(monkeypatch):
    """Counts the supernet scorings (each is a BN recalibration and a validation pass)."""
    calls = []
    real = OneShotEvaluator.accuracy

    def counted(self, arch):
        calls.append(str(arch))
        return real(self, arch)

    monkeypatch.setattr(OneShotEvaluator, "accuracy", counted)
    return calls


def _search(spec, sn, table, out, *extra):
    r = CliRunner().invoke(app, ["search", "--supernet", str(sn), "--space", str(spec), "--lut",
                                 str(table), "--strategy", "random", "--max-evals", "20",
                                 "--out", str(out), "--json", *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.output[r.output.index("{"):])


def test_a_second_search_on_another_device_rescoring_nothing(trained, tmp_path, forward_count):
    spec, sn, (table_a, table_b) = trained
    (sn / SCORES).unlink(missing_ok=True)
    first = _search(spec, sn, table_a, tmp_path / "a")
    assert first["supernet_scores"]["reused"] == 0 and first["supernet_scores"]["scored"] == 20
    assert len(forward_count) == 20
    lines = (sn / SCORES).read_text().splitlines()
    assert len(lines) == 20
    second = _search(spec, sn, table_b, tmp_path / "b")
    assert len(forward_count) == 20  # not one more forward pass
    assert second["supernet_scores"] == {"reused": 20, "scored": 0, "cache": str(sn / SCORES)}
    assert (sn / SCORES).read_text().splitlines() == lines
    acc_a = {c["arch"]: c["accuracy"] for c in _candidates(tmp_path / "a")}
    acc_b = {c["arch"]: c["accuracy"] for c in _candidates(tmp_path / "b")}
    assert acc_a == acc_b and len(acc_a) == 20
    lat_a = {c["arch"]: c["latency_ms"] for c in _candidates(tmp_path / "a")}
    lat_b = {c["arch"]: c["latency_ms"] for c in _candidates(tmp_path / "b")}
    assert lat_a != lat_b  # each device priced with its own table


def _candidates(run):
    return [json.loads(line) for line in (run / "candidates.jsonl").read_text().splitlines()]


def test_damaged_lines_are_skipped_with_one_warning_and_rescored(trained, tmp_path, forward_count):
    spec, sn, (table_a, _) = trained
    (sn / SCORES).unlink(missing_ok=True)
    _search(spec, sn, table_a, tmp_path / "a")
    lines = (sn / SCORES).read_text().splitlines()
    torn = lines[3][: len(lines[3]) // 2]  # a write cut by kill -9
    (sn / SCORES).write_text("\n".join(lines[:3] + [torn] + lines[4:]) + "\n")
    forward_count.clear()
    r = CliRunner().invoke(app, ["search", "--supernet", str(sn), "--space", str(spec), "--lut",
                                 str(table_a), "--strategy", "random", "--max-evals", "20",
                                 "--out", str(tmp_path / "b"), "--json"])
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.output.splitlines() if line.startswith("warning: skipped")]
    assert len(warnings) == 1 and "line 4" in warnings[0] and "scored again" in warnings[0]
    assert forward_count == [json.loads(lines[3])["arch"]]


def test_keys_separate_what_changes_a_score(tmp_path):
    key = ScoreKey("w" * 64, "fp", "digits")
    append_score(tmp_path, key, "a-b", 0.5, "oneshot-val")
    other = ScoreKey("w" * 64, "fp", "digits", accuracy_of="int8")
    assert read_scores(tmp_path, key) == {"a-b": 0.5}
    assert read_scores(tmp_path, other) == {}
    for changed in (ScoreKey("x" * 64, "fp", "digits"), ScoreKey("w" * 64, "fp", "digits", seed=1),
                    ScoreKey("w" * 64, "fp", "digits", calib_batches=8)):
        assert read_scores(tmp_path, changed) == {}


def test_the_cache_is_never_unpickled(tmp_path, monkeypatch):
    key = ScoreKey("w" * 64, "fp", "digits")
    (tmp_path / SCORES).write_bytes(pickle.dumps({"a-b": 0.9}) + b"\n")
    monkeypatch.setattr(pickle, "loads", lambda *_a, **_k: pytest.fail("unpickled"))
    seen = []
    assert read_scores(tmp_path, key, warn=seen.append) == {}
    assert len(seen) == 1 and "damaged line" in seen[0]
    append_score(tmp_path, key, "a-b", 0.7, "oneshot-val")  # a fresh line after the junk
    assert read_scores(tmp_path, key, warn=seen.append) == {"a-b": 0.7}
