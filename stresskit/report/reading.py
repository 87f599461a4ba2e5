"""Reading `run --json` reports for a command (`report`, `compare`, `run --baseline`): a file
that cannot be used ends the command with one line naming it and exit 2."""

from __future__ import annotations

import sys

import click

from stresskit.report.model import JsonInputError, Report, read_reports

EXIT_USAGE = 2


def fail(line: str) -> None:
    click.echo(f"stresskit: {line}", err=True)
    sys.exit(EXIT_USAGE)


def read_or_exit(path: str) -> list[Report]:
    try:
        reports = read_reports(path)
    except JsonInputError as exc:
        fail(str(exc))
    if not reports:
        fail(f"{path}: reports: expected at least one run report (got an empty list)")
    return reports
