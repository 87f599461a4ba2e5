"""`stresskit report REPORT.json -o report.html`, and the --html writer `stresskit run` shares."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from stresskit.report.reading import fail


def check_available() -> None:
    """Before any work: exit 2 and one line if HTML cannot be written (plotly missing)."""
    from stresskit.html.page import HtmlUnavailable, require_plotly

    try:
        require_plotly()
    except HtmlUnavailable as exc:
        fail(str(exc))


def write(path: Path, reports: list[dict[str, Any]], option: str) -> None:
    from stresskit.html.page import render
    from stresskit.io.outputs import write_atomic

    write_atomic(path, render(reports), option)


@click.command(name="report")
@click.argument("report_json", metavar="REPORT.json")
@click.option("--output", "-o", "output", required=True, type=click.Path(), help="The HTML file to write (one self-contained file, works offline).")
def report(report_json: str, output: str) -> None:
    """Turn a `stresskit run --json` report into one self-contained HTML page: verdict,
    thresholds, roles, diagnoses, latency histograms, throughput and unreclaimed memory over
    time, and an interactive flamegraph when the run was profiled. Exit 0 written, 2 bad input
    (one line naming the file and key), 3 the file could not be written."""
    from stresskit.cli import guarded

    guarded(_report)(report_json, output)


def _report(report_json: str, output: str) -> None:
    from stresskit.io.outputs import OutputError, WriteFailed, claim_file
    from stresskit.report.reading import read_or_exit

    check_available()
    reports = read_or_exit(report_json)
    try:
        out = claim_file("--output", output, inputs=[report_json])
    except OutputError as exc:
        fail(exc.line())
    try:
        write(out, [r.data for r in reports], "--output")
    except WriteFailed as exc:
        click.echo(f"stresskit: {exc.line()}", err=True)
        sys.exit(3)
    click.echo(f"html report: {out}")
