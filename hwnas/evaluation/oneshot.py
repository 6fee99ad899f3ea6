"""One-shot evaluation: train a weight-sharing supernet once, score candidates with its weights.

Training samples one path per batch uniformly (single-path one-shot, Guo et al.); each
candidate is then scored on the validation split with the inherited weights after its
BatchNorm statistics are re-estimated on a few training batches (the supernet's running
statistics belong to the mixture of paths, not to this one). The trained supernet is cached in
the run folder (``supernet.pt``, weights and what they were trained for in one atomic file), so a
resumed run does not train it again; a torn or foreign cache is retrained, never fatal.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwnas.errors import HwnasError
from hwnas.evaluation.base import LutPricedEvaluator, arch_costs
from hwnas.evaluation.quantized import accuracy_kind, int8_accuracy, require_int8_pricing
from hwnas.io import load_weights, save_weights
from hwnas.runs import Candidate
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


@dataclass(frozen=True)
class OneShotConfig:
    data: str = "digits"
    # 6: sampled mbconv-small subnets reach 67-78 % on digits (2 epochs left them at 27-38 %)
    epochs: int = 6
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 4e-5
    calib_batches: int = 4
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | cuda:N | auto: where the supernet trains and scores
    accuracy_of: str = "fp32"  # "int8": score the post-training-quantized subnet (hwnas.evaluation.quantized)


CACHE = "supernet.pt"  # {"meta": what it was trained for, "state_dict": weights}, one atomic write
# the validation split is collated once and kept when it is at most this big (CIFAR-10's 10,000
# images are 123 MB); re-collating it per arch was a fifth of a score on the CIFAR-10 subset
KEEP_VAL_BYTES = 256 * 2**20


def _read_cache(path: Path, meta: dict) -> dict | None:
    """The cached supernet weights when ``path`` holds a whole cache trained for ``meta``;
    None (train again) for a missing, torn, foreign or older-format cache."""
    if not path.is_file():
        return None
    try:
        saved = load_weights(path)
    except HwnasError:
        return None  # a torn or unreadable cache costs one training, never the run
    if not isinstance(saved, dict) or saved.get("meta") != meta or "state_dict" not in saved:
        return None
    return saved["state_dict"]


class OneShotEvaluator(LutPricedEvaluator):
    name = "oneshot"

    def __init__(self, space: SearchSpace, lut: str | None, config: OneShotConfig = OneShotConfig()):
        super().__init__(space, lut)
        self.config = config
        self.supernet = None
        self._data = None
        self._batches = None
        self._val = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_data"] = state["_batches"] = state["_val"] = None  # reloaded on the worker
        return state

    def _load_data(self):
        if self._data is None:
            from hwnas.data import load_for_space
            from hwnas.nn import input_batches

            self._data = load_for_space(self.config.data, self.space)
            self._batches = input_batches(self._data, self.config.calib_batches, self.config.batch_size)
        return self._data

    def prepare(self, run_dir: Path | None = None, progress: bool = False) -> None:
        self._require_lut()
        require_int8_pricing(self._lut, self.config.accuracy_of)
        if self.supernet is not None:
            return
        from hwnas.nn.supernet import build_supernet
        from hwnas.train import seeded

        meta = {"space": self.space.name, "fingerprint": self.space.fingerprint(),
                "config": asdict(self.config)}
        net = seeded(self.config.seed, lambda: build_supernet(self.space)).to(self._device())
        cached = run_dir / CACHE if run_dir else None
        weights = _read_cache(cached, meta) if cached else None
        if weights is not None:
            net.load_state_dict(weights)
        else:
            self._train(net, progress)
            if cached:  # one atomic file: what it was trained for travels with the weights
                save_weights(cached, {"meta": meta, "state_dict": net.state_dict()})
        net.eval()
        self.supernet = net

    def _device(self) -> torch.device:
        from hwnas.train import resolve_device

        return resolve_device(self.config.device)

    def _train(self, net: nn.Module, progress: bool) -> None:
        from rich.progress import Progress

        data, cfg = self._load_data(), self.config
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        loader = data.loader("train", cfg.batch_size, gen)
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay, nesterov=True)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, cfg.epochs * len(loader)))
        sizes = [len(c) for c in self.space.choices()]
        device = self._device()
        with Progress(transient=True, disable=not progress) as bar:
            task = bar.add_task("train supernet (uniform single path)", total=cfg.epochs)
            for _ in range(cfg.epochs):
                net.train()
                for x, y in loader:
                    x, y = x.to(device), y.to(device)
                    gates = [int(rng.integers(n)) for n in sizes]
                    loss = nn.functional.cross_entropy(net(x, gates), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                bar.update(task, advance=1)

    @torch.no_grad()
    def accuracy(self, arch: Arch) -> float:
        from hwnas.nn import recalibrate_bn

        data = self._load_data()
        net, gates = self.supernet, list(self.space.indices(arch))
        recalibrate_bn(net, self._batches, forward=lambda x: net(x, gates))
        if self.config.accuracy_of == "int8":  # the standalone subnet with the inherited weights
            return int8_accuracy(net.extract_indices(gates).cpu(), data, self._lut.meta.runtime)
        correct = n = 0
        device = self._device()
        for x, y in self._val_batches(data):
            x, y = x.to(device), y.to(device)
            correct += (net(x, gates).argmax(1) == y).sum().item()
            n += len(y)
        return correct / max(n, 1)

    def _val_batches(self, data):
        """The validation batches: collated once and kept when the split is small enough."""
        if self._val is not None:
            return self._val
        channels, height, width = self.space.input_shape
        if len(data.val) * channels * height * width * 4 > KEEP_VAL_BYTES:
            return data.loader("val", 256)
        self._val = list(data.loader("val", 256))
        return self._val

    def evaluate(self, arch: Arch) -> Candidate:
        self.prepare()
        start = time.perf_counter()
        acc = self.accuracy(arch)
        params, macs = arch_costs(self.space, arch)
        return Candidate(arch, acc, self._lut.predict(self.space, arch), params, macs,
                         wall_s=time.perf_counter() - start,
                         accuracy_kind=accuracy_kind("oneshot-val", self.config.accuracy_of),
                         evaluator=self.name)

    def describe(self) -> dict:
        return {"evaluator": "oneshot", "lut": self.lut_path, **asdict(self.config)}
