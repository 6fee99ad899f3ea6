"""Every case issue 13 lists, through the real CLI, in one table.

A bad input gives exit code 2 and exactly one non-empty line (``error: CAUSE; FIX``), no
traceback, and leaves every file of the folders involved byte-identical (sha256 before and
after; the shipped tables included). Where the right answer is success with a note (clamping
``--max-evals``, a CSV behind a byte-order mark, a stale temp file, a resume spelled another
way), the note and the result are checked instead. /work/wt/audit-cases.md lists the cases.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.latency.profiler import cuda_missing
from hwnas.latency.shipped import table_path
from hwnas.space import get_space

SHIPPED_NAME = "cpu-1t/onnxruntime-mbconv-small"
SHIPPED = table_path(SHIPPED_NAME)
SPACE = get_space("mbconv-small")
ARCH = str(SPACE.sample(np.random.default_rng(0)))
# a 2-arch space (k3e2-k3e2, k3e2-zero) and a CSV covering it (latencies 3 and 2 ms)
TWO_SPEC = ('name = "two"\nresolution = 16\nnum_classes = 10\nstem_channels = 8\nstem_stride = 1\n'
            'first_block_channels = 0\nhead_channels = 32\nstages = [[8, 2, 1]]\nkernels = [3]\n'
            'expands = [2]\n')
TWO_CSV = "arch,acc,latency_ms\nk3e2-k3e2,0.7,3.0\nk3e2-zero,0.6,2.0\n"
JSON_SPEC = {"name": "spec", "resolution": 32, "num_classes": 10, "stem_channels": 16, "stem_stride": 1,
             "first_block_channels": 0, "head_channels": 64, "stages": [[16, 1, 1], [24, 1, 2]],
             "kernels": [3, 5], "expands": [3, 6]}

runner = CliRunner()


# --- checks shared by every case --------------------------------------------------------------
def tree_digests(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots`` (a symlink by its target's bytes); folders as "dir",
    so a run folder left behind empty shows too."""
    out = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for p in paths:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def one_line_error(result, needles: tuple[str, ...] = (), forbidden: tuple[str, ...] = ()) -> str:
    """The error line of a refused command: exit 2, one non-empty line, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # no untyped exception escaped
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in result.output, line
    assert "; " in line, line  # cause; fix
    for needle in needles:
        assert needle in line, line
    for bad in forbidden:
        assert bad not in line, line
    return line


def shipped_variant(tmp: Path, mutate: Callable[[dict], None] | None = None, text: str | None = None,
                    name: str = "bad.json") -> Path:
    """The shipped mbconv-small table, changed by ``mutate`` (a dict) or replaced by ``text``."""
    if text is None:
        raw = json.loads(SHIPPED.read_text())
        mutate(raw)
        text = json.dumps(raw)
    path = tmp / name
    path.write_text(text)
    return path


def first_entry(raw: dict) -> dict:
    return raw["entries"][sorted(raw["entries"])[0]]


def two_space(tmp: Path, csv: str | bytes = TWO_CSV) -> tuple[Path, Path]:
    spec, table = tmp / "two.toml", tmp / "two.csv"
    spec.write_text(TWO_SPEC)
    table.write_bytes(csv.encode() if isinstance(csv, str) else csv)
    return spec, table


def search_args(spec: Path, csv: Path, out: Path | str, *extra: str) -> list[str]:
    return ["search", "--strategy", "random", "--space", str(spec), "--evaluator", f"table:{csv}",
            "--accuracy-column", "acc", "--max-evals", "2", "--out", str(out), "--json", *extra]


def json_spec(tmp: Path, **changes) -> Path:
    path = tmp / "spec.json"
    path.write_text(json.dumps({**JSON_SPEC, **changes}))
    return path


def report_run(tmp: Path) -> Path:
    """A finished black-box run folder, as search writes it (for ``hwnas report``)."""
    from hwnas.io import append_jsonl, write_json

    rng, run = np.random.default_rng(0), tmp / "run"
    rows = [{"index": i, "arch": str(SPACE.sample(rng)), "accuracy": 0.5 + i / 20, "latency_ms": 1.0 + i,
             "strategy": "random"} for i in range(4)]
    for row in rows:
        append_jsonl(run / "candidates.jsonl", row)
    write_json(run / "config.json", {"strategy": "random", "space": SPACE.name, "budget_ms": None})
    write_json(run / "result.json", {"strategy": "random", "space": SPACE.name, "budget_ms": None,
                                     "lut": None, "best": rows[-1], "pareto": rows})
    return run


# --- the refusals: (case, setup writing the inputs under tmp and giving argv, needles, forbidden) ----
@dataclass(frozen=True)
class Case:
    setup: Callable[[Path], list[str]]
    needles: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()


def _demo_folder(tmp: Path) -> list[str]:
    out = tmp / "d"
    for sub in ("proxyless", "evolution", "export"):
        (out / sub).mkdir(parents=True)
        (out / sub / "mine.txt").write_text(f"my own {sub} notes")
    (out / "onnxruntime-mbconv-small.json").write_text("my own table")
    return ["demo", "--quick", "--out", str(out)]


def _calibrate_onto_shipped(tmp: Path) -> list[str]:
    return ["lut", "validate", SHIPPED_NAME, "--samples", "4", "--calibrate", "--out", str(SHIPPED),
            "--force"]


def _record_beside_artifact(tmp: Path) -> list[str]:
    (tmp / "net.onnx.export.json").write_text("my notes")
    (tmp / "export.json").write_text("someone else's record")
    return ["export", ARCH, "--format", "onnx", "--out", str(tmp / "net.onnx"), "--no-check"]


def _train_user_weights(tmp: Path) -> list[str]:
    out = tmp / "mine"
    out.mkdir()
    (out / "weights.pt").write_bytes(b"my own weights")
    (out / "notes.txt").write_text("keep me")
    return ["train", ARCH, "--epochs", "1", "--data", "synthetic", "--out", str(out)]


def _report_index(tmp: Path) -> list[str]:
    run, out = report_run(tmp), tmp / "rep"
    out.mkdir()
    (out / "index.html").write_text("<p>my own page</p>")
    return ["report", str(run), "--out", str(out)]


def _budget(value: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        spec, csv = two_space(tmp)
        return search_args(spec, csv, tmp / "run", "--budget-ms", value)
    return setup


def _spec(**changes) -> Callable[[Path], list[str]]:
    return lambda tmp: ["arch", "sample", "--space", str(json_spec(tmp, **changes))]


def _table(mutate=None, text=None) -> Callable[[Path], list[str]]:
    return lambda tmp: ["lut", "predict", str(shipped_variant(tmp, mutate, text)), ARCH]


def _profile_resume_protocol_list(tmp: Path) -> list[str]:
    path = shipped_variant(tmp, lambda d: d["meta"].__setitem__("protocol", []))
    return ["profile", "--space", "mbconv-small", "--runtime", "onnxruntime", "--out", str(path)]


def _csv(text: str | bytes) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        spec, csv = two_space(tmp, text)
        return search_args(spec, csv, tmp / "run")
    return setup


def _weights(content: bytes | Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        path = tmp / "w.pt"
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
        return ["export", ARCH, "--weights", str(path), "--format", "onnx", "--out", str(tmp / "m.onnx")]
    return setup


class _Harmless:
    """A pickled object whose loading would call ``print``: what weights_only must refuse."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def _pickle_with_a_global(path: Path) -> None:
    import torch

    torch.save({"w": torch.zeros(1), "extra": _Harmless()}, path)


