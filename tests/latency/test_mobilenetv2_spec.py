"""``examples/mobilenetv2.json`` rebuilds torchvision's MobileNetV2 (the fidelity benchmark's network)."""

from __future__ import annotations

from pathlib import Path

import pytest

SPEC = Path(__file__).resolve().parents[2] / "examples" / "mobilenetv2.json"


@pytest.mark.integration  # imports torchvision and builds two 3.5M-parameter networks
def test_the_spec_file_rebuilds_torchvisions_mobilenetv2() -> None:
    torchvision = pytest.importorskip("torchvision")
    from hwnas.nn import build_model
    from hwnas.space import get_space

    space = get_space(str(SPEC))
    arch = space.parse("-".join(["k3e6"] * space.num_positions))
    ours = build_model(space, arch)
    theirs = torchvision.models.mobilenet_v2(weights=None)  # random init: no download
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ours) == count(theirs) == 3_504_872
    convs = lambda m: [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.groups)  # noqa: E731
                       for c in m.modules() if c.__class__.__name__ == "Conv2d"]
    assert convs(ours) == convs(theirs)  # the same layers in the same order
    assert (space.resolution, space.num_positions) == (224, 16)
