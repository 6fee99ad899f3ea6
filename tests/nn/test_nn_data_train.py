import numpy as np
import pytest
import torch

from hwnas.data import load_data
from hwnas.errors import DataError
from hwnas.io import load_weights
from hwnas.nn import build_model, build_network, build_op, build_supernet, count_macs, count_params
from hwnas.space import get_space
from hwnas.space.arch import OpSpec
from hwnas.space.network import LayerwiseNet
from hwnas.testing import tiny_space
from hwnas.train import TrainConfig, seeded, train_model


@pytest.mark.parametrize("name", ["mbconv-small", "fbnet-cifar100", "nb201"])
def test_models_run_at_their_resolution(name):
    space = get_space(name)
    arch = space.sample(np.random.default_rng(0))
    model = build_model(space, arch).eval()
    out = model(torch.randn(2, 3, space.resolution, space.resolution))
    assert out.shape == (2, space.num_classes)


@pytest.mark.integration
def test_each_op_module_matches_its_out_shape():
    space = get_space("mbconv-small")
    for op in space.all_ops():
        y = build_op(op, space.activation).eval()(torch.randn(1, *op.in_shape))
        assert tuple(y.shape[1:]) == op.out_shape or op.kind == "FC"


def test_params_and_macs_by_hand():
    space = get_space("mbconv-small")
    a = space.parse("k3e3-" * 12 + "k3e3")
    b = space.parse("k7e6-" * 12 + "k7e6")
    ma, mb = build_model(space, a), build_model(space, b)
    assert count_params(mb) > count_params(ma)
    fc = torch.nn.Linear(256, 10)
    assert count_macs(fc, (256,)) == 2560
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_macs(conv, (3, 4, 4)) == 8 * 16 * 27


@pytest.mark.parametrize("name", ["tiny", "nb201"])
def test_supernet_extract_is_the_built_network_with_shared_weights(name):
    space = tiny_space() if name == "tiny" else get_space(name)
    supernet = seeded(0, lambda: build_supernet(space)).eval()
    # a fresh supernet starts a layer's candidates as one function; make them differ, as training does
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in supernet.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    arch = space.sample(np.random.default_rng(4))
    x = torch.randn(2, 3, space.resolution, space.resolution)
    sub = supernet.extract(arch).eval()
    assert list(sub.state_dict()) == list(build_model(space, arch).state_dict())
    with torch.no_grad():
        assert torch.allclose(sub(x), supernet(x, list(space.indices(arch))), atol=1e-5)
    with pytest.raises(ValueError, match="gates"):
        supernet(x, [0])


def test_build_network_follows_the_description():
    conv = OpSpec("ConvNorm", (3, 8, 8), (("Cout", 4), ("kernel", 3), ("stride", 1), ("group", 1)))
    fc = OpSpec("FC", (4, 1, 1), (("Cout", 2),))
    pool = OpSpec("AvgP", (4, 8, 8), (("Cout", 4), ("kernel", 8), ("stride", 1)))
    layer = OpSpec("ConvNorm", (4, 8, 8), conv.params)
    for act, kind in (("relu", torch.nn.ReLU), ("relu6", torch.nn.ReLU6)):
        net = LayerwiseNet((conv,), ((None, layer),), (pool, fc), act)
        skipped, kept = build_network(net, [0]), build_network(net, [1])
        assert len(skipped) == 3 and len(kept) == 4
        assert type(kept[0][-1]) is kind and type(kept[1][-1]) is kind
        assert kept(torch.randn(1, 3, 8, 8)).shape == (1, 2)
    with pytest.raises(TypeError, match="no builder"):
        build_network(object(), [0])


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
    r1 = train_model(seeded(1, lambda: build_model(space, arch)), data, cfg, progress=False)
    r2 = train_model(seeded(1, lambda: build_model(space, arch)), data, cfg, progress=False)
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
    model = build_model(space, space.parse(arch))
    model.load_state_dict(state)
    again = CliRunner().invoke(app, ["train", arch, "--epochs", "1", "--out", str(out)])
    assert again.exit_code == 2 and "is not empty" in again.output


def test_calibration_batches_mix_the_classes_of_a_class_sorted_split():
    # An image folder lists images class by class; calibrating BatchNorm (or int8 ranges) on its
    # first batches would see one class only.
    import torch
    from torch.utils.data import TensorDataset

    from hwnas.data.datasets import DataBundle
    from hwnas.nn import input_batches

    labels = torch.arange(10).repeat_interleave(64)  # 64 images of class 0, then class 1, ...
    images = labels.float().view(-1, 1, 1, 1).expand(-1, 3, 4, 4).contiguous()
    split = TensorDataset(images, labels)
    data = DataBundle("sorted", split, split, split, num_classes=10, resolution=4)
    batches = input_batches(data, 2, 64)
    classes = {int(v) for b in batches for v in b[:, 0, 0, 0]}
    assert len(classes) >= 8, classes
    again = input_batches(data, 2, 64)
    assert all(torch.equal(a, b) for a, b in zip(batches, again))  # seeded: the same every call
    other = input_batches(data, 2, 64, seed=1)
    assert not torch.equal(batches[0], other[0])
