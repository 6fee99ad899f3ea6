"""hwnas: hardware-aware neural architecture search.

Which module may import which: ``LAYERS`` in :mod:`hwnas.testing.imports` (lowest first), checked
by ``tests/test_imports.py`` and by ``python -m hwnas.testing.imports``.
"""

__version__ = "0.1.0"
