import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwnas.errors import SpaceError
from hwnas.space import get_space, space_names
from hwnas.space.arch import OpSpec
from hwnas.space.network import CellNet, CellStage, LayerwiseNet

SPACES = {name: get_space(name) for name in space_names()}


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(SPACES)), data=st.data())
def test_round_trip_every_space(name, data):
    space = SPACES[name]
    indices = [data.draw(st.integers(0, len(c) - 1)) for c in space.choices()]
    arch = space.arch_from_indices(indices)
    assert space.parse(str(arch)) == arch
    assert hash(space.parse(str(arch))) == hash(arch)
    assert space.indices(arch) == tuple(indices)


def test_sizes():
    assert SPACES["nb201"].size() == 15_625
    assert SPACES["fbnet-cifar100"].size() == 9**22
    small = SPACES["mbconv-small"]
    zero_layers = sum("zero" in c for c in small.choices())
    assert zero_layers == 8  # every non-first layer of the 5 stages
    assert small.size() == 6 ** (13 - zero_layers) * 7**zero_layers


def test_sample_and_mutate_are_seeded():
    space = SPACES["mbconv-small"]
    a = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    m1 = space.mutate(a[0], np.random.default_rng(5))
    m2 = space.mutate(a[0], np.random.default_rng(5))
    assert m1 == m2 and m1 != a[0]
    assert sum(x != y for x, y in zip(m1.choices, a[0].choices)) == 1


def test_nb201_string_form():
    space = SPACES["nb201"]
    text = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    arch = space.parse(text)
    assert str(arch) == text
    assert arch.choices[0] == "nor_conv_3x3"


@pytest.mark.parametrize("text, fragment", [
    ("k3e3-" * 12 + "k9e3", "unknown choice 'k9e3'"),
    ("k3e3-k3e3", "has 2 layers"),
    ("zero-" + "k3e3-" * 11 + "k3e3", "first layer of a stage is never zero"),
])
def test_mbconv_errors_name_the_layer(text, fragment):
    with pytest.raises(SpaceError, match=fragment):
        SPACES["mbconv-small"].parse(text)


def test_nb201_errors():
    with pytest.raises(SpaceError, match="node 2 has 1 incoming"):
        SPACES["nb201"].parse("|none~0|+|none~0|+|none~0|none~1|none~2|")
    with pytest.raises(SpaceError, match="unknown choice 'conv9'"):
        SPACES["nb201"].parse("|conv9~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_unknown_space():
    with pytest.raises(SpaceError, match="unknown space 'nope'"):
        get_space("nope")


def test_ops_carry_exact_shapes():
    space = SPACES["mbconv-small"]
    arch = space.parse("k3e6-" * 12 + "k5e3")
    ops = space.ops(arch)
    assert ops[0].key == "ConvNorm_H32_W32_Cin3_Cout16_kernel3_stride1_group1"
    assert ops[2].key == "MBConv_H32_W32_Cin8_Cout16_exp6_kernel3_stride2"
    assert ops[-1].key == "FC_Cin256_Cout10"
    # consecutive ops chain: each op's output shape is the next op's input shape
    for a, b in zip(ops[:-1], ops[1:]):
        if b.kind != "FC":
            assert a.out_shape == b.in_shape


def test_opspec_key_round_trip():
    for space in SPACES.values():
        for op in space.all_ops():
            assert OpSpec.from_key(op.key).key == op.key


def test_fbnet_keys_match_hwnasbench(hwnasbench_lut):
    import json

    table = json.loads(hwnasbench_lut.read_text())["pixel3_latency"]
    for name in ("fbnet-cifar100", "fbnet-imagenet"):
        missing = {op.key for op in SPACES[name].all_ops()} - set(table)
        assert not missing


def test_spec_file(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        'name = "tiny"\nresolution = 16\nnum_classes = 4\nstem_channels = 8\nstem_stride = 1\n'
        'first_block_channels = 0\nhead_channels = 32\nstages = [[8, 2, 1], [16, 2, 2]]\n'
        'kernels = [3]\nexpands = [2]\n'
    )
    space = get_space(str(spec))
    assert space.name == "tiny" and space.size() == 1 * 2 * 1 * 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "bad", "resolution": 16, "num_classes": 4, "stem_channels": 8, '
                   '"stem_stride": 1, "first_block_channels": 0, "head_channels": 32, '
                   '"stages": [[8, 2, 3]]}')
    with pytest.raises(SpaceError, match=r"bad\.json: stages\[0\]\[2\]: 3 is not a stride: use 1 or 2"):
        get_space(str(bad))


@pytest.mark.parametrize("name", sorted(SPACES))
def test_network_description_holds_the_priced_ops(name):
    """What hwnas.nn builds is what the latency table prices: the same ops, the space's activation."""
    space = SPACES[name]
    arch = space.sample(np.random.default_rng(1))
    indices = space.indices(arch)
    net = space.network()
    assert net.activation == space.activation
    if isinstance(net, LayerwiseNet):
        assert list(net.ops(indices)) == space.ops(arch)
        return
    assert isinstance(net, CellNet) and net.num_nodes == 4
    built = list(net.stem)
    for stage in net.stages:
        built += [stage.reduction] if stage.reduction is not None else []
        cell = [stage.choices[e][j] for e, j in enumerate(indices)]
        built += [op for op in cell if op is not None] * stage.cells
    built += net.suffix
    assert sorted(op.key for op in built) == sorted(op.key for op in space.ops(arch))


def test_network_descriptions_reject_what_cannot_be_built():
    with pytest.raises(ValueError, match="activation"):
        LayerwiseNet((), (), (), "gelu")
    stage = CellStage(None, 1, ((None,),))
    with pytest.raises(ValueError, match="lower node"):
        CellNet((), ((1, 1),), (stage,), (), "relu")
    with pytest.raises(ValueError, match="edge choices"):
        CellNet((), ((1, 0), (2, 1)), (stage,), (), "relu")
