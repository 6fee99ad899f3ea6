"""TensorRT: the one ONNX -> serialized engine build, and engine loading (TensorRT 10, named tensors).

Used by the tensorrt profiler (one static-shape engine per op) and the tensorrt exporter (an
optimization profile over the batch dimension, fp16 on request). ``tensorrt`` and CUDA are
imported inside the functions only, so this module imports on a machine without them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwnas.errors import HwnasError


def _trt():
    import tensorrt as trt

    return trt


def _logger(quiet: bool):
    trt = _trt()
    return trt.Logger(trt.Logger.ERROR if quiet else trt.Logger.WARNING)


@dataclass(frozen=True)
class BatchProfile:
    """The batch range an engine accepts (``min``..``max``) and the batch its kernels are tuned for."""

    input_name: str
    sample_shape: tuple[int, ...]  # one input without the batch dimension, e.g. (3, 32, 32)
    opt: int
    max: int


def build_engine(onnx_bytes: bytes, *, workspace_mb: int, fp16: bool = False,
                 batch: BatchProfile | None = None, quiet: bool = False) -> bytes:
    """A serialized engine of an ONNX model; ``batch=None`` keeps the model's static shapes.

    ``quiet`` logs errors only (the profilers build hundreds of per-op engines).
    """
    trt = _trt()
    logger = _logger(quiet)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise HwnasError(f"TensorRT's ONNX parser rejected the model: {errors[:1]}",
                         "try another --opset, or report the op")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if fp16:
        if not builder.platform_has_fast_fp16:
            raise HwnasError("this GPU has no fast fp16", "export without --fp16")
        config.set_flag(trt.BuilderFlag.FP16)
    if batch is not None:
        shape = tuple(batch.sample_shape)
        profile = builder.create_optimization_profile()
        profile.set_shape(batch.input_name, (1, *shape), (batch.opt, *shape), (batch.max, *shape))
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise HwnasError("TensorRT could not build an engine (see its log above)",
                         "raise --workspace or export without --fp16")
    return bytes(serialized)


@dataclass(frozen=True)
class LoadedEngine:
    """A deserialized engine and the TensorRT runtime that must outlive it."""

    engine: object
    runtime: object


def load_engine(serialized: bytes, origin: str = "the engine", quiet: bool = False) -> LoadedEngine:
    """Deserialize an engine built by :func:`build_engine` (raises naming ``origin``)."""
    trt = _trt()
    runtime = trt.Runtime(_logger(quiet))
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise HwnasError(f"TensorRT cannot deserialize {origin}",
                         "rebuild the engine with this TensorRT version and GPU")
    return LoadedEngine(engine, runtime)


def version() -> str:
    import importlib.util

    return _trt().__version__ if importlib.util.find_spec("tensorrt") else ""
