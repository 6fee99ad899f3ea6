"""An accuracy predictor fitted once per supernet on the supernet's own scores (Once-for-All).

Specializing a supernet for a device is a search; scoring every candidate with the supernet
(BatchNorm recalibration + a validation pass, about a second each on a CPU) makes one more device
cost more than training the supernet did. So ``hwnas supernet predictor DIR`` scores ``N`` seeded
archs spread over the space's MAC range with the supernet - through ``DIR/scores.jsonl``, so
the scores are shared with searches and a killed build resumes - and fits a ridge surrogate on
them. A device's search then runs on predicted accuracy (microseconds an arch) and only the few
archs that matter are scored with the supernet (:mod:`hwnas.specialize.rescore`).

``DIR/predictor.json`` is JSON only (never a pickle): the ridge coefficients, the encoding, the
supernet weights' sha256 and space fingerprint it was fitted for, and its held-out fidelity
against supernet scores (K-fold Kendall tau, Spearman rho, mean absolute error). A predictor
fitted for other weights or another space is refused, never silently used.

Example:
    >>> built = build_predictor(Path("sn"), samples=200, seed=0)   # doctest: +SKIP
    >>> load_predictor(Path("sn"), space).predict(space, [arch])   # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas import __version__
from hwnas.errors import HwnasError
from hwnas.io import read_json, write_json
from hwnas.space.base import SearchSpace

FORMAT = "hwnas-predictor/1"
PREDICTOR = "predictor.json"
PREDICTED_KIND = "predicted-oneshot-val"  # what a predicted candidate's accuracy is
SCORED_AS = "supernet-fp32"  # the score cache's accuracy_of of the scores it is fitted on
ENCODINGS = ("onehot", "structure")
FIX = "rerun `hwnas supernet predictor {folder}`"


@dataclass(frozen=True)
class Predictor:
    """A fitted ridge model of supernet accuracy: ``c - exp(-(x.w + b))`` (or ``x.w + b`` when
    ``ceiling`` is None) on the ``encoding`` of an arch's choices."""

    encoding: str
    weights: tuple[float, ...]
    bias: float
    ceiling: float | None
    meta: dict  # everything else predictor.json holds (provenance, fidelity, timings)

    def predict_rows(self, space: SearchSpace, rows: np.ndarray) -> np.ndarray:
        x = encode_rows(space, rows, self.encoding)
        return np.clip(_model(x, np.asarray(self.weights), self.bias, self.ceiling), 0.0, 1.0)

    def predict(self, space: SearchSpace, archs: list) -> np.ndarray:
        return self.predict_rows(space, np.array([space.indices(a) for a in archs], dtype=int))


def encode_rows(space: SearchSpace, rows: np.ndarray, encoding: str) -> np.ndarray:
    from hwnas.search.encodings import structure_encoding
    from hwnas.search.surrogate import encode

    return encode(space, rows) if encoding == "onehot" else structure_encoding(space, rows)


def _model(x: np.ndarray, weights: np.ndarray, bias: float, ceiling: float | None) -> np.ndarray:
    """The fitted ridge's accuracy: ``c - exp(-(x.w + b))``, or ``x.w + b`` without a ceiling."""
    u = x @ weights + bias
    return u if ceiling is None else ceiling - np.exp(-u)


def _fit(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, float, float | None]:
    from hwnas.search.surrogate import Surrogate

    model = Surrogate("ridge", seed).fit(x, y)
    return np.asarray(model.weights, dtype=float), float(model.bias), model.ceiling


