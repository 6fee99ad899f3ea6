"""What the host is: CPU model from /proc/cpuinfo (or platform), core count."""

from __future__ import annotations

import os
import platform
from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "processor\t: a")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def host_summary() -> str:
    return f"{cpu_model()} ({os.cpu_count()} logical cores, {platform.system()} {platform.machine()})"
