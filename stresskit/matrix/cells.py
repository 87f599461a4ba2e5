"""What a matrix's table and charts show of each cell, read from the cells' run reports (the
``cell`` key json_report writes): parameters, verdict, throughput, p99 latency, failing checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

THROUGHPUT = "throughput.ops_per_s"
# The allocation latency where the scenario allocates through the engine's timed path, else a
# block's lifetime (produce -> free): one p99 per cell, the same metric across cells.
P99_METRICS = ("latency.alloc.p99_ns", "latency.lifetime.p99_ns")


@dataclass(frozen=True)
class CellRow:
    index: int
    params: dict[str, Any]
    status: str
    ops_per_s: float | None
    p99_ns: float | None
    failing: tuple[str, ...]


def p99_metric(reports: Sequence[dict[str, Any]]) -> str:
    """The first of P99_METRICS every cell that has metrics reports."""
    for name in P99_METRICS:
        if all(name in r["metrics"] for r in reports if r["metrics"]):
            return name
    return P99_METRICS[0]


def rows(reports: Sequence[dict[str, Any]]) -> list[CellRow]:
    p99 = p99_metric(reports)
    out = []
    for r in reports:
        cell = r.get("cell") or {"index": len(out), "params": {}}
        failing = tuple(t.get("name") or t["expression"] for t in r["thresholds"] if not t["ok"] and not t.get("skipped"))
        out.append(CellRow(cell["index"], dict(cell["params"]), r["status"], r["metrics"].get(THROUGHPUT), r["metrics"].get(p99), failing))
    return out


def value_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value).replace("'", '"')


def titled(report: dict[str, Any]) -> str:
    """The scenario's name, and for a matrix's cell its swept values: ``smr [roles.A.threads=2]``."""
    name = report["scenario"]["name"]
    cell = report.get("cell")
    if not cell:
        return name
    return name + " [" + " ".join(f"{k}={value_text(v)}" for k, v in cell["params"].items()) + "]"


@dataclass(frozen=True)
class Line:
    """One line of a chart: the cells that differ only in the first swept key."""

    label: str  # the other keys' values, or "" when one key is swept
    x: list[str]
    ops_per_s: list[float | None]
    p99_ns: list[float | None]


def lines(reports: Sequence[dict[str, Any]]) -> tuple[str, list[Line]]:
    """(the x axis's key, one Line per combination of the other keys)."""
    table = rows(reports)
    if not table or not table[0].params:
        return "cell", [Line("", [str(r.index) for r in table], [r.ops_per_s for r in table], [r.p99_ns for r in table])]
    first = next(iter(table[0].params))
    grouped: dict[str, list[CellRow]] = {}
    for r in table:
        rest = " ".join(f"{k}={value_text(v)}" for k, v in r.params.items() if k != first)
        grouped.setdefault(rest, []).append(r)
    return first, [Line(label, [value_text(r.params[first]) for r in group], [r.ops_per_s for r in group], [r.p99_ns for r in group])
                   for label, group in grouped.items()]
