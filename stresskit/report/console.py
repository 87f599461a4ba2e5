"""What `stresskit run` prints: progress while workers run, then a summary.

On a terminal: a rich progress display (one bar per replica) and rich tables. Otherwise (CI logs,
pipes): plain lines, one fact per line, easy to grep. --quiet prints the final status line and,
under it, one line per failing threshold or check. Every value carries its unit
(stresskit.report.units).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from stresskit.bench.machine import RUN_CHANGED, handoff_line
from stresskit.diagnostics.why import why_lines
from stresskit.metrics import LATENCY_OPS, PERCENTILES
from stresskit.planner import RunPlan
from stresskit.report import heartbeat, units
from stresskit.report.heartbeat import Heartbeat
from stresskit.runner.records import WorkerRecord
from stresskit.thresholds import ThresholdSyntaxError, parse


def threshold_value(t: dict[str, Any]) -> str:
    """A threshold's value with its metric's unit; one over several metrics shows each."""
    value = t["value"]
    if isinstance(value, dict):
        return units.pairs(value)
    try:
        names = parse(t["expression"]).metrics
    except ThresholdSyntaxError:  # an expression this version cannot read: show the bare number
        names = ()
    return units.metric(names[0], value) if len(names) == 1 else units.quantity(value, None)


def threshold_kind(t: dict[str, Any]) -> str:
    """Built-in safety checks are "check NAME"; the scenario's own are "threshold"."""
    return f"check {t.get('name') or ''}".rstrip() if t.get("builtin") else "threshold"


def threshold_status(t: dict[str, Any]) -> str:
    return "skipped" if t.get("skipped") else "pass" if t["ok"] else "FAIL"


def threshold_line(t: dict[str, Any]) -> str:
    """``threshold FAIL: throughput.ops_per_s > 90M (value 85.3 M ops/s)``, plus why when known."""
    reason = f" ({t['reason']})" if t.get("reason") else ""
    value = "" if t.get("skipped") else " (no value)" if t["value"] is None else f" (value {threshold_value(t)})"
    return f"{threshold_kind(t)} {threshold_status(t)}: {t['expression']}{value}{reason}"


def tally(thresholds: list[dict[str, Any]]) -> str:
    """``3/4 thresholds passed, 9/9 checks passed (1 skipped)``: what the verdict rests on."""
    parts = []
    for label, builtin in (("thresholds", False), ("checks", True)):
        mine = [t for t in thresholds if bool(t.get("builtin")) is builtin]
        if not mine and builtin:
            continue
        enforced = [t for t in mine if not t.get("skipped")]
        text = f"{sum(t['ok'] for t in enforced)}/{len(enforced)} {label} passed"
        if len(enforced) < len(mine):
            text += f", {len(mine) - len(enforced)} skipped"
        parts.append(text)
    return ", ".join(parts)


