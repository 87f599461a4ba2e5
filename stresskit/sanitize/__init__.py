"""`stresskit run --sanitize address|thread|undefined`: the native library built with a sanitizer
(build.py), the workers' environment (runtime.py), their reports as diagnoses (reports.py), and
the run-level glue (session.py). docs/sanitizers.md."""

from __future__ import annotations

from stresskit.sanitize.build import KINDS, BuildFailed, SanitizedLibrary, ToolMissing, build
from stresskit.sanitize.session import SanitizedRun
from stresskit.sanitize.source import SourceUnavailable, mimalloc_source, native_source

__all__ = ["KINDS", "BuildFailed", "SanitizedLibrary", "SanitizedRun", "SourceUnavailable", "ToolMissing",
           "build", "mimalloc_source", "native_source", "prepare"]


def prepare(kind: str) -> SanitizedRun:
    """Build (or find in the cache) the library for ``kind`` and start a run's log directory.
    Raises ToolMissing, SourceUnavailable or BuildFailed, each with a one-line message."""
    built = build(kind, native_source(), mimalloc_source())
    return SanitizedRun.start(built)
