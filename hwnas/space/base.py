"""The ``SearchSpace`` interface shared by every space.

Every space here is a sequence of *positions* (searchable layers, or NB201 cell edges), each with
a tuple of choice tokens. A space knows which operators a choice costs at its exact input shape
(``candidate_ops``), which fixed operators surround them (``prefix_ops`` / ``suffix_ops``), and
describes its network (``network``) with the same ``OpSpec`` values so that a latency table and a
network can never disagree about shapes. ``hwnas.nn`` builds the modules from that description:
``build_model(space, arch)``, ``build_supernet(space)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np

from hwnas.errors import SpaceError
from hwnas.space.arch import LAYERS_NOTATION, Arch, OpSpec
from hwnas.space.network import NetworkSpec


class SearchSpace(ABC):
    """A space of architectures; subclasses define positions, choices and operators."""

    name: str
    family: str  # a label for listings (mbconv, fbnet, nb201); nothing dispatches on it
    resolution: int
    num_classes: int
    in_channels: int = 3
    notation: str = LAYERS_NOTATION

    # --- structure -------------------------------------------------------------------------
    @abstractmethod
    def choices(self) -> tuple[tuple[str, ...], ...]:
        """The choice tokens allowed at each position."""

    @abstractmethod
    def candidate_ops(self, position: int) -> tuple[tuple[OpSpec, ...], ...]:
        """For each choice at ``position``, the operators it costs (empty for *zero*)."""

    @abstractmethod
    def prefix_ops(self) -> tuple[OpSpec, ...]:
        """Fixed operators before the searchable positions (stem)."""

    @abstractmethod
    def suffix_ops(self) -> tuple[OpSpec, ...]:
        """Fixed operators after the searchable positions (head, pooling, classifier)."""

    @abstractmethod
    def describe(self) -> dict:
        """A JSON-able definition; its hash is the space's fingerprint."""

    @abstractmethod
    def position_label(self, position: int) -> str:
        """Human name of a position, used in error messages."""

    @property
    @abstractmethod
    def activation(self) -> str:
        """The activation of the conv-norm ops (``relu`` or ``relu6``), which ``build_op`` needs."""

    @abstractmethod
    def network(self) -> NetworkSpec:
        """The network with every choice, as data (see :mod:`hwnas.space.network`)."""

    # --- derived -------------------------------------------------------------------------------
    @property
    def num_positions(self) -> int:
        return len(self.choices())

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one input image."""
        return (self.in_channels, self.resolution, self.resolution)

    def size(self) -> int:
        return math.prod(len(c) for c in self.choices())

    def fingerprint(self) -> str:
        blob = json.dumps(self.describe(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def arch(self, choices: tuple[str, ...] | list[str]) -> Arch:
        arch = Arch(self.name, tuple(choices), self.notation)
        self.validate(arch)
        return arch

    def arch_from_indices(self, indices: list[int] | tuple[int, ...] | np.ndarray) -> Arch:
        table = self.choices()
        return Arch(self.name, tuple(table[i][int(j)] for i, j in enumerate(indices)), self.notation)

    def indices(self, arch: Arch) -> tuple[int, ...]:
        self.validate(arch)
        table = self.choices()
        return tuple(table[i].index(tok) for i, tok in enumerate(arch.choices))

    def validate(self, arch: Arch) -> None:
        if arch.space != self.name:
            raise SpaceError(
                f"arch belongs to space {arch.space!r}, not {self.name!r}",
                f"pass --space {arch.space}",
            )
        table = self.choices()
        if len(arch.choices) != len(table):
            raise SpaceError(
                f"arch has {len(arch.choices)} layers but space {self.name!r} has {len(table)}",
                "give one choice per searchable layer (see `hwnas arch sample --space "
                f"{self.name}`)",
            )
        for position, (token, allowed) in enumerate(zip(arch.choices, table)):
            if token not in allowed:
                raise SpaceError(self._why_not_allowed(position, token, allowed))

    def _why_not_allowed(self, position: int, token: str, allowed: tuple[str, ...]) -> str:
        return (
            f"{self.position_label(position)}: unknown choice {token!r}; "
            f"allowed: {', '.join(allowed)}"
        )

    @abstractmethod
    def parse(self, text: str) -> Arch:
        """Parse the canonical string form; raises ``SpaceError`` naming the bad part.

        Only the canonical spelling parses (``str(space.parse(text)) == text``): an arch string
        is a key in run folders and tables, so two spellings of one arch would be two keys.
        Implementations end with :meth:`_canonical`.
        """

    def _split_layers(self, text: str) -> tuple[str, ...]:
        """``-``-separated layer tokens; an arch written with spaces between layers is refused
        with the '-' spelling (``k3e3 k5e6`` is a common slip for ``k3e3-k5e6``)."""
        stripped = text.strip()
        if len(stripped.split()) > 1:
            joined = "-".join(t for t in re.split(r"[\s-]+", stripped) if t)
            raise SpaceError(f"arch {text!r} separates its layers with spaces",
                             f"join the layers with '-': {joined}")
        return tuple(t.strip() for t in stripped.split("-"))

    def _canonical(self, text: str, arch: Arch) -> Arch:
        """``arch`` (validated) if ``text`` is its canonical spelling; ``SpaceError`` naming it if not."""
        self.validate(arch)
        canonical = str(arch)
        if text != canonical:
            raise SpaceError(f"arch {text!r} of space {self.name} is not written canonically "
                             "(no spaces, ASCII digits)", f"write it as {canonical}")
        return arch

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.arch_from_indices([int(rng.integers(len(c))) for c in self.choices()])

    def mutate(self, arch: Arch, rng: np.random.Generator, num_changes: int = 1) -> Arch:
        """Change ``num_changes`` positions (with more than one choice) to a different choice."""
        table = self.choices()
        mutable = [i for i, c in enumerate(table) if len(c) > 1]
        picked = rng.choice(mutable, size=min(num_changes, len(mutable)), replace=False)
        tokens = list(arch.choices)
        for position in picked:
            others = [t for t in table[position] if t != tokens[position]]
            tokens[position] = others[int(rng.integers(len(others)))]
        return Arch(self.name, tuple(tokens), self.notation)

    def ops(self, arch: Arch) -> list[OpSpec]:
        """Every operator the network of ``arch`` runs, in order, at its exact input shape."""
        indices = self.indices(arch)
        chosen = [op for p, j in enumerate(indices) for op in self.candidate_ops(p)[j]]
        return [*self.prefix_ops(), *chosen, *self.suffix_ops()]

    def all_ops(self) -> list[OpSpec]:
        """Every distinct operator any arch of the space can use (what a profiler measures)."""
        seen: dict[str, OpSpec] = {}
        for op in self._iter_all_ops():
            seen.setdefault(op.key, op)
        return list(seen.values())

    def _iter_all_ops(self) -> Iterator[OpSpec]:
        yield from self.prefix_ops()
        for position in range(self.num_positions):
            for ops in self.candidate_ops(position):
                yield from ops
        yield from self.suffix_ops()