class Display:
    def __init__(self, quiet: bool = False, force_plain: bool | None = None) -> None:
        self.quiet = quiet
        self.tty = sys.stdout.isatty() if force_plain is None else not force_plain
        self.console = Console(highlight=False, soft_wrap=not self.tty)
        self.progress: Progress | None = None
        self.tasks: dict[int, Any] = {}
        self.begun: dict[int, float] = {}
        self.run: RunPlan | None = None
        self.t0 = time.monotonic()
        self.heartbeat: Heartbeat | None = None

    def line(self, text: str) -> None:
        if self.quiet:
            return
        if self.progress is not None:
            self.progress.console.print(text, markup=False)
        else:
            print(text, flush=True)

    # -- progress ---------------------------------------------------------------------------------
    def start(self, run: RunPlan) -> None:
        self.run = run
        self.t0 = time.monotonic()
        first = run.replicas[0]
        stop = f"{first.ops:,} ops" if first.ops else ""
        if all(r.action == "oom" for r in first.roles):
            stop = "allocating until NULL"
        elif first.duration_s:
            stop += (" or " if stop else "") + f"{first.duration_s:g} s"
        self.line(
            f"stresskit: {run.scenario.name}: {len(run.replicas)} replica(s) on {run.workers} worker(s), "
            f"seed {run.seed}, {stop}{', profiling' if run.profile else ''}"
        )
        if self.tty and not self.quiet:
            self.progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), console=self.console, transient=True,
            )
            self.progress.start()
        elif not self.tty and not self.quiet and heartbeat.interval() > 0:
            self.heartbeat = Heartbeat(run.scenario.name, len(run.replicas), self.line, heartbeat.interval()).start()

    def event(self, kind: str, rec: WorkerRecord) -> None:
        if self.heartbeat is not None:
            self.heartbeat.observe(kind, rec)
        if kind == "started":
            self.begun[rec.replica] = time.monotonic()
            if self.progress is not None:
                self.tasks[rec.replica] = self.progress.add_task(f"replica {rec.replica}", total=None, info=f"pid {rec.pid}")
            else:
                self.line(f"replica {rec.replica}: started (pid {rec.pid})")
        elif kind == "progress" and self.progress is not None and rec.replica in self.tasks:
            info = rec.progress
            frac = info.get("fraction")
            ops = info.get("ops")
            duration = self.run.replicas[0].duration_s if self.run else None
            if frac is None and duration:  # a timed run: progress is the share of its duration
                frac = min(1.0, (time.monotonic() - self.begun.get(rec.replica, self.t0)) / duration)
            self.progress.update(
                self.tasks[rec.replica],
                total=1.0 if frac is not None else None,
                completed=float(frac) if frac is not None else 0,
                info=units.count(ops, "ops") if ops is not None else "",
            )
        elif kind == "finished":
            if self.progress is not None and rec.replica in self.tasks:
                self.progress.remove_task(self.tasks.pop(rec.replica))
            outcome = rec.status if not rec.error else f"{rec.status}: {rec.error}"
            if rec.attempts > 1:  # its Dask worker died and it was run again elsewhere
                outcome += f" (attempt {rec.attempts}: {' then '.join(rec.executor_workers)})"
            self.line(f"replica {rec.replica}: {outcome} ({rec.elapsed_s:.2f} s, peak RSS {units.quantity(rec.peak_rss_bytes, 'bytes')})")

    def stop(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
            self.heartbeat = None
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    # -- summary ----------------------------------------------------------------------------------
    def summary(self, report: dict[str, Any], json_path: str | None) -> None:
        self.stop()
        status = report["status"]
        name = report["scenario"]["name"]
        verdict = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[status]
        tail = tally(report["thresholds"])
        if self.quiet:
            # Quiet still says why: a FAIL or ERROR without its cause sends the reader to the JSON.
            lines = [f"{name}: {verdict} ({tail})"]
            lines += [f"  {threshold_line(t)}" for t in report["thresholds"] if not t["ok"]]
            lines += [f"  error: {err}" for err in report["errors"]] if status == "error" else []
            lines += [f"  {line}" for line in why_lines(report, json_path, name_failed=False)]
            print("\n".join(lines), flush=True)
            return
        if self.tty:
            self._tables(report)
        else:
            self._plain(report)
        # The rates above scale with the round trip (docs/performance.md, "The machine's two speeds"):
        # shown so that two runs' rates are compared on the same machine, not only in the JSON.
        handoff = handoff_line((report.get("environment") or {}).get("machine") or {}, RUN_CHANGED)
        if handoff:
            self.line(handoff)
        for err in report["errors"]:
            self.line(f"error: {err}")
        why = why_lines(report, json_path)
        if why:
            self.line("why it failed:")
            for line in why:
                self.line(f"  {line}")
        if json_path:
            self.line(f"report: {json_path}")
        style = {"pass": "bold green", "fail": "bold red", "error": "bold red"}[status]
        if self.tty:
            self.console.print(f"[{style}]{name}: {verdict}[/] ({tail}, seed {report['seed']})")
        else:
            print(f"{name}: {verdict} ({tail}, seed {report['seed']})", flush=True)

    @staticmethod
    def _role_rows(report: dict[str, Any]) -> list[list[str]]:
        m = report["metrics"]
        rows = []
        for role in report["plan"]["roles"]:
            p = f"roles.{role['name']}."
            op = next((o for o in LATENCY_OPS if f"{p}latency.{o}.p50_ns" in m), None)
            lat = [units.metric(f"{p}latency.{op}.{pc}", m.get(f"{p}latency.{op}.{pc}")) if op else units.MISSING for pc in ("p50_ns", "p99_ns", "max_ns")]
            rows.append([role["name"], role["action"], str(role["threads"]), units.metric(p + "ops", m.get(p + "ops")),
                         units.metric(p + "ops_per_s", m.get(p + "ops_per_s")), op or units.MISSING, *lat])
        return rows

    KEY_METRICS = (
        "ops.total", "throughput.ops_per_s", "time.startup_s", "time.warmup_s", "time.measured_s", "blocks.leaked", "bytes.leaked", "canary.failures", "handoff.doubles",
        "alloc.failed", "contract.violations", "leak.mimalloc_blocks", "unreclaimed.peak_bytes", "unreclaimed.avg_bytes",
        "unreclaimed.peak_blocks", "latency.lifetime.p50_ns", "latency.lifetime.p99_ns", "latency.timer_overhead_ns",
        "oom.null_returns", "oom.bytes_before_null", "oom.recovered", "concurrency.max_threads_inside", "cpu.utilisation",
        "workers.peak_rss_bytes",
    )

    @classmethod
    def _key_metrics(cls, report: dict[str, Any]) -> list[tuple[str, str]]:
        m = report["metrics"]
        return [(k, units.metric(k, m[k])) for k in cls.KEY_METRICS if k in m]

    def _tables(self, report: dict[str, Any]) -> None:
        roles = Table(title=f"{report['scenario']['name']}: roles", title_justify="left")
        for col in ("role", "action", "threads", "ops", "ops/s", "op", "p50", "p99", "max"):
            roles.add_column(col, justify="left" if col in ("role", "action", "op") else "right")
        for row in self._role_rows(report):
            roles.add_row(*row)
        self.console.print(roles)
        metrics = Table(title="metrics", title_justify="left")
        metrics.add_column("metric")
        metrics.add_column("value", justify="right")
        for k, v in self._key_metrics(report):
            metrics.add_row(k, v)
        self.console.print(metrics)
        if report["thresholds"]:
            th = Table(title="thresholds and checks", title_justify="left")
            th.add_column("")
            th.add_column("kind")
            th.add_column("expression")
            th.add_column("value", justify="right")
            style = {"pass": "[green]pass[/]", "FAIL": "[red]FAIL[/]", "skipped": "[dim]skipped[/]"}
            for t in report["thresholds"]:
                why = f"  ({t['reason']})" if t.get("reason") else ""
                value = units.MISSING if t.get("skipped") else threshold_value(t)
                th.add_row(style[threshold_status(t)], threshold_kind(t), escape(t["expression"] + why), escape(value))
            self.console.print(th)
        bad = [w for w in report["workers"] if w["status"] != "ok"]
        if bad:
            wt = Table(title="workers that failed", title_justify="left")
            for col in ("replica", "pid", "status", "signal/exit", "why"):
                wt.add_column(col)
            for w in bad:
                wt.add_row(str(w["replica"]), str(w["pid"]), w["status"], str(w["signal"] or w["exitcode"]), w["error"])
            self.console.print(wt)
        self._hotspots(report)

    def _plain(self, report: dict[str, Any]) -> None:
        for row in self._role_rows(report):
            self.line(f"role {row[0]} ({row[1]}, {units.count(int(row[2]), 'threads')}): {row[3]}, {row[4]}, {row[5]} latency p50/p99/max {row[6]} / {row[7]} / {row[8]}")
        for k, v in self._key_metrics(report):
            self.line(f"{k}: {v}")
        for t in report["thresholds"]:
            self.line(threshold_line(t))
        for w in report["workers"]:
            if w["status"] != "ok":  # why it failed is in the report's errors, printed next
                self.line(f"worker replica {w['replica']} pid {w['pid']}: {w['status']} ({w['signal'] or w['exitcode']})")
        self._hotspots(report)

    def _hotspots(self, report: dict[str, Any]) -> None:
        prof = report.get("profile")
        if not prof:
            return
        for problem in prof["problems"]:
            self.line(f"profile: {problem}")
        cats = prof.get("categories") or {}
        if cats:
            parts = ", ".join(f"{name} {c['pct']:.1f}%" for name, c in cats.items())
            self.line(f"profile: {prof['samples']} samples: {parts}")
        if prof["hotspots"]:
            self.line(f"hotspots over work ({prof.get('work_samples', prof['samples'])} samples, self% / inclusive%):")
            for h in prof["hotspots"][:10]:
                self.line(_spot(h))
        for fam, spots in (prof.get("top_frames") or {}).items():
            if spots:
                self.line(f"top {FAMILY_LABELS.get(fam, fam)} frames (of work):")
                for h in spots:
                    self.line(_spot(h))
        for key in ("flamegraph_svg", "speedscope_json"):
            if prof.get(key):
                self.line(f"{key.replace('_', ' ')}: {prof[key]}")


FAMILY_LABELS = {"cc": "glue (cc_* and its helpers)", "mi": "mi_*", "engine": "engine (sk_*, step_*)"}


def _spot(h: dict[str, Any]) -> str:
    return f"  {h['self_pct']:5.1f}% {h['inclusive_pct']:5.1f}%  {h['frame']}{'' if h['native'] else '  [py]'}"


__all__ = ["PERCENTILES", "Display"]
