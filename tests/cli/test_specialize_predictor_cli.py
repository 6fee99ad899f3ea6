"""``hwnas supernet predictor`` + ``hwnas specialize --accuracy-from predictor``: a search on
predicted accuracy, the top archs scored with the supernet, the best *scored* arch chosen, and
reports that never pool predicted with scored accuracies."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.evaluation.oneshot import OneShotConfig
from hwnas.evaluation.score_cache import append_score, read_scores
from hwnas.evaluation.supernet_artifact import score_key
from hwnas.io import load_weights, save_weights
from hwnas.specialize.predictor import PREDICTED_KIND, load_predictor
from hwnas.testing import micro_supernet, synthetic_table
from hwnas.testing.cli_checks import assert_one_line_error


def _hashes(folder) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _additive(space, arch) -> float:
    return 0.3 + 0.05 * sum((p + 1) * i for p, i in enumerate(space.indices(arch)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A micro supernet with a predictor fitted on known scores, whose supernet scores were then
    replaced by their opposite order: the predictor's favourite is the supernet's least liked, so
    only a choice made on supernet scores picks the right arch."""
    root = tmp_path_factory.mktemp("specialize-predictor")
    space, sn = micro_supernet(root)
    key = score_key(sn, OneShotConfig(data="digits"), "supernet-fp32")
    rows = itertools.product(*(range(len(c)) for c in space.choices()))
    archs = [space.arch_from_indices(list(r)) for r in rows]
    for arch in archs:
        append_score(sn, key, str(arch), _additive(space, arch), "oneshot-val")
    r = CliRunner().invoke(app, ["supernet", "predictor", str(sn), "--samples", "16", "--folds", "4"])
    assert r.exit_code == 0, r.output
    assert "held-out (4-fold) Kendall tau" in r.output and (sn / "predictor.json").is_file()
    for arch in archs:  # the later line wins: the supernet now ranks them the other way round
        append_score(sn, key, str(arch), 1.0 - _additive(space, arch), "oneshot-val")
    tables = []
    for seed, name, runtime in ((0, "cpu-here", "onnxruntime"), (1, "pixel9", "phone-runtime")):
        table = synthetic_table(space, seed=seed, runtime=runtime)
        table = replace(table, meta=replace(table.meta, device_name=name))
        table.save(root / f"{name}.json")
        tables.append(root / f"{name}.json")
    budget = max(synthetic_table(space, seed=s).cost_model(space).price_range()[0] for s in (0, 1)) * 1.2
    return root, space, sn, key, tables, budget


