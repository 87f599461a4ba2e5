"""The Python API: `stresskit.load`, `stresskit.validate`, `stresskit.run`.

The CLI's `validate` and `run` call these same functions (one code path), so a problem reads
the same in a test as on the command line: ``ScenarioInvalid.lines`` are the lines the CLI prints.
Documented in docs/workflow.md; every example there is run by tests/workflow/test_docs_examples.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from stresskit.planner import Overrides, PlanError, RunPlan, plan
from stresskit.report.model import MatrixReport, Report
from stresskit.scenario import CheckedScenario, Scenario, ScenarioError
from stresskit.scenario.validation import check

EXIT_USAGE, EXIT_ERROR = 2, 3

ScenarioLike = Union[str, "os.PathLike[str]", Mapping[str, Any], Scenario, CheckedScenario]


class StresskitError(Exception):
    """A problem the user can fix; ``lines`` are the one-line messages the CLI prints, and
    ``exit_code`` what it exits with (docs/exit-codes.md)."""

    exit_code = EXIT_ERROR

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


class ScenarioInvalid(StresskitError):
    """The scenario (or an override of it) is invalid: exit 2."""

    exit_code = EXIT_USAGE


class NativeUnavailable(StresskitError):
    """The native library cannot be loaded: nothing can run (exit 3)."""


def resolve(name: str | os.PathLike[str]) -> Path:
    """A path, or the name of a shipped scenario (``"smr"``)."""
    from stresskit.cli import _resolve

    return _resolve(os.fspath(name))


def load(scenario: ScenarioLike) -> CheckedScenario:
    """A checked scenario from a path, a shipped name, a dict (the TOML's structure) or a model."""
    if isinstance(scenario, CheckedScenario):
        return scenario
    try:
        if isinstance(scenario, Scenario):
            return check("<model>", scenario, default_name="scenario")
        if isinstance(scenario, Mapping):
            return _from_dict(dict(scenario))
        from stresskit.scenario import load as load_file

        return load_file(resolve(scenario))
    except ScenarioError as err:
        raise ScenarioInvalid(err.lines()) from None


def _from_dict(raw: dict[str, Any]) -> CheckedScenario:
    from pydantic import ValidationError

    from stresskit.scenario.errors import combined
    from stresskit.scenario.loading import _all_errors

    try:
        model = Scenario.model_validate(raw)
    except ValidationError as exc:
        error = combined(_all_errors("<dict>", raw, exc))
        assert error is not None  # a ValidationError holds at least one error
        raise error from None
    return check("<dict>", model, default_name="scenario")


def memory_verdict(run: RunPlan, max_memory: int | None) -> tuple[str, str | None]:
    """(the worst-case memory per worker as text, the one-line refusal or None)."""
    from stresskit.planner import default_max_memory, format_bytes

    need = run.replicas[0].rss_budget_bytes if run.replicas else 0
    limit, how = (max_memory, "--max-memory") if max_memory is not None else default_max_memory(run.workers)
    text = f"worst-case memory per worker: {format_bytes(need)}"
    if limit is None:
        return f"{text} (no limit: {how})", None
    shown = f"--max-memory {format_bytes(limit)}" + ("" if max_memory is not None else f" ({how})")
    if need > limit:
        return text, (f"{run.scenario.file}: worst-case memory per worker {format_bytes(need)} is above {shown}; "
                      "lower queue capacities, batches, limbo or memory_limit, run fewer workers at once, or raise --max-memory")
    return f"{text} (limit {format_bytes(limit)})", None


@dataclass(frozen=True)
class Validated:
    """A scenario that may run: its checks passed and its plan fits the memory limit."""

    scenario: CheckedScenario
    plan: RunPlan
    memory: str  # "worst-case memory per worker: 12.0 MiB (limit ...)"


def _overrides(seed: int | None, ops: int | None, duration: float | str | None) -> Overrides:
    if isinstance(duration, str):
        from stresskit.units import parse_duration_s

        try:
            duration = parse_duration_s(duration)
        except ValueError as exc:
            raise ScenarioInvalid([f"stresskit: duration: expected {exc} (got {duration!r})"]) from None
    return Overrides(seed=seed, ops=ops, duration_s=duration)


def validate(scenario: ScenarioLike, *, seed: int | None = None, ops: int | None = None, duration: float | str | None = None,
             workers: int | None = None, max_memory: int | None = None) -> Validated:
    """Load, check and plan without running; ScenarioInvalid (exit 2) names every problem."""
    checked = load(scenario)
    try:
        run_plan = plan(checked, _overrides(seed, ops, duration), workers=workers)
    except PlanError as exc:
        raise ScenarioInvalid([f"stresskit: {exc}"]) from None
    memory, refusal = memory_verdict(run_plan, max_memory)
    if refusal is not None:
        raise ScenarioInvalid([refusal])
    return Validated(checked, run_plan, memory)


def require_native() -> None:
    """Fail before spawning workers if the native library cannot be loaded: every worker
    would fail the same way."""
    from stresskit import _native

    try:
        _native.load()
    except _native.NativeLibraryError as exc:
        raise NativeUnavailable([f"stresskit: {exc} (`stresskit doctor` shows where it looks)"]) from None


def run(scenario: ScenarioLike, *, seed: int | None = None, ops: int | None = None, duration: float | str | None = None,
        workers: int | None = None, max_memory: int | None = None, profile: bool = False,
        profile_dir: str | os.PathLike[str] = "stresskit-profile", json_path: str | os.PathLike[str] | None = None,
        verbose: bool = False, isolate: bool = True, matrix: Sequence[str] = ()) -> Report | MatrixReport:
    """Run one scenario and check its thresholds; the Report is what `stresskit run` prints and
    writes. Overrides are the CLI's options (``duration`` in seconds or as text, "2s").
    A failing threshold is a Report with ``status == "fail"``, not an exception.
    ``isolate=False`` runs the replicas in this process, one after another (milliseconds instead
    of a worker start, for Hypothesis): no crash containment, no OOM bound (refused), see
    docs/workflow.md. With a matrix (``matrix=["roles.A.threads=1,2"]`` as `--matrix` takes them,
    or the scenario's ``[matrix]``) every cell runs and a MatrixReport holds one Report per cell."""
    from stresskit.io.outputs import OutputError, claim_dir, claim_file, release_all
    from stresskit.profiling import Profiler
    from stresskit.report.console import Display
    from stresskit.report.json_report import ReportWriter
    from stresskit.session import Options

    if not isolate:
        workers = 1  # one replica after another, in this process
    ready = validate(scenario, seed=seed, ops=ops, duration=duration, workers=workers, max_memory=max_memory)
    if matrix or ready.scenario.model.matrix:
        if not isolate:
            raise ScenarioInvalid([f"stresskit: {ready.scenario.file}: isolate=False runs one scenario, not a matrix: run the cells one by one, or leave isolate on"])
        return _run_matrix(ready.scenario, matrix, seed=seed, ops=ops, duration=duration, workers=workers,
                           max_memory=max_memory, json_path=json_path, verbose=verbose)
    if not isolate:
        from stresskit.runner.inprocess import refusal

        why = refusal(ready.plan.replicas, profile or ready.scenario.model.profile)
        if why is not None:
            raise ScenarioInvalid([f"stresskit: {ready.scenario.file}: isolate=False: {why}"])
    require_native()
    checked = ready.scenario
    try:
        path = claim_file("json_path", json_path, inputs=[checked.file]) if json_path is not None else None
        if profile or checked.model.profile:
            claim_dir("profile_dir", profile_dir, Profiler.files(checked.name))
    except OutputError as exc:
        raise ScenarioInvalid([f"stresskit: {exc.line()}"]) from None
    opts = Options(_overrides(seed, ops, duration), workers, profile, Path(profile_dir), isolate=isolate)
    writer = ReportWriter(path, multiple=False)
    try:
        report, _interrupted = run_checked(checked, opts, Display(quiet=not verbose), writer, 0)
    finally:  # the output paths are the caller's again (the CLI releases them when it exits)
        release_all()
    if writer.failure is not None:
        raise StresskitError([f"stresskit: {writer.failure.line()}"])
    return report


def _run_matrix(checked: CheckedScenario, specs: Sequence[str], *, seed: int | None, ops: int | None, duration: float | str | None,
                workers: int | None, max_memory: int | None, json_path: str | os.PathLike[str] | None, verbose: bool) -> MatrixReport:
    from stresskit.io.outputs import OutputError, claim_file, release_all
    from stresskit.matrix.command import expand, shared_seed
    from stresskit.matrix.session import MatrixWriter, run_cells
    from stresskit.report.console import Display
    from stresskit.session import Options

    try:
        cells = expand(checked, specs)
    except ScenarioError as err:
        raise ScenarioInvalid(err.lines()) from None
    if seed is None and not any("load.seed" in cell.params for cell, _ in cells[:1]):
        seed = shared_seed(checked)
    for _cell, cell_scenario in cells:
        validate(cell_scenario, seed=seed, ops=ops, duration=duration, workers=workers, max_memory=max_memory)
    require_native()
    try:
        path = claim_file("json_path", json_path, inputs=[checked.file]) if json_path is not None else None
    except OutputError as exc:
        raise ScenarioInvalid([f"stresskit: {exc.line()}"]) from None
    writer = MatrixWriter(path, [cell for cell, _ in cells])
    try:
        run_cells(cells, Options(_overrides(seed, ops, duration), workers), Display(quiet=not verbose), writer)
    finally:
        release_all()
    if writer.failure is not None:
        raise StresskitError([f"stresskit: {writer.failure.line()}"])
    return MatrixReport.from_dict(writer.document())


def run_checked(checked: CheckedScenario, opts: Any, display: Any, writer: Any, index: int) -> tuple[Report, str | bool]:
    """The one place a checked scenario is run (the CLI's `run` and `stresskit.run`): the Report
    and the name of the signal that ended the run, or False."""
    from stresskit.session import run_scenario

    data, interrupted = run_scenario(checked, opts, display, writer, index)
    return Report.from_dict(data), interrupted


__all__ = ["MatrixReport", "NativeUnavailable", "Report", "ScenarioInvalid", "StresskitError", "Validated", "load", "run", "validate"]
