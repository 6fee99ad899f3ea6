"""One lowering per format, shared by the profilers and the exporters.

:mod:`runtimes.onnx` (torch -> ONNX bytes, graph optimization, metadata, onnxruntime sessions),
:mod:`runtimes.executorch` (torch -> XNNPACK ``.pte``, the process-wide threadpool guard, program
loading) and :mod:`runtimes.tensorrt` (ONNX -> serialized engine, engine loading). Each module
imports its runtime lazily, so importing this package needs none of them.
"""
