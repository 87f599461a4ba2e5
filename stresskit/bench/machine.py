"""Where the numbers were measured: CPU, cores, load, and what the library was built with."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from stresskit.bench.harness import build_info


def cpu_model() -> str:
    """The CPU's marketing name: /proc/cpuinfo on Linux (instant), else py-cpuinfo, else platform."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        text = ""
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    brand = None
    try:
        import cpuinfo  # py-cpuinfo: slow (it may spawn a process), so only as a fallback

        brand = cpuinfo.get_cpu_info().get("brand_raw")
    except Exception:  # noqa: BLE001 - any failure here just means "unknown"
        brand = None
    return str(brand or platform.processor() or platform.machine() or "unknown")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def describe() -> dict:
    info = build_info()
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        **info,
    }