def _resolution(value) -> Callable[[Path], list[str]]:
    return _table(lambda d: d["meta"].__setitem__("resolution", value))


def _missing_runtime(tmp: Path) -> list[str]:
    from hwnas.plugins import profiler_class

    if profiler_class("tensorrt").available()[0]:
        pytest.skip("TensorRT is installed here")
    return ["profile", "--space", "mbconv-small", "--runtime", "tensorrt", "--out", str(tmp / "p.json")]


def _calibration(cal) -> Callable[[Path], list[str]]:
    return _table(lambda d: d.__setitem__("calibration", cal))


# an overhead calibration whose offset is the JSON-invalid literal NaN (what Python's json writes)
NAN_OFFSET = json.dumps({**json.loads(SHIPPED.read_text()),
                         "calibration": {"method": "overhead", "offset_ms": float("nan")}})

CASES: dict[str, Case] = {
    # destructive (exit 0 on main before)
    "demo --out a folder holding a user's proxyless/, evolution/, export/ and table": Case(
        _demo_folder, ("is not empty and is not a demo folder", "choose an empty or new --out")),
    "lut validate --calibrate --out naming the shipped table": Case(
        _calibrate_onto_shipped, ("shipped tables are read-only", "--out FILE")),
    "export: an existing record beside the artifact": Case(
        _record_beside_artifact, ("the export record", "net.onnx.export.json already exists", "--force")),
    "train --out a folder holding a user's weights.pt": Case(
        _train_user_weights, ("is not empty", "weights.pt", "--force")),
    "report --out a folder holding index.html": Case(
        _report_index, ("is not empty", "index.html", "pass --force to replace")),
    # tracebacks
    "search --budget-ms 0": Case(_budget("0"), ("--budget-ms must be a positive number",
                                                 "pass a budget above 0 ms")),
    'spec "kernels": ["3"]': Case(_spec(kernels=["3"]), ("spec.json", "kernels[0]", "numbers unquoted")),
    'spec "resolution": "32"': Case(_spec(resolution="32"), ("spec.json", "resolution", "numbers unquoted")),
    'table n "abc"': Case(_table(lambda d: first_entry(d).__setitem__("n", "abc")),
                          ('.n: "abc" is a string, not an integer', "bad.json")),
    "table n null": Case(_table(lambda d: first_entry(d).__setitem__("n", None)),
                         (".n is null, not an integer", "bad.json")),
    "table n 1e999": Case(_table(text=SHIPPED.read_text().replace('"n": ', '"n": 1e999, "x": ', 1)),
                          ("number 1e999 is out of range", "bad.json")),
    "table of 100,000 nested brackets": Case(_table(text="[" * 100_000 + "]" * 100_000),
                                             ("nests deeper than 64 levels", "bad.json")),
    'calibration {"method": "linear"} without coefficients': Case(
        _calibration({"method": "linear"}), ("linear calibration lacks 'coef_sum'", "bad.json")),
    "meta.protocol [] on profile resume": Case(
        _profile_resume_protocol_list, ("meta.protocol: [] is a list, not an object", "bad.json")),
    # silently accepted
    "calibration offset NaN": Case(_table(text=NAN_OFFSET), ("NaN is not a number JSON allows", "bad.json"),
                                   ("nan ms",)),
    "calibration offset -100 ms": Case(_calibration({"method": "overhead", "offset_ms": -100}),
                                       ("overhead calibration offset_ms is -100.0",
                                        "a per-call overhead cannot be negative", "writes a calibrated copy"),
                                       ("-99.76 ms",)),
    "black-box budget below the fastest arch": Case(
        _budget("1.5"), ("budget 1.5 ms is below the fastest arch of space two (2 ms)",
                         "raise --budget-ms to at least 2")),
    "CSV with conflicting duplicate rows": Case(
        _csv(TWO_CSV + "k3e2-zero,0.9,2.0\n"),
        ("lines 3 and 4 give arch k3e2-zero different values (acc 0.6 vs 0.9)", "keep one row per arch")),
    "CSV accuracy 150": Case(_csv("arch,acc,latency_ms\nk3e2-k3e2,150,3.0\nk3e2-zero,0.6,2.0\n"),
                             ("line 2: column 'acc' holds '150', out of range",)),
    "CSV negative latency": Case(_csv("arch,acc,latency_ms\nk3e2-k3e2,0.7,-3.0\nk3e2-zero,0.6,2.0\n"),
                                 ("line 2: column 'latency_ms' holds '-3.0', out of range",)),
    # fuzzing: non-canonical arch spellings
    "arch with surrounding whitespace": Case(
        lambda tmp: ["arch", "validate", f" {ARCH}\n", "--space", "mbconv-small"],
        ("is not written canonically (no spaces, ASCII digits)", f"write it as {ARCH}")),
    "arch with Arabic-Indic digits": Case(
        lambda tmp: ["arch", "validate", ARCH.replace("3", "\u0663"), "--space", "mbconv-small"],
        ("unknown choice", "allowed: k3e3")),
    # messages
    "weights file holding a pickled global": Case(
        _weights(_pickle_with_a_global), ("w.pt cannot be loaded safely", "refuses to unpickle"),
        ("weights_only=False", "unpickled!")),
    "empty weights file": Case(_weights(b""), ("weights file", "w.pt is empty", "pass a weights.pt")),
    "truncated weights file": Case(_weights(b"PK\x03\x04 torn"),
                                   ("w.pt cannot be loaded safely: it is not a complete torch file",),
                                   ("weights_only=False", "safely: ;", "miniz")),
    "table resolution 16 for a 32-pixel space": Case(
        _resolution(16), ("table was made at resolution 16, space mbconv-small is at 32",)),
    'table resolution "32"': Case(_resolution("32"), ('meta.resolution: "32" is a string, not an integer',),
                                  ("made at resolution 32, space mbconv-small is at 32",)),
    # without a GPU the fix is a GPU, not an install (issue 14): the message says which
    "missing runtime names its install fix once": Case(
        _missing_runtime, ("no CUDA device found",) if cuda_missing() else ("pip install 'hwnas[tensorrt]'",),
        ("pip install",) if cuda_missing() else ()),
}


