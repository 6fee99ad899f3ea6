"""The accuracy of the int8 network a search ships (``hwnas search --accuracy-of int8``).

With ``accuracy_of="int8"`` the scratch and one-shot evaluators score a candidate's trained (or
inherited) weights after post-training static quantization: ranges calibrated on the first
training-split batches, accuracy on the validation split, run in the runtime of the table that
prices the search, so accuracy and latency are both those of one int8 artifact:

- onnxruntime table: QDQ int8 (``runtimes.onnx_int8``, what ``hwnas profile --dtype int8`` timed
  and ``hwnas export --quantize int8`` ships), run in onnxruntime;
- executorch table: PT2E with XNNPACK's quantizer lowered to XNNPACK (``runtimes.executorch_int8``),
  run in the ExecuTorch runtime (slower to lower: seconds per candidate).

Other runtimes have no int8 path here and are refused, as is an int8 search priced by a float32
table (refused rather than warned about: it would trade int8 accuracy against float32 latency,
a pair no artifact has; how far apart the two latencies are depends on the CPU and the runtime -
from equal to several times apart - so no warning could say how wrong the budget is).

The quantizing plug-ins are named by ``"module:function"`` strings and imported only when used,
like :mod:`hwnas.plugins` does (evaluators sit below that registry's layer and cannot import it).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from hwnas.errors import HwnasError

ACCURACY_OF = ("fp32", "int8")
# table runtime -> the plug-in function building an int8 classifier (model, example, batches)
INT8_CLASSIFIERS: dict[str, str] = {
    "onnxruntime": "runtimes.onnx_int8:int8_classifier",
    "executorch": "runtimes.executorch_int8:int8_classifier",
}
# the Python package each of those runtimes needs (checked before a search writes anything)
INT8_PACKAGES: dict[str, str] = {"onnxruntime": "onnxruntime", "executorch": "executorch"}
# what the export's quantization calibrates on too (hwnas.export.quantize): 8 batches of 32
CALIBRATION_BATCHES = 8
CALIBRATION_BATCH = 32


def check_accuracy_of(value: str) -> str:
    """``fp32`` (also ``float32``) or ``int8``; anything else is refused in one line."""
    name = {"float32": "fp32"}.get(str(value).lower(), str(value).lower())
    if name not in ACCURACY_OF:
        raise HwnasError(f"unknown --accuracy-of {value!r}", f"pass one of {', '.join(ACCURACY_OF)}")
    return name


def accuracy_kind(base: str, accuracy_of: str) -> str:
    """The candidate's accuracy kind: ``scratch-val`` -> ``scratch-val-int8`` for int8 scores, so
    reports never rank int8 and float32 accuracies together."""
    return base if accuracy_of == "fp32" else f"{base}-{accuracy_of}"


def require_int8_pricing(table, accuracy_of: str, name: str = "the --lut table") -> None:
    """Refuse an int8-accuracy search priced by a float32 table or by a runtime that cannot
    quantize here (``table``: a :class:`~hwnas.latency.table.LatencyTable`, or None)."""
    if accuracy_of != "int8":
        return
    if table is None:
        raise HwnasError("--accuracy-of int8 needs an int8 latency table to price the search",
                         "pass --lut with an int8 table (shipped: cpu-1t/onnxruntime-int8-mbconv-small)")
    runtime = table.meta.runtime
    if table.meta.dtype != "int8":
        profile = runtime if runtime in INT8_CLASSIFIERS else "onnxruntime"
        raise HwnasError(f"--accuracy-of int8 would be priced by {name}, timed in {table.meta.dtype}: "
                         "the search would trade int8 accuracy against float32 latency",
                         f"pass an int8 table (`hwnas profile --runtime {profile} --dtype int8`; "
                         "shipped: cpu-1t/onnxruntime-int8-mbconv-small) or drop --accuracy-of int8")
    if runtime not in INT8_CLASSIFIERS or importlib.util.find_spec(INT8_PACKAGES[runtime]) is None:
        why = "it is not installed" if runtime in INT8_CLASSIFIERS else "hwnas has no int8 path for it"
        raise HwnasError(f"--accuracy-of int8 cannot quantize for runtime {runtime!r} of {name} here: {why}",
                         f"use an int8 table of {' or '.join(INT8_CLASSIFIERS)} (installed), or drop "
                         "--accuracy-of int8")


def _classifier(runtime: str) -> Callable:
    if runtime not in INT8_CLASSIFIERS:
        raise HwnasError(f"no int8 path for runtime {runtime!r} here",
                         f"use one of {', '.join(INT8_CLASSIFIERS)}")
    module, function = INT8_CLASSIFIERS[runtime].split(":")
    return getattr(importlib.import_module(module), function)


def calibration_batches(data) -> list[np.ndarray]:
    """The first training-split batches, in a fixed order: the ranges never see validation images."""
    from hwnas.nn import input_batches

    return [x.numpy() for x in input_batches(data, CALIBRATION_BATCHES, CALIBRATION_BATCH, split="train")]


def int8_accuracy(model: nn.Module, data, runtime: str, split: str = "val") -> float:
    """Top-1 accuracy over ``split`` of the int8 version of ``model`` in ``runtime``.

    Raises ``HwnasError`` (one line) when the runtime has no int8 path or cannot quantize the net.
    """
    batches = calibration_batches(data)
    if not batches:
        raise HwnasError("int8 scoring needs training images to calibrate on",
                         "use data with a training split")
    example = torch.from_numpy(batches[0][:1])
    with torch.random.fork_rng(devices=[]):  # quantizing must not move the caller's RNG
        classify = _classifier(runtime)(model.eval(), example, batches)
    correct = total = 0
    for x, y in data.loader(split, 256, shuffle=False):
        correct += int((classify(x.numpy()).argmax(1) == y.numpy()).sum())
        total += int(y.numel())
    return correct / max(total, 1)