@pytest.fixture(scope="module")
def specialized(world, tmp_path_factory):
    root, space, sn, key, tables, budget = world
    out = tmp_path_factory.mktemp("spec-out") / "out"
    args = [a for t in tables for a in ("--lut", str(t), "--budget-ms", str(budget))]
    r = CliRunner().invoke(app, ["specialize", "--supernet", str(sn), *args, "--evaluations", "12",
                                 "--population", "4", "--rescore", "3", "--no-executorch", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out, r.output


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.integration
def test_a_predicted_search_chooses_the_best_supernet_scored_arch(world, specialized):
    root, space, sn, key, tables, budget = world
    out, output = specialized
    assert "accuracy from: predictor" in " ".join(output.split())  # the default once predictor.json exists
    scores = read_scores(sn, key)
    predictor = load_predictor(sn, space)
    for device in ("cpu-here", "pixel9"):
        record = json.loads((out / device / "specialized.json").read_text())
        searched = _lines(out / device / "candidates.jsonl")
        rescored = _lines(out / device / "rescored" / "candidates.jsonl")
        assert record["accuracy_from"] == "predictor" and record["evaluations"] == len(searched)
        assert {c["accuracy_kind"] for c in searched} == {PREDICTED_KIND}
        assert {c["accuracy_kind"] for c in rescored} == {"oneshot-val"} and 2 <= len(rescored) <= 3
        for c in rescored:  # real supernet scores (the cache), not predictions
            assert c["accuracy"] == scores[c["arch"]] and c["latency_ms"] <= budget and c["macs"] > 0
        best_scored = max(rescored, key=lambda c: (c["accuracy"], -c["latency_ms"]))
        best_predicted = max(rescored, key=lambda c: predictor.predict(space, [space.parse(c["arch"])])[0])
        assert record["arch"] == best_scored["arch"] != best_predicted["arch"]
        assert record["supernet_val_acc"] == scores[record["arch"]]
        assert record["supernet_val_acc_kind"] == "oneshot-val"
        assert record["predicted_val_acc"] == pytest.approx(
            float(predictor.predict(space, [space.parse(record["arch"])])[0]))
        assert set(record["timings_s"]) == {"search_s", "rescore_s", "weights_s", "export_s", "check_s"}
        assert (out / device / "model.onnx").is_file()


@pytest.mark.integration
def test_the_report_never_pools_predicted_with_supernet_scored_accuracy(specialized):
    out, _ = specialized
    report = json.loads((out / "report" / "report.json").read_text())
    seen = set()
    for view in report["views"]:
        for group in view["groups"]:
            kind = group["accuracy_kind"]
            seen.add(kind)
            combined = group["combined"]
            rows = [*combined["front"], *([combined["knee"]] if combined["knee"] else [])]
            assert rows and {r["accuracy_kind"] for r in rows} == {kind}, (view["name"], kind)
    assert seen == {"oneshot-val", PREDICTED_KIND}
    rows = json.loads((out / "report" / "specialize.json").read_text())["devices"]
    assert {r["accuracy_from"] for r in rows} == {"predictor"}
    page = (out / "report" / "index.html").read_text()
    assert "predicted one-shot validation" in page and "predictor (" in page


@pytest.mark.integration
@pytest.mark.parametrize(("case", "needles"), [
    ("missing", ["has no predictor.json", "hwnas supernet predictor"]),
    ("stale", ["is stale: it was fitted for other supernet weights", "rerun `hwnas supernet predictor"]),
    ("rescore", ["--rescore 0 scores no arch with the supernet", "pass --rescore 1 or more"]),
    ("kind", ["unknown --accuracy-from 'scratch'", "pass predictor or supernet"]),
])
def test_predictor_refusals_are_one_line_exit_2_and_write_nothing(world, tmp_path, case, needles):
    root, space, sn, key, tables, budget = world
    copy = tmp_path / "sn"
    copy.mkdir()
    for name in ("supernet.json", "supernet.pt", "predictor.json", "scores.jsonl"):
        (copy / name).write_bytes((sn / name).read_bytes())
    if case == "missing":
        (copy / "predictor.json").unlink()
    if case == "stale":  # the supernet trained further after its predictor was fitted
        state = load_weights(copy / "supernet.pt")
        first = next(k for k, v in state.items() if v.is_floating_point())
        state[first] = state[first] + torch.full_like(state[first], 1e-3)
        save_weights(copy / "supernet.pt", state)
    extra = {"missing": ["--accuracy-from", "predictor"], "stale": [], "rescore": ["--rescore", "0"],
             "kind": ["--accuracy-from", "scratch"]}[case]
    before = _hashes(tmp_path)
    r = CliRunner().invoke(app, ["specialize", "--supernet", str(copy), "--lut", str(tables[0]),
                                 "--budget-ms", str(budget), *extra, "--out", str(tmp_path / "out")])
    assert_one_line_error(r, *needles)
    assert _hashes(tmp_path) == before and not (tmp_path / "out").exists()


@pytest.mark.integration
@pytest.mark.parametrize(("case", "needles"), [
    ("samples", ["--samples 3 is too few for a 5-fold held-out check", "pass --samples 10 or more"]),
    ("folder", ["is not a trained supernet", "hwnas supernet train"]),
])
def test_supernet_predictor_refusals(world, tmp_path, case, needles):
    root, space, sn, key, tables, budget = world
    target = sn if case == "samples" else tmp_path
    before = _hashes(sn), _hashes(tmp_path)
    r = CliRunner().invoke(app, ["supernet", "predictor", str(target), "--samples",
                                 "3" if case == "samples" else "20"])
    assert_one_line_error(r, *needles)
    assert (_hashes(sn), _hashes(tmp_path)) == before
