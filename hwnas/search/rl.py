"""REINFORCE with an LSTM controller (Zoph & Le; MnasNet's latency-aware reward).

The controller emits one choice per position: an LSTM cell reads the embedding of the previous
choice, a per-position linear head gives that position's logits. Sampling uses the strategy's
numpy generator (so the JSON state holds all randomness); the log-probability is recomputed at
update time. Every ``batch_size`` tells, the policy gradient step is
``-(R - b) * log p(arch) - entropy_weight * H`` with a moving-average baseline ``b``.

Reward (MnasNet): ``ACC * (LAT / T) ** w``; ``soft``: w = -0.07 on both sides of T; ``hard``:
w = 0 under T and -1 over. T is the latency budget, else ``target_ms``, else the median latency
observed so far.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hwnas.search.base import Observation, Problem, SearchError, Strategy
from hwnas.space.arch import Arch

SOFT_W = -0.07


class Controller(nn.Module):
    def __init__(self, choice_counts: list[int], hidden: int = 32):
        super().__init__()
        self.embed = nn.Embedding(max(choice_counts) + 1, hidden)  # last row: start token
        self.cell = nn.LSTMCell(hidden, hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in choice_counts)
        self.start = max(choice_counts)

    def step_logits(self, prev: int, state):
        h, c = self.cell(self.embed(torch.tensor([prev])), state)
        return h, c

    def log_prob_entropy(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        state, prev = None, self.start
        logp, ent = torch.zeros(()), torch.zeros(())
        for p, j in enumerate(indices):
            h, c = self.step_logits(prev, state)
            state = (h, c)
            dist = torch.log_softmax(self.heads[p](h)[0], dim=0)
            logp = logp + dist[j]
            ent = ent - (dist.exp() * dist).sum()
            prev = j
        return logp, ent


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
                 target_ms: float | None = None, hidden: int = 32):
        super().__init__(problem, seed)
        if reward not in ("soft", "hard"):
            raise SearchError(f"unknown reward {reward!r}", "use --reward soft or hard")
        self.reward_kind = reward
        self.batch_size = batch_size
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        self.target_ms = problem.budget_ms if problem.budget_ms is not None else target_ms
        counts = [len(c) for c in self.space.choices()]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.controller = Controller(counts, hidden)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr)
        self.baseline: float | None = None
        self.buffer: list[tuple[list[int], float]] = []
        self.updates = 0

    @property
    def min_evals(self) -> int:
        return self.batch_size

    @torch.no_grad()
    def _sample(self) -> Arch:
        state, prev, out = None, self.controller.start, []
        for p in range(self.space.num_positions):
            h, c = self.controller.step_logits(prev, state)
            state = (h, c)
            probs = torch.softmax(self.controller.heads[p](h)[0].double(), dim=0).numpy()
            j = int(self.rng.choice(len(probs), p=probs / probs.sum()))
            out.append(j)
            prev = j
        return self.space.arch_from_indices(out)

    def _propose(self) -> Arch:
        return self.draw(self._sample)

    def reward(self, obs: Observation) -> float:
        target = self.target_ms
        if target is None:
            target = float(np.median([o.latency_ms for o in self.history]))
        ratio = max(obs.latency_ms, 1e-9) / target
        if self.reward_kind == "soft":
            w = SOFT_W
        else:
            w = 0.0 if obs.latency_ms <= target else -1.0
        return float(obs.accuracy * ratio ** w)

    def _learn(self, obs: Observation) -> None:
        self.buffer.append((list(self.space.indices(obs.arch)), self.reward(obs)))
        if len(self.buffer) >= self.batch_size:
            self._update()

    def _update(self) -> None:
        rewards = np.array([r for _, r in self.buffer])
        if self.baseline is None:
            self.baseline = float(rewards.mean())
        loss = torch.zeros(())
        for indices, r in self.buffer:
            logp, ent = self.controller.log_prob_entropy(indices)
            loss = loss - (r - self.baseline) * logp - self.entropy_weight * ent
        self.optimizer.zero_grad(set_to_none=True)
        (loss / len(self.buffer)).backward()
        self.optimizer.step()
        for r in rewards:
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * float(r)
        self.buffer = []
        self.updates += 1

    def _extra_state(self) -> dict:
        return {"controller": _to_json(self.controller.state_dict()),
                "optimizer": _to_json(self.optimizer.state_dict()), "baseline": self.baseline,
                "buffer": [[i, r] for i, r in self.buffer], "updates": self.updates,
                "target_ms": self.target_ms}

    def _load_extra(self, extra: dict) -> None:
        self.controller.load_state_dict(_from_json(extra["controller"]))
        self.optimizer.load_state_dict(_from_json(extra["optimizer"]))
        self.baseline = extra["baseline"]
        self.buffer = [(list(i), float(r)) for i, r in extra["buffer"]]
        self.updates = extra["updates"]
        self.target_ms = extra["target_ms"]
