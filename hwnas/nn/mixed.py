"""The parts every weight-sharing supernet shares: gates, the mixed op and the ``Supernet`` base.

Forward takes the gates explicitly; there is no hidden "active path" state. A gate per position is

* an ``int``: run that single candidate (single-path training, evaluation of one arch);
* ``(indices, weights)``: ``sum_k weights[k] * candidate[indices[k]](x)``, which covers the
  DARTS softmax mixture (all indices), ProxylessNAS's two-path binary gates and a hard
  Gumbel-softmax sample (one index, a straight-through weight of value 1);
* a :class:`BinaryGate`: ProxylessNAS's architecture step in the memory of one path. The active
  candidate runs with autograd; the inactive one runs under ``no_grad`` and only its output is
  kept, which is all ``dL/dg`` needs (its gate is 0, so no gradient flows through it otherwise).
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


@dataclass(frozen=True)
class BinaryGate:
    """Two sampled paths with binary gates ``weights`` (shape 2, one 1 at ``slot``)."""

    active: int
    inactive: int
    weights: torch.Tensor
    slot: int


Gate = int | tuple[Sequence[int], torch.Tensor] | BinaryGate


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class MixedOp(nn.Module):
    def __init__(self, candidates: list[nn.Module]):
        super().__init__()
        self.candidates = nn.ModuleList(candidates)

    def forward(self, x: torch.Tensor, gate: Gate) -> torch.Tensor:
        if isinstance(gate, int):
            return self.candidates[gate](x)
        if isinstance(gate, BinaryGate):
            out = self.candidates[gate.active](x)
            with torch.no_grad():
                other = self.candidates[gate.inactive](x)
            return gate.weights[gate.slot] * out + gate.weights[1 - gate.slot] * other
        indices, weights = gate
        out = None
        for k, j in enumerate(indices):
            term = weights[k] * self.candidates[j](x)
            out = term if out is None else out + term
        return out


class Supernet(nn.Module, metaclass=ABCMeta):
    """A supernet of ``space``: one gate per searchable position; build one with ``build_supernet``."""

    def __init__(self, space: SearchSpace):
        super().__init__()
        self.space = space

    def forward(self, x: torch.Tensor, gates: Sequence[Gate]) -> torch.Tensor:
        if len(gates) != self.space.num_positions:
            raise ValueError(f"expected {self.space.num_positions} gates, got {len(gates)}")
        return self.run(x, gates)

    def extract(self, arch: Arch) -> nn.Module:
        """The standalone network of ``arch`` with the supernet's weights (a copy).

        Its ``state_dict`` keys are those of :func:`hwnas.nn.build_model` for the same arch.
        """
        return self.extract_indices(self.space.indices(arch))

    @abstractmethod
    def run(self, x: torch.Tensor, gates: Sequence[Gate]) -> torch.Tensor:
        """Forward with one gate per position (already counted)."""

    @abstractmethod
    def extract_indices(self, indices: Sequence[int]) -> nn.Module:
        """The standalone network of one choice index per position."""
