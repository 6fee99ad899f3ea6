"""A tiny mbconv space and a synthetic (MAC-proportional) latency table for fast tests."""

from __future__ import annotations

import numpy as np

from hwnas import __version__
from hwnas.latency.table import LatencyTable, OpStats, TableMeta
from hwnas.space.base import SearchSpace
from hwnas.space.mbconv import MBConvConfig, MBConvSpace, Stage

TINY = MBConvConfig(
    name="tiny", resolution=16, num_classes=10, stem_channels=8, stem_stride=1,
    first_block_channels=0, stages=(Stage(8, 2, 1), Stage(16, 2, 2), Stage(24, 2, 2)),
    head_channels=32, kernels=(3, 5), expands=(2, 4),
)


def tiny_space() -> MBConvSpace:
    """6 searchable layers, 4 or 5 choices each: small enough for seconds-long tests."""
    return MBConvSpace(TINY)


def synthetic_table(space: SearchSpace, seed: int = 0, runtime: str = "synthetic") -> LatencyTable:
    """A table whose op latency is proportional to the op's MACs plus a fixed call cost."""
    import torch

    from hwnas.nn.builder import count_macs
    from hwnas.nn.ops import build_op

    rng = np.random.default_rng(seed)
    entries = {}
    act = space.activation
    for op in space.all_ops():
        with torch.random.fork_rng(devices=[]):
            macs = count_macs(build_op(op, act), op.in_shape)
        value = 0.01 + macs / 2e7 * float(rng.uniform(0.9, 1.1))
        entries[op.key] = OpStats(value, value * 0.95, value * 1.05, value, value * 0.03, 50)
    meta = TableMeta(device_name="synthetic", runtime=runtime, space=space.name,
                     space_fingerprint=space.fingerprint(), resolution=space.resolution,
                     hwnas_version=__version__, source="synthetic: MAC-proportional")
    return LatencyTable(meta, entries)