@pytest.mark.parametrize("name", list(CASES))
def test_case_is_one_line_exit_2_and_modifies_nothing(name: str, tmp_path: Path, monkeypatch) -> None:
    case = CASES[name]
    monkeypatch.chdir(tmp_path)  # a command that wrote into the working folder would show here
    argv = case.setup(tmp_path)
    shipped = SHIPPED.parents[1]
    before = tree_digests(tmp_path, shipped)
    line = one_line_error(runner.invoke(app, argv), case.needles, case.forbidden)
    assert tree_digests(tmp_path, shipped) == before
    parts = line.removeprefix("error: ").split("; ")
    assert len(parts) == len(set(parts)), line  # no cause or fix printed twice
    for needle in case.needles:
        if needle.startswith(("pip install", "pass ", "choose ", "raise ")):
            assert line.count(needle) == 1, line


# --- success with a note ----------------------------------------------------------------------
def test_max_evals_beyond_the_space_is_clamped_with_a_note_and_bounded(tmp_path: Path) -> None:
    spec, csv = two_space(tmp_path)
    cmd = search_args(spec, csv, tmp_path / "run")
    cmd[cmd.index("--max-evals") + 1] = "1000"
    res = runner.invoke(app, cmd)
    assert res.exit_code == 0, res.output
    notes = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(notes) == 1 and notes[0].startswith("note: --max-evals 1000 is more than the 2 archs"), notes
    out = json.loads(res.stdout)
    assert out["evaluations"] == 2 and out["asks"] <= 20 and out["complete"]
    state = tmp_path / "run" / "state.json"
    assert state.stat().st_size < 20_000  # not one entry per ask, growing without end
    before = tree_digests(tmp_path / "run")
    again = runner.invoke(app, [*cmd, "--resume"])  # a finished run: nothing more to ask
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["asks"] == out["asks"]
    assert tree_digests(tmp_path / "run") == before


