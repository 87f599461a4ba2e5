"""The console's matrix table: one row per cell (parameters, verdict, throughput, p99 latency,
failing checks); rich on a terminal, aligned plain text otherwise (CI logs, pipes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stresskit.matrix.cells import THROUGHPUT, p99_metric, rows, value_text
from stresskit.report import units
from stresskit.report.console import Display

VERDICT = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}


def table_rows(reports: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    cells = rows(reports)
    keys = list(cells[0].params) if cells else []
    p99 = p99_metric(reports)
    header = ["cell", *keys, "verdict", "ops/s", p99.removeprefix("latency.").removesuffix("_ns"), "failing checks"]
    body = [[str(c.index), *(value_text(c.params.get(k)) for k in keys), VERDICT.get(c.status, c.status.upper()),
             units.metric(THROUGHPUT, c.ops_per_s), units.metric(p99, c.p99_ns), ", ".join(c.failing) or "-"] for c in cells]
    return header, body


def show(display: Display, reports: Sequence[dict[str, Any]]) -> None:
    header, body = table_rows(reports)
    if display.tty:
        from rich.table import Table

        table = Table(title=f"matrix: {len(body)} cells", title_justify="left")
        for i, col in enumerate(header):
            table.add_column(col, justify="right" if col in ("ops/s",) or i == 0 or "p99" in col else "left")
        for row in body:
            table.add_row(*row)
        display.console.print(table)
        return
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    print(f"matrix: {len(body)} cells", flush=True)
    for row in [header, *body]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip(), flush=True)
