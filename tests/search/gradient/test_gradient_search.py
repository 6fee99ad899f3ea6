"""End-to-end gradient search on the tiny space with a synthetic table and synthetic data."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from hwnas.errors import DataError, HwnasError, TableError
from hwnas.io import load_weights, read_json, read_jsonl
from hwnas.latency import LatencyTable
from hwnas.nn import build_model
from hwnas.runs import RunFolder, RunResult
from hwnas.search.gradient import GradientSearchConfig, run_gradient_search
from hwnas.space import get_space
from hwnas.testing import synthetic_table
from hwnas.testing.fixtures import TINY
from hwnas.testing.gradient_conformance import write_tiny_world

pytestmark = pytest.mark.integration  # trains supernets


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The suite shares 2 cores with other work; one intra-op thread keeps it fast and stable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    world = write_tiny_world(tmp_path_factory.mktemp("gradient"))
    fastest, slowest = world["table"].cost_model(world["space"]).price_range()
    return world["root"], world["table"], fastest, slowest


def _config(setup, out, **kw) -> GradientSearchConfig:
    root, _, fastest, slowest = setup
    base = dict(space=str(root / "tiny.json"), lut=str(root / "table.json"),
                budget_ms=fastest + 0.4 * (slowest - fastest), out=str(root / out), data="synthetic",
                epochs=3, warmup_epochs=1, batch_size=128, train_derived=False, arch_lr=0.05)
    base.update(kw)
    return GradientSearchConfig(**base)


@pytest.mark.parametrize("relaxation", ["binary", "softmax", "gumbel"])
def test_each_relaxation_moves_arch_params_and_meets_budget(setup, relaxation):
    cfg = _config(setup, f"run-{relaxation}", relaxation=relaxation, epochs=2)
    result = run_gradient_search(cfg, progress=False)
    out = Path(cfg.out)
    probs = read_jsonl(out / "arch_probs.jsonl")
    assert [r["epoch"] for r in probs] == [0, 1]
    first = torch.tensor([v for p in probs[0]["probs"] for v in p])
    last = torch.tensor([v for p in probs[-1]["probs"] for v in p])
    # warm-up leaves alphas at zero (uniform); the search epoch moves them
    uniform = torch.tensor([1 / len(p) for p in probs[0]["probs"] for _ in p])
    assert torch.allclose(first, uniform.to(first.dtype))
    assert (last - first).abs().max() > 1e-4
    predicted = result.details["predicted"]
    assert predicted <= cfg.budget_ms
    assert predicted >= 0.9 * cfg.budget_ms and result.details["in_band"]
    space = get_space(cfg.space)
    table = LatencyTable.load(cfg.lut)
    assert table.predict(space, result.best.arch) == pytest.approx(predicted)
    history = read_jsonl(out / "history.jsonl")
    assert history[0]["phase"] == "warmup" and history[1]["phase"] == "search"
    assert history[1]["arch_steps"] > 0
    assert (history[1]["temperature"] is not None) == (relaxation == "gumbel")


def test_run_folder_contents_and_scratch_training(setup):
    cfg = _config(setup, "full", epochs=2, train_derived=True, derived_epochs=1)
    result = run_gradient_search(cfg, progress=False)
    out = Path(cfg.out)
    space = get_space(cfg.space)
    # the result names the derived arch, trained: as derived.json and the scratch run say
    derived = read_json(out / "derived.json")
    assert result.complete and (result.evaluations, result.asks) == (1, 1)
    assert str(result.best.arch) == derived["arch"] and result.pareto == (result.best,)
    assert result.details["predicted"] == derived["predicted"] == result.best.latency_ms
    assert result.best.accuracy == result.details["scratch"]["val_acc"]
    assert result.best.accuracy_kind == "scratch-val" and result.best.strategy == "proxyless"
    for name in ("config.json", "history.jsonl", "arch_probs.jsonl", "checkpoint.pt", "derived.json",
                 "candidates.jsonl", "result.json", "weights.pt"):
        assert (out / name).exists(), name
    ckpt = load_weights(out / "checkpoint.pt")  # weights_only=True
    assert ckpt["next_epoch"] == 2 and isinstance(ckpt["gens"]["arch"], torch.Tensor)
    res = read_json(out / "result.json")
    assert res["strategy"] == "proxyless" and res["pareto"] == [res["best"]]
    best = res["best"]
    assert best["arch"] == str(result.best.arch) and 0 <= best["accuracy"] <= 1
    assert best["latency_ms"] <= cfg.budget_ms
    assert read_jsonl(out / "candidates.jsonl") == [best]
    model = build_model(space, result.best.arch)
    model.load_state_dict(load_weights(out / "weights.pt"))
    assert result.details["test_acc"] == res["details"]["test_acc"] == result.details["scratch"]["test_acc"]
    # every field survives the run folder: what is read back is what the search returned
    assert RunFolder(out).read_result(space) == result
    assert RunResult.from_dict(space, json.loads(json.dumps(result.to_dict()))).details == result.details


def test_resume_reaches_same_arch_and_probs(setup):
    full = run_gradient_search(_config(setup, "uninterrupted"), progress=False)
    cfg = _config(setup, "interrupted", stop_after_epoch=1)
    part = run_gradient_search(cfg, progress=False)
    assert part.best is None and not part.complete and part.details["stopped_after_epoch"] == 1
    assert len(read_jsonl(Path(cfg.out) / "history.jsonl")) == 2
    with pytest.raises(HwnasError, match="--resume"):
        run_gradient_search(replace(cfg, stop_after_epoch=None), progress=False)
    with pytest.raises(HwnasError, match="differs in seed"):
        run_gradient_search(replace(cfg, stop_after_epoch=None, resume=True, seed=3), progress=False)
    resumed = run_gradient_search(replace(cfg, stop_after_epoch=None, resume=True), progress=False)
    assert resumed.best.arch == full.best.arch
    a = read_jsonl(Path(cfg.out) / "arch_probs.jsonl")
    b = read_jsonl(Path(_config(setup, "uninterrupted").out) / "arch_probs.jsonl")
    assert a == b
    history = read_jsonl(Path(cfg.out) / "history.jsonl")
    assert [h["epoch"] for h in history] == [0, 1, 2]


def test_same_seed_same_arch_other_seed_other_trajectory(setup):
    one = run_gradient_search(_config(setup, "det-a", epochs=1, warmup_epochs=0), progress=False)
    two = run_gradient_search(_config(setup, "det-b", epochs=1, warmup_epochs=0), progress=False)
    assert one.best.arch == two.best.arch
    assert read_jsonl(Path(one.run_dir) / "arch_probs.jsonl") == read_jsonl(
        Path(two.run_dir) / "arch_probs.jsonl")
    other = run_gradient_search(_config(setup, "det-c", epochs=1, warmup_epochs=0, seed=1), progress=False)
    assert read_jsonl(Path(other.run_dir) / "arch_probs.jsonl") != read_jsonl(
        Path(one.run_dir) / "arch_probs.jsonl")


def test_budget_below_fastest_is_refused_up_front(setup):
    _, _, fastest, _ = setup
    cfg = _config(setup, "too-low", budget_ms=fastest * 0.9)
    with pytest.raises(HwnasError, match=f"fastest arch.*{fastest:.4g}"):
        run_gradient_search(cfg, progress=False)
    assert not Path(cfg.out).exists()


def test_table_missing_ops_is_refused(setup, tmp_path):
    _, table, _, _ = setup
    entries = dict(table.entries)
    dropped = sorted(entries)[3]
    del entries[dropped]
    table.with_entries(entries).save(tmp_path / "partial.json")
    with pytest.raises(TableError, match=dropped):
        run_gradient_search(_config(setup, "partial", lut=str(tmp_path / "partial.json")), progress=False)


def test_dataset_too_small_for_validation_split(setup, tmp_path):
    from PIL import Image

    for c in range(2):
        (tmp_path / "imgs" / f"c{c}").mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 80 * c, 0)).save(tmp_path / "imgs" / f"c{c}" / f"{i}.png")
    cfg = _config(setup, "small-data", data=f"imagefolder:{tmp_path / 'imgs'}")
    with pytest.raises(DataError, match="too small"):
        run_gradient_search(cfg, progress=False)


def test_nan_loss_stops_and_keeps_last_checkpoint(setup, monkeypatch):
    import hwnas.search.gradient.run as gradient_run

    real_epoch = gradient_run.run_epoch

    def poisoned(state, epoch, *args, **kwargs):
        if epoch == 1:  # the weights blow up in the second epoch, after one checkpoint
            with torch.no_grad():
                next(state.supernet.parameters()).fill_(float("nan"))
        return real_epoch(state, epoch, *args, **kwargs)

    monkeypatch.setattr(gradient_run, "run_epoch", poisoned)
    cfg = _config(setup, "nan", epochs=3, warmup_epochs=1)
    with pytest.raises(HwnasError, match="became nan in epoch 1.*end of epoch 0"):
        run_gradient_search(cfg, progress=False)
    run = RunFolder(cfg.out)
    assert [h["epoch"] for h in run.read_log("history")] == [0]
    assert run.load_checkpoint()["next_epoch"] == 1
    assert not run.has_result()


def test_mul_log_and_add_linear_losses_run(setup, tmp_path):
    _, table, fastest, slowest = setup
    # mul-log needs T > 1 in the table's unit: scale the synthetic table to microseconds
    scaled = table.with_entries({k: type(v)(*(x * 1000 for x in (v.p50, v.p10, v.p90, v.mean, v.std)), v.n)
                                 for k, v in table.entries.items()})
    scaled.save(tmp_path / "us.json")
    budget = 1000 * (fastest + 0.5 * (slowest - fastest))
    for loss in ("mul-log", "add-linear"):
        result = run_gradient_search(_config(setup, f"loss-{loss}", loss=loss, lut=str(tmp_path / "us.json"),
                                             budget_ms=budget, epochs=1, warmup_epochs=0), progress=False)
        assert result.details["method"] == "argmax" and str(result.best.arch) == result.details["argmax_arch"]


def test_energy_table_works_the_same(setup, tmp_path):
    _, table, fastest, slowest = setup
    energy = replace(table, meta=replace(table.meta, metric="energy", unit="mJ"))
    energy.save(tmp_path / "energy.json")
    cfg = _config(setup, "energy", lut=str(tmp_path / "energy.json"), epochs=1, warmup_epochs=0)
    result = run_gradient_search(cfg, progress=False)
    assert result.details["unit"] == "mJ" and result.details["predicted"] <= cfg.budget_ms
    best = read_json(Path(cfg.out) / "result.json")["best"]
    assert best["energy_mj"] == pytest.approx(result.details["predicted"]) and best["latency_ms"] is None


def test_dataset_classes_must_fit_the_space_outputs(tmp_path):
    """Digits (10 classes) searches a 100-output space (README's Pixel 3 recipe) but not a 4-output one."""
    import json

    from hwnas.errors import DataError
    from hwnas.search.gradient import GradientSearchConfig, run_gradient_search
    from hwnas.space import get_space

    results = {}
    for classes in (100, 4):
        spec = tmp_path / f"tiny{classes}.json"
        spec.write_text(json.dumps({
            "name": f"tiny{classes}", "resolution": TINY.resolution, "num_classes": classes,
            "stem_channels": TINY.stem_channels, "stem_stride": TINY.stem_stride,
            "first_block_channels": TINY.first_block_channels, "head_channels": TINY.head_channels,
            "stages": [[s.channels, s.layers, s.stride] for s in TINY.stages],
            "kernels": list(TINY.kernels), "expands": list(TINY.expands)}))
        space = get_space(str(spec))
        lut = tmp_path / f"lut{classes}.json"
        synthetic_table(space).save(lut)
        budget = sum(synthetic_table(space).cost_model(space).price_range()) / 2
        cfg = GradientSearchConfig(str(spec), str(lut), budget, str(tmp_path / f"run{classes}"),
                                   epochs=1, train_derived=False)
        try:
            results[classes] = run_gradient_search(cfg, progress=False).details["predicted"] <= budget
        except DataError as exc:
            results[classes] = str(exc)
    assert results[100] is True
    assert "10 classes" in results[4] and "4 outputs" in results[4]


@pytest.mark.parametrize("kill_after", [4, 5, 6])
def test_a_kill_after_any_write_of_an_epoch_loses_no_epoch(setup, monkeypatch, kill_after):
    """Each epoch writes two log lines and a checkpoint; killed right after any of epoch 1's
    writes (writes 4-6), the resume leaves the logs holding every epoch exactly once and ends
    with the uninterrupted run's result."""
    full = run_gradient_search(_config(setup, f"kill-full-{kill_after}"), progress=False)
    writes = []

    def dying(real):
        def write(self, *args):
            out = real(self, *args)
            writes.append(real.__name__)
            if len(writes) == kill_after:
                raise KeyboardInterrupt  # as a kill right after this write would land
            return out
        return write

    name = f"kill-{kill_after}"
    with monkeypatch.context() as m:
        m.setattr(RunFolder, "save_checkpoint", dying(RunFolder.save_checkpoint))
        m.setattr(RunFolder, "append_log", dying(RunFolder.append_log))
        with pytest.raises(KeyboardInterrupt):
            run_gradient_search(_config(setup, name), progress=False)
    resumed = run_gradient_search(_config(setup, name, resume=True), progress=False)
    run = RunFolder(_config(setup, name).out)
    for log in ("history", "arch_probs"):
        assert [r["epoch"] for r in run.read_log(log)] == [0, 1, 2], (log, writes)
    assert run.read_log("arch_probs") == RunFolder(_config(setup, f"kill-full-{kill_after}").out).read_log(
        "arch_probs")
    assert resumed.best.arch == full.best.arch
