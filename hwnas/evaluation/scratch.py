"""Evaluation by short training from scratch: few epochs on a subset of the training split.

The cheapest honest proxy: every candidate starts from the same seed, trains ``epochs`` epochs on
the first ``subset`` fraction of the training split and is scored on the validation split.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from torch.utils.data import Subset

from hwnas.evaluation.base import LutPricedEvaluator, arch_costs
from hwnas.evaluation.quantized import accuracy_kind, int8_accuracy, require_int8_pricing
from hwnas.runs import Candidate
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


@dataclass(frozen=True)
class ScratchConfig:
    data: str = "digits"
    # 2 epochs on half of digits (18 SGD steps) scored every mbconv-small arch 0.08-0.12, chance
    epochs: int = 5
    subset: float = 0.5
    batch_size: int = 64
    lr: float = 0.05
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | cuda:N | auto: where candidates train and are scored
    accuracy_of: str = "fp32"  # "int8": score the post-training-quantized net (hwnas.evaluation.quantized)


class ScratchEvaluator(LutPricedEvaluator):
    name = "scratch"

    def __init__(self, space: SearchSpace, lut: str | None, config: ScratchConfig = ScratchConfig()):
        super().__init__(space, lut)
        self.config = config
        self._data = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_data": None}

    def prepare(self, run_dir: Path | None = None, progress: bool = False) -> None:
        self._require_lut()
        require_int8_pricing(self._lut, self.config.accuracy_of)
        if self._data is None:
            from hwnas.data import load_for_space

            data = load_for_space(self.config.data, self.space)
            keep = max(1, int(round(len(data.train) * self.config.subset)))
            self._data = replace(data, train=Subset(data.train, np.arange(keep).tolist()))

    def evaluate(self, arch: Arch) -> Candidate:
        from hwnas.nn import build_model
        from hwnas.train import TrainConfig, evaluate, resolve_device, seeded, train_model

        self.prepare()
        start = time.perf_counter()
        cfg = self.config
        model = seeded(cfg.seed, lambda: build_model(self.space, arch))
        train_model(model, self._data, TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, seed=cfg.seed,
                                                   device=cfg.device), progress=False)
        if cfg.accuracy_of == "int8":  # the model comes back on the CPU, where int8 is exported
            acc = int8_accuracy(model, self._data, self._lut.meta.runtime)
        else:
            _, acc = evaluate(model.to(resolve_device(cfg.device)), self._data.loader("val", 256))
        params, macs = arch_costs(self.space, arch)
        return Candidate(arch, acc, self._lut.predict(self.space, arch), params, macs,
                         wall_s=time.perf_counter() - start,
                         accuracy_kind=accuracy_kind("scratch-val", cfg.accuracy_of),
                         evaluator=self.name)

    def describe(self) -> dict:
        return {"evaluator": "scratch", "lut": self.lut_path, **asdict(self.config)}
