"""hwnas report: run folders -> report.json / pareto.png / index.html, devices, compare, bad input."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.io import append_jsonl, write_json
from hwnas.latency.table import LatencyTable
from hwnas.pareto import hypervolume, knee_point, pareto_front
from hwnas.report import ReportError, build_report, load_run, parse_objectives
from hwnas.report.analysis import hypervolume_curve
from hwnas.report.runs import Candidate, Objective
from hwnas.testing import synthetic_table, tiny_space
from hwnas.testing.fixtures import TINY

runner = CliRunner()
SENSES = ["max", "min"]


# --- fixture writer: run folders that follow the run-folder contract ------------------------
def write_spec(folder: Path) -> Path:
    spec = asdict(TINY)
    spec["stages"] = [[s["channels"], s["layers"], s["stride"]] for s in spec["stages"]]
    path = folder / "tiny.json"
    write_json(path, spec)
    return path


def write_run(folder: Path, strategy: str, rows: list[dict], space: str, budget_ms=None,
              result: bool = True, config: bool = True) -> Path:
    folder.mkdir(parents=True)
    for row in rows:
        append_jsonl(folder / "candidates.jsonl", {**row, "strategy": strategy})
    if config:
        write_json(folder / "config.json", {"strategy": strategy, "space": space, "budget_ms": budget_ms,
                                            "seed": 0})
    if result:
        write_json(folder / "result.json", {"strategy": strategy, "space": "tiny", "budget_ms": budget_ms,
                                            "lut": None, "best": rows[0] if rows else None, "pareto": []})
    return folder


def synthetic_rows(space, table, seed: int, n: int) -> list[dict]:
    """Accuracy rises with latency (with noise): a real trade-off to find fronts in."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        arch = space.sample(rng)
        lat = table.predict(space, arch)
        acc = float(np.clip(0.4 + 2.0 * lat + rng.normal(0, 0.03), 0.01, 0.99))
        rows.append({"index": i, "arch": str(arch), "accuracy": None if i == 3 else acc,
                     "latency_ms": lat, "params": int(1000 * lat * 50), "macs": int(lat * 2e7),
                     "wall_s": 0.5})
    return rows


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    space = tiny_space()
    table = synthetic_table(space, seed=0)
    spec = write_spec(root)
    runs = [write_run(root / "evo", "evolution", synthetic_rows(space, table, 1, 40), str(spec), 0.17),
            write_run(root / "rand", "random", synthetic_rows(space, table, 2, 30), str(spec), 0.17)]
    # two "devices" and an energy table for the second one
    dev_a = replace(table, meta=replace(table.meta, device_name="device-a"))
    slow = synthetic_table(space, seed=5)
    dev_b = replace(slow, meta=replace(slow.meta, device_name="device-b"),
                    entries={k: replace(v, p50=v.p50 * 3) for k, v in slow.entries.items()})
    energy = replace(slow, meta=replace(slow.meta, device_name="device-b", metric="energy", unit="mJ"))
    paths = {}
    for name, t in (("a", dev_a), ("b", dev_b), ("e", energy)):
        paths[name] = root / f"table_{name}.json"
        t.save(paths[name])
    return {"root": root, "space": space, "runs": runs, "tables": paths, "dev_b": dev_b,
            "energy": energy}


