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


# a two-layer mbconv space of 20 archs: small enough that a search of 20 evaluations visits
# every arch and a 1-epoch supernet on digits trains in seconds
MICRO_SPEC = ('name = "micro"\nresolution = 16\nnum_classes = 10\nstem_channels = 8\n'
              'stem_stride = 1\nfirst_block_channels = 0\nhead_channels = 16\n'
              'stages = [[8, 2, 2]]\nkernels = [3, 5]\nexpands = [2, 4]\n')


def micro_supernet(root) -> tuple[SearchSpace, object]:
    """``root/micro.toml`` (the micro space) and a 1-epoch supernet of it in ``root/sn``."""
    from pathlib import Path

    from hwnas.evaluation.supernet_artifact import SupernetTrainConfig, train_supernet
    from hwnas.space import get_space

    spec = Path(root) / "micro.toml"
    spec.write_text(MICRO_SPEC)
    space = get_space(str(spec))
    sn = Path(root) / "sn"
    sn.mkdir()
    train_supernet(space, SupernetTrainConfig(space=str(spec), epochs=1, batch_size=256), sn)
    return space, sn
