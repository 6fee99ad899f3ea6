"""Torch modules built from a space's network description: ops, plain networks, supernets."""

from hwnas.nn.bn import input_batches, recalibrate_bn
from hwnas.nn.builder import build_model, build_network, count_macs, count_params
from hwnas.nn.ops import build_op
from hwnas.nn.supernet import Supernet, build_supernet

__all__ = ["Supernet", "build_model", "build_network", "build_op", "build_supernet", "count_macs",
           "count_params", "input_batches", "recalibrate_bn"]
