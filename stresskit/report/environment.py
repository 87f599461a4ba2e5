"""Where a run happened and with what: the report's one ``environment`` record (docs/metrics.md).

The one producer of it: the machine (CPU, cores, load), the OS, Python, stresskit's version, the
native library the run loaded (its path, how it was found, sha256, versions and build facts: what
`stresskit replay` checks before it reruns a replica), the git commit of the working directory's
repository and the command line. Typed by stresskit.report.model.Environment.
Computed once per process: none of it changes during a run (a process loads one native library),
and `shrink`, `replay` and in-process Hypothesis runs make many reports.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def git_commit(cwd: str | None = None) -> str | None:
    """HEAD of the repository holding ``cwd`` (the user's project), or None outside one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):  # no git, or it hung
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) >= 40 else None


_hashed: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """Hashed once per file version (path, size, mtime): `replay` checks libraries repeatedly."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hashed:
        with open(path, "rb") as fh:
            _hashed[key] = hashlib.file_digest(fh, "sha256").hexdigest() if hasattr(hashlib, "file_digest") else hashlib.sha256(fh.read()).hexdigest()
    return _hashed[key]


def library_identity() -> dict[str, Any]:
    """The native library this process loads (its workers find the same one the same way):
    ``path``, ``origin``, ``sha256``, ``glue_version``, ``mimalloc_version``, or ``error``."""
    from stresskit import _native

    try:
        lib = _native.load()
        mi = int(lib.lib.cc_mimalloc_version())
        return {"path": str(lib.path.resolve()), "origin": lib.origin, "sha256": sha256_of(lib.path),
                "glue_version": lib.ffi.string(lib.lib.cc_glue_version()).decode(),
                "mimalloc_version": f"{mi // 10000}.{mi // 100 % 100}.{mi % 100}"}
    except (_native.NativeLibraryError, OSError) as exc:
        return {"error": str(exc)}


def _native() -> dict[str, Any]:
    identity = library_identity()
    if "error" in identity:
        return identity
    from stresskit.bench.harness import build_info

    try:  # the compiler and allocator facts the bench JSON carries too
        built = build_info()
    except Exception as exc:  # noqa: BLE001 - a report without build facts beats no report
        return {**identity, "build_error": f"{type(exc).__name__}: {exc}"}
    return {**identity, **{k: built[k] for k in ("compiler", "optimized", "system_allocator") if k in built}}


def _machine() -> dict[str, Any]:
    from stresskit.bench.machine import cpu_model, load_average, usable_cores

    return {"cpu_model": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable_cores(),
            "load_average": load_average()}


def with_handoff(environment: dict[str, Any], when: str) -> dict[str, Any]:
    """A copy of ``environment`` whose machine also holds ``handoff_<when>`` ("before": no worker
    started yet, "after": every worker is done): the machine's cross-core hand-off round trip,
    measured now. Every rate that moves blocks between threads scales with it, and on a VM the
    host can change it between runs and during one (stresskit compare says so). Per run, unlike
    the rest of the record: a process may run several scenarios minutes apart."""
    from stresskit.bench.machine import handoff_latency

    return {**environment, "machine": {**environment.get("machine", {}), f"handoff_{when}": handoff_latency()}}


@functools.lru_cache(maxsize=1)
def current() -> dict[str, Any]:
    from stresskit._version import __version__

    return {
        "stresskit": __version__,
        "machine": _machine(),
        "os": {"system": platform.system(), "release": platform.release(), "platform": platform.platform()},
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(), "executable": sys.executable},
        "native": _native(),
        "git_commit": git_commit(os.getcwd()),
        "command_line": list(sys.argv),
    }
