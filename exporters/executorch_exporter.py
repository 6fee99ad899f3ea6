"""ExecuTorch: a ``.pte`` program lowered through the XNNPACK partitioner (batch 1, float32).

Pipeline (ExecuTorch 1.x): ``torch.export.export`` -> ``to_edge_transform_and_lower`` with an
``XnnpackPartitioner`` -> ``to_executorch``; the program is checked and timed with the runtime's
Python bindings (``executorch.runtime.Runtime``), which run the same XNNPACK kernels a phone does.
The ExecuTorch threadpool is process-wide, so its size is set once, before the first program is
loaded; a later request for another size is refused rather than silently ignored.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from exporters.base import Exporter, ExportError, ExportInfo, ExportMetadata, ExportOptions, Runner

_THREADPOOL_SIZE: int | None = None  # set once per process (ExecuTorch's threadpool is global)


def set_threads_once(threads: int) -> None:
    """Size ExecuTorch's global threadpool; must happen before a program is loaded."""
    global _THREADPOOL_SIZE
    if _THREADPOOL_SIZE == threads:
        return
    if _THREADPOOL_SIZE is not None:
        raise ExportError(f"the ExecuTorch threadpool of this process already has {_THREADPOOL_SIZE} "
                          f"threads; cannot switch to {threads}", "use one thread count per process")
    from executorch.extension.pybindings import portable_lib

    portable_lib._unsafe_reset_threadpool(threads)
    _THREADPOOL_SIZE = threads


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("executorch")
    except importlib.metadata.PackageNotFoundError:
        return ""


class ExecuTorchExporter(Exporter):
    name = "executorch"
    suffix = ".pte"
    runtime = "executorch"
    extra = "mobile"
    atol = 1e-4
    rtol = 1e-3

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("executorch") is None:
            return "executorch is not installed"
        try:
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import (  # noqa: F401
                XnnpackPartitioner,
            )
            from executorch.runtime import Runtime  # noqa: F401
        except ImportError as exc:
            return f"executorch is installed without XNNPACK or its runtime bindings ({exc})"
        return None

    def export(self, model: nn.Module, sample: torch.Tensor, path: Path, options: ExportOptions,
               metadata: ExportMetadata) -> ExportInfo:
        self.require()
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        start = time.perf_counter()
        sample = sample[:1]
        try:
            program = torch.export.export(model, (sample,))
            t_export = time.perf_counter()
            edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
            t_lower = time.perf_counter()
            et_program = edge.to_executorch()
        except Exception as exc:  # torch.export / exir raise many types; name the first line
            raise ExportError(f"ExecuTorch lowering failed: {str(exc).splitlines()[0]}") from None
        buffer = et_program.buffer
        path.write_bytes(buffer)
        graph = edge.exported_program().graph_module.graph
        calls = [n for n in graph.nodes if n.op == "call_function"]
        delegated = sum("executorch_call_delegate" in str(n.target) for n in calls)
        return ExportInfo(self.name, path, time.perf_counter() - start, {
            "torch_export_s": round(t_export - start, 4),
            "lower_s": round(t_lower - t_export, 4),
            "to_executorch_s": round(time.perf_counter() - t_lower, 4),
            "partitioner": "XnnpackPartitioner", "delegate_calls": delegated,
            "undelegated_ops": sorted({str(n.target) for n in calls
                                       if "executorch_call_delegate" not in str(n.target)
                                       and "getitem" not in str(n.target)}),
            "batch": 1, "bytes": len(buffer), "executorch_version": _version(),
        })

    def load(self, path: Path, options: ExportOptions) -> Runner:
        self.require()
        set_threads_once(options.threads)
        from executorch.runtime import Runtime

        try:
            method = Runtime.get().load_program(str(path)).load_method("forward")
        except Exception as exc:  # the bindings raise RuntimeError with a status code
            raise ExportError(f"ExecuTorch cannot load {path}: {str(exc).splitlines()[0]}") from None

        def run(x: np.ndarray) -> np.ndarray:
            out = method.execute([torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))])
            return out[0].numpy()

        return Runner(run, self.runtime, _version(), fixed_batch=1)

    def runtime_version(self) -> str:
        return _version()
