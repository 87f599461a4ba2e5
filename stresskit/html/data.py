"""What the HTML page shows, taken out of a report document (docs/metrics.md) as plain values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from stresskit.report import units
from stresskit.report.console import Display, tally, threshold_kind, threshold_status, threshold_value

ROLE_COLUMNS = ("role", "action", "threads", "ops", "ops/s", "op", "p50", "p99", "max")


@dataclass(frozen=True)
class Histogram:
    replica: int
    role: str
    op: str
    count: int
    lowers: list[int]
    uppers: list[int]
    counts: list[int]


@dataclass(frozen=True)
class Series:
    replica: int
    t_s: list[float]
    values: list[float | None]


@dataclass(frozen=True)
class DiagnosisSection:
    replica: int
    name: str
    lines: list[str] = field(default_factory=list)  # the section's summary, when it has one
    pairs: list[tuple[str, str]] = field(default_factory=list)  # else: flattened key -> value
    raw: str = ""  # the whole section as JSON, for the reader who wants everything


def verdict(report: dict[str, Any]) -> tuple[str, str]:
    """("PASS"|"FAIL"|"ERROR", "9/9 thresholds passed, ...")."""
    return {"pass": "PASS", "fail": "FAIL"}.get(report["status"], "ERROR"), tally(report["thresholds"])


def threshold_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for t in report["thresholds"]:
        rows.append({"status": threshold_status(t), "kind": threshold_kind(t), "expression": t["expression"],
                     "value": units.MISSING if t.get("skipped") else threshold_value(t), "reason": t.get("reason") or ""})
    return rows


def role_rows(report: dict[str, Any]) -> list[list[str]]:
    return Display._role_rows(report)


def key_metrics(report: dict[str, Any]) -> list[tuple[str, str]]:
    return Display._key_metrics(report)


def histograms(report: dict[str, Any]) -> list[Histogram]:
    out = []
    for h in report.get("latency_histograms") or []:
        buckets = h.get("buckets") or []
        out.append(Histogram(h["replica"], h["role"], h["op"], h["count"], [b[0] for b in buckets], [b[1] for b in buckets], [b[2] for b in buckets]))
    return out


def _series(entries: list[dict[str, Any]], column: str) -> list[Series]:
    out = []
    for entry in entries or []:
        index = entry["columns"].index(column)
        out.append(Series(entry["replica"], [p[0] for p in entry["points"]], [p[index] for p in entry["points"]]))
    return out


def throughput(report: dict[str, Any]) -> list[Series]:
    return _series(report.get("throughput_series") or [], "ops_per_s")


def unreclaimed(report: dict[str, Any]) -> list[Series]:
    return _series(report.get("unreclaimed_series") or [], "bytes")


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict) and value:
        return [pair for k, v in value.items() for pair in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    text = json.dumps(value) if not isinstance(value, str) else value
    return [(prefix or "(value)", text if len(text) <= 300 else text[:297] + "...")]


def _summary(name: str, section: Any) -> list[str]:
    if isinstance(section, dict) and section.get("summary"):
        summary = section["summary"]
        return [str(s) for s in summary] if isinstance(summary, list) else str(summary).splitlines()
    from stresskit.diagnostics.why import _summariser

    summarise = _summariser(name)
    if summarise is not None and isinstance(section, dict):
        try:
            return [str(line) for line in summarise(section)]
        except Exception:  # noqa: BLE001 - an unreadable section falls back to its keys and values
            return []
    return []


def diagnoses(report: dict[str, Any]) -> list[DiagnosisSection]:
    """Every replica's diagnosis sections ("leaks", "corruption", "stall", "crash", and any
    added later): its summary lines where it has them, else a key/value view."""
    out = []
    for worker in report.get("workers") or []:
        for name, section in (worker.get("diagnostics") or {}).items():
            own = isinstance(section, dict) and bool(section.get("summary"))
            # a section without its own summary: the diagnosis module's lines, if it has some,
            # and always the keys and values (a module may not read a section's newer keys)
            out.append(DiagnosisSection(worker["replica"], name, _summary(name, section), [] if own else _flatten(section),
                                        json.dumps(section, indent=2, default=str)))
    return out
