"""`stresskit compare A.json B.json`, and the baseline gate `stresskit run` shares with it."""

from __future__ import annotations

import sys

import click

from stresskit.report.reading import fail

EXIT_REGRESSION = 1


def parse_fail_above(text: str) -> float:
    from stresskit.bench.compare import parse_bound

    try:
        return parse_bound(text)
    except ValueError as exc:
        fail(f"--fail-above: {exc}")
    raise AssertionError  # unreachable: fail exits


def read(path: str) -> list:  # noqa: ANN201 - list of Report
    from stresskit.report.reading import read_or_exit

    reports = read_or_exit(path)
    if any(r.cell is not None for r in reports):
        fail(f"{path}: matrix: expected a run report, not a matrix of {len(reports)} cells (compare cells one by one: "
             "rerun a cell with its values and --json)")
    return reports


def gate(baseline: list, reports: list, bound: float, fmt: str = "markdown") -> int:  # noqa: ANN001 - Reports
    """Compare, print, and return 1 on a regression (else 0). Scenarios on one side only are
    named on stderr; none in common is a usage error (exit 2)."""
    from stresskit.compare import render
    from stresskit.compare.core import compare, pair_up

    pairs, unmatched = pair_up(baseline, reports)
    if not pairs:
        fail(f"no scenario in common to compare (old: {', '.join(r.name for r in baseline)}; new: {', '.join(r.name for r in reports)})")
    for name in unmatched:
        click.echo(f"stresskit: compare: scenario {name} is in only one of the two reports; not compared", err=True)
    comparisons = [compare(old, new, bound) for old, new in pairs]
    click.echo(render.as_json(comparisons) if fmt == "json" else render.markdown(comparisons))
    return EXIT_REGRESSION if any(c.failed for c in comparisons) else 0


@click.command(name="compare")
@click.argument("old", metavar="A.json")
@click.argument("new", metavar="B.json")
@click.option("--fail-above", default="10%", show_default=True, help="A metric regresses when it got worse by more than this (and beyond the replicas' spread).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
def compare_cmd(old: str, new: str, fail_above: str, fmt: str) -> None:
    """Compare two `stresskit run --json` reports (A the baseline, B the new run): per metric
    old, new, change and the replicas' spread, judged by which direction is better
    (docs/workflow.md). Exit 0 no regression, 1 a regression, 2 bad input."""
    from stresskit.cli import guarded

    def body() -> None:
        bound = parse_fail_above(fail_above)
        sys.exit(gate(read(old), read(new), bound, fmt))

    guarded(body)()
