"""What every replica records so that `stresskit replay` can rerun it (docs/diagnostics.md,
Replay): ``workers[i].replay`` (seed, the whole ReplicaPlan, the test hooks in force, the failure
signature) and, once per run, ``tool.python``/``tool.native`` (the library's path, versions and
sha256). session.py calls ``run_environment`` once per run and ``record`` per replica.
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stresskit.plan import ReplicaPlan
from stresskit.plan_codec import plan_to_dict
from stresskit.runner.records import WorkerRecord
from stresskit.thresholds import NOT_PRODUCED, ThresholdResult

# Environment variables that change what a worker does: the engine's and the worker's test hooks
# (a planted failure must replay) and mimalloc's options (read when the library loads).
HOOK_VARIABLES = ("STRESSKIT_TEST_ENGINE_HOOKS", "STRESSKIT_TEST_CRASH")
MIMALLOC_PREFIX = "MIMALLOC_"
NATIVE_ENV = "STRESSKIT_NATIVE_LIB"

def recordable(name: str) -> bool:
    return name in HOOK_VARIABLES or name.startswith(MIMALLOC_PREFIX)


def test_environment() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items()) if recordable(k)}


_hashed: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """Hashed once per file version (path, size, mtime): `shrink` runs many candidates."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hashed:
        with open(path, "rb") as fh:
            _hashed[key] = hashlib.file_digest(fh, "sha256").hexdigest() if hasattr(hashlib, "file_digest") else hashlib.sha256(fh.read()).hexdigest()
    return _hashed[key]


def library_identity() -> dict[str, Any]:
    """The native library this process loads (and its workers find the same way)."""
    from stresskit import _native

    try:
        lib = _native.load()
        mi = int(lib.lib.cc_mimalloc_version())
        return {"path": str(lib.path.resolve()), "origin": lib.origin, "sha256": sha256_of(lib.path),
                "glue_version": lib.ffi.string(lib.lib.cc_glue_version()).decode(),
                "mimalloc_version": f"{mi // 10000}.{mi // 100 % 100}.{mi % 100}"}
    except (_native.NativeLibraryError, OSError) as exc:
        return {"error": str(exc)}


def run_environment() -> dict[str, Any]:
    """The run-wide facts of a replay record (under the report's ``tool``)."""
    return {"python": platform.python_version(), "native": library_identity()}


def failed_names(thresholds: Sequence[ThresholdResult]) -> list[str]:
    """What failed on a value. A check over a metric the replica never produced (it crashed, it
    was killed) is left out: the worker's status and signal already say why, and the list of
    every check would hide it."""
    return sorted(t.name if t.builtin else t.expression for t in thresholds if not t.ok and not t.reason.endswith(NOT_PRODUCED))


def signature(status: str, thresholds: Sequence[ThresholdResult], rec: WorkerRecord) -> dict[str, Any]:
    """What makes two failures the same: the verdict, what failed, how the worker ended."""
    return {"status": status, "failed": failed_names(thresholds), "worker_status": rec.status,
            "stop_reason": rec.result.stop_reason if rec.result is not None else None, "signal": rec.signal}


def record(plan: ReplicaPlan, rec: WorkerRecord, thresholds: Sequence[ThresholdResult]) -> dict[str, Any]:
    """``workers[i].replay``: ``thresholds`` are the scenario's checks over this replica alone."""
    from stresskit.report.json_report import status_of

    return {"seed": plan.seed, "plan": plan_to_dict(plan), "environment": test_environment(),
            "signature": signature(status_of([rec], thresholds, False), thresholds, rec)}
