"""Where a run happened: the report's ``environment`` key (docs/metrics.md).

Machine and library facts come from stresskit.bench.machine (the bench JSON carries the same);
added here: OS, Python, the git commit of the working directory's repository, the command line.
Computed once per process: none of it changes during a run.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from typing import Any


def git_commit(cwd: str | None = None) -> str | None:
    """HEAD of the repository holding ``cwd`` (the user's project), or None outside one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):  # no git, or it hung
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) >= 40 else None


def _machine() -> dict[str, Any]:
    from stresskit.bench.machine import describe, load_average

    try:
        facts = describe()
    except Exception as exc:  # noqa: BLE001 - a report without library facts beats no report
        facts = {"error": f"{type(exc).__name__}: {exc}"}
    return {**facts, "load_average": load_average()}


@functools.lru_cache(maxsize=1)
def current() -> dict[str, Any]:
    from stresskit._version import __version__

    return {
        "machine": _machine(),
        "os": {"system": platform.system(), "release": platform.release(), "platform": platform.platform()},
        "python": {"version": sys.version.split()[0], "implementation": platform.python_implementation(), "executable": sys.executable},
        "stresskit": __version__,
        "git_commit": git_commit(os.getcwd()),
        "command_line": list(sys.argv),
    }
