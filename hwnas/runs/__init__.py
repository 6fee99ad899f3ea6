"""The run contract: ``Candidate`` (one evaluated arch), ``RunResult`` (what a run found), the
objective vocabulary, and ``RunFolder``, the only module that names a run folder's files.

Every search writes through ``RunFolder``; reports, the demo and export read through it.
"""

from hwnas.runs.candidate import (
    ACCURACY_KINDS,
    OBJECTIVES,
    AccuracyKind,
    Candidate,
    Objective,
    RunError,
    parse_objectives,
)
from hwnas.runs.folder import RESUME_FREE, RunFolder, RunSettings
from hwnas.runs.result import FORMAT_VERSION, RunResult, front_and_best

__all__ = ["ACCURACY_KINDS", "FORMAT_VERSION", "OBJECTIVES", "RESUME_FREE", "AccuracyKind",
           "Candidate", "Objective", "RunError", "RunFolder", "RunResult", "RunSettings", "front_and_best",
           "parse_objectives"]
