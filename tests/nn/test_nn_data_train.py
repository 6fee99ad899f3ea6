import numpy as np
import pytest
import torch

from hwnas.data import load_data
from hwnas.errors import DataError
from hwnas.io import load_weights
from hwnas.nn import build_op, count_macs, count_params
from hwnas.space import get_space
from hwnas.train import TrainConfig, seeded, train_model


@pytest.mark.parametrize("name", ["mbconv-small", "fbnet-cifar100", "nb201"])
def test_models_run_at_their_resolution(name):
    space = get_space(name)
    arch = space.sample(np.random.default_rng(0))
    model = space.build(arch).eval()
    out = model(torch.randn(2, 3, space.resolution, space.resolution))
    assert out.shape == (2, space.num_classes)


@pytest.mark.integration
def test_each_op_module_matches_its_out_shape():
    space = get_space("mbconv-small")
    for op in space.all_ops():
        y = build_op(op).eval()(torch.randn(1, *op.in_shape))
        assert tuple(y.shape[1:]) == op.out_shape or op.kind == "FC"


def test_params_and_macs_by_hand():
    space = get_space("mbconv-small")
    a = space.parse("k3e3-" * 12 + "k3e3")
    b = space.parse("k7e6-" * 12 + "k7e6")
    ma, mb = space.build(a), space.build(b)
    assert count_params(mb) > count_params(ma)
    fc = torch.nn.Linear(256, 10)
    assert count_macs(fc, (256,)) == 2560
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_macs(conv, (3, 4, 4)) == 8 * 16 * 27


def test_digits_split_is_deterministic_and_disjoint():
    a, b = load_data("digits", 16, seed=0), load_data("digits", 16, seed=0)
    assert torch.equal(a.val.tensors[0], b.val.tensors[0])
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    val = {tuple(x.flatten()[:64].tolist()) for x in a.val.tensors[0]}
    test = {tuple(x.flatten()[:64].tolist()) for x in a.test.tensors[0]}
    # different images may coincide after resizing, but the splits must not be the same set
    assert len(val & test) < 5


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist.*cifar10:PATH"):
        load_data(f"cifar10:{tmp_path / 'nope'}", 32)
    with pytest.raises(DataError, match="unknown dataset"):
        load_data("mnist", 32)


@pytest.mark.integration
def test_training_is_deterministic_and_learns():
    space = get_space("mbconv-small")
    arch = space.parse("k3e3-" * 12 + "k3e3")
    data = load_data("digits", 32)
    cfg = TrainConfig(epochs=2, seed=1)
    r1 = train_model(seeded(1, lambda: space.build(arch)), data, cfg, progress=False)
    r2 = train_model(seeded(1, lambda: space.build(arch)), data, cfg, progress=False)
    assert r1.train_loss == r2.train_loss and r1.test_acc == r2.test_acc
    assert r1.test_acc > 0.3  # chance is 0.1


@pytest.mark.integration
def test_cli_train_writes_weights_loadable_weights_only(tmp_path):
    from typer.testing import CliRunner

    from hwnas.cli import app

    space = get_space("mbconv-small")
    arch = str(space.sample(np.random.default_rng(0)))
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", arch, "--epochs", "1", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    state = load_weights(out / "weights.pt")
    model = space.build(space.parse(arch))
    model.load_state_dict(state)
    again = CliRunner().invoke(app, ["train", arch, "--epochs", "1", "--out", str(out)])
    assert again.exit_code == 2 and "already holds metrics.json" in again.output
