"""The ProxylessNAS / MobileNetV2 macro family: stem, stages of MBConv layers, head.

Every searchable layer picks ``k{kernel}e{expand}`` or ``zero``; zero (the layer is skipped, its
identity shortcut remains) is allowed only where stride is 1 and channels are unchanged, which
in this family is every layer of a stage but the first.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

from hwnas.errors import SpaceError
from hwnas.space.arch import Arch, OpSpec
from hwnas.space.layerwise import LayerwiseSpace

ZERO = "zero"


@dataclass(frozen=True)
class Stage:
    channels: int
    layers: int
    stride: int


@dataclass(frozen=True)
class MBConvConfig:
    name: str
    resolution: int
    num_classes: int
    stem_channels: int
    stem_stride: int
    first_block_channels: int  # a fixed MBConv e1 k3 after the stem; 0 for none
    stages: tuple[Stage, ...]
    head_channels: int
    kernels: tuple[int, ...] = (3, 5, 7)
    expands: tuple[int, ...] = (3, 6)
    allow_zero: bool = True
    activation: str = "relu6"


PROXYLESS_MOBILE = MBConvConfig(
    name="proxyless-mobile", resolution=224, num_classes=1000, stem_channels=32, stem_stride=2,
    first_block_channels=16,
    stages=tuple(Stage(c, n, s) for c, n, s in [
        (24, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1)]),
    head_channels=1280,
)

MBCONV_SMALL = MBConvConfig(
    name="mbconv-small", resolution=32, num_classes=10, stem_channels=16, stem_stride=1,
    first_block_channels=8,
    stages=tuple(Stage(c, n, s) for c, n, s in [
        (16, 2, 2), (24, 3, 2), (32, 3, 2), (48, 3, 1), (64, 2, 2)]),
    head_channels=256,
)


class MBConvSpace(LayerwiseSpace):
    family = "mbconv"

    def __init__(self, config: MBConvConfig):
        check_config(config)
        self.config = config
        self.name = config.name
        self.resolution = config.resolution
        self.num_classes = config.num_classes
        self._blocks = tuple(f"k{k}e{e}" for k, e in itertools.product(config.kernels, config.expands))
        self._layers = self._layout()

    def _layout(self) -> tuple[tuple[int, int, int, int, int, int], ...]:
        """Per searchable layer: (stage, index in stage, cin, cout, stride, input size)."""
        cfg = self.config
        size = -(-cfg.resolution // cfg.stem_stride)
        cin = cfg.first_block_channels or cfg.stem_channels
        rows = []
        for s, stage in enumerate(cfg.stages):
            for i in range(stage.layers):
                stride = stage.stride if i == 0 else 1
                rows.append((s, i, cin, stage.channels, stride, size))
                size = -(-size // stride)
                cin = stage.channels
        return tuple(rows)

    @property
    def activation(self) -> str:
        return self.config.activation

    def choices(self) -> tuple[tuple[str, ...], ...]:
        return tuple(
            self._blocks + ((ZERO,) if self._zero_allowed(p) else ()) for p in range(len(self._layers))
        )

    def _zero_allowed(self, position: int) -> bool:
        _, index, cin, cout, stride, _ = self._layers[position]
        return self.config.allow_zero and index > 0 and stride == 1 and cin == cout

    def position_label(self, position: int) -> str:
        stage, index, *_ = self._layers[position]
        return f"layer {position} (stage {stage}, layer {index} of the stage)"

    def _why_not_allowed(self, position: int, token: str, allowed: tuple[str, ...]) -> str:
        if token == ZERO:
            _, index, cin, cout, stride, _ = self._layers[position]
            reason = (
                "the first layer of a stage is never zero" if index == 0
                else "zero needs stride 1 and unchanged channels"
            )
            return (
                f"{self.position_label(position)}: zero is not allowed here: {reason} "
                f"(stride {stride}, {cin} -> {cout} channels)"
            )
        return super()._why_not_allowed(position, token, allowed)

    def candidate_ops(self, position: int) -> tuple[tuple[OpSpec, ...], ...]:
        _, _, cin, cout, stride, size = self._layers[position]
        result = []
        for token in self.choices()[position]:
            if token == ZERO:
                result.append(())
                continue
            k, e = (int(x) for x in token[1:].split("e"))
            result.append((OpSpec("MBConv", (cin, size, size), (
                ("Cout", cout), ("exp", e), ("kernel", k), ("stride", stride))),))
        return tuple(result)

    def prefix_ops(self) -> tuple[OpSpec, ...]:
        cfg = self.config
        r = cfg.resolution
        stem = OpSpec("ConvNorm", (3, r, r), (
            ("Cout", cfg.stem_channels), ("kernel", 3), ("stride", cfg.stem_stride), ("group", 1)))
        if not cfg.first_block_channels:
            return (stem,)
        c, h, w = stem.out_shape
        first = OpSpec("MBConv", (c, h, w), (
            ("Cout", cfg.first_block_channels), ("exp", 1), ("kernel", 3), ("stride", 1)))
        return (stem, first)

    def suffix_ops(self) -> tuple[OpSpec, ...]:
        cfg = self.config
        _, _, _, cout, stride, size = self._layers[-1]
        size = -(-size // stride)
        head = OpSpec("ConvNorm", (cout, size, size), (
            ("Cout", cfg.head_channels), ("kernel", 1), ("stride", 1), ("group", 1)))
        pool = OpSpec("AvgP", (cfg.head_channels, size, size), (
            ("Cout", cfg.head_channels), ("kernel", size), ("stride", 1)))
        fc = OpSpec("FC", (cfg.head_channels, 1, 1), (("Cout", cfg.num_classes),))
        return (head, pool, fc)

    def describe(self) -> dict:
        return {"family": self.family, **asdict(self.config)}

    def parse(self, text: str) -> Arch:
        arch = Arch(self.name, self._split_layers(text), self.notation)
        return self._canonical(text, arch)


def check_config(cfg: MBConvConfig, where: str = "") -> None:
    """The rules a layout must follow (``where`` names the spec file it came from, if any)."""

    def bad(what: str) -> SpaceError:
        return SpaceError(f"{where or f'space spec {cfg.name!r}'}: {what}", "fix the spec file")

    if not cfg.stages:
        raise bad("no stages")
    for i, st in enumerate(cfg.stages):
        if st.channels <= 0 or st.layers <= 0:
            raise bad(f"stage {i} needs positive channels and layers, got {st}")
        if st.stride not in (1, 2):
            raise bad(f"stage {i} stride must be 1 or 2, got {st.stride}")
    total_stride = cfg.stem_stride
    for st in cfg.stages:
        total_stride *= st.stride
    if cfg.resolution <= 0 or cfg.resolution < total_stride:
        raise bad(f"resolution {cfg.resolution} is smaller than the total stride {total_stride}")
    if cfg.stem_stride not in (1, 2):
        raise bad(f"stem stride must be 1 or 2, got {cfg.stem_stride}")
    if not cfg.kernels or any(k <= 0 or k % 2 == 0 for k in cfg.kernels):
        raise bad(f"kernels must be odd positive integers, got {list(cfg.kernels)}")
    if not cfg.expands or any(e <= 0 for e in cfg.expands):
        raise bad(f"expand ratios must be positive integers, got {list(cfg.expands)}")
    if min(cfg.num_classes, cfg.stem_channels, cfg.head_channels) <= 0:
        raise bad("num_classes, stem_channels and head_channels must be positive")
    if cfg.activation not in ("relu", "relu6"):
        raise bad(f"activation must be relu or relu6, got {cfg.activation!r}")
