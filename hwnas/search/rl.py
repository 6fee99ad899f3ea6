"""REINFORCE with an LSTM controller (Zoph & Le; MnasNet's latency-aware reward).

The controller emits one choice per position: an LSTM cell reads the embedding of the previous
choice (at the first position: a start token), a per-position linear head gives that position's
logits. Sampling uses the strategy's numpy generator (so the JSON state holds all randomness);
the log-probability is recomputed at update time. Every ``batch_size`` tells, the policy
gradient step is ``-(R - b) * log p(arch) - entropy_weight * H`` with a moving-average baseline
``b``.

Reward (MnasNet): ``ACC * (LAT / T) ** w``; ``soft``: w = -0.07 on both sides of T; ``hard``:
w = 0 under T and -1 over. T is the latency budget, else ``target_ms``.

Without either there is no single T, and one T would collapse the search onto one trade-off.
So the controller is conditioned on ``targets`` latency levels - each level has its own start
token and baseline - spread geometrically from the fastest to the slowest latency observed so
far, and each ask draws a level. Levels use the hard reward: under the soft one T only scales
the reward (``ACC * LAT**w * T**-w``), so every level would seek the same arch. The fastest
level keeps pressing below the fastest arch seen, so the levels spread along the whole front.

An ask whose samples were all asked before takes an unasked one-edit mutant of them instead:
a converged policy would otherwise re-ask, which evaluates nothing.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hwnas.search.base import MAX_RESAMPLES, Observation, Problem, SearchError, Strategy
from hwnas.space.arch import Arch

SOFT_W = -0.07


class Controller(nn.Module):
    def __init__(self, choice_counts: list[int], hidden: int = 32, start_tokens: int = 1):
        super().__init__()
        self.start = max(choice_counts)  # start token of level k: start + k
        self.embed = nn.Embedding(self.start + start_tokens, hidden)
        self.cell = nn.LSTMCell(hidden, hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in choice_counts)

    def log_prob_entropy(self, indices: list[int], level: int = 0
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        state, prev = None, self.start + level
        logp, ent = torch.zeros(()), torch.zeros(())
        for p, j in enumerate(indices):
            h, c = self.cell(self.embed(torch.tensor([prev])), state)
            state = (h, c)
            dist = torch.log_softmax(self.heads[p](h)[0], dim=0)
            logp = logp + dist[j]
            ent = ent - (dist.exp() * dist).sum()
            prev = j
        return logp, ent

    @torch.no_grad()
    def sample(self, level: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` index rows sampled in one batched pass (uniforms from ``rng``)."""
        prev = torch.full((n,), self.start + level, dtype=torch.long)
        state, rows = None, []
        for head in self.heads:
            h, c = self.cell(self.embed(prev), state)
            state = (h, c)
            cdf = torch.softmax(head(h).double(), dim=1).cumsum(1).numpy()
            u = rng.random(n)[:, None] * cdf[:, -1:]
            pick = np.minimum((u >= cdf).sum(1), cdf.shape[1] - 1)
            rows.append(pick)
            prev = torch.from_numpy(pick).long()
        return np.stack(rows, 1)


