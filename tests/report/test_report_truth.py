"""Reports that tell the truth (issue 14) and compare like with like (issue 16).

Fixtures are run folders written through the run contract (``RunFolder``, as every search writes
them) in the tiny space: two random searches with table accuracies (``--evaluator table:CSV``),
an evolution with one-shot validation scores and a gradient search's single arch with its
scratch test accuracy and trained weights. (A real ``run_blackbox`` over the tiny space's spec
file takes ~25 s here and records the space as "tiny", which no reader can load again.)
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import asdict

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.io import save_weights, write_json
from hwnas.latency import load_table
from hwnas.report import build_report, load_runs
from hwnas.report.plots import Z_KNEE, pareto_figure
from hwnas.report.pricing import build_views
from hwnas.runs import Candidate, RunFolder, RunResult
from hwnas.space import get_space
from hwnas.testing import synthetic_table
from hwnas.testing.fixtures import TINY

runner = CliRunner()
BUDGET_MS = 0.17


def _spec(root):
    spec = asdict(TINY)
    spec["stages"] = [[s["channels"], s["layers"], s["stride"]] for s in spec["stages"]]
    write_json(root / "tiny.json", spec)
    return root / "tiny.json"


def _contract_run(folder, strategy, space, spec, lut, cands, weights=False):
    """A run written through the run contract, as a search writes it."""
    run = RunFolder(folder)
    run.create({"strategy": strategy, "space": str(spec), "lut": str(lut), "budget_ms": BUDGET_MS,
                "seed": 0}, resume=False)
    for c in cands:
        run.append(c)
    best = max((c for c in cands if c.latency_ms <= BUDGET_MS), key=lambda c: c.accuracy)
    run.save_result(RunResult(strategy, space.name, ("accuracy", "latency_ms"), BUDGET_MS,
                              tuple(cands), best, best, len(cands), len(cands), True, str(lut)))
    if weights:
        from hwnas.nn import build_model

        save_weights(run.artifact("weights.pt"), build_model(space, best.arch).state_dict())
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("truth")
    spec = _spec(root)
    space = get_space(str(spec))
    table = synthetic_table(space, seed=0)
    lut = root / "lut.json"
    table.save(lut)
    runs = {}
    for name, seed in (("A", 0), ("B", 1)):  # what `--evaluator table:CSV` records: kind "table"
        rng = np.random.default_rng(seed)
        cands = []
        for i in range(24):
            arch = space.sample(rng)
            acc = 0.3 + 0.6 * sum(space.indices(arch)) / sum(len(c) - 1 for c in space.choices())
            cands.append(Candidate(arch, round(acc, 4), table.predict(space, arch), accuracy_kind="table",
                                   evaluator="table", strategy="random", index=i))
        runs[name] = _contract_run(root / name, "random", space, spec, lut, cands)
    rng = np.random.default_rng(7)
    oneshot = []
    for i in range(30):
        arch = space.sample(rng)
        oneshot.append(Candidate(arch, float(rng.uniform(0.6, 0.8)), table.predict(space, arch),
                                 accuracy_kind="oneshot-val", evaluator="oneshot", strategy="evolution",
                                 index=i))
    runs["evo"] = _contract_run(root / "evo", "evolution", space, spec, lut, oneshot)
    # the gradient search's single arch, trained from scratch: the most accurate and fastest
    # of all, so on a pooled front it would be the knee and hide under the star
    fast = min(oneshot, key=lambda c: c.latency_ms).arch
    grad = Candidate(fast, 0.972, table.predict(space, fast), accuracy_kind="scratch-test",
                     evaluator="scratch", strategy="proxyless")
    runs["grad"] = _contract_run(root / "grad", "proxyless", space, spec, lut, [grad], weights=True)
    return {"root": root, "space": space, "table": table, "lut": lut, "runs": runs, "spec": spec}


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# --- unit tier: the analysis alone (no figures), order-free and kind by kind ------------------
def test_analysis_is_order_free_and_ranks_each_kind_apart(tmp_path):
    from hwnas.report.analysis import analyze
    from hwnas.runs import parse_objectives

    space = get_space("mbconv-small")
    rng = np.random.default_rng(3)
    folders = []
    for name, kind, n in (("one", "oneshot-val", 12), ("two", "oneshot-val", 12),
                          ("grad", "scratch-test", 1)):
        folder = RunFolder(tmp_path / name)
        folder.create({"strategy": "random", "space": space.name, "budget_ms": 1.5}, resume=False)
        for i in range(n):
            acc = 0.97 if kind == "scratch-test" else float(rng.uniform(0.6, 0.8))
            folder.append(Candidate(space.sample(rng), acc, float(rng.uniform(0.5, 2.0)),
                                    params=int(rng.integers(1000, 9000)), accuracy_kind=kind,
                                    strategy="random", index=i))
        folders.append(folder.path)
    objs = parse_objectives("accuracy:max,latency_ms:min")
    docs = []
    for order in (folders, folders[::-1], [folders[1], folders[2], folders[0]]):
        runs = load_runs(order)
        docs.append(analyze(runs, build_views(runs, []), objs))
    assert docs[0] == docs[1] == docs[2]
    groups = docs[0]["views"][0]["groups"]
    assert [g["accuracy_kind"] for g in groups] == ["oneshot-val", "scratch-test"]
    assert all(row["accuracy_kind"] == g["accuracy_kind"] for g in groups for row in g["combined"]["front"])
    assert [e["run"] for e in groups[0]["runs"]] == ["random:one", "random:two"]
    # without accuracy among the objectives there is one group, and no "most accurate" across kinds
    runs = load_runs(folders)
    doc = analyze(runs, build_views(runs, []), parse_objectives("latency_ms:min,params:min"))
    (group,) = doc["views"][0]["groups"]
    assert group["label"] == "all candidates" and group["deploy"]["best"] is None
    assert "several kinds" in group["deploy"]["why_no_best"]


# --- 1. order of the run folders --------------------------------------------------------------
@pytest.mark.integration
def test_report_a_b_equals_report_b_a(world, tmp_path):
    runs = world["runs"]
    args = ["--lut", str(world["lut"]), "--compare"]
    ab = runner.invoke(app, ["report", str(runs["A"]), str(runs["evo"]), str(runs["B"]), str(runs["grad"]),
                             "--out", str(tmp_path / "ab"), *args])
    ba = runner.invoke(app, ["report", str(runs["grad"]), str(runs["B"]), str(runs["evo"]), str(runs["A"]),
                             "--out", str(tmp_path / "ba"), *args])
    assert ab.exit_code == 0 and ba.exit_code == 0, ab.output + ba.output
    # the same files byte for byte: report.json, both PNGs, the page (knee, colours, tables)
    assert _digests(tmp_path / "ab") == _digests(tmp_path / "ba")
    assert ab.output.replace("/ab/", "/ba/") == ba.output


@pytest.mark.integration
def test_knee_of_tied_endpoints_does_not_follow_the_argument_order(tmp_path):
    """Two single-point runs: a two-point front whose endpoints tie on the knee criterion."""
    space = get_space("mbconv-small")
    rng = np.random.default_rng(0)
    folders = []
    for name, acc, lat in (("a", 0.983, 19.78), ("b", 0.142, 12.25)):
        c = Candidate(space.sample(rng), acc, lat, accuracy_kind="scratch-test", strategy="proxyless")
        folder = RunFolder(tmp_path / name)
        folder.create({"strategy": "proxyless", "space": space.name}, resume=False)
        folder.append(c)
        folders.append(tmp_path / name)
    knees = []
    for order in (folders, folders[::-1]):
        doc = build_report(order, tmp_path / f"out{len(knees)}").report
        knees.append(doc["views"][0]["groups"][0]["combined"]["knee"])
    assert knees[0] == knees[1] and knees[0]["accuracy"] == 0.983  # ties go to the first objective


@pytest.mark.integration
def test_knee_among_identical_values_is_the_smallest_arch_string(tmp_path):
    """Equal values, different archs: the knee must not be whichever was evaluated first."""
    space = get_space("mbconv-small")
    rng = np.random.default_rng(1)
    archs = sorted((space.sample(rng) for _ in range(2)), key=str)
    knees = []
    for name, listed in (("fwd", archs), ("rev", archs[::-1])):
        folder = RunFolder(tmp_path / name)
        folder.create({"strategy": "random", "space": space.name}, resume=False)
        for i, arch in enumerate(listed):
            folder.append(Candidate(arch, 0.5, 1.0, accuracy_kind="table", strategy="random", index=i))
        knees.append(build_report([folder.path], tmp_path / f"out-{name}").report
                     ["views"][0]["groups"][0]["combined"]["knee"]["arch"])
    assert knees == [str(archs[0])] * 2


# --- 3. like with like ------------------------------------------------------------------------
@pytest.mark.integration
def test_accuracy_kinds_are_never_pooled(world, tmp_path):
    runs = world["runs"]
    res = build_report([runs["evo"], runs["grad"]], tmp_path / "out")
    view = res.report["views"][0]
    assert [g["accuracy_kind"] for g in view["groups"]] == ["oneshot-val", "scratch-test"]
    assert [g["label"] for g in view["groups"]] == ["one-shot validation accuracy", "scratch test accuracy"]
    oneshot, scratch = view["groups"]
    assert {row["run"] for row in oneshot["combined"]["front"]} == {"evolution:evo"}
    assert [row["run"] for row in scratch["combined"]["front"]] == ["proxyless:grad"]
    assert oneshot["combined"]["knee"]["accuracy_kind"] == "oneshot-val"
    # the one-shot group's hypervolume and reference come from one-shot scores only
    cands = [c for c in RunFolder(runs["evo"]).candidates()]
    pts = np.array([[c.accuracy, c.latency_ms] for c in cands])
    from hwnas.pareto import hypervolume

    assert oneshot["combined"]["hypervolume"] == pytest.approx(
        hypervolume(pts, ["max", "min"], oneshot["reference"]))
    assert oneshot["reference"][1] == pytest.approx(pts[:, 1].max() + 0.1 * np.ptp(pts[:, 1]))
    page = (tmp_path / "out" / "index.html").read_text()
    assert "recorded (synthetic table): one-shot validation accuracy" in page
    assert "recorded (synthetic table): scratch test accuracy" in page
    assert "ranked apart" in page
    fig = pareto_figure(build_views(load_runs([runs["evo"], runs["grad"]]), []),
                        load_runs([runs["evo"], runs["grad"]]), res.report)
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "one-shot validation accuracy, higher is better", "scratch test accuracy, higher is better"]


# --- 4. every run's points visible -----------------------------------------------------------
@pytest.mark.integration
def test_every_run_is_drawn_above_the_knee_with_its_own_marker(world, tmp_path):
    runs = load_runs([world["runs"][k] for k in ("A", "B", "grad", "evo")])
    views = build_views(runs, [])
    doc = build_report([r.path for r in runs], tmp_path / "out").report
    fig = pareto_figure(views, runs, doc)
    markers = {}
    for ax, group in zip(fig.axes, doc["views"][0]["groups"]):
        knee = [a for a in ax.collections if a.get_gid() == "knee"]
        assert len(knee) == 1 and knee[0].get_zorder() == Z_KNEE
        lines = {a.get_gid(): a for a in ax.lines if (a.get_gid() or "").startswith("run:")}
        assert set(lines) == {f"run:{e['run']}" for e in group["runs"]}
        for entry in group["runs"]:
            line = lines[f"run:{entry['run']}"]
            assert line.get_zorder() > knee[0].get_zorder()
            assert len(line.get_xdata()) == len(entry["front"]) >= 1
            markers.setdefault(entry["run"], set()).add(line.get_marker())
    grad = next(ax for ax, g in zip(fig.axes, doc["views"][0]["groups"])
                if g["accuracy_kind"] == "scratch-test")
    line = next(a for a in grad.lines if a.get_gid() == "run:proxyless:grad")
    assert list(line.get_ydata()) == [0.972]  # its single point, the knee of its panel, is drawn
    assert all(len(m) == 1 for m in markers.values())  # one marker per run in every panel
    assert len({next(iter(m)) for m in markers.values()}) == len(markers)  # distinct across runs


# --- 5. provenance only for metrics that exist ------------------------------------------------
@pytest.mark.integration
def test_provenance_lists_only_metrics_with_values(world, tmp_path):
    doc = build_report([world["runs"]["A"]], tmp_path / "out").report
    assert set(doc["views"][0]["sources"]) == {"accuracy", "latency_ms"}
    page = (tmp_path / "out" / "index.html").read_text()
    assert "energy_mj:" not in page and "energy mJ" not in page
    assert "latency_ms: recorded by the run" in page


# --- 6. what to deploy -----------------------------------------------------------------------
@pytest.mark.integration
def test_what_to_deploy_names_the_best_within_budget_and_the_knee(world, tmp_path, monkeypatch):
    runs = world["runs"]
    r = runner.invoke(app, ["report", str(runs["A"]), str(runs["B"]), str(runs["grad"]),
                            "--out", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    groups = {g["accuracy_kind"]: g for g in doc["views"][0]["groups"]}
    assert list(groups) == ["scratch-test", "table"]
    table_group = groups["table"]
    deploy = table_group["deploy"]
    rows = [c for k in ("A", "B") for c in RunFolder(runs[k]).candidates()]
    inside = [c for c in rows if c.latency_ms <= BUDGET_MS]
    assert deploy["budget_ms"] == BUDGET_MS and deploy["budget_from"] == "the runs' budget"
    assert deploy["best"]["accuracy"] == max(c.accuracy for c in inside)
    assert deploy["best"]["latency_ms"] == min(c.latency_ms for c in inside
                                               if c.accuracy == deploy["best"]["accuracy"])
    assert (deploy["knee"]["arch"], deploy["knee"]["run"]) == (table_group["combined"]["knee"]["arch"],
                                                               table_group["combined"]["knee"]["run"])
    # a tighter --budget-ms: the most accurate arch under it, not the most accurate overall
    tight = sorted(c.latency_ms for c in rows)[len(rows) // 3]
    r2 = runner.invoke(app, ["report", str(runs["A"]), str(runs["B"]), "--budget-ms", str(tight),
                             "--out", str(tmp_path / "tight"), "--json"])
    best = json.loads(r2.stdout)["views"][0]["groups"][0]["deploy"]["best"]
    under = [c for c in rows if c.latency_ms <= tight]
    assert max(c.accuracy for c in under) < max(c.accuracy for c in rows)  # else this checks nothing
    assert best["latency_ms"] <= tight and best["accuracy"] == max(c.accuracy for c in under)
    # a table-scored arch has no trained weights: train it, then export with them
    train_cmd, export_cmd = deploy["best"]["commands"]
    train = typer.main.get_command(app).commands
    for cmd in (train_cmd, export_cmd):
        argv = shlex.split(cmd)
        assert argv[0] == "hwnas"
        train[argv[1]].make_context(argv[1], argv[2:])  # every option exists and parses
    assert deploy["best"]["arch"] in export_cmd and "--weights deploy/" in export_cmd
    # the gradient run trained its arch: the command exports the run folder, and it works
    grad = groups["scratch-test"]["deploy"]
    assert grad["same"] and grad["best"]["commands"] == [
        f"hwnas export {shlex.quote(str(runs['grad']))} --format onnx "
        f"--out deploy/synthetic-scratch-test-best.onnx"]
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(grad["best"]["commands"][0])[1:] + ["--no-check"]
    done = runner.invoke(app, argv)
    assert done.exit_code == 0, done.output
    assert (tmp_path / "deploy" / "synthetic-scratch-test-best.onnx").stat().st_size > 0
    # and the CLI summary says it too
    text = runner.invoke(app, ["report", str(runs["A"]), str(runs["grad"]), "--out", str(tmp_path / "o2")])
    assert "what to deploy on synthetic (scratch test accuracy" in " ".join(text.output.split())
    assert f"$ {grad['best']['commands'][0]}" in text.output


# --- 2. each device in its own metric, one panel per device ----------------------------------
@pytest.fixture(scope="module")
def fbnet_run(tmp_path_factory):
    space = get_space("fbnet-cifar100")
    pixel3 = load_table("pixel3/latency-fbnet-cifar100")
    rng = np.random.default_rng(0)
    cands = []
    for i in range(30):
        arch = space.sample(rng)
        cands.append(Candidate(arch, float(rng.uniform(0.5, 0.7)), pixel3.predict(space, arch),
                               accuracy_kind="oneshot-val", strategy="random", index=i))
    folder = RunFolder(tmp_path_factory.mktemp("fb") / "run")
    folder.create({"strategy": "random", "space": space.name, "lut": "pixel3/latency-fbnet-cifar100",
                   "budget_ms": None}, resume=False)
    for c in cands:
        folder.append(c)
    return folder.path, space


@pytest.mark.integration
def test_energy_device_shows_energy_and_recorded_device_is_drawn_once(fbnet_run, tmp_path):
    run, space = fbnet_run
    res = build_report([run], tmp_path / "out", lut_paths=["edgegpu/energy-fbnet-cifar100",
                                                           "pixel3/latency-fbnet-cifar100"])
    views = res.report["views"]
    # pixel3 priced the run: its view replaces "recorded"; edgegpu has only an energy table
    assert [v["name"] for v in views] == ["pixel3 (hwnasbench-pixel3)", "edgegpu (hwnasbench-edgegpu)"]
    edge = views[1]
    assert edge["device"] == "edgegpu" and edge["units"] == {"energy_mj": "mJ"}
    assert [o["name"] for o in edge["objectives"]] == ["accuracy", "energy_mj"]
    assert "latency_ms" not in edge["sources"]
    energy = load_table("edgegpu/energy-fbnet-cifar100")
    for row in edge["groups"][0]["combined"]["front"]:
        assert row["latency_ms"] is None  # never Pixel 3's latency under the edgegpu name
        assert row["energy_mj"] == pytest.approx(energy.predict(space, space.parse(row["arch"])))
    runs = load_runs([run])
    fig = pareto_figure(build_views(runs, ["edgegpu/energy-fbnet-cifar100", "pixel3/latency-fbnet-cifar100"]),
                        runs, res.report)
    assert len(fig.axes) == 2  # one panel per device, none repeated
    assert [ax.get_xlabel() for ax in fig.axes] == ["latency (ms), lower is better",
                                                    "energy (mJ), lower is better"]
    page = (tmp_path / "out" / "index.html").read_text()
    edge_part = page[page.index("<h2>edgegpu"):]
    assert "energy mJ" in edge_part and "latency ms" not in edge_part
    assert "recorded by the run (one-shot validation)" in edge_part
