"""The JSON report: one document per scenario run, written atomically and incrementally.

It is rewritten (temp file + os.replace) after every worker finishes, so a crash or Ctrl-C of the
supervisor leaves a valid document with what was collected (``complete: false``). The key set is
a contract (schema_version); tests/scenarios/test_scenario_golden.py pins it.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stresskit.report import environment as where_run
from stresskit.io.outputs import WriteFailed
from stresskit.io.outputs import write_atomic as _write_atomic
from stresskit.planner import RunPlan
from stresskit.profiling import ProfileReport
from stresskit.results import FULL_RUN_STOPS
from stresskit.runner.records import WorkerRecord
from stresskit.thresholds import ThresholdResult

SCHEMA_VERSION = 2  # 2: `tool` went into `environment`. Bumped when a key changes meaning or goes away; added keys keep it
MAX_SERIES_POINTS = 2000
REPORT_KEYS = (
    "schema_version", "scenario", "status", "complete", "interrupted", "seed", "started_at",
    "elapsed_s", "plan", "metrics", "thresholds", "workers", "unreclaimed_series", "hotspots", "profile", "errors",
    "environment", "latency_histograms", "throughput_series",
)


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: report them as null rather than write an invalid document."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _series(records: Sequence[WorkerRecord]) -> list[dict[str, Any]]:
    out = []
    for rec in records:
        if rec.result is None or not rec.result.unreclaimed_series:
            continue
        points = list(rec.result.unreclaimed_series)
        step = max(1, math.ceil(len(points) / MAX_SERIES_POINTS))
        out.append({"replica": rec.replica, "columns": ["t_s", "blocks", "bytes"], "points": [list(p) for p in points[::step]]})
    return out


def _histograms(records: Sequence[WorkerRecord]) -> list[dict[str, Any]]:
    """Only the non-empty buckets (a histogram has hundreds, most of them empty)."""
    out = []
    for rec in records:
        for role in rec.result.roles if rec.result is not None else ():
            for op, hist in sorted(role.latency.items()):
                if hist.count:
                    out.append({"replica": rec.replica, "role": role.name, "op": op, "count": hist.count,
                                "columns": ["lower_ns", "upper_ns", "count"], "buckets": [list(b) for b in hist.buckets]})
    return out


def _throughput(progress: dict[int, list[tuple[float, int]]]) -> list[dict[str, Any]]:
    """Per replica: ops done at each progress sample, and the rate since the previous one."""
    out = []
    for replica, samples in sorted(progress.items()):
        points, prev = [], (0.0, 0)
        for t, ops in samples:
            rate = (ops - prev[1]) / (t - prev[0]) if t > prev[0] and ops >= prev[1] else None
            points.append([round(t, 3), ops, rate])
            prev = (t, ops)
        step = max(1, math.ceil(len(points) / MAX_SERIES_POINTS))
        out.append({"replica": replica, "columns": ["t_s", "ops", "ops_per_s"], "points": points[::step]})
    return out


def incomplete(rec: WorkerRecord) -> bool:
    """A replica that delivered a result but did less than its planned work (deadline, exhausted,
    stopped): its numbers are real but do not cover the plan, so the run cannot PASS on them."""
    return rec.result is not None and rec.result.stop_reason not in FULL_RUN_STOPS


def status_of(records: Sequence[WorkerRecord], thresholds: Sequence[ThresholdResult], interrupted: bool | str) -> str:
    if not interrupted and any("sanitizer" in r.diagnostics for r in records):
        return "fail"  # a sanitizer's report is the glue's fault even when it stopped the worker
    if interrupted or any(r.status != "ok" or incomplete(r) for r in records) or not records:
        return "error"
    return "pass" if all(t.ok for t in thresholds) else "fail"


def build(
    run: RunPlan,
    records: Sequence[WorkerRecord],
    metrics: dict[str, Any],
    thresholds: Sequence[ThresholdResult],
    *,
    started_at: float,
    complete: bool,
    interrupted: bool | str = False,
    profile: ProfileReport | None = None,
    errors: Sequence[str] = (),
    progress: dict[int, list[tuple[float, int]]] | None = None,
    environment: Mapping[str, Any] | None = None,
    replays: Mapping[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``interrupted``: False, or the name of the signal that stopped the run ("SIGINT",
    "SIGTERM", "SIGHUP"; True is reported as "SIGINT"). ``environment`` is
    stresskit/report/environment.py's record (where and with what the run happened); ``replays`` (stresskit/diagnostics/replay_record.py) under
    each ``workers[i].replay``."""
    first = run.replicas[0]
    status = status_of(records, thresholds, interrupted) if complete else "error"
    errs = list(errors) + [f"replica {r.replica}: {r.error}" for r in records if r.error]
    errs += [_incomplete_line(r) for r in records if incomplete(r)]
    if not complete and not interrupted:
        errs.append("the run did not finish (report written while running)")
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "scenario": {"name": run.scenario.name, "file": run.scenario.file, "description": run.scenario.model.description,
                     # the validated scenario itself: `replay` judges a rerun by its checks even
                     # when the file has changed or is gone
                     "definition": run.scenario.model.model_dump(mode="json", by_alias=True, exclude_unset=True)},
        "status": status,
        "complete": complete,
        "interrupted": ("SIGINT" if interrupted is True else interrupted) or False,
        "seed": run.seed,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
        "elapsed_s": time.time() - started_at,
        "plan": {
            "ops": first.ops,
            "duration_s": first.duration_s,
            "replicas": len(run.replicas),
            "workers": run.workers,
            "deadline_s": first.deadline_s,
            "roles": [
                {"name": r.name, "action": r.action, "threads": r.threads, "inbox": r.inbox, "outbox": r.outbox}
                for r in first.roles
            ],
            "queues": [{"name": q.name, "capacity": q.capacity} for q in first.queues],
        },
        "metrics": dict(sorted(metrics.items())),
        "thresholds": [t.to_json() for t in thresholds],
        "workers": [_replica(r, (replays or {}).get(r.replica)) for r in records],
        "unreclaimed_series": _series(records),
        "hotspots": [h.to_json() for h in profile.hotspots] if profile else None,
        "profile": profile.to_json() if profile else None,
        "errors": errs,
        "environment": dict(environment) if environment is not None else where_run.current(),
        "latency_histograms": _histograms(records),
        "throughput_series": _throughput(progress or {}),
    }
    return _clean(doc)


