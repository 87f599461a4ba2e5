"""`stresskit bench`: measure the glue against raw mimalloc and the system allocator."""

from __future__ import annotations

import functools
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console

from stresskit.bench.harness import Op

ENGINE_OP = "engine"  # the engine row (stresskit.bench.engine_row), not an allocator op
EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_BAD_INPUT = 2
EXIT_HARNESS = 3
EXIT_INTERRUPTED = 130
PLOT_SUFFIXES = (".png", ".svg", ".pdf")

_EPILOG = """\b
Exit status: 0 done (and no regression); 1 --compare found a row whose ratio to mimalloc
got worse than --fail-above; 2 bad input (options, unreadable or malformed baseline);
3 the native library is missing or the harness failed; 130 interrupted (Ctrl-C).

\b
Ratios: latency rows: impl ns/op / mimalloc ns/op (above 1 = slower than mimalloc);
throughput rows: impl ops/s / mimalloc ops/s (below 1 = slower). See docs/performance.md."""


def _threads(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated thread counts such as 1,2,4, got {value!r}")
    if not out or any(t < 1 or t > 1024 for t in out):
        raise click.BadParameter(f"expected thread counts between 1 and 1024, got {value!r}")
    return out


def _bound(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from stresskit.bench.compare import parse_bound

    try:
        return parse_bound(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc))


def _measure(quick, repeats, scale, threads, ops, seed, processes, out: Console, err: Console) -> dict:
    """Run the benchmark and return the JSON document (also printed as a table)."""
    from stresskit import _native
    from stresskit.bench import engine_row, machine, output, runner, stats
    from stresskit.bench.processes import measure_all
    from stresskit.bench.harness import HarnessError

    allocator_ops = [Op(o) for o in ops if o != ENGINE_OP]
    with_engine = not ops or ENGINE_OP in ops
    cfg = runner.Config.make(
        quick=quick, repeats=repeats, scale=scale, threads=threads,
        ops=allocator_ops or None, seed=seed, processes=processes,
    )
    try:
        info = machine.describe()
    except (_native.NativeLibraryError, HarnessError) as exc:
        _fail(EXIT_HARNESS, str(exc))
    if not info["optimized"]:
        err.print("stresskit bench: warning: the native library was built without optimisation; "
                  "its numbers are not representative")

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_before = machine.load_average()
    handoff_before = machine.handoff_latency()
    try:
        if err.is_terminal:
            from rich.progress import Progress

            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("measuring", total=cfg.repeats * len(runner.plan(cfg)))

                def on_step(key, index, total):
                    progress.update(task, completed=index, total=total,
                                    description=f"{key.op.value} t={key.threads} "
                                                f"size={key.size} align={key.alignment}")

                measured, wall = measure_all(cfg, on_step=on_step) if allocator_ops or not ops else ([], 0.0)
        else:
            measured, wall = measure_all(cfg) if allocator_ops or not ops else ([], 0.0)
        engine_started = time.perf_counter()
        engine = engine_row.measure_section(cfg.repeats, quick, scale, seed) if with_engine else None
        wall += time.perf_counter() - engine_started
    except (HarnessError, engine_row.EngineRowError) as exc:
        _fail(EXIT_HARNESS, str(exc))
    except KeyboardInterrupt:
        # Not click's "Aborted!" (exit 1 would read as a regression): nothing is written.
        _fail(EXIT_INTERRUPTED, "interrupted; nothing written")

    rows = stats.rows_from(measured)
    info["load_average_before"] = load_before
    info["load_average_after"] = machine.load_average()
    info["handoff_before"] = handoff_before
    info["handoff_after"] = machine.handoff_latency()
    doc = output.document(
        rows, info, cfg.as_dict(), stats.targets(rows), stats.goals(rows),
        {"started_at": started_at, "measure_seconds": round(wall, 2)},
    )
    _add_engine(doc, engine)
    output.render(doc, out)
    if engine is not None:
        engine_row.render(engine, out)
    failures = sum(r["failures"] for r in rows)
    if failures:
        err.print(f"stresskit bench: warning: {failures} allocations returned NULL during the run")
    return doc


def _add_engine(doc: dict, section: dict | None) -> None:
    """The engine row's section and goal (stresskit.bench.engine_row), next to the allocator rows."""
    from stresskit.bench import engine_row

    if section is not None:
        doc["engine"] = section
    doc["goals"] = list(doc["goals"]) + engine_row.goals(section)


def _fail(code: int, message: str) -> None:
    click.echo(f"stresskit bench: {message}", err=True)
    sys.exit(code)


def _guarded(fn):  # noqa: ANN001, ANN201
    """The CLI's contract (docs/exit-codes.md) for bench too: never a traceback, and never exit
    1 (a regression) for anything but a regression: an unexpected error is one line and exit 3."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return fn(*args, **kwargs)
        except (SystemExit, click.exceptions.Exit, click.ClickException):
            raise
        except (KeyboardInterrupt, click.Abort):
            _fail(EXIT_INTERRUPTED, "interrupted")
        except Exception as exc:  # noqa: BLE001
            if os.environ.get("STRESSKIT_DEBUG"):
                raise
            _fail(EXIT_HARNESS, f"internal error: {type(exc).__name__}: {exc} (rerun with STRESSKIT_DEBUG=1 for the traceback, and report it)")

    return wrapper


def _claim_outputs(json_path, plot_path, markdown_path, inputs) -> Path | None:  # noqa: ANN001
    """Every output checked (and locked) before anything is measured: exit 2, one line.
    Returns the plot path (the one next to --json when --plot is not given)."""
    from stresskit.io.outputs import OutputError, claim_file, release_all

    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # the command may run in-process (tests): release the claims when it ends
        ctx.call_on_close(release_all)
    if plot_path is None and json_path is not None and str(json_path).strip():
        plot_path = Path(json_path).with_suffix(".svg")
    inputs = [p for p in inputs if p is not None]
    try:
        for option, path in (("--json", json_path), ("--markdown", markdown_path), ("--plot", plot_path)):
            if path is None:
                continue
            if option == "--plot" and str(path).strip() and Path(str(path)).suffix.lower() not in PLOT_SUFFIXES:
                raise OutputError(option, path, f"expected a file name ending in {', '.join(PLOT_SUFFIXES)} (the plot's format)")
            claim_file(option, path, inputs=inputs)
    except OutputError as exc:
        _fail(EXIT_BAD_INPUT, exc.line())
    return Path(plot_path) if plot_path is not None else None


def _write(option: str, path: Path, data: str | bytes, out: Console) -> None:
    """After measuring, a failed write costs the file, not the measurement: the table is
    already printed; exit 3 (1 would read as a regression)."""
    from stresskit.io.outputs import WriteFailed, write_atomic

    try:
        write_atomic(path, data, option)
    except WriteFailed as exc:
        _fail(EXIT_HARNESS, f"{exc.line()} (the results above were measured; nothing else was written)")
    out.print(f"wrote {path}")


@click.command(epilog=_EPILOG)
@click.option("--quick", is_flag=True, help="Fewer sizes, shorter samples, 7 repeats (about 10 s; < 30 s on 2 cores).")
@click.option("--json", "json_path", type=click.Path(),
              help="Write results, machine, targets and goals as JSON (and the plot next to it).")
@click.option("--plot", "plot_path", type=click.Path(),
              help="Write the throughput-vs-threads plot here (.png, .svg or .pdf).")
@click.option("--compare", "baseline_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Baseline JSON from an earlier --json run: exit 1 if a row regressed.")
@click.option("--fail-above", default="10%", show_default=True, callback=_bound,
              help="Regression bound for --compare, on ratio_to_mimalloc.")
@click.option("--compare-system", is_flag=True,
              help="With --compare: gate the system allocator's rows too (left out by default: libc is not yours).")
@click.option("--markdown", "markdown_path", type=click.Path(),
              help="Also write the tables as Markdown (what docs/performance.md shows).")
@click.option("--input", "input_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Do not measure: load an earlier --json run, then print, plot and compare it "
                   "(measurement options are ignored).")
@click.option("--repeats", type=click.IntRange(1, 1000), default=None,
              help="Samples per implementation and row [default: 7 with --quick, else 11].")
@click.option("--op", "ops", multiple=True, type=click.Choice([o.value for o in Op] + [ENGINE_OP]),
              help="Measure only these operations (repeatable) [default: all]; `engine`: the engine "
                   "against a minimal C loop (1 -> 1, 64 B).")
@click.option("--threads", callback=_threads, default=None,
              help="Thread counts for throughput, e.g. 1,2,4,8,16 [default: 1,2,4,8,16].")
@click.option("--processes", type=click.IntRange(1, 64), default=None,
              help="Fresh processes the latency rows are split over, one after another "
                   "[default: 2 with --quick, else 3; 1 = all in this process].")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=1, show_default=True, help="Seed of the random mix (0 .. 2^64-1).")
@click.option("--scale", type=click.FloatRange(min=1e-4, max=100.0), default=1.0, hidden=True,
              help="Multiply operation counts and windows (tests use tiny values).")
@_guarded
def bench(
    quick: bool,
    json_path: Path | None,
    plot_path: Path | None,
    baseline_path: Path | None,
    fail_above: float,
    markdown_path: Path | None,
    input_path: Path | None,
    repeats: int | None,
    ops: tuple[str, ...],
    threads: tuple[int, ...] | None,
    seed: int,
    scale: float,
    processes: int | None = None,
    compare_system: bool = False,
) -> None:
    """Measure cc, cc+stats, raw mimalloc and the system allocator side by side.

    Latency of alloc and free (64 B and a size sweep), aligned_alloc (alignments 8..4096),
    cross-thread free, and throughput of a random alloc/free mix at 1..16 threads. Every sample
    runs in native code; implementations are interleaved and repeated; rows report median, min,
    max and the ratio to raw mimalloc.
    """
    from stresskit.bench import compare as cmp
    from stresskit.bench import machine, output, stats

    plot_path = _claim_outputs(json_path, plot_path, markdown_path, (input_path, baseline_path))

    baseline = None
    baseline_machine: dict = {}
    if baseline_path is not None:
        try:
            baseline, baseline_machine = cmp.load_baseline(baseline_path)
        except cmp.BaselineError as exc:
            _fail(EXIT_BAD_INPUT, f"bad baseline: {exc}")

    out = Console()
    if not out.is_terminal:
        # Plain output is for files and pipes: never wrap or elide a column to fit 80 characters.
        out = Console(width=200, highlight=False)
    err = Console(stderr=True)

    if input_path is not None:
        try:
            rows, previous = cmp.load_run(input_path)
        except cmp.BaselineError as exc:
            _fail(EXIT_BAD_INPUT, f"bad input: {exc}")
        info = previous.get("machine") or {}
        # Targets and goals are recomputed from the rows: the file's own copies may be stale.
        doc = output.document(
            rows, info, previous.get("config") or {}, stats.targets(rows), stats.goals(rows),
            previous.get("timing") or {},
        )
        from stresskit.bench import engine_row

        engine = previous.get("engine")
        if engine is not None:
            try:  # ratios recomputed from the samples, as for the rows' goals
                engine = engine_row.recompute(engine)
            except engine_row.SectionError as exc:
                _fail(EXIT_BAD_INPUT, f"bad input: {input_path}: engine: {exc}")
        _add_engine(doc, engine)
        output.render(doc, out)
        if doc.get("engine"):
            engine_row.render(doc["engine"], out)
    else:
        doc = _measure(quick, repeats, scale, threads, ops, seed, processes, out, err)
        rows, info = doc["results"], doc["machine"]
        out.print(f"measured in {doc['timing']['measure_seconds']:.1f} s")

    if json_path is not None:
        _write("--json", Path(json_path), output.json_text(doc), out)
    if markdown_path is not None:
        from stresskit.bench import engine_row

        engine_md = "\n" + "\n".join(engine_row.table_lines(doc["engine"])) + "\n" if doc.get("engine") else ""
        _write("--markdown", Path(markdown_path), output.markdown(doc) + engine_md, out)
    if plot_path is not None:
        from stresskit.bench.plot import PlotUnavailable, plot_throughput

        if not any(r["op"] == "throughput" for r in rows):
            out.print("no throughput rows measured; no plot written")
        else:
            try:
                import io

                buffer = io.BytesIO()
                plot_throughput(rows, info, buffer, fmt=plot_path.suffix.lower().lstrip("."))
                _write("--plot", plot_path, buffer.getvalue(), out)
            except PlotUnavailable as exc:
                err.print(f"stresskit bench: no plot: {exc}")

    if baseline is not None:
        note = machine.handoffs_differ(baseline_machine, info)
        if note:  # before the verdict: it may explain it
            out.print(f"note: {note}; the rows that hand blocks between cores (cross-thread free) follow it",
                      markup=False, highlight=False)
        result = cmp.compare(rows, baseline, fail_above, include_system=compare_system)
        if result.compared == 0:
            _fail(EXIT_BAD_INPUT, f"bad baseline: {baseline_path}: results: expected rows matching "
                                  "this run's (op, impl, threads, size, alignment); none did")
        if result.failed:
            out.print(f"REGRESSION: {len(result.regressions)} of {result.compared} rows worse than "
                      f"baseline by more than {fail_above:.1%} (ratio to mimalloc):")
            for r in result.regressions:
                where = ", ".join(f"{k}={r[k]}" for k in ("threads", "size", "alignment")
                                  if r[k] is not None)
                out.print(f"  {r['op']} {r['impl']} ({where}): ratio {r['baseline_ratio']:.3f} -> "
                          f"{r['current_ratio']:.3f} (worse by {r['worse_by']:.1%})")
            sys.exit(EXIT_REGRESSION)
        out.print(f"compare: {result.compared} rows within {fail_above:.0%} of {baseline_path}"
                  + (f" ({result.missing_in_baseline} rows not in the baseline)"
                     if result.missing_in_baseline else "")
                  + (f"; {result.ignored} system-allocator rows not gated (--compare-system gates them)"
                     if result.ignored else ""))
