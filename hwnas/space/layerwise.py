"""Spaces whose network is a chain of layers (mbconv, fbnet): the network follows from the ops."""

from __future__ import annotations

from hwnas.space.base import SearchSpace
from hwnas.space.network import LayerwiseNet


class LayerwiseSpace(SearchSpace):
    """A space whose searchable positions are layers of one chain.

    Each choice costs at most one op (none: the layer is skipped), so the network and its latency
    are both read from ``prefix_ops``, ``candidate_ops`` and ``suffix_ops``.
    """

    def network(self) -> LayerwiseNet:
        choices = []
        for position in range(self.num_positions):
            per_choice = self.candidate_ops(position)
            if any(len(ops) > 1 for ops in per_choice):
                raise TypeError(f"{self.position_label(position)}: a layerwise choice is one op or none")
            choices.append(tuple(ops[0] if ops else None for ops in per_choice))
        return LayerwiseNet(self.prefix_ops(), tuple(choices), self.suffix_ops(), self.activation)
