"""Exporters: one module per deployment format, each a subclass of :class:`hwnas.export.base.Exporter`.

The core loads them by format name through :mod:`hwnas.plugins` (``get_exporter(name)``); the
export job itself (build, export, check, ``<artifact>.export.json``) is :mod:`hwnas.export.pipeline`.
Format modules import their runtime lazily, so this package imports without ExecuTorch, TensorRT
or CUDA; lowering to a format is shared with the profilers in :mod:`runtimes`.
"""