def _held_out(x: np.ndarray, y: np.ndarray, folds: int, rng: np.random.Generator, seed: int) -> dict:
    """K-fold predictions of every score by a model that never saw it, against the score."""
    from hwnas.evaluation.fidelity_rank import agreement

    order = rng.permutation(len(y))
    predicted = np.empty(len(y))
    for part in np.array_split(order, folds):
        train = np.setdiff1d(order, part)
        predicted[part] = _model(x[part], *_fit(x[train], y[train], seed))
    found = agreement(predicted.tolist(), y.tolist(), max(1, len(y) // 10))
    return {"folds": folds, "kendall_tau": found["kendall_tau"], "spearman_rho": found["spearman_rho"],
            "mae": float(np.mean(np.abs(predicted - y))),
            f"top_{max(1, len(y) // 10)}_overlap": found["top_k_overlap"]}


def check_build(samples: int, folds: int) -> None:
    if folds < 2 or samples < 2 * folds:
        raise HwnasError(f"--samples {samples} is too few for a {folds}-fold held-out check",
                         f"pass --samples {2 * max(folds, 2)} or more")


def supernet_scorer(supernet, scores_folder: Path | None = None):
    """``score(arch) -> float``: the supernet's one-shot score (BatchNorm recalibrated, validation
    split), read from and appended to ``DIR/scores.jsonl`` under the key that
    ``hwnas search --supernet`` uses, so every score is shared with every search."""
    from hwnas.evaluation.oneshot import OneShotConfig, OneShotEvaluator
    from hwnas.evaluation.score_cache import append_score, read_scores
    from hwnas.evaluation.supernet_artifact import score_key

    folder = Path(scores_folder or supernet.path)
    config = OneShotConfig(data=supernet.meta["config"]["data"])
    key = score_key(folder, config, SCORED_AS)
    scores = read_scores(folder, key)
    scorer = OneShotEvaluator(supernet.space, None, config)  # fp32 scoring never reads a table
    scorer.supernet = supernet.net

    def score(arch) -> float:
        name = str(arch)
        if name not in scores:
            scores[name] = scorer.accuracy(arch)
            append_score(folder, key, name, scores[name], "oneshot-val")
        return scores[name]

    return score


def build_predictor(folder: Path, samples: int = 200, seed: int = 0, folds: int = 5,
                    say=lambda _m: None) -> dict:
    """Score ``samples`` archs spread over the MAC range, fit, write ``folder/predictor.json``."""
    from hwnas.evaluation.fidelity_rank import spread_archs
    from hwnas.evaluation.score_cache import weights_sha256
    from hwnas.evaluation.supernet_artifact import WEIGHTS, load_supernet

    check_build(samples, folds)
    supernet = load_supernet(folder)
    space = supernet.space
    archs = spread_archs(space, samples, np.random.default_rng(seed))
    score = supernet_scorer(supernet)
    started = time.perf_counter()
    y = []
    for i, arch in enumerate(archs, 1):
        y.append(score(arch))
        if i % 25 == 0 or i == len(archs):
            say(f"scored {i}/{len(archs)} archs with the supernet")
    score_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = np.array([space.indices(a) for a in archs], dtype=int)
    y = np.asarray(y, dtype=float)
    tried = {}
    for encoding in ENCODINGS:  # held-out error picks the encoding; folds drawn alike for both
        x = encode_rows(space, rows, encoding)
        tried[encoding] = _held_out(x, y, folds, np.random.default_rng([seed, 1]), seed)
    encoding = min(ENCODINGS, key=lambda e: (tried[e]["mae"], e))
    weights, bias, ceiling = _fit(encode_rows(space, rows, encoding), y, seed)
    fit_s = time.perf_counter() - started
    record = {"format": FORMAT, "hwnas_version": __version__, "surrogate": "ridge",
              "encoding": encoding, "weights": weights.tolist(), "bias": bias, "ceiling": ceiling,
              "weights_sha256": weights_sha256(Path(folder) / WEIGHTS),
              "space": space.name, "space_fingerprint": space.fingerprint(),
              "samples": samples, "seed": seed, "scored_as": SCORED_AS, "predicts": "oneshot-val",
              "accuracy_kind": PREDICTED_KIND, "score_s": score_s, "fit_s": fit_s,
              "build_s": score_s + fit_s, "score_range": [float(y.min()), float(y.max())],
              "fidelity": tried[encoding], "encodings_tried": tried}
    write_json(Path(folder) / PREDICTOR, record)
    return record


def load_predictor(folder: Path, space: SearchSpace) -> Predictor:
    """``folder/predictor.json`` when it was fitted for this artifact's weights and ``space``;
    :class:`HwnasError` (naming the fix) when it is missing, damaged or stale."""
    from hwnas.evaluation.score_cache import weights_sha256
    from hwnas.evaluation.supernet_artifact import WEIGHTS

    folder = Path(folder)
    path = folder / PREDICTOR
    fix = FIX.format(folder=folder)
    if not path.is_file():
        raise HwnasError(f"{folder} has no {PREDICTOR}", f"make one with `hwnas supernet predictor "
                                                         f"{folder}`, or pass --accuracy-from supernet")
    raw = read_json(path, "supernet predictor")
    keys = ("encoding", "weights", "bias", "ceiling", "weights_sha256", "space_fingerprint")
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or any(k not in raw for k in keys) \
            or raw["encoding"] not in ENCODINGS:
        raise HwnasError(f"{path} is not an hwnas predictor ({FORMAT})", fix)
    if raw["space_fingerprint"] != space.fingerprint():
        raise HwnasError(f"{path} was fitted for another space (fingerprint {raw['space_fingerprint']},"
                         f" not {space.fingerprint()})", fix)
    if raw["weights_sha256"] != weights_sha256(folder / WEIGHTS):
        raise HwnasError(f"{path} is stale: it was fitted for other supernet weights "
                         f"(sha256 {raw['weights_sha256'][:12]}...)", fix)
    predictor = Predictor(raw["encoding"], tuple(float(w) for w in raw["weights"]), float(raw["bias"]),
                          None if raw["ceiling"] is None else float(raw["ceiling"]),
                          {k: v for k, v in raw.items() if k not in ("weights",)})
    width = encode_rows(space, np.zeros((1, space.num_positions), dtype=int), predictor.encoding).shape[1]
    if width != len(predictor.weights):
        raise HwnasError(f"{path} has {len(predictor.weights)} coefficients, the space needs {width}", fix)
    return predictor
