"""Run a matrix: each cell is a scenario of its own, planned and run through
stresskit.session.execute one after another (so any executor that runs a plan runs a cell), and
one report file holds them all, rewritten atomically as each cell's replicas finish:

    {"schema_version", "status", "matrix": {"keys": [...], "cells": N}, "reports": [run report + "cell"]}

A report of several scenarios has the same "reports" list, so `stresskit report` and `replay`
read a matrix file as they read any other (docs/scale.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stresskit.matrix.expand import Cell
from stresskit.report.console import Display
from stresskit.report.json_report import ReportWriter
from stresskit.scenario.validation import CheckedScenario


class MatrixWriter(ReportWriter):
    """ReportWriter for a matrix: each report tagged with its cell, the document with the keys."""

    def __init__(self, path: Path | None, cells: Sequence[Cell]) -> None:
        super().__init__(path, multiple=True)
        self.cells = list(cells)

    def update(self, index: int, report: dict[str, Any]) -> None:
        cell = self.cells[index]
        super().update(index, {**report, "cell": {"index": cell.index, "params": cell.params}})

    def document(self) -> dict[str, Any]:
        doc = super().document()
        keys = list(self.cells[0].params) if self.cells else []
        return {"schema_version": doc["schema_version"], "status": doc["status"],
                "matrix": {"keys": keys, "cells": len(self.cells)}, "reports": doc["reports"]}


def run_cells(cells: Sequence[tuple[Cell, CheckedScenario]], opts: Any, display: Display,
              writer: MatrixWriter) -> tuple[list[dict[str, Any]], str | bool]:
    """Every cell's final report (as far as the run got) and the signal that ended it, or False."""
    from stresskit.session import run_scenario

    reports: list[dict[str, Any]] = []
    for cell, checked in cells:
        _report, interrupted = run_scenario(checked, opts, display, writer, cell.index)
        report = writer.reports[cell.index]  # tagged with its cell
        reports.append(report)
        display.line(f"cell {cell.index + 1}/{len(cells)} ({cell.label()}): {report['status'].upper()}")
        if interrupted:
            return reports, interrupted
    return reports, False
