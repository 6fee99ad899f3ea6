"""The training engine: same arithmetic as a plain loop, precision, resume, metrics, bad settings."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from hwnas.data import load_data
from hwnas.errors import HwnasError, RuntimeMissingError
from hwnas.nn import build_model
from hwnas.testing.fixtures import tiny_space
from hwnas.train import TrainConfig, TrainIO, cores_available, default_threads, seeded, train_model
from hwnas.train import loop as train_loop
from hwnas.train.runtime import check_precision, resolve_device

SPACE = tiny_space()
ARCH = SPACE.sample(np.random.default_rng(0))


def _model(seed: int = 1) -> nn.Module:
    return seeded(seed, lambda: build_model(SPACE, ARCH))


@pytest.fixture(scope="module")
def data():
    # synthetic data: 360 training images keep each epoch around a second
    return load_data("synthetic", SPACE.resolution)


@pytest.fixture(autouse=True)
def one_thread():
    # the test machine is shared: one torch thread is several times faster than two there
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _plain_loop(model: nn.Module, data, cfg: TrainConfig) -> list[float]:
    """The loop a user would write by hand: what train_model must compute exactly in fp32."""
    loader = data.loader("train", cfg.batch_size, torch.Generator().manual_seed(cfg.seed))
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * len(loader))
    losses = []
    for _ in range(cfg.epochs):
        model.train()
        total, n = 0.0, 0
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(y)
            n += len(y)
        losses.append(total / n)
    return losses


@pytest.mark.integration
def test_fp32_cpu_is_exactly_the_plain_loop(data):
    cfg = TrainConfig(epochs=2, seed=1)
    reference = _model()
    expected = _plain_loop(reference, data, cfg)
    trained = _model()
    result = train_model(trained, data, cfg, progress=False)
    assert [h["train_loss"] for h in result.history] == expected
    for a, b in zip(reference.state_dict().values(), trained.state_dict().values()):
        assert torch.equal(a, b)
    assert result.train_acc > 0.3 and result.images_per_s > 0  # chance is 0.1


@pytest.mark.integration
def test_bf16_on_cpu_trains_and_reports(data):
    fp32 = train_model(_model(), data, TrainConfig(epochs=1, seed=1), progress=False)
    bf16 = train_model(_model(), data, TrainConfig(epochs=1, seed=1, precision="bf16"), progress=False)
    assert np.isfinite(bf16.train_loss) and bf16.train_loss != fp32.train_loss  # autocast did act
    assert abs(bf16.train_loss - fp32.train_loss) < 0.2
    assert bf16.history[0]["images_per_s"] > 0 and 0.0 <= bf16.val_acc <= 1.0


@pytest.mark.integration
def test_label_smoothing_and_channels_last(data):
    base = train_model(_model(), data, TrainConfig(epochs=1, seed=1), progress=False)
    smooth = train_model(_model(), data, TrainConfig(epochs=1, seed=1, label_smoothing=0.1),
                         progress=False)
    assert smooth.train_loss > base.train_loss  # a smoothed target cannot be fitted as tightly
    model = _model()
    last = train_model(model, data, TrainConfig(epochs=1, seed=1, channels_last=True), progress=False)
    assert abs(last.train_loss - base.train_loss) < 0.02
    assert all(p.is_contiguous() for p in model.parameters())  # handed back in the default format


@pytest.mark.integration
def test_metrics_jsonl_and_tensorboard(tmp_path, data, monkeypatch):
    scalars = []

    class FakeWriter:
        def __init__(self, log_dir):
            self.log_dir = log_dir

        def add_scalar(self, key, value, step):
            scalars.append((key, step))

        def flush(self):
            pass

        def close(self):
            scalars.append(("closed", -1))

    fake = types.SimpleNamespace(SummaryWriter=FakeWriter)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    io = TrainIO(metrics_jsonl=tmp_path / "m.jsonl", tensorboard_dir=tmp_path / "tb")
    train_model(_model(), data, TrainConfig(epochs=2, seed=1), progress=False, io=io)
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1]
    for key in ("images_per_s", "train_loss", "train_acc", "val_acc", "lr", "epoch_s"):
        assert all(isinstance(r[key], float) for r in records), key
    assert records[1]["lr"] < records[0]["lr"]
    assert ("val_acc", 1) in scalars and scalars[-1] == ("closed", -1)


def test_tensorboard_missing_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(RuntimeMissingError, match="needs the tensorboard package"):
        train_model(_model(), load_data("synthetic", 16), TrainConfig(epochs=1),
                    progress=False, io=TrainIO(tensorboard_dir=tmp_path))


@pytest.mark.integration
def test_resume_equals_the_uninterrupted_run(tmp_path, monkeypatch):
    data = load_data("synthetic", SPACE.resolution, augment="cifar")  # augmentation RNG must resume too
    cfg = TrainConfig(epochs=3, seed=2)
    whole_model = _model()
    whole = train_model(whole_model, data, cfg, progress=False, io=TrainIO(checkpoint_dir=tmp_path / "a"))

    real_save = train_loop._Run.save

    def save_then_die(run, epoch):
        real_save(run, epoch)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_loop._Run, "save", save_then_die)
    io = TrainIO(metrics_jsonl=tmp_path / "b" / "m.jsonl", checkpoint_dir=tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        train_model(_model(), data, cfg, progress=False, io=io)
    monkeypatch.setattr(train_loop._Run, "save", real_save)
    resumed_model = _model(seed=99)  # the checkpoint, not the initial weights, must decide
    resumed = train_model(resumed_model, data, cfg, progress=False,
                          io=TrainIO(metrics_jsonl=io.metrics_jsonl, checkpoint_dir=io.checkpoint_dir,
                                     resume=True))
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in whole.history]
    assert resumed.test_acc == whole.test_acc
    for a, b in zip(whole_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)
    assert len(io.metrics_jsonl.read_text().splitlines()) == 3


def test_resume_with_other_settings_is_refused(tmp_path):
    from hwnas.train import CheckpointError

    data = load_data("synthetic", 16)
    train_model(_model(), data, TrainConfig(epochs=1), progress=False, io=TrainIO(checkpoint_dir=tmp_path))
    with pytest.raises(CheckpointError, match=r"other settings \(lr 0.05 -> 0.1\)"):
        train_model(_model(), data, TrainConfig(epochs=1, lr=0.1), progress=False,
                    io=TrainIO(checkpoint_dir=tmp_path, resume=True))
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train_model(_model(), data, TrainConfig(epochs=1), progress=False,
                    io=TrainIO(checkpoint_dir=tmp_path / "none", resume=True))


def test_compile_failure_falls_back_with_one_line(monkeypatch):
    said = []

    def broken(_model):
        raise RuntimeError("no C++ compiler here\nsecond line")

    monkeypatch.setattr(torch, "compile", broken)
    result = train_model(_model(), load_data("synthetic", 16), TrainConfig(epochs=1, compile=True),
                         progress=False, say=said.append)
    assert len(said) == 1 and "torch.compile failed" in said[0] and "no C++ compiler here" in said[0]
    assert "\n" not in said[0] and np.isfinite(result.train_loss)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_what_torch_sees():
    with pytest.raises(RuntimeMissingError, match="sees 0 CUDA device") as err:
        resolve_device("cuda")
    assert "--device cpu" in str(err.value)
    assert resolve_device("auto").type == "cpu"


def test_bad_devices_and_precisions():
    with pytest.raises(HwnasError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(HwnasError, match="fp16 is not supported on the CPU"):
        check_precision("fp16", torch.device("cpu"))
    with pytest.raises(HwnasError, match="unknown precision"):
        check_precision("fp8", torch.device("cpu"))
    with pytest.raises(HwnasError, match="label smoothing"):
        train_model(_model(), load_data("synthetic", 16), TrainConfig(epochs=1, label_smoothing=1.0),
                    progress=False)


def test_default_threads_never_exceed_the_cores_available():
    assert 1 <= default_threads() <= cores_available()
    assert default_threads(local_ranks=cores_available() * 4) == 1
    assert default_threads(2) <= max(1, cores_available() // 2)
