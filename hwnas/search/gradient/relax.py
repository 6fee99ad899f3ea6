"""Architecture parameters and the three relaxations' gates.

* ``binary`` (ProxylessNAS): the weight step samples one path per layer (an ``int`` gate: only
  that candidate runs). The architecture step samples two distinct paths per layer, draws one of
  them as active from their renormalised probabilities, and runs a :class:`BinaryGate`: the
  active path with autograd, the other under ``no_grad`` (its output alone is kept, for dL/dg).
  The BinaryConnect gradient ``dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i)`` over the two
  goes into ``alpha.grad``; after the optimizer step the two alphas are shifted so that the other
  paths' probabilities are unchanged.
* ``softmax`` (DARTS, first order): every path, weighted by ``softmax(alpha)``.
* ``gumbel`` (GDAS): a hard Gumbel-softmax sample; the one chosen path runs with the
  straight-through weight ``y_hard - y_soft.detach() + y_soft`` (value 1).

All randomness comes from the ``torch.Generator`` passed in.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hwnas.nn.supernet import BinaryGate

RELAXATIONS = ("binary", "softmax", "gumbel")


class ArchParams(nn.Module):
    """One vector of logits per searchable position (zeros: uniform probabilities)."""

    def __init__(self, num_choices: list[int]):
        super().__init__()
        self.alphas = nn.ParameterList(nn.Parameter(torch.zeros(n, dtype=torch.float64))
                                       for n in num_choices)

    def probs(self) -> list[torch.Tensor]:
        return [torch.softmax(a, dim=0) for a in self.alphas]

    def alphas_lists(self) -> list[list[float]]:
        """The logits as floats (exact: JSON writes a float64 so that it reads back bit for bit)."""
        with torch.no_grad():
            return [[float(v) for v in a] for a in self.alphas]

    def probs_lists(self) -> list[list[float]]:
        with torch.no_grad():
            return [[float(v) for v in p] for p in self.probs()]


def _sample(p: torch.Tensor, k: int, gen: torch.Generator) -> list[int]:
    weights = p.detach().float().clamp_min(1e-30)  # float32 underflow must not empty a category
    return [int(i) for i in torch.multinomial(weights, k, replacement=False, generator=gen)]


def weight_gates(relaxation: str, arch: ArchParams, gen: torch.Generator, tau: float):
    """Gates for a weight step (no gradient to the architecture parameters)."""
    with torch.no_grad():
        probs = arch.probs()
        if relaxation == "softmax":
            return [(list(range(len(p))), p.float()) for p in probs]
        if relaxation == "gumbel":
            return [int(torch.argmax(_gumbel_soft(a, gen, tau))) for a in arch.alphas]
        return [_sample(p, 1, gen)[0] for p in probs]


def _gumbel_soft(alpha: torch.Tensor, gen: torch.Generator, tau: float) -> torch.Tensor:
    u = torch.rand(alpha.shape, generator=gen, dtype=alpha.dtype).clamp_(1e-12, 1 - 1e-12)
    return torch.softmax((alpha - torch.log(-torch.log(u))) / tau, dim=0)


class ArchStep:
    """The gates of one architecture step, and what to do after ``backward``."""

    def __init__(self, relaxation: str, arch: ArchParams, gen: torch.Generator, tau: float):
        self.relaxation = relaxation
        self.arch = arch
        self.binary: list[tuple[list[int], torch.Tensor]] = []
        self.gates = []
        if relaxation == "softmax":
            self.gates = [(list(range(len(p))), p.float()) for p in arch.probs()]
        elif relaxation == "gumbel":
            for a in arch.alphas:
                soft = _gumbel_soft(a, gen, tau)
                j = int(torch.argmax(soft.detach()))
                hard = soft[j] - soft[j].detach() + 1.0  # value 1, gradient of soft[j]
                self.gates.append(([j], hard.float().reshape(1)))
        else:
            for a in arch.alphas:
                pair = _sample(torch.softmax(a.detach(), 0), 2, gen) if len(a) > 1 else [0, 0]
                two = torch.softmax(a.detach()[pair], 0)
                active = int(torch.multinomial(two.float(), 1, generator=gen)) if len(a) > 1 else 0
                g = torch.zeros(2, requires_grad=True)
                with torch.no_grad():
                    g[active] = 1.0
                self.binary.append((pair, g))
                if len(a) > 1:
                    self.gates.append(BinaryGate(pair[active], pair[1 - active], g, active))
                else:
                    self.gates.append(0)

    def after_backward(self) -> None:
        """Binary: turn the gates' gradients into alpha gradients (BinaryConnect)."""
        if self.relaxation != "binary":
            return
        for a, (pair, g) in zip(self.arch.alphas, self.binary):
            if len(a) < 2 or g.grad is None:
                continue
            p = torch.softmax(a.detach()[pair], 0)
            dg = g.grad.to(p.dtype)
            grad = torch.zeros(2, dtype=p.dtype)
            for i in range(2):
                for j in range(2):
                    grad[i] += dg[j] * p[j] * ((1.0 if i == j else 0.0) - p[i])
            if a.grad is None:
                a.grad = torch.zeros_like(a)
            a.grad[pair] += grad
        self._old = [(pair, a.detach()[pair].clone()) for a, (pair, _) in zip(self.arch.alphas,
                                                                               self.binary)]

    def after_step(self) -> None:
        """Binary: shift the two updated alphas so the other paths keep their probabilities."""
        if self.relaxation != "binary":
            return
        with torch.no_grad():
            for a, (pair, old) in zip(self.arch.alphas, self._old):
                if len(a) < 2:
                    continue
                new = a[pair]
                offset = torch.logsumexp(new, 0) - torch.logsumexp(old, 0)
                a[pair] = new - offset


def temperature(epoch_in_search: int, search_epochs: int, tau_max: float, tau_min: float) -> float:
    """Geometric annealing from ``tau_max`` to ``tau_min`` over the search epochs (GDAS)."""
    if search_epochs <= 1:
        return tau_min
    frac = min(max(epoch_in_search, 0) / (search_epochs - 1), 1.0)
    return float(tau_max * math.exp(frac * math.log(tau_min / tau_max)))
