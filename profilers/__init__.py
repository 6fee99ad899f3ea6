"""Device profilers: one module per runtime, each a subclass of :class:`hwnas.latency.profiler.Profiler`.

The core loads them by runtime name through :mod:`hwnas.plugins` (``get_profiler(name,
protocol)``); a new runtime is one module here plus one line in ``hwnas.plugins.PROFILERS``.
Runtime modules import their heavy dependencies lazily, so listing profilers never needs them;
lowering to a format is shared with the exporters in :mod:`runtimes`.
"""
