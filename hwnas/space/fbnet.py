"""The HW-NAS-Bench FBNet space: 22 layers x 9 choices, CIFAR-100 and ImageNet layouts.

Built exactly as HW-NAS-Bench describes it, so its per-op keys (and the tables imported from its
real-device measurements) apply unchanged; see shared/data/hwnasbench-fbnet/PROVENANCE.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwnas.errors import SpaceError
from hwnas.space.arch import Arch, OpSpec
from hwnas.space.layerwise import LayerwiseSpace

# (token, expand, kernel, group) in HW-NAS-Bench's index order; the ninth choice is skip.
FBNET_BLOCKS = (
    ("k3e1", 1, 3, 1), ("k3e1g2", 1, 3, 2), ("k3e3", 3, 3, 1), ("k3e6", 6, 3, 1),
    ("k5e1", 1, 5, 1), ("k5e1g2", 1, 5, 2), ("k5e3", 3, 5, 1), ("k5e6", 6, 5, 1),
)
SKIP = "skip"
STAGE_LAYERS = (1, 4, 4, 4, 4, 4, 1)
STAGE_CHANNELS = (16, 24, 32, 64, 112, 184, 352)
STEM_CHANNELS = 16


@dataclass(frozen=True)
class FBNetLayout:
    name: str
    resolution: int
    stem_stride: int
    stage_strides: tuple[int, ...]
    head_channels: int
    num_classes: int


FBNET_CIFAR100 = FBNetLayout("fbnet-cifar100", 32, 1, (1, 1, 2, 2, 1, 2, 1), 1504, 100)
FBNET_IMAGENET = FBNetLayout("fbnet-imagenet", 224, 2, (1, 2, 2, 2, 1, 2, 1), 1984, 1000)


class FBNetSpace(LayerwiseSpace):
    family = "fbnet"
    activation = "relu"

    def __init__(self, layout: FBNetLayout):
        self.layout = layout
        self.name = layout.name
        self.resolution = layout.resolution
        self.num_classes = layout.num_classes
        rows = []
        size = -(-layout.resolution // layout.stem_stride)
        cin = STEM_CHANNELS
        for s, (n, cout, stride) in enumerate(zip(STAGE_LAYERS, STAGE_CHANNELS, layout.stage_strides)):
            for i in range(n):
                st = stride if i == 0 else 1
                rows.append((s, i, cin, cout, st, size))
                size = -(-size // st)
                cin = cout
        self._layers = tuple(rows)
        self._final_size = size
        self._tokens = tuple(t for t, *_ in FBNET_BLOCKS) + (SKIP,)

    def choices(self) -> tuple[tuple[str, ...], ...]:
        return tuple(self._tokens for _ in self._layers)

    def position_label(self, position: int) -> str:
        stage, index, *_ = self._layers[position]
        return f"layer {position} (stage {stage}, layer {index} of the stage)"

    def candidate_ops(self, position: int) -> tuple[tuple[OpSpec, ...], ...]:
        _, _, cin, cout, stride, size = self._layers[position]
        shape = (cin, size, size)
        ops = [
            (OpSpec("ConvBlock", shape, (("Cout", cout), ("exp", e), ("kernel", k),
                                         ("stride", stride), ("group", g))),)
            for _, e, k, g in FBNET_BLOCKS
        ]
        ops.append((OpSpec("Skip", shape, (("Cout", cout), ("stride", stride))),))
        return tuple(ops)

    def prefix_ops(self) -> tuple[OpSpec, ...]:
        r = self.resolution
        return (OpSpec("ConvNorm", (3, r, r), (
            ("Cout", STEM_CHANNELS), ("kernel", 3), ("stride", self.layout.stem_stride),
            ("group", 1))),)

    def suffix_ops(self) -> tuple[OpSpec, ...]:
        s, head = self._final_size, self.layout.head_channels
        return (
            OpSpec("ConvNorm", (STAGE_CHANNELS[-1], s, s), (
                ("Cout", head), ("kernel", 1), ("stride", 1), ("group", 1))),
            OpSpec("AvgP", (head, s, s), (("Cout", head), ("kernel", s), ("stride", 1))),
            OpSpec("FC", (head, 1, 1), (("Cout", self.num_classes),)),
        )

    def describe(self) -> dict:
        return {
            "family": self.family, "name": self.name, "resolution": self.resolution,
            "stem_stride": self.layout.stem_stride, "stage_strides": list(self.layout.stage_strides),
            "stage_layers": list(STAGE_LAYERS), "stage_channels": list(STAGE_CHANNELS),
            "head_channels": self.layout.head_channels, "num_classes": self.num_classes,
            "choices": list(self._tokens),
        }

    def parse(self, text: str) -> Arch:
        arch = Arch(self.name, self._split_layers(text), self.notation)
        return self._canonical(text, arch)

    def from_hwnasbench_indices(self, indices: list[int]) -> Arch:
        """An arch from HW-NAS-Bench's FBNet encoding (22 integers in 0..8)."""
        if len(indices) != len(self._layers) or any(not 0 <= i < 9 for i in indices):
            raise SpaceError(f"expected 22 integers in 0..8, got {indices}")
        return self.arch_from_indices(indices)
