"""Weight-sharing supernet: one mixed op per searchable position holding every candidate.

Forward takes the gates explicitly; there is no hidden "active path" state. A gate per position is

* an ``int``: run that single candidate (single-path training, evaluation of one arch);
* ``(indices, weights)``: ``sum_k weights[k] * candidate[indices[k]](x)``, which covers the
  DARTS softmax mixture (all indices), ProxylessNAS's two-path binary gates and a hard
  Gumbel-softmax sample (one index, a straight-through weight of value 1);
* a :class:`BinaryGate`: ProxylessNAS's architecture step in the memory of one path. The active
  candidate runs with autograd; the inactive one runs under ``no_grad`` and only its output is
  kept, which is all ``dL/dg`` needs (its gate is 0, so no gradient flows through it otherwise).

The *zero* choice of the mbconv family is the identity (the layer is skipped and its shortcut
remains); NB201's ``none`` edge outputs zeros.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hwnas.nn.ops import build_op
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


class Supernet(nn.Module):
    """Supernet of a layer-wise space (mbconv, fbnet) or of the NB201 cell space."""

    def __init__(self, space: SearchSpace):
        super().__init__()
        self.space = space
        if space.family == "nb201":
            from hwnas.nn.nb201_supernet import NB201Body

            self.body = NB201Body(space)
            return
        act = getattr(space, "activation", "relu6")
        self.prefix = nn.Sequential(*[build_op(op, act) for op in space.prefix_ops()])
        self.mixed = nn.ModuleList(
            MixedOp([build_op(ops[0], act) if ops else nn.Identity() for ops in space.candidate_ops(p)])
            for p in range(space.num_positions)
        )
        self.suffix = nn.Sequential(*[build_op(op, act) for op in space.suffix_ops()])
        for mixed in self.mixed:
            share_initial_function(mixed)

    def forward(self, x: torch.Tensor, gates: Sequence[Gate]) -> torch.Tensor:
        if len(gates) != self.space.num_positions:
            raise ValueError(f"expected {self.space.num_positions} gates, got {len(gates)}")
        if self.space.family == "nb201":
            return self.body(x, gates)
        x = self.prefix(x)
        for mixed, gate in zip(self.mixed, gates):
            x = mixed(x, gate)
        return self.suffix(x)

    def gates_for(self, arch: Arch) -> tuple[int, ...]:
        return self.space.indices(arch)

    def extract(self, arch: Arch) -> nn.Module:
        """The standalone network of ``arch`` with the supernet's weights (a deep copy).

        Its ``state_dict`` keys are those of :func:`hwnas.nn.build_model` for the same arch.
        """
        indices = self.space.indices(arch)
        if self.space.family == "nb201":
            return self.body.extract(arch, indices)
        chosen = [
            copy.deepcopy(self.mixed[p].candidates[j])
            for p, j in enumerate(indices)
            if self.space.candidate_ops(p)[j]
        ]
        return nn.Sequential(*copy.deepcopy(list(self.prefix)), *chosen, *copy.deepcopy(list(self.suffix)))


def _mbconv_parts(block: nn.Module) -> tuple[list[nn.Conv2d], int, int]:
    convs = [m for m in block.body if isinstance(m, nn.Conv2d)]
    depthwise = convs[-2]
    return convs, depthwise.out_channels, depthwise.kernel_size[0]


@torch.no_grad()
def share_initial_function(mixed: MixedOp) -> None:
    """Make every MBConv candidate of a layer start as the same function as the smallest one.

    Larger kernels get the smallest kernel's taps in their centre and zeros around it; extra
    expansion channels get zero projection weights. Each candidate still has its own weights
    and drifts away during training, but all paths start from consistent features: with
    independent random inits, uniform single-path training of mbconv-small on digits stayed at
    chance (loss 2.2 after 12 epochs); with this and zero-initialised residual BNs it learns
    (loss 1.6 after 3 epochs, measured).
    """
    from hwnas.nn.ops import MBConv

    blocks = [c for c in mixed.candidates if isinstance(c, MBConv)]
    if len(blocks) < 2:
        return
    parts = {id(b): _mbconv_parts(b) for b in blocks}
    ref = min(blocks, key=lambda b: parts[id(b)][1:])
    ref_convs, ref_mid, ref_k = parts[id(ref)]
    for block in blocks:
        convs, mid, k = parts[id(block)]
        if block is ref or len(convs) != len(ref_convs) or mid < ref_mid or k < ref_k:
            continue
        if len(convs) == 3:  # expansion conv present
            convs[0].weight[:ref_mid] = ref_convs[0].weight
        off = (k - ref_k) // 2
        convs[-2].weight.zero_()
        convs[-2].weight[:ref_mid, :, off:off + ref_k, off:off + ref_k] = ref_convs[-2].weight
        convs[-1].weight.zero_()
        convs[-1].weight[:, :ref_mid] = ref_convs[-1].weight