def _to_json(obj):
    if isinstance(obj, torch.Tensor):
        return {"__tensor__": obj.detach().cpu().tolist(), "dtype": str(obj.dtype).split(".")[-1]}
    if isinstance(obj, dict):
        return {"__dict__": [[_to_json(k), _to_json(v)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    return obj


def _from_json(obj):
    if isinstance(obj, dict) and "__tensor__" in obj:
        return torch.tensor(obj["__tensor__"], dtype=getattr(torch, obj["dtype"]))
    if isinstance(obj, dict) and "__dict__" in obj:
        return {_from_json(k): _from_json(v) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


class ReinforceSearch(Strategy):
    name = "rl"

    def __init__(self, problem: Problem, seed: int = 0, reward: str = "soft", batch_size: int = 5,
                 lr: float = 0.05, entropy_weight: float = 1e-3, baseline_decay: float = 0.9,
                 target_ms: float | None = None, hidden: int = 32, targets: int = 6):
        super().__init__(problem, seed)
        if reward not in ("soft", "hard"):
            raise SearchError(f"unknown reward {reward!r}", "use --reward soft or hard")
        if targets < 1:
            raise SearchError(f"RL needs at least 1 latency target, got {targets}", "raise targets")
        self.target_ms = problem.budget_ms if problem.budget_ms is not None else target_ms
        leveled = self.target_ms is None and "latency_ms" in problem.objectives
        self.levels = targets if leveled else 1
        self.reward_kind = "hard" if leveled else reward
        self.batch_size = batch_size
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        counts = [len(c) for c in self.space.choices()]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.controller = Controller(counts, hidden, self.levels)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr)
        self.baselines: dict[int, float] = {}
        # per ask, in ask order: its level and the target (ms) it was screened against, so its
        # reward uses that same target even if later tells move the observed range
        self.ask_levels: list[int] = []
        self.ask_targets_ms: list[float | None] = []
        self.buffer: list[tuple[list[int], int, float]] = []
        self.updates = 0

    @property
    def min_evals(self) -> int:
        return self.batch_size

    def _propose(self) -> Arch:
        level = int(self.rng.integers(self.levels))
        rows = self.controller.sample(level, MAX_RESAMPLES, self.rng)
        # a level's target screens the samples like a budget (when latency is predicted); a
        # single user target with the soft reward is a trade-off, not a constraint: no screen
        target = self._target_ms(level) if self.levels > 1 and self.history else None
        self.ask_levels.append(level)
        self.ask_targets_ms.append(target)
        archs = [self.space.arch_from_indices(r) for r in rows]
        if all(str(a) in self._seen for a in archs):
            # a converged policy samples only archs it has asked; re-asking one costs no
            # evaluation but teaches nothing, and on the real NB201 pairs it left 100-154 distinct
            # archs in 900 asks. One-edit mutants of its samples stay near what it prefers.
            archs += [self.space.mutate(a, self.rng) for a in archs]
        return self.pick(archs, target)

    def _target_ms(self, level: int) -> float:
        """T of a level: the budget / target, else geometric between observed extremes."""
        if self.target_ms is not None:
            return float(self.target_ms)
        return self.level_target_ms(level, self.levels)

    def reward(self, obs: Observation, level: int = 0, target_ms: float | None = None) -> float:
        target = self._target_ms(level) if target_ms is None else target_ms
        ratio = max(obs.latency_ms, 1e-9) / target
        if self.reward_kind == "soft":
            w = SOFT_W
        else:
            w = 0.0 if obs.latency_ms <= target else -1.0
        return float(obs.accuracy * ratio ** w)

    def _learn(self, obs: Observation) -> None:
        index = len(self.history) - 1
        level, target = ((self.ask_levels[index], self.ask_targets_ms[index])
                         if index < len(self.ask_levels) else (0, None))
        self.buffer.append((list(self.space.indices(obs.arch)), level,
                            self.reward(obs, level, target)))
        if len(self.buffer) >= self.batch_size:
            self._update()

    def _update(self) -> None:
        for level in {lv for _, lv, _ in self.buffer} - set(self.baselines):
            self.baselines[level] = float(np.mean([r for _, lv, r in self.buffer if lv == level]))
        loss = torch.zeros(())
        for indices, level, r in self.buffer:
            logp, ent = self.controller.log_prob_entropy(indices, level)
            loss = loss - (r - self.baselines[level]) * logp - self.entropy_weight * ent
        self.optimizer.zero_grad(set_to_none=True)
        (loss / len(self.buffer)).backward()
        self.optimizer.step()
        d = self.baseline_decay
        for _, level, r in self.buffer:
            self.baselines[level] = d * self.baselines[level] + (1 - d) * float(r)
        self.buffer = []
        self.updates += 1

    def _extra_state(self) -> dict:
        return {"controller": _to_json(self.controller.state_dict()),
                "optimizer": _to_json(self.optimizer.state_dict()),
                "baselines": [[k, v] for k, v in sorted(self.baselines.items())],
                "ask_levels": list(self.ask_levels), "ask_targets_ms": list(self.ask_targets_ms),
                "buffer": [[i, lv, r] for i, lv, r in self.buffer], "updates": self.updates,
                "target_ms": self.target_ms}

    def _load_extra(self, extra: dict) -> None:
        self.controller.load_state_dict(_from_json(extra["controller"]))
        self.optimizer.load_state_dict(_from_json(extra["optimizer"]))
        self.baselines = {int(k): float(v) for k, v in extra["baselines"]}
        self.ask_levels = [int(v) for v in extra["ask_levels"]]
        self.ask_targets_ms = [None if v is None else float(v) for v in extra["ask_targets_ms"]]
        self.buffer = [(list(i), int(lv), float(r)) for i, lv, r in extra["buffer"]]
        self.updates = extra["updates"]
        self.target_ms = extra["target_ms"]