def _incomplete_line(rec: WorkerRecord) -> str:
    res = rec.result
    assert res is not None
    done = sum(r.ops for r in res.roles if r.action in ("produce", "alloc_free"))
    planned = f" of {res.planned_ops:,} planned" if res.planned_ops else ""
    return f"replica {rec.replica}: stopped early ({res.stop_reason}) after {done:,}{planned} allocations: not a PASS"


def _replica(rec: WorkerRecord, replay: dict[str, Any] | None = None) -> dict[str, Any]:
    """The worker's record plus what its replica reported about itself."""
    out = rec.to_json()
    if replay is not None:
        out["replay"] = replay
    res = rec.result
    if res is not None:
        out.update(
            stop_reason=res.stop_reason,
            seed=res.seed,
            stats=res.stats_enabled,
            stats_mismatches=list(res.stats_mismatches),
            contract={k: v for k, v in res.checks.items()},
            timer_overhead_ns=res.timer_overhead_ns,
            invariants=dict(res.invariants),
        )
        # per-replica values of the judged metrics: `stresskit compare` takes their spread as the noise
        from stresskit.compare.directions import direction
        from stresskit.metrics import aggregate

        out["metrics"] = {k: v for k, v in sorted(aggregate([res], [rec]).items()) if direction(k) != "neutral"}
    diagnostics = {**(res.diagnostics if res is not None else {}), **rec.diagnostics}
    if diagnostics:
        out["diagnostics"] = diagnostics
    return out


def overall_status(reports: Sequence[dict[str, Any]]) -> str:
    statuses = {r["status"] for r in reports}
    return "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"


class ReportWriter:
    """Holds the reports of one `stresskit run` and rewrites PATH atomically on every update.
    One scenario: the report itself. Several: {"schema_version", "status", "reports": [...]}.

    A failed write (disk full) does not stop the run: the file keeps the last version written
    whole, later updates try again, and ``outcome`` names the path and what it holds."""

    def __init__(self, path: Path | None, multiple: bool) -> None:
        self.path = path
        self.multiple = multiple
        self.reports: list[dict[str, Any]] = []
        self.failure: WriteFailed | None = None
        self.on_disk = "nothing"  # what the last version written whole holds

    def update(self, index: int, report: dict[str, Any]) -> None:
        if index < len(self.reports):
            self.reports[index] = report
        else:
            self.reports.append(report)
        self.write()

    def document(self) -> dict[str, Any]:
        if not self.multiple and self.reports:
            return self.reports[0]
        return {"schema_version": SCHEMA_VERSION, "status": overall_status(self.reports), "reports": self.reports}

    def write(self) -> None:
        if self.path is None:
            return
        doc = self.document()
        try:
            write_atomic(self.path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
            compact = False
        except WriteFailed as exc:
            try:  # short of space: the same document without indentation is about half the size
                write_atomic(self.path, json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n")
                compact = True
            except WriteFailed:
                self.failure = exc
                return
        self.failure = None
        workers = [w for r in self.reports for w in r["workers"]]
        finished = sum(1 for w in workers if w["status"] != "not_started")
        complete = all(r["complete"] for r in self.reports)
        self.on_disk = (f"{finished} finished replica(s), {'complete' if complete else 'written while running'}"
                        f"{', unindented for want of space' if compact else ''}")

    def outcome(self, code: int) -> int:
        """The exit code once the report's fate is known: a report that could not be written
        makes an otherwise clean run exit 3 (an interrupted run keeps its signal's code)."""
        if self.failure is None:
            return code
        held = f"it holds the last report written whole ({self.on_disk})" if self.on_disk != "nothing" else "no report was written"
        print(f"stresskit: --json {self.failure.path}: could not write the report: {self.failure.reason}; {held}", file=sys.stderr, flush=True)
        return code if code >= 128 else 3


def write_atomic(path: Path, text: str, option: str = "--json") -> None:
    _write_atomic(path, text, option)
