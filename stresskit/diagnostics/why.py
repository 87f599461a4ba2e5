"""The "why it failed" block: the last lines a failing run prints before its verdict.

The checks and thresholds above it say *what* failed; this block says *where*, in a few lines per
failing replica taken from its diagnoses (each diagnosis module's ``summary_lines``), and points
at the report section with the whole story and at the command that reruns the replica.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# diagnostics key -> module with summary_lines(diag) -> list[str]
SUMMARISERS = {
    "leaks": "stresskit.diagnostics.leaks",
    "corruption": "stresskit.diagnostics.corruption",
    "stall": "stresskit.diagnostics.stalls",
    "crash": "stresskit.diagnostics.crashes",
    "sanitizer": "stresskit.sanitize.reports",
}
MAX_LINES_PER_SECTION = 6
MAX_FAILED_NAMED = 8


def _summariser(key: str) -> Callable[[dict[str, Any]], list[str]] | None:
    module = SUMMARISERS.get(key)
    if module is None:
        return None
    try:
        return getattr(importlib.import_module(module), "summary_lines", None)
    except ImportError:
        return None


def _section_lines(key: str, diag: Any) -> list[str]:
    summarise = _summariser(key)
    if summarise is None or not isinstance(diag, dict):
        return [f"{key}: see the report"]
    try:
        lines = [str(line) for line in summarise(diag)]
    except Exception as exc:  # noqa: BLE001 - a diagnosis that cannot be summarised must not hide the verdict
        return [f"{key}: could not be summarised ({type(exc).__name__}: {exc}); see the report"]
    if len(lines) > MAX_LINES_PER_SECTION:
        lines = [*lines[: MAX_LINES_PER_SECTION - 1], f"... {len(lines) - MAX_LINES_PER_SECTION + 1} more lines in the report"]
    return lines


def failed_checks(report: dict[str, Any]) -> list[str]:
    return [t["name"] if t.get("builtin") else t["expression"] for t in report.get("thresholds", [])
            if not t.get("ok") and not t.get("skipped")]


def why_lines(report: dict[str, Any], json_path: str | None, *, name_failed: bool = True) -> list[str]:
    """The block's lines (empty for a passing run). ``name_failed``: start with the names of the
    failed checks (off where the failing lines were just printed in full)."""
    if report.get("status") == "pass":
        return []
    where = json_path or "the report (--json FILE)"
    lines: list[str] = []
    failing = failed_checks(report)
    delivered = [w for w in report.get("workers", []) if w.get("status") == "ok"]
    if failing and name_failed:
        if not delivered:  # every check fails for want of metrics: listing them says nothing
            lines.append("no replica delivered a result: the checks had nothing to judge")
        else:
            shown = failing[:MAX_FAILED_NAMED]
            more = f" and {len(failing) - len(shown)} more" if len(failing) > len(shown) else ""
            lines.append(f"failed: {', '.join(shown)}{more}")
    for index, worker in enumerate(report.get("workers", [])):
        diagnostics = worker.get("diagnostics") or {}
        if worker.get("status") not in ("ok", "not_started"):
            lines.append(f"replica {worker['replica']}: {worker['status']}" + (f": {worker['error']}" if worker.get("error") else ""))
        elif diagnostics:
            lines.append(f"replica {worker['replica']}:")
        for key, diag in diagnostics.items():
            lines += [f"  {line}" for line in _section_lines(key, diag)]
            lines.append(f"  details: {where}: workers[{index}].diagnostics.{key} (docs/diagnostics.md)")
    if lines and json_path:
        bad = next((w["replica"] for w in report.get("workers", []) if w.get("diagnostics") or w.get("status") != "ok"), None)
        if bad is not None:
            lines.append(f"rerun it: stresskit replay {json_path} --replica {bad}")
    return lines
