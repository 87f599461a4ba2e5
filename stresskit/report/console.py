"""What `stresskit run` prints: progress while workers run, then a summary.

On a terminal: a rich progress display (one bar per replica) and rich tables. Otherwise (CI logs,
pipes): plain lines, one fact per line, easy to grep. --quiet prints only the final status line.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from stresskit.metrics import LATENCY_OPS, PERCENTILES
from stresskit.planner import RunPlan
from stresskit.runner.records import WorkerRecord


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _bytes(value: Any) -> str:
    if value is None:
        return "-"
    v = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(v) < 1024 or unit == "GiB":
            return f"{v:,.0f} {unit}" if unit == "B" else f"{v:,.1f} {unit}"
        v /= 1024
    return str(value)


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

    def event(self, kind: str, rec: WorkerRecord) -> None:
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
                info=f"{_num(ops)} ops" if ops is not None else "",
            )
        elif kind == "finished":
            if self.progress is not None and rec.replica in self.tasks:
                self.progress.remove_task(self.tasks.pop(rec.replica))
            outcome = rec.status if not rec.error else f"{rec.status}: {rec.error}"
            self.line(f"replica {rec.replica}: {outcome} ({rec.elapsed_s:.2f} s, peak RSS {_bytes(rec.peak_rss_bytes)})")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    # -- summary ----------------------------------------------------------------------------------
    def summary(self, report: dict[str, Any], json_path: str | None) -> None:
        self.stop()
        status = report["status"]
        name = report["scenario"]["name"]
        failed = [t for t in report["thresholds"] if not t["ok"]]
        verdict = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[status]
        tail = f"{len(report['thresholds']) - len(failed)}/{len(report['thresholds'])} thresholds passed"
        if self.quiet:
            print(f"{name}: {verdict} ({tail})", flush=True)
            return
        if self.tty:
            self._tables(report)
        else:
            self._plain(report)
        for err in report["errors"]:
            self.line(f"error: {err}")
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
            lat = [_num(m.get(f"{p}latency.{op}.{pc}")) if op else "-" for pc in ("p50_ns", "p99_ns", "max_ns")]
            rows.append([role["name"], role["action"], str(role["threads"]), _num(m.get(p + "ops")), _num(m.get(p + "ops_per_s")), op or "-", *lat])
        return rows

    @staticmethod
    def _key_metrics(report: dict[str, Any]) -> list[tuple[str, str]]:
        m = report["metrics"]
        keys = [
            ("ops.total", _num), ("throughput.ops_per_s", _num), ("blocks.leaked", _num), ("bytes.leaked", _bytes),
            ("canary.failures", _num), ("handoff.doubles", _num), ("alloc.failed", _num),
            ("unreclaimed.peak_bytes", _bytes), ("unreclaimed.avg_bytes", _bytes), ("unreclaimed.peak_blocks", _num),
            ("latency.lifetime.p50_ns", _num), ("latency.lifetime.p99_ns", _num),
            ("oom.null_returns", _num), ("oom.bytes_before_null", _bytes), ("oom.recovered", _num),
            ("concurrency.max_threads_inside", _num), ("cpu.utilisation", _num), ("workers.peak_rss_bytes", _bytes),
        ]
        return [(k, fmt(m[k])) for k, fmt in keys if k in m]

    def _tables(self, report: dict[str, Any]) -> None:
        roles = Table(title=f"{report['scenario']['name']}: roles", title_justify="left")
        for col in ("role", "action", "threads", "ops", "ops/s", "op", "p50 ns", "p99 ns", "max ns"):
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
            th = Table(title="thresholds", title_justify="left")
            th.add_column("")
            th.add_column("expression")
            th.add_column("value", justify="right")
            for t in report["thresholds"]:
                value = t["value"] if not isinstance(t["value"], dict) else ", ".join(f"{k}={_num(v)}" for k, v in t["value"].items())
                th.add_row("[green]pass[/]" if t["ok"] else "[red]FAIL[/]", t["expression"] + (f"  ({t['reason']})" if t.get("reason") else ""), _num(value) if not isinstance(value, str) else value)
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
            self.line(f"role {row[0]} ({row[1]}, {row[2]} threads): ops {row[3]}, ops/s {row[4]}, {row[5]} latency p50/p99/max ns {row[6]}/{row[7]}/{row[8]}")
        for k, v in self._key_metrics(report):
            self.line(f"{k}: {v}")
        for t in report["thresholds"]:
            reason = f" ({t['reason']})" if t.get("reason") else ""
            self.line(f"threshold {'pass' if t['ok'] else 'FAIL'}: {t['expression']} (value {t['value']}){reason}")
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
        if prof["hotspots"]:
            self.line(f"hotspots ({prof['samples']} samples, self% / inclusive%):")
            for h in prof["hotspots"][:10]:
                self.line(f"  {h['self_pct']:5.1f}% {h['inclusive_pct']:5.1f}%  {h['frame']}{'' if h['native'] else '  [py]'}")
        for key in ("flamegraph_svg", "speedscope_json"):
            if prof.get(key):
                self.line(f"{key.replace('_', ' ')}: {prof[key]}")


__all__ = ["PERCENTILES", "Display"]
