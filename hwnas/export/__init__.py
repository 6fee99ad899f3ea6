"""The export job: arch (+ weights) -> artifact of a format plug-in -> on-runtime check -> report.

:mod:`hwnas.export.base` is the ``Exporter`` interface the format plug-ins (``exporters/``)
implement, :mod:`hwnas.export.check` the parity and latency check, :mod:`hwnas.export.pipeline`
the whole job (``export_arch``). Formats are loaded by name through :mod:`hwnas.plugins`.
"""