def test_csv_with_a_byte_order_mark_finds_the_arch_column(tmp_path: Path) -> None:
    spec, csv = two_space(tmp_path, b"\xef\xbb\xbf" + TWO_CSV.encode())
    res = runner.invoke(app, search_args(spec, csv, tmp_path / "run", "--budget-ms", "2.5"))
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["best"]["arch"] == "k3e2-zero"


def test_lut_calibrate_writes_a_copy_and_leaves_the_shipped_table(tmp_path: Path, monkeypatch) -> None:
    from hwnas.latency import fidelity
    from hwnas.latency.shipped import load_table

    def measure(space, archs, profiler, rng, passes=2):  # the table's sums + an offset: no timing
        table = load_table(SHIPPED_NAME)
        base = [table.raw_sum(space, a) * 1.1 + 0.05 for a in archs]
        return [base, [b * 1.01 for b in base]][:passes], 0.01

    monkeypatch.setattr(fidelity, "measure_archs", measure)
    monkeypatch.chdir(tmp_path)
    before = tree_digests(SHIPPED.parents[1])
    res = runner.invoke(app, ["lut", "validate", SHIPPED_NAME, "--samples", "4", "--calibrate"])
    assert res.exit_code == 0, res.output
    copy = tmp_path / "onnxruntime-mbconv-small.calibrated.json"
    assert f"calibrated copy of {SHIPPED} written to {copy}" in " ".join(res.output.split())
    assert tree_digests(SHIPPED.parents[1]) == before and copy.is_file()


