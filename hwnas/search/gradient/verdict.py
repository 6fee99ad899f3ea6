"""Did the gradient search learn anything? A check on the logs, so a stuck search says so.

A supernet that stays near chance, or architecture probabilities that never leave uniform, still
lets the derivation return an arch (the knapsack breaks ties somehow), and that arch would look
like a search result. The verdict names what was stuck and what to try instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# the best validation accuracy must beat chance by this much (or by chance itself, whichever is
# larger): 0.20 on 10 classes, 0.06 on 100
MIN_ABOVE_CHANCE = 0.05
# the largest per-layer total-variation distance from the uniform start; below it the
# architecture parameters did not move enough to change which arch is derived
MIN_ARCH_MOVE = 0.02

ADVICE = ("more --epochs (architecture steps start after 2 warm-up epochs), more data "
          "(--data cifar10:PATH, cifar100:PATH, imagefolder:PATH) or a smaller space for small data "
          "(mbconv-small learns on digits)")


@dataclass(frozen=True)
class LearnedVerdict:
    """``learned`` False names each reason; the figures say how close the run came."""

    learned: bool
    reasons: tuple[str, ...]
    best_val_acc: float | None
    chance: float
    arch_move: float
    expected_start: float
    expected_final: float

    def to_dict(self) -> dict:
        return {"learned": self.learned, "learned_reasons": list(self.reasons),
                "best_val_acc": self.best_val_acc, "chance_acc": self.chance,
                "arch_move": self.arch_move, "expected_start": self.expected_start,
                "expected_final": self.expected_final}

    @classmethod
    def from_dict(cls, raw: dict) -> LearnedVerdict:
        """From a result's details (``to_dict`` keys); what is missing reads as unknown."""
        return cls(bool(raw.get("learned", True)), tuple(raw.get("learned_reasons") or ()),
                   raw.get("best_val_acc"), float(raw.get("chance_acc") or 0.0),
                   float(raw.get("arch_move") or 0.0), float(raw.get("expected_start") or 0.0),
                   float(raw.get("expected_final") or 0.0))

    def message(self) -> str:
        """One line for the CLI: what was stuck and what to try."""
        return (f"the search did not learn ({'; '.join(self.reasons)}): the derived arch is a "
                f"guess, not a search result; try {ADVICE}")


def judge(val_accs: Sequence[float], num_classes: int, probs: Sequence[Sequence[float]],
          expected_start: float, expected_final: float, unit: str,
          searched: bool) -> LearnedVerdict:
    """The verdict on a finished search.

    Args:
        val_accs: the supernet's validation accuracy after each epoch (history.jsonl).
        num_classes: the data's classes (chance accuracy is their inverse).
        probs: the final architecture probabilities, one list per position.
        expected_start / expected_final: E[LAT] at uniform probabilities and at the end.
        unit: the table's unit, for the message.
        searched: whether any architecture step ran (a search of only warm-up epochs did not).
    """
    chance = 1.0 / max(num_classes, 1)
    best = max(val_accs) if val_accs else None
    move = max((sum(abs(v - 1.0 / len(p)) for v in p) / 2 for p in probs if p), default=0.0)
    reasons = []
    if best is not None and best < chance + max(chance, MIN_ABOVE_CHANCE):
        reasons.append(f"supernet validation accuracy peaked at {best:.3f}, chance is {chance:.3f}")
    if not searched:
        reasons.append("no architecture step ran (every epoch was warm-up)")
    elif move < MIN_ARCH_MOVE:
        reasons.append(f"architecture probabilities stayed uniform (largest change {move:.3f}; "
                       f"E[LAT] {expected_start:.4g} -> {expected_final:.4g} {unit})")
    return LearnedVerdict(not reasons, tuple(reasons), best, chance, move, expected_start,
                          expected_final)
