"""stresskit: stress-test the mimalloc allocation glue (cc_*) of lock-free data structures.

Importing the package loads nothing native: the library is loaded on first use of the glue API
below, so `stresskit --help`, `validate` and friends work (and `doctor` can explain) even when
the native library is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stresskit._version import __version__

_GLUE_API = (
    "CACHE_LINE_SIZE",
    "Allocator",
    "Block",
    "BlockKind",
    "StatsSnapshot",
    "counting",
    "stats_enabled",
)

# The workflow API (stresskit/api.py, docs/workflow.md): loaded on first use like the glue's.
_WORKFLOW_API = ("run", "load", "validate", "Report", "MatrixReport", "ScenarioInvalid", "StresskitError")

__all__ = ["__version__", *_GLUE_API, *_WORKFLOW_API]

if TYPE_CHECKING:
    from stresskit.allocator import (  # noqa: F401
        CACHE_LINE_SIZE,
        Allocator,
        Block,
        BlockKind,
        StatsSnapshot,
        counting,
        stats_enabled,
    )
    from stresskit.api import MatrixReport, Report, ScenarioInvalid, StresskitError, load, run, validate  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _GLUE_API:
        from stresskit import allocator

        return getattr(allocator, name)
    if name in _WORKFLOW_API:
        from stresskit import api

        return getattr(api, name)
    raise AttributeError(f"module 'stresskit' has no attribute {name!r}")