@pytest.mark.slow  # exports a network (tens of seconds on a loaded machine)
def test_export_out_named_export_json_keeps_the_artifact(tmp_path: Path) -> None:
    import onnx

    out = tmp_path / "exp" / "export.json"
    res = runner.invoke(app, ["export", ARCH, "--format", "onnx", "--out", str(out), "--no-check", "--json"])
    assert res.exit_code == 0, res.output
    assert onnx.load_model_from_string(out.read_bytes()).graph.node  # not overwritten by its record
    assert json.loads((out.parent / "export.json.export.json").read_text())["artifact"] == str(out)


# --- kill windows -----------------------------------------------------------------------------
def _dead_pid() -> int:
    pid = 2**22 - 7
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_stale_temp_files_of_a_killed_writer_are_removed_on_the_next_start(tmp_path: Path) -> None:
    spec, csv = two_space(tmp_path)
    cmd = search_args(spec, csv, tmp_path / "run", "--budget-ms", "5")
    assert runner.invoke(app, cmd).exit_code == 0
    run = tmp_path / "run"
    pid = _dead_pid()
    stale = [run / f".{name}.hwnas-{pid}.abc123.tmp" for name in ("state.json", "result.json", "config.json",
                                                                   "supernet.pt")]
    for path in stale:
        path.write_bytes(b"half a file")
    mine = run / f".notes.txt.hwnas-{os.getpid()}.live.tmp"  # a live writer's temp is kept
    mine.write_bytes(b"still being written")
    before = tree_digests(run)
    one_line_error(runner.invoke(app, cmd), ("already holds a search run", "pass --resume"))
    assert tree_digests(run) == before  # a refused start changes nothing, not even old temps
    res = runner.invoke(app, [*cmd, "--resume"])
    assert res.exit_code == 0, res.output
    assert [p for p in stale if p.exists()] == [] and mine.exists()


@pytest.mark.parametrize("spelling", ["./run", "run/", "{tmp}/run", "link"])
def test_resume_takes_the_same_folder_spelled_another_way(tmp_path: Path, monkeypatch, spelling: str) -> None:
    monkeypatch.chdir(tmp_path)
    spec, csv = two_space(tmp_path)
    first = runner.invoke(app, search_args(spec, csv, "run", "--budget-ms", "5", "--max-evals", "1"))
    assert first.exit_code == 0, first.output
    (tmp_path / "link").symlink_to(tmp_path / "run")
    res = runner.invoke(app, search_args(spec, csv, spelling.format(tmp=tmp_path), "--budget-ms", "5",
                                         "--max-evals", "1", "--resume"))
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["evaluations"] == 1


def _gradient_args(tmp: Path, out: str, *extra: str) -> list[str]:
    return ["search", "--strategy", "proxyless", "--space", str(tmp / "two.toml"), "--lut",
            str(tmp / "two.json"), "--budget-ms", "100", "--epochs", "1", "--no-train-derived",
            "--out", out, "--json", *extra]


