"""The `stresskit` command. click: subcommands, typed options and --help for free.

Exit codes (docs/exit-codes.md): 0 all thresholds pass · 1 a threshold failed · 2 invalid input or
usage · 3 a worker crashed or infrastructure failed · 4 (`doctor` only) can run but cannot profile ·
5 (`shrink` only) nothing smaller still fails · 130/143/129 interrupted (SIGINT/SIGTERM/SIGHUP).
`replay` and `shrink` read 0/1 for what they do (docs/exit-codes.md).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import click

from stresskit._version import __version__

EXIT_USAGE, EXIT_ERROR = 2, 3
EXIT_NO_PROFILER = 4  # doctor only: everything needed to run works, profiling does not
DEBUG_ENV = "STRESSKIT_DEBUG"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stresskit")
def main() -> None:
    """Stress-test the cc_* allocation glue over mimalloc."""


def _internal_error(exc: BaseException) -> None:
    """A bug of ours: one line and exit 3, the traceback only on request."""
    if isinstance(exc, BrokenPipeError):
        # The reader went away (`stresskit list | head`): not an error. Point stdout at devnull
        # so the interpreter's final flush cannot raise again, and exit as `head` expects.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    if os.environ.get(DEBUG_ENV):
        raise exc
    click.echo(f"stresskit: internal error: {type(exc).__name__}: {exc} (rerun with {DEBUG_ENV}=1 for the traceback, and report it)", err=True)
    sys.exit(EXIT_ERROR)


def guarded(fn):  # noqa: ANN001, ANN201
    """No traceback ever reaches the user: usage exits and Ctrl-C pass through, anything else
    is an internal error (one line, exit 3)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return fn(*args, **kwargs)
        except (SystemExit, click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("stresskit: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001
            _internal_error(exc)

    return wrapper


# -- scenario files ----------------------------------------------------------------------------
def shipped_dirs() -> list[Path]:
    """Where shipped scenarios live: $STRESSKIT_SCENARIOS, the installed package data
    (stresskit/scenarios), then the checkout's scenarios/ beside the package."""
    import stresskit

    dirs = []
    if os.environ.get("STRESSKIT_SCENARIOS"):
        dirs.append(Path(os.environ["STRESSKIT_SCENARIOS"]))
    for entry in stresskit.__path__:
        dirs.append(Path(entry) / "scenarios")
        dirs.append(Path(entry).parent / "scenarios")
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def shipped_scenarios() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in shipped_dirs():
        for f in sorted(d.glob("*.toml")):
            found.setdefault(f.stem, f)
    return found


def _resolve(file: str) -> Path:
    """A path, or the name of a shipped scenario (`stresskit run smr`)."""
    path = Path(file)
    if not path.exists() and os.sep not in file and not file.endswith(".toml"):
        shipped = shipped_scenarios().get(file)
        if shipped is not None:
            return shipped
    return path


def _load_all(files: tuple[str, ...]):  # noqa: ANN202 - list of CheckedScenario
    from stresskit.api import ScenarioInvalid, load

    loaded, bad = [], 0
    for f in files:
        try:
            loaded.append(load(f))
        except ScenarioInvalid as err:  # every problem of the file, one line each
            for line in err.lines:
                click.echo(line, err=True)
            bad += 1
    return loaded, bad


# -- memory ------------------------------------------------------------------------------------
class _Bytes(click.ParamType):
    name = "SIZE"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201
        from stresskit.units import parse_bytes

        try:
            size = parse_bytes(str(value))
        except (ValueError, OverflowError) as exc:
            self.fail(f"expected {exc} (got {value!r})", param, ctx)
        if size < 1:
            self.fail(f"expected a positive byte size (got {value!r})", param, ctx)
        return size


MAX_MEMORY_HELP = ("Refuse a scenario whose worst-case memory per worker is above SIZE (e.g. 2GiB; default: "
                   "50% of physical RAM / the workers running at once).")


def _memory_verdict(run, max_memory: int | None) -> tuple[str, str | None]:  # noqa: ANN001 - a RunPlan
    from stresskit.api import memory_verdict

    return memory_verdict(run, max_memory)


# -- validate ------------------------------------------------------------------------------------
@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--max-memory", type=_Bytes(), help=MAX_MEMORY_HELP)
@guarded
def validate(files: tuple[str, ...], max_memory: int | None) -> None:
    """Check scenario FILES without running them: one line per problem of every file on stderr,
    `FILE: key.path: what was expected (got X)`; exit 2 if any file is invalid. Each valid file's
    line gives the plan's worst-case memory per worker (refused above --max-memory)."""
    from stresskit.api import ScenarioInvalid
    from stresskit.api import validate as check

    loaded, bad = _load_all(files)
    for s in loaded:
        m = s.model
        try:
            estimate = check(s, max_memory=max_memory).memory
            if m.matrix:  # each cell is planned too: the largest one decides (stresskit/matrix)
                from stresskit.matrix.command import validate_cells

                cells, estimate = validate_cells(s, max_memory)
        except ScenarioInvalid as err:
            for line in err.lines:
                click.echo(line, err=True)
            bad += 1
            continue
        counts = ", ".join(_count(n, what) for n, what in ((len(m.roles), "role"), (sum(r.threads for r in m.roles.values()), "thread"),
                                                            (len(s.graph.queues), "queue"), (len(s.thresholds), "threshold")))
        if m.matrix:
            counts += f", matrix of {_count(cells, 'cell')}"
        click.echo(f"{s.file}: ok ({s.name}: {counts}); {estimate}")
    sys.exit(EXIT_USAGE if bad else 0)


# -- list ----------------------------------------------------------------------------------------
def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


@main.command(name="list")
@guarded
def list_() -> None:
    """List the shipped scenarios with a one-line description."""
    from stresskit.scenario import ScenarioError, load

    found = shipped_scenarios()
    if not found:
        click.echo("no shipped scenarios found (looked in: stresskit/scenarios, the checkout's scenarios/, $STRESSKIT_SCENARIOS)", err=True)
        sys.exit(EXIT_ERROR)
    width = max(len(n) for n in found)
    for name, path in found.items():
        try:
            desc = load(path).model.description
        except ScenarioError as err:
            desc = f"(invalid: {err.expected})"
        click.echo(f"{name:<{width}}  {desc}")
    click.echo(f"\nrun one with: stresskit run {next(iter(found.values()))}   (or just its name)")


# -- run -----------------------------------------------------------------------------------------
class _Duration(click.ParamType):
    name = "DURATION"

    def __init__(self, limit: float = 3600) -> None:
        self.limit = limit

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201
        from stresskit.units import parse_duration_s

        try:
            seconds = parse_duration_s(str(value))
        except ValueError as exc:
            self.fail(f"expected {exc} (got {value!r})", param, ctx)
        if not 0 < seconds <= self.limit:
            self.fail(f"expected a duration in (0, {self.limit:g}] seconds (got {value!r})", param, ctx)
        return seconds


class _Executor(click.ParamType):
    name = "executor"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from stresskit.executors import ExecutorSpec, parse_spec

        if isinstance(value, ExecutorSpec):
            return value
        try:
            return parse_spec(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--workers", "-w", type=click.IntRange(1, 64), help="Worker processes at once (default: min(replicas, CPUs)).")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), help="Base seed (default: the scenario's, else random; always reported).")
@click.option("--ops", type=click.IntRange(1, 10**11), help="Allocations per replica (replaces the scenario's ops/duration).")
@click.option("--duration", type=_Duration(), help="Stop allocating after this long, e.g. 2s or 500ms.")
@click.option("--json", "json_path", type=click.Path(), help="Write the JSON report here (docs/files.md: what may be written).")
@click.option("--baseline", type=click.Path(), help="Compare with this earlier `run --json` report; exit 1 on a regression (docs/workflow.md).")
@click.option("--fail-above", default="10%", show_default=True, help="With --baseline: the change that counts as a regression.")
@click.option("--junit", "junit_path", type=click.Path(), help="Write JUnit XML: one test case per threshold and built-in check (docs/workflow.md).")
@click.option("--html", "html_path", type=click.Path(), help="Also write the report as one self-contained HTML page (needs stresskit[html]).")
@click.option("--profile", is_flag=True, help="Sample workers with py-spy (native frames): hotspots, flamegraph, speedscope.")
@click.option("--profile-dir", type=click.Path(), default="stresskit-profile", show_default=True,
              help="Where --profile writes its files.")
@click.option("--quiet", "-q", is_flag=True, help="Print only one status line per scenario.")
@click.option("--max-memory", type=_Bytes(), help=MAX_MEMORY_HELP)
@click.option("--sanitize", type=click.Choice(["address", "thread", "undefined", "memcheck"]),
              help="Run the workers on the native library and mimalloc built with this sanitizer, or under valgrind's "
                   "memcheck (built once, cached); "
                   "a sanitizer report fails the run (docs/sanitizers.md).")
@click.option("--executor", "executor_spec", type=_Executor(), default="local", show_default=True, metavar="local|dask|dask://HOST:PORT",
              help="Where replicas run: worker processes here, a Dask LocalCluster sized to this machine, or an existing "
                   "Dask scheduler (needs stresskit[dask]; docs/scale.md).")
# -- matrices and soaks (stresskit/matrix, stresskit/soak; docs/scale.md) --
@click.option("--matrix", "matrix", multiple=True, metavar="KEY=V1,V2",
              help="Sweep a scenario key (repeatable): one run per cell of the cartesian product, e.g. roles.A.threads=1,2,4.")
@click.option("--plot", "plot_path", type=click.Path(), help="With a matrix: draw throughput and p99 latency against the swept keys (.svg/.png, needs stresskit[plot]).")
@click.option("--repeat", type=click.IntRange(1, 10**9), help="Soak: run N replicas, each with its own seed derived from the run's seed.")
@click.option("--until-failure", is_flag=True, help="Soak: keep starting replicas until one fails (with --repeat and --max-time as limits).")
@click.option("--max-time", "max_time", type=_Duration(limit=10**7), help="Soak: start no replica after this long, e.g. 2h.")
# -- end of matrices and soaks --
def run(files: tuple[str, ...], workers: int | None, seed: int | None, ops: int | None, duration: float | None,
        json_path: Path | None, profile: bool, profile_dir: Path, quiet: bool, max_memory: int | None,
        html_path: str | None = None, baseline: str | None = None, fail_above: str = "10%", junit_path: str | None = None,
        sanitize: str | None = None, executor_spec: Any = None,
        matrix: tuple[str, ...] = (), plot_path: str | None = None, repeat: int | None = None, until_failure: bool = False,
        max_time: float | None = None) -> None:
    """Run scenario FILES (paths or shipped names) and check their thresholds.

    Exit 0 all thresholds pass, 1 a threshold failed, 2 invalid input, 3 a worker crashed or
    infrastructure failed, 130 interrupted. A matrix (--matrix, a [matrix] table) or a soak
    (--repeat, --until-failure, --max-time) fails if any cell or replica does (docs/scale.md).
    """
    try:
        loaded, bad = _load_all(files)
        if bad:
            sys.exit(EXIT_USAGE)
        _require_native()
        from stresskit.executors.command import opened, refuse_unsupported

        refuse_unsupported(executor_spec, sanitize, profile or any(c.model.profile for c in loaded))
        # -- matrices and soaks: their own commands (stresskit/matrix, stresskit/soak) --
        scale = dict(workers=workers, seed=seed, ops=ops, duration=duration, json_path=json_path, profile=profile,
                     profile_dir=profile_dir, quiet=quiet, max_memory=max_memory, html_path=html_path, baseline=baseline,
                     junit_path=junit_path, sanitize=sanitize, executor=executor_spec)
        from stresskit.matrix import command as matrix_command
        from stresskit.soak import command as soak_command

        soaking = soak_command.wanted(repeat, until_failure, max_time)
        if matrix_command.wanted(loaded, matrix):
            if soaking:
                click.echo("stresskit: --repeat/--until-failure/--max-time: cannot soak a matrix (soak one cell: run it with "
                           "that cell's values)", err=True)
                sys.exit(EXIT_USAGE)
            matrix_command.run(loaded, matrix, plot_path, scale)
        if plot_path is not None:
            click.echo("stresskit: --plot: expected a matrix to plot (--matrix KEY=V1,V2 or a [matrix] table)", err=True)
            sys.exit(EXIT_USAGE)
        if soaking:
            soak_command.run(loaded, repeat, until_failure, max_time, scale)
        # -- end of matrices and soaks --
        from stresskit.api import ScenarioInvalid, run_checked
        from stresskit.api import validate as check
        from stresskit.planner import Overrides
        from stresskit.report.console import Display
        from stresskit.report.json_report import ReportWriter, overall_status
        from stresskit.session import Options, exit_code, prepare_run

        overrides = Overrides(seed=seed, ops=ops, duration_s=duration)
        refused = False
        for checked in loaded:  # overrides that contradict a scenario, or plans too large, are refused before anything runs
            try:
                check(checked, seed=seed, ops=ops, duration=duration, workers=workers, max_memory=max_memory)
            except ScenarioInvalid as err:
                for line in err.lines:
                    click.echo(line, err=True)
                refused = True
                if err.lines[0].startswith("stresskit: "):  # an override problem: the same for every file
                    break
        if refused:
            sys.exit(EXIT_USAGE)
        html_out = _claim_html(html_path, loaded)
        junit_out = _claim_junit(junit_path, loaded)
        gate = _baseline(baseline, fail_above)
        sanitized = None
        if sanitize is not None:
            from stresskit.sanitize.command import prepare_or_exit

            sanitized = prepare_or_exit(sanitize)
        json_path, profile_dir = prepare_run(json_path, profile_dir, loaded, profile)
        with opened(executor_spec) as executor:
            opts = Options(overrides, workers, profile, profile_dir, sanitize=sanitized, executor=executor)
            display = Display(quiet=quiet)
            writer = ReportWriter(json_path, multiple=len(loaded) > 1)
            reports = []
            for i, checked in enumerate(loaded):
                report, interrupted = run_checked(checked, opts, display, writer, i)
                reports.append(report.data)
                display.summary(report.data, str(json_path) if json_path else None)
                if interrupted:
                    _write_html(html_out, reports)
                    _write_junit(junit_out, reports, json_path)
                    sys.exit(writer.outcome(exit_code("error", interrupted=interrupted)))
        written = max(_write_html(html_out, reports), _write_junit(junit_out, reports, json_path))  # 3 if one failed
        code = written or exit_code(overall_status(reports))
        if gate is not None and code == 0:
            code = gate(reports)
        sys.exit(writer.outcome(code))
    except SystemExit:
        raise
    except KeyboardInterrupt as exc:  # SIGTERM/SIGHUP arrive as a KeyboardInterrupt too
        from stresskit.runner import signals

        click.echo(f"stresskit: interrupted by {signals.described(signals.name_of(exc))}", err=True)
        sys.exit(signals.exit_code(signals.name_of(exc)))
    except OSError as exc:  # outputs were checked before the run: this is the environment
        click.echo(f"stresskit: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # noqa: BLE001
        _internal_error(exc)


def _claim_html(html_path: str | None, loaded: list) -> Path | None:  # noqa: ANN001 - CheckedScenarios
    """--html: plotly present and the path writable, checked before anything runs (exit 2)."""
    if html_path is None:
        return None
    from stresskit.html.command import check_available, fail
    from stresskit.io.outputs import OutputError, claim_file

    check_available()
    try:
        return claim_file("--html", html_path, inputs=[c.file for c in loaded])
    except OutputError as exc:
        fail(exc.line())
    return None


def _claim_junit(path: str | None, loaded: list) -> Path | None:  # noqa: ANN001 - CheckedScenarios
    if path is None:
        return None
    from stresskit.io.outputs import OutputError, claim_file

    try:
        return claim_file("--junit", path, inputs=[c.file for c in loaded])
    except OutputError as exc:
        click.echo(f"stresskit: {exc.line()}", err=True)
        sys.exit(EXIT_USAGE)


def _write_junit(path: Path | None, reports: list, json_path: Path | None) -> int:  # noqa: ANN001 - report dicts
    if path is None or not reports:
        return 0
    from stresskit.io.outputs import WriteFailed, write_atomic
    from stresskit.report.junit import document

    try:
        write_atomic(path, document(reports, str(json_path) if json_path else None), "--junit")
    except WriteFailed as exc:
        click.echo(f"stresskit: {exc.line()}", err=True)
        return EXIT_ERROR
    return 0


def _baseline(path: str | None, fail_above: str):  # noqa: ANN202 - report dicts -> exit code, or None
    """--baseline: read and checked before anything runs (exit 2); compared after a passing run."""
    if path is None:
        return None
    from stresskit.compare.command import gate, parse_fail_above, read
    from stresskit.report.model import Report

    bound, old = parse_fail_above(fail_above), read(path)
    return lambda reports: gate(old, [Report.from_dict(r) for r in reports], bound)


def _write_html(path: Path | None, reports: list) -> int:  # noqa: ANN001 - report dicts
    """0, or 3 when the page could not be written (the run itself is over)."""
    if path is None or not reports:
        return 0
    from stresskit.html.command import write
    from stresskit.io.outputs import WriteFailed

    try:
        write(path, reports, "--html")
    except WriteFailed as exc:
        click.echo(f"stresskit: {exc.line()}", err=True)
        return EXIT_ERROR
    click.echo(f"html report: {path}")
    return 0


# -- replay, shrink (stresskit/diagnostics/) -------------------------------------------------------
@main.command(epilog="Exit 1: the replica still fails (the recorded failure reproduced in at least one run, or a run "
              "failed otherwise). Exit 0: every run passed (did not reproduce). Exit 2: the report cannot be "
              "replayed (unreadable, damaged, or run with another native library). Exit 3: the native library "
              "cannot be loaded. See docs/diagnostics.md and docs/exit-codes.md.")
@click.argument("report", type=str)
@click.option("--replica", type=click.IntRange(0, None), help="Which replica to rerun (default: the first that failed, else the first).")
@click.option("--runs", type=click.IntRange(1, 1000), default=3, show_default=True, help="How many times to rerun it, one worker process each.")
@click.option("--json", "json_path", type=click.Path(), help="Write the reruns' verdicts here (docs/files.md: what may be written).")
@click.option("--allow-other-library", is_flag=True, help="Rerun with the native library at hand even if its sha256 differs from the recorded one.")
@click.option("--scenario", "scenario", metavar="NAME", help="In a report of several scenarios, which one (default: the first that failed).")
@guarded
def replay(report: str, replica: int | None, runs: int, json_path: str | None, allow_other_library: bool, scenario: str | None) -> None:
    """Rerun exactly one replica of a JSON REPORT (`run --json`): its recorded plan, seed, native
    library and test hooks, RUNS times, and say whether its failure reproduced."""
    from stresskit.diagnostics.replay import command

    sys.exit(command(report, replica, runs, json_path, allow_other_library, scenario, echo=click.echo))


@main.command(epilog="Exit 0: a strictly smaller scenario that still meets EXPR was written. Exit 1: EXPR never held in "
              "RUNS runs of the scenario (nothing to shrink). Exit 5: nothing smaller meets it. Exit 2: invalid scenario, "
              "EXPR or output path. Exit 3: the native library cannot be loaded or the output not written. "
              "See docs/diagnostics.md and docs/exit-codes.md.")
@click.argument("scenario", type=str)
@click.option("--until", "until", required=True, metavar="EXPR", help="The failure to keep, a threshold expression: e.g. 'leak.mimalloc_blocks > 0'.")
@click.option("--runs", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Runs per candidate (kept at the first that meets EXPR), and runs of the result for its failure rate.")
@click.option("--max-time", "max_time", type=_Duration(), help="Stop searching after this long (e.g. 10min); the smallest so far is written.")
@click.option("-o", "--output", type=click.Path(), help="Where to write the smaller scenario (default: SCENARIO-NAME.shrunk.toml here).")
@guarded
def shrink(scenario: str, until: str, runs: int, max_time: float | None, output: str | None) -> None:
    """Search for a smaller SCENARIO (fewer roles, threads, ops, sizes, replicas; smaller batches,
    queues, grace) on which EXPR still holds, and write it with the failure rate observed."""
    loaded, bad = _load_all((scenario,))
    if bad:
        sys.exit(EXIT_USAGE)
    from stresskit.planner import plan

    refusal = _memory_verdict(plan(loaded[0]), None)[1]  # as `run` would: candidates are only smaller
    if refusal is not None:
        click.echo(refusal, err=True)
        sys.exit(EXIT_USAGE)
    _require_native()
    from stresskit.diagnostics.shrink import command

    sys.exit(command(scenario, loaded[0], until, runs, max_time, output, echo=click.echo))


def _require_native() -> None:
    """Fail before spawning workers, with one line, if the native library cannot be loaded:
    every worker would fail the same way."""
    from stresskit.api import NativeUnavailable, require_native

    try:
        require_native()
    except NativeUnavailable as err:
        click.echo(err.lines[0], err=True)
        sys.exit(err.exit_code)


# -- doctor --------------------------------------------------------------------------------------
@main.command(epilog="Exit 0: stresskit can run and profile. Exit 3: it cannot run scenarios (native library "
              "missing or broken, engine missing, no shipped scenarios). Exit 4: it can run but cannot profile "
              "(py-spy missing, or it may not attach: `run --profile` would report no hotspots). "
              "See docs/exit-codes.md.")
@click.option("--no-attach", is_flag=True, help="Skip the py-spy attach test.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: {checks: [{key, value, problem}], verdict, exit_code}.")
@guarded
def doctor(no_attach: bool, as_json: bool) -> None:
    """Show what stresskit runs on: native library, versions, cache line, py-spy, engine."""
    # Two kinds of trouble, two exit codes: without the library or the engine nothing can run
    # (exit 3); without py-spy only --profile is lost, which many users never ask for (exit 4).
    cannot_run: list[str] = []
    cannot_profile: list[str] = []
    entries: list[dict[str, str | None]] = []

    def show(key: str, value: str, kind: list[str] | None = None) -> None:
        if kind is not None:
            kind.append(key)
        problem = None if kind is None else "cannot run" if kind is cannot_run else "cannot profile"
        entries.append({"key": key, "value": value, "problem": problem})
        if not as_json:
            click.echo(f"{key + ':':<22} {value}{'   <- ' + problem if problem else ''}")

    def verdict(text: str, code: int) -> None:
        if as_json:
            import json

            click.echo(json.dumps({"checks": entries, "verdict": text, "exit_code": code}, indent=2))
        else:
            show("verdict", text)
        sys.exit(code)

    show("stresskit", __version__)
    show("python", f"{sys.version.split()[0]} ({sys.executable})")
    try:
        from stresskit import _native

        lib = _native.load()
        show("native library", f"{lib.path} (found via: {lib.origin})")
        glue = _native.ffi().string(lib.lib.cc_glue_version()).decode()
        mi = int(lib.lib.cc_mimalloc_version())
        show("glue version", glue)
        show("mimalloc version", f"{mi // 10000}.{mi // 100 % 100}.{mi % 100}")
        show("cache line size", f"{int(lib.lib.cc_cache_line_size())} bytes")
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure as a line
        show("native library", f"not loaded: {exc}", cannot_run)
    engine = importlib.util.find_spec("stresskit.engine")
    if engine is None:
        show("engine", "stresskit.engine is missing: `stresskit run` cannot run scenarios", cannot_run)
    else:
        try:
            import stresskit.engine as eng

            present = hasattr(eng, "run_replica")
            show("engine", f"{eng.__file__}: run_replica {'present' if present else 'MISSING'}", None if present else cannot_run)
        except Exception as exc:  # noqa: BLE001
            show("engine", f"import failed: {type(exc).__name__}: {exc}", cannot_run)
    from stresskit import profiling
    from stresskit.runner.pool import START_METHOD

    show("worker start method", START_METHOD)
    spy = profiling.py_spy()
    if spy is None:
        where = f"${profiling.PY_SPY_ENV} is not an executable" if os.environ.get(profiling.PY_SPY_ENV) else "not installed"
        show("py-spy", f"{where}: --profile will report no hotspots (pip install py-spy)", cannot_profile)
    else:
        import subprocess

        version = subprocess.run([spy, "--version"], capture_output=True, text=True).stdout.strip()
        show("py-spy", f"{spy} ({version})")
        if not no_attach:
            ok, why = profiling.can_attach()
            show("py-spy attach", ("yes: " if ok else "no: ") + why, None if ok else cannot_profile)
    shipped = shipped_scenarios()
    show("shipped scenarios", f"{len(shipped)} in {', '.join(str(d) for d in shipped_dirs()) or 'nowhere'}", None if shipped else cannot_run)
    if cannot_run:
        verdict(f"cannot run scenarios ({', '.join(cannot_run)}): exit {EXIT_ERROR}", EXIT_ERROR)
    if cannot_profile:
        verdict(f"can run scenarios, cannot profile them ({', '.join(cannot_profile)}): exit {EXIT_NO_PROFILER}", EXIT_NO_PROFILER)
    verdict("can run and profile scenarios", 0)


def _register() -> None:
    # Each subsystem owns its command module; the group only gathers them. find_spec rather than
    # try/except ImportError: a subsystem not built yet is skipped, a broken one fails loudly.
    if importlib.util.find_spec("stresskit.bench") is not None and importlib.util.find_spec("stresskit.bench.command") is not None:
        from stresskit.bench.command import bench

        main.add_command(bench)
    from stresskit.html.command import report  # plotly is only imported when a page is drawn

    main.add_command(report)
    from stresskit.compare.command import compare_cmd

    main.add_command(compare_cmd)


_register()
