"""One `stresskit run` end to end: plan -> run workers -> collect metrics -> thresholds -> report.

Data flows one way; each step is its own module. This module only wires them and maps the
outcome to an exit code (docs/exit-codes.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresskit.checks.builtin import evaluate_builtin
from stresskit.diagnostics import replay_record as replay
from stresskit.executors import Execution, Executor
from stresskit.executors.local import LocalExecutor
from stresskit.metrics import aggregate
from stresskit.planner import Overrides, RunPlan, plan
from stresskit.profiling import Profiler, ProfileReport
from stresskit.report import environment as where_run
from stresskit.report import json_report
from stresskit.report.console import Display
from stresskit.runner import DEFAULT_ENGINE, Interrupted, WorkerRecord
from stresskit.runner import signals
from stresskit.runner.inprocess import InProcess
from stresskit.scenario.validation import CheckedScenario
from stresskit.thresholds import NOT_PRODUCED, ThresholdResult, evaluate

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


@dataclass
class Options:
    overrides: Overrides = Overrides()
    workers: int | None = None
    profile: bool = False
    profile_dir: Path = Path("stresskit-profile")
    engine_ref: str = DEFAULT_ENGINE
    sanitize: Any = None  # a stresskit.sanitize.SanitizedRun for `run --sanitize`
    isolate: bool = True  # False: replicas run in this process (stresskit/runner/inprocess.py)
    executor: Executor | None = None  # where isolated replicas run (stresskit/executors/); None: this machine's Supervisor


def exit_code(status: str, interrupted: bool | str = False) -> int:
    """``interrupted``: the name of the signal that stopped the run (130/143/129), or True for
    Ctrl-C."""
    if isinstance(interrupted, str) and interrupted:
        return signals.exit_code(interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    return {"pass": EXIT_PASS, "fail": EXIT_FAIL}.get(status, EXIT_ERROR)


def judge(run: RunPlan, records: Sequence[WorkerRecord]) -> tuple[dict[str, Any], list[ThresholdResult]]:
    """The metrics of ``records`` and every built-in check and threshold of the run's scenario
    over them: the verdict of a whole run, and (given one record) of one replica."""
    results = [r.result for r in records if r.result is not None]
    metrics = aggregate(results, [r for r in records if r.status != "not_started" or r.pid])
    model = run.scenario.model
    has_oom = any(r.action == "oom" for r in model.roles.values())
    thresholds = evaluate_builtin(metrics, has_oom, model.checks.skip)
    thresholds += [evaluate(t, metrics) for t in run.scenario.thresholds]
    return metrics, thresholds


def judge_replica(run: RunPlan, rec: WorkerRecord) -> list[ThresholdResult]:
    """The run's checks over one replica alone (its replay signature; a soak's verdict per
    replica). A replica that ran to the end yet lacks a metric lacks it by design (a stats-off
    replica has no glue.* figures): that check does not apply to it, the run's verdict judges
    whether any replica produced it."""
    from dataclasses import replace

    thresholds = judge(run, [rec])[1]
    if rec.status != "ok" or rec.result is None:
        return thresholds
    return [replace(t, ok=True, skipped=True, reason=f"not applicable to this replica: {t.reason}")
            if not t.ok and t.reason.endswith(NOT_PRODUCED) else t for t in thresholds]


def _report(run: RunPlan, records: Sequence[WorkerRecord], started: float, *, complete: bool, interrupted: bool | str = False,
            profile: ProfileReport | None = None, errors: Sequence[str] = (), environment: dict[str, Any] | None = None,
            progress: dict[int, list[tuple[float, int]]] | None = None, sanitize: Any = None) -> dict[str, Any]:
    metrics, thresholds = judge(run, records)
    if sanitize is not None:  # speed and RSS measure the sanitizer, not the glue
        thresholds = sanitize.judge(thresholds)
    plans = {p.replica: p for p in run.replicas}
    replays = {rec.replica: replay.record(plans[rec.replica], rec, judge_replica(run, rec)) for rec in records if rec.replica in plans}
    return json_report.build(run, records, metrics, thresholds, started_at=started, complete=complete,
                             interrupted=interrupted, profile=profile, errors=errors, environment=environment, replays=replays,
                             progress=progress)


def prepare_run(json_path: str | Path | None, profile_dir: str | Path, loaded: Sequence[CheckedScenario], profile: bool) -> tuple[Path | None, Path]:
    """Before any work starts: claim every output path (exit 2 and one line if one cannot be
    used, docs/files.md) and take over SIGTERM/SIGHUP (they end the run like Ctrl-C)."""
    from stresskit.io.outputs import OutputError, claim_dir, claim_file, release_all

    inputs = [c.file for c in loaded]
    try:
        report = claim_file("--json", json_path, inputs=inputs) if json_path is not None else None
        profiled = [c.name for c in loaded if profile or c.model.profile]
        if profiled:
            claim_dir("--profile-dir", profile_dir, [f for name in profiled for f in Profiler.files(name)])
    except OutputError as exc:
        print(f"stresskit: {exc.line()}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USAGE)
    previous = signals.install()
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # the command may run in-process (tests): leave the process as it was
        ctx.call_on_close(release_all)
        ctx.call_on_close(lambda: signals.restore(previous))
    return report, Path(profile_dir)


def run_scenario(checked: CheckedScenario, opts: Options, display: Display, writer: json_report.ReportWriter, index: int) -> tuple[dict[str, Any], str | bool]:
    """Returns the final report and the name of the signal that ended the run (SIGINT for
    Ctrl-C, SIGTERM, SIGHUP), or False."""
    return execute(plan(checked, opts.overrides, workers=opts.workers, profile=opts.profile), opts, display, writer, index)


def execute(run: RunPlan, opts: Options, display: Display, writer: json_report.ReportWriter, index: int) -> tuple[dict[str, Any], str | bool]:
    """Run a planned scenario (every replica in its own worker process, on the executor of
    ``opts``) and report it: `run`, and each rerun of `replay` and candidate of `shrink`, go
    through here. Raises ExecutorError when the executor refuses the run."""
    checked = run.scenario
    started = time.time()
    environment = where_run.with_handoff(where_run.current(), "before")  # current(): once per process
    executor = opts.executor or LocalExecutor()
    if executor.name != "local":  # a local run's report stays as it was
        environment = {**environment, "executor": executor.describe()}
    profiler = Profiler(opts.profile_dir, checked.name) if run.profile else None
    live: dict[int, WorkerRecord] = {}

    progress: dict[int, list[tuple[float, int]]] = {}  # replica -> (t_s, ops done): throughput_series
    def report(records: Sequence[WorkerRecord], **kwargs: Any) -> dict[str, Any]:
        return _report(run, records, started, environment=environment, sanitize=opts.sanitize, **kwargs)

    def on_event(kind: str, rec: WorkerRecord) -> None:
        display.event(kind, rec)
        live[rec.replica] = rec
        if kind == "progress" and isinstance(rec.progress.get("ops"), int):
            progress.setdefault(rec.replica, []).append((time.time() - started, rec.progress["ops"]))
        if kind == "finished":  # the report on disk always holds everything collected so far
            writer.update(index, report(sorted(live.values(), key=lambda r: r.replica), complete=False, progress=progress))

    display.start(run)
    writer.update(index, report([], complete=False))
    interrupted: str | bool = False
    errors: list[str] = []
    replicas = opts.sanitize.adapt(run.replicas) if opts.sanitize is not None else run.replicas
    supervisor: Execution = (executor.execution(replicas, run.workers, opts.engine_ref, on_event, profiler, sanitizer=opts.sanitize)
                             if opts.isolate else InProcess(replicas, on_event))
    try:
        records = supervisor.run()
    except Interrupted as stop:
        records, interrupted = stop.records, stop.signame
        errors.append(f"interrupted by {signals.described(stop.signame)}: workers were stopped; this report holds what they had delivered")
    finally:
        display.stop()
    errors += supervisor.problems
    for problem in supervisor.problems + supervisor.start_failures:  # named where it happened, never as a deadline
        print(f"stresskit: {checked.name}: {problem}", file=sys.stderr, flush=True)
    prof = profiler.finish() if profiler is not None else None
    environment = where_run.with_handoff(environment, "after")  # the workers are gone: the probe runs alone
    final = report(records, complete=True, interrupted=interrupted, profile=prof, errors=errors, progress=progress)
    writer.update(index, final)
    return final, interrupted