def _two_table(tmp: Path) -> None:
    from hwnas.space.spec import load_spec
    from hwnas.testing import synthetic_table

    (tmp / "two.toml").write_text(TWO_SPEC)
    synthetic_table(load_spec(tmp / "two.toml"), runtime="onnxruntime").save(tmp / "two.json")


@pytest.mark.slow  # trains a tiny supernet (tens of seconds on a loaded machine)
@pytest.mark.parametrize("spelling", ["./g", "{tmp}/g", "link"])
def test_gradient_resume_takes_the_same_folder_spelled_another_way(tmp_path, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    _two_table(tmp_path)
    first = runner.invoke(app, _gradient_args(tmp_path, "g"))
    assert first.exit_code == 0, first.output
    (tmp_path / "link").symlink_to(tmp_path / "g")
    res = runner.invoke(app, _gradient_args(tmp_path, spelling.format(tmp=tmp_path), "--resume"))
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["best"]["arch"] == json.loads(first.stdout)["best"]["arch"]


@pytest.mark.slow  # trains a tiny supernet twice
@pytest.mark.parametrize("damage", ["torn", "empty", "older format"])
def test_a_killed_one_shot_cache_write_never_blocks_the_resume(tmp_path, monkeypatch, damage):
    import torch

    from hwnas.io import load_weights

    monkeypatch.chdir(tmp_path)
    _two_table(tmp_path)
    args = ["search", "--strategy", "random", "--evaluator", "oneshot", "--space", "two.toml", "--lut",
            "two.json", "--epochs", "1", "--max-evals", "2", "--out", "o", "--json"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    run = tmp_path / "o"
    cache = run / "supernet.pt"
    for name in ("candidates.jsonl", "state.json", "result.json"):  # killed right after the cache...
        (run / name).unlink()
    if damage == "torn":  # ...or while writing it (as a non-atomic writer would leave it)
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    elif damage == "empty":
        cache.write_bytes(b"")
    else:  # weights without their meta: the two-file cache of before
        torch.save(torch.load(cache, weights_only=True)["state_dict"], cache)
        (run / "supernet.json").write_text("{}")
    res = runner.invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    again, first = json.loads(res.stdout), json.loads(done.stdout)
    assert again["evaluations"] == 2
    # the supernet is trained again from the same seed: the same scores as the uninterrupted run
    assert [(c["arch"], c["accuracy"]) for c in again["pareto"]] == \
        [(c["arch"], c["accuracy"]) for c in first["pareto"]]
    assert load_weights(cache)["meta"]["space"] == "two"  # a whole cache again


@pytest.mark.slow  # two short gradient searches
def test_a_kill_between_the_gradient_log_and_its_checkpoint_logs_each_epoch_once(tmp_path):
    """Killed after epoch 1 was logged but before its checkpoint: the resume runs epoch 1 again
    and the logs hold epochs 0 and 1 exactly once (before, an epoch could go missing)."""
    from hwnas.io import append_jsonl, read_jsonl
    from hwnas.search.gradient import GradientSearchConfig, run_gradient_search
    from hwnas.testing.gradient_conformance import write_tiny_world

    world = write_tiny_world(tmp_path)
    cfg = GradientSearchConfig(space=str(tmp_path / "tiny.json"), lut=str(tmp_path / "table.json"),
                               budget_ms=world["budget_ms"], out=str(tmp_path / "g"), data="synthetic",
                               epochs=2, warmup_epochs=1, batch_size=128, train_derived=False,
                               stop_after_epoch=0)
    run_gradient_search(cfg, progress=False)
    out = tmp_path / "g"
    for log in ("history.jsonl", "arch_probs.jsonl"):  # epoch 1 logged, then the kill
        append_jsonl(out / log, {"epoch": 1, "from_the_killed_process": True})
    resumed = run_gradient_search(replace(cfg, stop_after_epoch=None, resume=True), progress=False)
    assert resumed.complete
    for log in ("history.jsonl", "arch_probs.jsonl"):
        records = read_jsonl(out / log)
        assert [r["epoch"] for r in records] == [0, 1], log
        assert not any("from_the_killed_process" in r for r in records), log
