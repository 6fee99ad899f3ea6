"""int8 ONNX: post-training static quantization with ``onnxruntime.quantization``.

One function, :func:`quantize_int8`, used by the onnxruntime profiler (``hwnas profile --dtype
int8``: one quantized model per op) and by the onnx exporter (``hwnas export --quantize int8``):
both must ship the same kind of int8 graph, or an int8 table would not price an int8 artifact.

Choices, and why:
- QDQ format (QuantizeLinear/DequantizeLinear pairs around float ops): standard ONNX ops, so the
  model passes ``onnx.checker`` and onnxruntime fuses each pair into its int8 kernels at load.
- Per-channel int8 weights: per-tensor scales lose accuracy on depthwise convs (one outlier
  channel sets the scale of all), which MobileNet-like blocks are full of.
- uint8 activations with int8 weights (U8S8), onnxruntime's recommended pairing on x86/ARM CPUs.
- MinMax calibration: the ranges of the calibration batches; entropy/percentile cost minutes per
  network and matter little at the batch counts used here.
- The float graph is optimized first (onnxruntime's basic level: BatchNorm folded into convs,
  constants folded), as onnxruntime's quantization guide asks: quantizing the raw export wraps
  every BatchNorm and Add in its own Q/DQ pair, and those nets ran 2.4-4.4x slower than float32
  here (measured on 3 mbconv-small archs) against 0.96-1.1x once folded. Profiler, exporter and
  ``--accuracy-of int8`` all quantize through this one function, so they ship the same graph.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from hwnas.errors import HwnasError


def quantize_int8(model_bytes: bytes, batches: Iterable[np.ndarray]) -> bytes:
    """Statically quantized (QDQ, per-channel int8 weights, uint8 activations) ``model_bytes``,
    calibrated on ``batches`` (float32 arrays the model's input accepts).

    Raises ``HwnasError`` when there is no calibration batch or onnxruntime cannot quantize.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from runtimes.onnx import optimize_basic

    batches = list(batches)
    if not batches:
        raise HwnasError("int8 quantization needs at least one calibration batch",
                         "pass calibration data with training images")
    model_bytes = optimize_basic(model_bytes)
    input_name = onnx.load_from_string(model_bytes).graph.input[0].name

    class Batches(CalibrationDataReader):
        """The calibration batches fed to the model's one input (MinMax reads them once)."""

        def __init__(self) -> None:
            self._feeds = iter([{input_name: np.ascontiguousarray(b, dtype=np.float32)} for b in batches])

        def get_next(self):
            return next(self._feeds, None)

    reader = Batches()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(model_bytes)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # quantize_static logs "consider pre-processing" on the root logger
        try:
            quantize_static(str(src), str(dst), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax,
                            extra_options={"CalibTensorRangeSymmetric": False})
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises assorted types
            raise HwnasError(f"onnxruntime could not quantize the model to int8: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                             "report the arch or op that failed") from None
        finally:
            root.setLevel(level)
        return dst.read_bytes()


def seeded_batches(shape: Sequence[int], count: int, seed: int) -> list[np.ndarray]:
    """``count`` calibration batches of ``shape`` from a seeded generator: N(0, 1) values,
    the scale the ops see after BatchNorm (used where no real activations are at hand)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(shape)).astype(np.float32) for _ in range(count)]


def int8_classifier(model, example, batches: Sequence[np.ndarray], threads: int = 1):
    """A callable ``x -> logits`` running the int8 QDQ version of eval-mode torch ``model`` in
    onnxruntime (any batch size), calibrated on ``batches``: what ``--accuracy-of int8`` scores
    candidates with when the search is priced by an onnxruntime table (the same quantization as
    ``hwnas profile --dtype int8`` and ``hwnas export --quantize int8``)."""
    from runtimes.onnx import session, torch_to_onnx

    raw = torch_to_onnx(model, example, dynamic_batch=True)
    sess = session(quantize_int8(raw, batches), threads=threads)
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return sess.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]

    return run
