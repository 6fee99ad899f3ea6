"""The shared TensorRT lowering (runtimes.tensorrt) against a recording stand-in for ``tensorrt``.

No GPU or TensorRT here: a stand-in module records what the build asks of TensorRT's builder, so
the options both the profiler and the exporter pass (workspace, fp16, batch profile) are checked.
The real engine build is covered by the ``gpu`` tests of test_profilers.py and test_export.py.
"""

from __future__ import annotations

import sys
import types

import pytest

from hwnas.errors import HwnasError
from runtimes import tensorrt as rt


class _Recorder:
    def __init__(self, fast_fp16: bool = True, parses: bool = True, deserializes: bool = True) -> None:
        self.calls: list[tuple] = []
        self.fast_fp16, self.parses, self.deserializes = fast_fp16, parses, deserializes

    def module(self) -> types.ModuleType:
        rec = self
        trt = types.ModuleType("tensorrt")
        trt.__version__ = "10.0-standin"
        trt.Logger = type("Logger", (), {"ERROR": "E", "WARNING": "W",
                                         "__init__": lambda s, level: rec.calls.append(("logger", level))})
        trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
        trt.BuilderFlag = types.SimpleNamespace(FP16="fp16")

        class Profile:
            def set_shape(self, name, lo, opt, hi):
                rec.calls.append(("profile", name, lo, opt, hi))

        class Config:
            def set_memory_pool_limit(self, pool, size):
                rec.calls.append(("pool", pool, size))

            def set_flag(self, flag):
                rec.calls.append(("flag", flag))

            def add_optimization_profile(self, profile):
                rec.calls.append(("add_profile",))

        class Builder:
            platform_has_fast_fp16 = rec.fast_fp16

            def __init__(self, logger):
                pass

            def create_network(self, flags):
                return "network"

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                return b"engine-bytes"

        class Parser:
            num_errors = 1

            def __init__(self, network, logger):
                pass

            def parse(self, data):
                rec.calls.append(("parse", data))
                return rec.parses

            def get_error(self, i):
                return "Unsupported op: Foo"

        class Runtime:
            def __init__(self, logger):
                pass

            def deserialize_cuda_engine(self, data):
                return ("engine", data) if rec.deserializes else None

        trt.Builder, trt.OnnxParser, trt.Runtime = Builder, Parser, Runtime
        return trt


@pytest.fixture()
def standin(monkeypatch: pytest.MonkeyPatch):
    def install(**kwargs) -> _Recorder:
        rec = _Recorder(**kwargs)
        monkeypatch.setitem(sys.modules, "tensorrt", rec.module())
        return rec

    return install


def test_exporter_build_gets_workspace_fp16_and_batch_profile(standin) -> None:
    rec = standin()
    data = rt.build_engine(b"onnx", workspace_mb=512, fp16=True,
                           batch=rt.BatchProfile("input", (3, 8, 8), opt=4, max=16))
    assert data == b"engine-bytes"
    assert ("parse", b"onnx") in rec.calls and ("logger", "W") in rec.calls
    assert ("pool", "workspace", 512 << 20) in rec.calls and ("flag", "fp16") in rec.calls
    assert ("profile", "input", (1, 3, 8, 8), (4, 3, 8, 8), (16, 3, 8, 8)) in rec.calls


def test_profiler_build_is_static_fp32_and_quiet(standin) -> None:
    rec = standin()
    rt.build_engine(b"onnx", workspace_mb=256, quiet=True)
    assert ("logger", "E") in rec.calls and ("pool", "workspace", 256 << 20) in rec.calls
    assert not [c for c in rec.calls if c[0] in ("flag", "profile", "add_profile")]


def test_build_and_load_failures_are_one_line_errors(standin) -> None:
    standin(parses=False)
    with pytest.raises(HwnasError, match="Unsupported op: Foo"):
        rt.build_engine(b"onnx", workspace_mb=1)
    standin(fast_fp16=False)
    with pytest.raises(HwnasError, match="no fast fp16"):
        rt.build_engine(b"onnx", workspace_mb=1, fp16=True)
    standin(deserializes=False)
    with pytest.raises(HwnasError, match="cannot deserialize model.engine"):
        rt.load_engine(b"x", "model.engine")
    standin()
    loaded = rt.load_engine(b"x", "model.engine")
    assert loaded.engine == ("engine", b"x") and loaded.runtime is not None
