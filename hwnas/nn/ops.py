"""Operators built from an ``OpSpec``: the same module is profiled alone and used in a network."""

from __future__ import annotations

import torch
from torch import nn

from hwnas.space.arch import OpSpec


def _act(name: str) -> nn.Module:
    if name == "relu6":
        return nn.ReLU6(inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"unknown activation {name!r}")


def conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]


class ResidualBody(nn.Module):
    """``body(x)``, plus ``x`` when the block keeps its shape (stride 1, same channels)."""

    body: nn.Sequential
    residual: bool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


class MBConv(ResidualBody):
    """ProxylessNAS / MobileNetV2 inverted residual: 1x1 expand, kxk depthwise, 1x1 project.

    With expand ratio 1 the expansion conv is omitted (as in MobileNetV2's first block). The
    identity shortcut is added when stride is 1 and channels are unchanged.
    """

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int, act: str):
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [*conv_bn(cin, mid, 1, 1), _act(act)]
        layers += [*conv_bn(mid, mid, kernel, stride, groups=mid), _act(act)]
        layers += conv_bn(mid, cout, 1, 1)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout
        zero_init_last_bn(self)


def zero_init_last_bn(block: nn.Module) -> None:
    """Start a residual block as the identity (last BN scale 0), as timm's ``zero_init_last``.

    Deep nets train faster from it, and in a weight-sharing supernet it is what lets paths that
    switch between different candidates at every step see consistent features: without it, a
    single-path supernet on digits stays at chance for 12 epochs (measured).
    """
    if block.residual:
        nn.init.zeros_(block.body[-1].weight)


class ChannelShuffle(nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.reshape(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class FBNetConvBlock(ResidualBody):
    """HW-NAS-Bench's FBNet block: grouped 1x1, shuffle, kxk depthwise, grouped 1x1."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int, groups: int):
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = [*conv_bn(cin, mid, 1, 1, groups), nn.ReLU(inplace=True)]
        if groups > 1:
            layers.append(ChannelShuffle(groups))
        layers += [*conv_bn(mid, mid, kernel, stride, groups=mid), nn.ReLU(inplace=True)]
        layers += conv_bn(mid, cout, 1, 1, groups)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout
        zero_init_last_bn(self)


class FC(nn.Module):
    """Flatten then linear (follows global pooling)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.linear = nn.Linear(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.flatten(x, 1))


class ReLUConvBN(nn.Sequential):
    """NAS-Bench-201's conv op: ReLU, conv, BN."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__(nn.ReLU(inplace=False), *conv_bn(cin, cout, kernel, stride))


class NB201ResBlock(nn.Module):
    """NAS-Bench-201's reduction block between stages."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv_a = ReLUConvBN(cin, cout, 3, 2)
        self.conv_b = ReLUConvBN(cout, cout, 3, 1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


def build_op(op: OpSpec, act: str) -> nn.Module:
    """The module for ``op``; ``act`` is the space's activation (``space.activation``).

    Only conv-norm layers (and MBConv) use ``act``; the other kinds fix their own activation.
    """
    cin = op.in_shape[0]
    p = dict(op.params)
    kind = op.kind
    if kind == "MBConv":
        return MBConv(cin, p["Cout"], p["exp"], p["kernel"], p["stride"], act)
    if kind == "ConvBlock":
        return FBNetConvBlock(cin, p["Cout"], p["exp"], p["kernel"], p["stride"], p["group"])
    if kind == "Skip":
        if p["stride"] == 1 and cin == p["Cout"]:
            return nn.Identity()
        return nn.Sequential(*conv_bn(cin, p["Cout"], 1, p["stride"]), nn.ReLU(inplace=True))
    if kind == "ConvNorm":
        return nn.Sequential(
            *conv_bn(cin, p["Cout"], p["kernel"], p["stride"], p.get("group", 1)), _act(act)
        )
    if kind == "ConvBN":
        return nn.Sequential(*conv_bn(cin, p["Cout"], p["kernel"], p["stride"]))
    if kind == "BNReLU":
        return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
    if kind == "AvgP":
        return nn.AvgPool2d(p["kernel"], p["stride"])
    if kind == "FC":
        return FC(cin, p["Cout"])
    if kind == "ReLUConvBN":
        return ReLUConvBN(cin, p["Cout"], p["kernel"], p["stride"])
    if kind == "Pool":
        return nn.AvgPool2d(p["kernel"], p["stride"], p["kernel"] // 2, count_include_pad=False)
    if kind == "Identity":
        return nn.Identity()
    if kind == "ResBlock":
        return NB201ResBlock(cin, p["Cout"])
    raise ValueError(f"no module for op kind {kind!r} (key {op.key})")