def recorded_points(run_dir: Path):
    rows = [json.loads(line) for line in (run_dir / "candidates.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["accuracy"] is not None]
    return rows, np.array([[r["accuracy"], r["latency_ms"]] for r in rows])


# --- library -------------------------------------------------------------------------------
def test_objectives_parse_and_reject():
    assert parse_objectives("accuracy:max, latency_ms:min") == (Objective("accuracy", "max"),
                                                               Objective("latency_ms", "min"))
    assert parse_objectives("accuracy,energy_mj")[1] == Objective("energy_mj", "min")
    for bad, msg in [("accuracy:max,flops:min", "unknown objective 'flops'"),
                     ("accuracy=max,latency_ms", "unknown objective"),
                     ("accuracy:best,latency_ms:min", "sense must be max or min"),
                     ("accuracy:max,,latency_ms:min", "empty item"),
                     ("accuracy:max", "needs two"),
                     ("accuracy:max,accuracy:min", "twice")]:
        with pytest.raises(ReportError, match=msg):
            parse_objectives(bad)


def test_not_a_run_names_what_is_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="lacks candidates.jsonl, result.json, config.json"):
        load_run(tmp_path / "empty")
    with pytest.raises(ReportError, match="does not exist"):
        load_run(tmp_path / "nope")
    only = tmp_path / "only"
    only.mkdir()
    (only / "candidates.jsonl").write_text("")
    with pytest.raises(ReportError, match="lacks result.json, config.json"):
        load_run(only)


def test_malformed_candidate_line_is_named(tmp_path):
    run = write_run(tmp_path / "r", "random", [{"index": 0, "arch": "a", "accuracy": 0.5,
                                                "latency_ms": 1.0}], "tiny")
    with open(run / "candidates.jsonl", "a") as fh:
        fh.write('{"index": 1, "arch": "b", "accuracy": "high", "latency_ms": 2}\n')
    with pytest.raises(ReportError, match=r"line 2: accuracy is 'high'"):
        load_run(run)


def test_in_progress_run_and_torn_line(tmp_path):
    run = write_run(tmp_path / "r", "random", [{"index": 0, "arch": "a", "accuracy": 0.5,
                                                "latency_ms": 1.0}], "tiny", result=False)
    with open(run / "candidates.jsonl", "a") as fh:
        fh.write('{"index": 1, "arch": "b", "accu')  # killed mid-write
    loaded = load_run(run)
    assert loaded.strategy == "random" and len(loaded.candidates) == 1


def test_hypervolume_curve_matches_recomputation():
    rng = np.random.default_rng(3)
    objs = (Objective("accuracy", "max"), Objective("latency_ms", "min"))
    cands = tuple(Candidate(f"a{i}", None if i % 7 == 0 else float(rng.random()), float(rng.random()),
                            index=i) for i in range(40))
    ref = np.array([0.0, 1.1])
    curve = hypervolume_curve(cands, objs, ref)
    assert curve["evaluations"][0] == 0 and curve["evaluations"][-1] == 40
    assert np.all(np.diff(curve["hypervolume"]) >= 0)
    for k in range(1, 41):  # the step curve equals a from-scratch hypervolume after k evaluations
        pts = np.array([[c.accuracy, c.latency_ms] for c in cands[:k] if c.accuracy is not None])
        expect = hypervolume(pts, SENSES, ref) if len(pts) else 0.0
        at = np.searchsorted(curve["evaluations"], k, side="right") - 1
        assert curve["hypervolume"][at] == pytest.approx(expect)


# --- end to end ----------------------------------------------------------------------------
@pytest.mark.integration
def test_report_figures_match_brute_force(world, tmp_path):
    out = tmp_path / "rep"
    r = runner.invoke(app, ["report", *map(str, world["runs"]), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert {"report.json", "pareto.png", "index.html"} <= {p.name for p in out.iterdir()}
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((out / "report.json").read_text())
    view = doc["views"][0]
    assert view["name"] == "recorded" and len(view["runs"]) == 2
    all_pts = []
    for entry, run_dir in zip(view["runs"], world["runs"]):
        rows, pts = recorded_points(run_dir)
        all_pts.append(pts)
        front = pareto_front(pts, SENSES)
        assert sorted(row["arch"] for row in entry["front"]) == sorted(rows[i]["arch"] for i in front)
        assert entry["hypervolume"] == pytest.approx(hypervolume(pts, SENSES, view["groups"][0]["reference"]))
        assert entry["knee"]["arch"] == rows[knee_point(pts, SENSES)]["arch"]
        assert entry["stats"]["evaluations"] == len(rows) + 1 and entry["stats"]["scored"] == len(rows)
        inside = [r for r in rows if r["latency_ms"] <= 0.17]
        assert entry["stats"]["within_budget"] == len(inside)
        assert entry["stats"]["best_within_budget"]["accuracy"] == max(r["accuracy"] for r in inside)
    union = np.vstack(all_pts)
    # common reference: accuracy 0, latency worst + 10 % of range
    lat = union[:, 1]
    assert view["groups"][0]["reference"] == pytest.approx([0.0, lat.max() + 0.1 * (lat.max() - lat.min())])
    group = view["groups"][0]
    assert group["combined"]["hypervolume"] == pytest.approx(hypervolume(union, SENSES, group["reference"]))
    assert len(group["combined"]["front"]) == len(pareto_front(union, SENSES))
    assert sum(e["stats"]["share_of_combined_front"] for e in view["runs"]) == len(group["combined"]["front"])


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "data", "poster", "background") and value:
                self.refs.append((tag, name, value))


@pytest.mark.integration
def test_html_is_self_contained_and_sortable(world, tmp_path):
    out = tmp_path / "rep"
    build_report(world["runs"], out, lut_paths=[str(world["tables"]["a"])], compare=True)
    page = (out / "index.html").read_text()
    parser = _Refs()
    parser.feed(page)
    assert parser.refs, "images should be inline"
    for tag, name, value in parser.refs:
        assert value.startswith("data:image/png;base64,"), (tag, name, value[:60])
    assert "link" not in parser.tags and "iframe" not in parser.tags
    text = re.sub(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', "", page)
    assert not re.search(r"https?:|//[a-z]|url\(|@import|\bsrc=", text)
    assert parser.tags.count("img") == 2 and 'class="sortable"' in page and "<script>" in page
    for row in json.loads((out / "report.json").read_text())["views"][0]["groups"][0]["combined"]["front"]:
        assert row["arch"] in page


@pytest.mark.integration
def test_devices_reprice_candidates(world, tmp_path):
    out = tmp_path / "rep"
    t = world["tables"]
    r = runner.invoke(app, ["report", *map(str, world["runs"]), "--out", str(out), "--lut", str(t["a"]),
                            "--lut", str(t["b"]), "--lut", str(t["e"]), "--budget-ms", "0.3", "--json",
                            "--objectives", "accuracy:max,latency_ms:min,energy_mj:min"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # device-a is the table the runs were priced with: it stands in for "recorded" (drawn once);
    # it has no energy_mj, an objective here: skipped, with the reason
    assert [v["name"] for v in doc["views"]] == ["device-b (synthetic)"]
    assert [v["name"] for v in doc["skipped_views"]] == ["device-a (synthetic)"]
    assert all("no candidate has energy_mj" in v["reason"] for v in doc["skipped_views"])
    dev_b = doc["views"][0]
    assert dev_b["sources"] == {"accuracy": "recorded by the run (unrecorded kind)",
                                "latency_ms": str(t["b"]), "energy_mj": str(t["e"])}
    space = world["space"]
    for row in dev_b["groups"][0]["combined"]["front"]:
        arch = space.parse(row["arch"])
        assert row["latency_ms"] == pytest.approx(world["dev_b"].predict(space, arch))
        assert row["energy_mj"] == pytest.approx(world["energy"].predict(space, arch))
    assert all(e["stats"]["budget_ms"] == 0.3 for v in doc["views"] for e in v["runs"])
    assert "energy mJ" in (out / "index.html").read_text()


@pytest.mark.integration
def test_fronts_differ_between_devices(world, tmp_path):
    doc = build_report(world["runs"], tmp_path / "rep",
                       lut_paths=[str(world["tables"]["a"]), str(world["tables"]["b"])]).report
    assert [v["name"] for v in doc["views"]] == ["device-a (synthetic)", "device-b (synthetic)"]
    a, b = doc["views"]  # device-a priced the runs: it is the recorded view, drawn once
    # device-b is three times slower
    assert b["groups"][0]["reference"][1] > 2 * a["groups"][0]["reference"][1]
    space = world["space"]
    for view, key in ((a, "a"), (b, "b")):
        table = LatencyTable.load(world["tables"][key])
        for row in view["groups"][0]["combined"]["front"]:
            assert row["latency_ms"] == pytest.approx(table.predict(space, space.parse(row["arch"])))
    lat_a = {r["arch"]: r["latency_ms"] for r in a["groups"][0]["combined"]["front"]}
    lat_b = {r["arch"]: r["latency_ms"] for r in b["groups"][0]["combined"]["front"]}
    shared = set(lat_a) & set(lat_b)
    assert shared  # else the comparison below would check nothing
    for arch in shared:
        assert lat_b[arch] > 2 * lat_a[arch]


@pytest.mark.integration
def test_compare_curves(world, tmp_path):
    out = tmp_path / "cmp"
    r = runner.invoke(app, ["report", "--compare", *map(str, world["runs"]), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "final hypervolume" in r.output
    cmp = json.loads((out / "compare.json").read_text())["views"][0]
    doc = json.loads((out / "report.json").read_text())
    assert cmp["reference"] == doc["views"][0]["groups"][0]["reference"]
    for row, entry in zip(cmp["runs"], doc["views"][0]["runs"]):
        curve = row["curve"]
        assert curve["evaluations"][-1] == entry["stats"]["evaluations"]
        assert np.all(np.diff(curve["hypervolume"]) >= 0)
        assert row["final_hypervolume"] == pytest.approx(entry["hypervolume"])
    best = max(row["final_hypervolume"] for row in cmp["runs"])
    assert any(row["evaluations_to_95pct_of_best"] is not None for row in cmp["runs"])
    assert best > 0 and (out / "compare.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, message", [
    (["{empty}"], "is not a run folder: it lacks candidates.jsonl"),
    (["{evo}", "--objectives", "accuracy:max,speed:min"], "unknown objective 'speed'"),
    (["{evo}", "--objectives", "accuracy:up,latency_ms:min"], "sense must be max or min"),
    (["{evo}", "--lut", "{other_table}"], "table was made for space 'mbconv-small', not 'tiny'"),
    (["{evo}", "--lut", "{missing}"], "does not exist"),
    (["{evo}", "--budget-ms", "-1"], "not positive"),
    (["{evo}", "--objectives", "accuracy:max,energy_mj:min"], "no candidate has energy_mj"),
])
@pytest.mark.integration
def test_bad_input_is_one_line_exit_2(world, tmp_path, args, message):
    from hwnas.space import get_space

    (tmp_path / "empty").mkdir()
    other = tmp_path / "other.json"
    s = get_space("mbconv-small")
    t = synthetic_table(world["space"])
    replace(t, meta=replace(t.meta, space=s.name, resolution=s.resolution)).save(other)
    names = {"empty": tmp_path / "empty", "evo": world["runs"][0], "other_table": other,
             "missing": tmp_path / "missing.json"}
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.json").write_text("earlier")
    r = runner.invoke(app, ["report", *(a.format(**names) for a in args), "--out", str(out), "--force"])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and r.output.count("error:") == 1
    assert message in " ".join(r.output.split())
    assert (out / "report.json").read_text() == "earlier"  # nothing already written is lost


@pytest.mark.integration
def test_fixed_reference_and_duplicate_runs(world, tmp_path):
    evo = world["runs"][0]
    res = build_report([evo, evo], tmp_path / "rep", reference="accuracy=0.5,latency_ms=0.2")
    view = res.report["views"][0]
    assert view["groups"][0]["reference"] == [0.5, 0.2]
    assert [e["run"] for e in view["runs"]] == ["evolution:evo", "evolution:evo#2"]
    _, pts = recorded_points(evo)
    assert view["runs"][0]["hypervolume"] == pytest.approx(hypervolume(pts, SENSES, [0.5, 0.2]))
    for bad, msg in [("accuracy:0.5", "malformed --reference"), ("energy_mj=1", "not in --objectives"),
                     ("latency_ms=fast", "malformed")]:
        with pytest.raises(ReportError, match=msg):
            build_report([evo], tmp_path / "bad", reference=bad)
    assert not (tmp_path / "bad").exists()
