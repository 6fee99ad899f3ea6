"""Building blocks, the model builder and (later) the supernet."""

from hwnas.nn.bn import input_batches, recalibrate_bn
from hwnas.nn.builder import build_model, count_macs, count_params
from hwnas.nn.ops import build_op

__all__ = ["build_model", "build_op", "count_macs", "count_params", "input_batches", "recalibrate_bn"]
