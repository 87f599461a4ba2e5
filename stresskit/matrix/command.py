"""`stresskit run SCENARIO --matrix KEY=V1,V2 [--plot FILE]` (and a scenario with ``[matrix]``):
cells checked and planned before anything runs, run one after another, one report, the table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from stresskit.matrix.expand import Axis, Cell, checked_cells, parse_option
from stresskit.scenario.errors import ScenarioError
from stresskit.scenario.validation import CheckedScenario

EXIT_USAGE, EXIT_ERROR = 2, 3


def wanted(loaded: Sequence[CheckedScenario], specs: Sequence[str]) -> bool:
    return bool(specs) or any(c.model.matrix for c in loaded)


def expand(checked: CheckedScenario, specs: Sequence[str]) -> list[tuple[Cell, CheckedScenario]]:
    """The cells of one scenario (its ``[matrix]`` and ``specs``); ScenarioError names the bad one."""
    extra: list[Axis] = [parse_option(s) for s in specs]
    document = checked.model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return checked_cells(checked.file, document, extra, default_name=checked.name)


def validate_cells(checked: CheckedScenario, max_memory: int | None) -> tuple[int, str]:
    """`validate` of a scenario with a matrix: (its cells, the largest cell's memory line);
    ScenarioInvalid names a cell too large for --max-memory."""
    from stresskit.api import ScenarioInvalid
    from stresskit.api import validate as check

    worst: tuple[int, str] = (-1, "")
    cells = expand(checked, [])
    for cell, scenario in cells:
        try:
            ready = check(scenario, max_memory=max_memory)
        except ScenarioInvalid as err:
            raise ScenarioInvalid([f"{err.lines[0]} [matrix cell {cell.index} ({cell.label()})]"]) from None
        need = ready.plan.replicas[0].rss_budget_bytes if ready.plan.replicas else 0
        if need > worst[0]:
            worst = (need, f"{ready.memory} in its largest cell, {cell.index} ({cell.label()})" if len(cells) > 1 else ready.memory)
    return len(cells), worst[1]


def _refuse(line: str) -> None:
    click.echo(line, err=True)
    sys.exit(EXIT_USAGE)


def run(loaded: Sequence[CheckedScenario], specs: Sequence[str], plot_path: str | None, options: dict[str, Any]) -> None:
    """Exit 0 every cell passed, 1 a cell failed, 2 invalid matrix or options, 3 an error,
    130/143/129 interrupted. ``options`` are `run`'s other options by name."""
    from stresskit import cli
    from stresskit.api import ScenarioInvalid
    from stresskit.api import validate as check
    from stresskit.executors.command import opened
    from stresskit.matrix import table
    from stresskit.matrix.session import MatrixWriter, run_cells
    from stresskit.planner import Overrides
    from stresskit.report.console import Display
    from stresskit.report.json_report import overall_status
    from stresskit.session import Options, exit_code, prepare_run

    if len(loaded) != 1:
        _refuse("stresskit: --matrix: expected one scenario file (a matrix sweeps one scenario; run the others separately)")
    if options["baseline"] is not None:
        _refuse("stresskit: --baseline: cannot gate a matrix (compare one cell's report: run it with the cell's values)")
    if options["profile"]:
        _refuse("stresskit: --profile: not with a matrix (every cell would write the same profile files; profile a cell: "
                "run it with that cell's values)")
    if plot_path is not None:
        from stresskit.matrix.plot import PlotUnavailable, check as check_plot

        try:
            check_plot(plot_path)
        except PlotUnavailable as exc:
            _refuse(f"stresskit: {exc}")
    try:
        cells = expand(loaded[0], specs)
    except ScenarioError as err:
        for line in err.lines():
            click.echo(line, err=True)
        sys.exit(EXIT_USAGE)
    seed, ops, duration = options["seed"], options["ops"], options["duration"]
    if seed is None and not any("load.seed" in cell.params for cell, _ in cells[:1]):
        seed = shared_seed(loaded[0])  # cells differ only in what they sweep, not in their random streams
    for cell, checked in cells:  # overrides and memory, per cell, before anything runs
        try:
            check(checked, seed=seed, ops=ops, duration=duration, workers=options["workers"], max_memory=options["max_memory"])
        except ScenarioInvalid as err:
            _refuse(f"{err.lines[0]} [matrix cell {cell.index} ({cell.label()})]")
    scenarios = [c for _, c in cells]
    html_out = cli._claim_html(options["html_path"], scenarios)
    junit_out = cli._claim_junit(options["junit_path"], scenarios)
    plot_out = _claim_plot(plot_path, scenarios)
    sanitized = None
    if options["sanitize"] is not None:
        from stresskit.sanitize.command import prepare_or_exit

        sanitized = prepare_or_exit(options["sanitize"])
    json_path, profile_dir = prepare_run(options["json_path"], options["profile_dir"], scenarios[:1], options["profile"])
    display = Display(quiet=options["quiet"])
    writer = MatrixWriter(json_path, [cell for cell, _ in cells])
    with opened(options.get("executor")) as executor:  # one Dask cluster or connection for every cell
        opts = Options(Overrides(seed=seed, ops=ops, duration_s=duration), options["workers"], options["profile"], profile_dir,
                       sanitize=sanitized, executor=executor)
        reports, interrupted = run_cells(cells, opts, display, writer)
    table.show(display, reports)
    if json_path:
        display.line(f"report: {json_path}")
    written = max(cli._write_html(html_out, reports), cli._write_junit(junit_out, reports, json_path), _write_plot(plot_out, reports))
    if interrupted:
        sys.exit(writer.outcome(exit_code("error", interrupted=interrupted)))
    status = overall_status(reports)
    click.echo(f"{loaded[0].name}: matrix of {len(cells)} cells: {status.upper()} "
               f"({sum(r['status'] == 'pass' for r in reports)}/{len(reports)} cells passed)")
    sys.exit(writer.outcome(written or exit_code(status)))


def shared_seed(checked: CheckedScenario) -> int:
    import os

    return checked.model.load.seed if checked.model.load.seed is not None else int.from_bytes(os.urandom(8), "little") >> 1


def _claim_plot(path: str | None, scenarios: Sequence[CheckedScenario]) -> Path | None:
    if path is None:
        return None
    from stresskit.io.outputs import OutputError, claim_file

    try:
        return claim_file("--plot", path, inputs=[c.file for c in scenarios])
    except OutputError as exc:
        _refuse(f"stresskit: {exc.line()}")
    return None


def _write_plot(path: Path | None, reports: list[dict[str, Any]]) -> int:
    """0, or 3 when the file could not be written (the run itself is over)."""
    if path is None or not reports:
        return 0
    from stresskit.io.outputs import WriteFailed, write_atomic
    from stresskit.matrix.plot import render

    try:
        write_atomic(path, render(reports, path.suffix.lower().lstrip(".")), "--plot")
    except WriteFailed as exc:
        click.echo(f"stresskit: {exc.line()}", err=True)
        return EXIT_ERROR
    click.echo(f"plot: {path}")
    return 0
