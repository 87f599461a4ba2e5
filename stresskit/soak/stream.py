"""The soak's report, on disk at all times: rewritten atomically (json_report's writer) whenever a
replica finishes, so a kill -9 of the supervisor keeps every replica finished so far.

Bounded for hours: a passing replica is kept as a one-line summary (seed, verdict, throughput,
p99; the last MAX_PASSING_SUMMARIES of them), a failing one whole (its worker record, replay plan
and diagnostics; the first MAX_FAILING_KEPT of them, and the first MAX_FAILING_SUMMARIES as
summaries), and the metrics, histograms and series are
those of the batch of the first failure (else of the latest batch), never of every replica.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stresskit.report.json_report import ReportWriter
from stresskit.soak.seeds import SoakReplica

MAX_PASSING_SUMMARIES = 10_000  # the latest ones
MAX_FAILING_SUMMARIES = 10_000  # the first ones: a glue that fails every replica still has a bounded report
MAX_FAILING_KEPT = 100
THROUGHPUT, P99 = "throughput.ops_per_s", ("latency.alloc.p99_ns", "latency.lifetime.p99_ns")


def _verdict(worker: Mapping[str, Any]) -> str:
    replay = worker.get("replay") or {}
    return (replay.get("signature") or {}).get("status") or ("pass" if worker.get("status") == "ok" else "error")


def summary(worker: Mapping[str, Any], member: SoakReplica) -> dict[str, Any]:
    metrics = worker.get("metrics") or {}
    failed = ((worker.get("replay") or {}).get("signature") or {}).get("failed") or []
    return {"replica": worker["replica"], "seed": member.base_seed, "run_replica": member.run_replica,
            "replica_seed": member.plan.seed, "status": _verdict(worker), "ops_per_s": metrics.get(THROUGHPUT),
            "p99_ns": next((metrics[m] for m in P99 if m in metrics), None), "failed": failed,
            "elapsed_s": worker.get("elapsed_s")}


class SoakWriter(ReportWriter):
    """Merges each batch's run report (from session.execute) into one soak document."""

    def __init__(self, path: Path | None, run_seed: int, limits: Mapping[str, Any]) -> None:
        super().__init__(path, multiple=False)
        self.run_seed = run_seed
        self.limits = dict(limits)
        self.started = time.time()
        self.passing: deque[dict[str, Any]] = deque(maxlen=MAX_PASSING_SUMMARIES)
        self.failing: list[dict[str, Any]] = []  # summaries of every replica that did not pass
        self.failing_workers: list[dict[str, Any]] = []  # the first MAX_FAILING_KEPT, whole
        self.counts = {"run": 0, "pass": 0, "fail": 0, "error": 0}
        self.focus: dict[str, Any] | None = None  # the batch report whose detail the document keeps
        self.batch: dict[int, SoakReplica] = {}
        self.current: dict[str, Any] | None = None  # the running batch's report, as execute last wrote it
        self.latest: dict[str, Any] | None = None  # the last finished batch's report
        self.stopped: str | None = None

    # -- called by drive.py around each batch, and by session.execute within it --------------------
    def begin(self, members: list[SoakReplica]) -> None:
        self.batch = {m.plan.replica: m for m in members}
        self.current = None

    def update(self, index: int, report: dict[str, Any]) -> None:
        self.current = report
        self.reports = [self.compose()]
        self.write()

    def end(self, final: dict[str, Any]) -> None:
        for worker in final["workers"]:
            if worker["status"] == "not_started":  # an interrupted batch: it never ran
                continue
            entry = summary(worker, self.batch[worker["replica"]])
            verdict = entry["status"] if entry["status"] in ("pass", "fail") else "error"
            self.counts["run"] += 1
            self.counts[verdict] += 1
            if verdict == "pass":
                self.passing.append(entry)
                continue
            if len(self.failing) < MAX_FAILING_SUMMARIES:
                self.failing.append(entry)
            if len(self.failing_workers) < MAX_FAILING_KEPT:
                self.failing_workers.append(self._whole(worker))
            if self.focus is None:
                self.focus = final
        self.batch, self.current = {}, None
        self.latest = final
        self.reports = [self.compose()]
        self.write()

    def finish(self, stopped: str) -> dict[str, Any]:
        self.stopped = stopped
        self.reports = [self.compose()]
        self.write()
        return self.reports[0]

    def _whole(self, worker: dict[str, Any]) -> dict[str, Any]:
        """A failing replica as kept: its record, with what `replay` needs to re-plan it."""
        member = self.batch[worker["replica"]]
        replay = {**(worker.get("replay") or {}), "soak": {"base_seed": member.base_seed, "replica": member.run_replica}}
        return {**worker, "replay": replay}

    @property
    def failed(self) -> bool:
        return bool(self.failing)

    # -- the document -----------------------------------------------------------------------------------
    def _in_flight(self) -> list[dict[str, Any]]:
        """Replicas of the running batch that have finished: on disk before their batch ends."""
        if self.current is None:
            return []
        return [summary(w, self.batch[w["replica"]]) for w in self.current["workers"]
                if w["status"] != "not_started" and w["replica"] in self.batch]

    def compose(self) -> dict[str, Any]:
        base = self.focus or self.latest or self.current
        assert base is not None
        flight = self._in_flight()
        replicas = sorted([*self.passing, *self.failing, *flight], key=lambda s: s["replica"])
        statuses = {s["status"] for s in replicas}
        done = self.stopped is not None
        interrupted = self.stopped == "interrupted"
        status = "error" if interrupted or "error" in statuses or not replicas else "fail" if "fail" in statuses else "pass"
        first = next((s for s in replicas if s["status"] != "pass"), None)
        doc = dict(base)
        doc.update(
            status=status if done else "error",
            complete=done and not interrupted,
            interrupted=base.get("interrupted") or False,
            seed=self.run_seed,
            elapsed_s=time.time() - self.started,
            workers=self.failing_workers + [self._whole(w) for w in (self.current or {}).get("workers", [])
                                            if w["status"] != "not_started" and _verdict(w) != "pass"],
            plan={**base["plan"], "replicas": self.counts["run"] + len(flight)},
            soak={
                "run_seed": self.run_seed,
                "limits": self.limits,
                "stopped": self.stopped,
                "replicas_run": self.counts["run"] + len(flight),
                "passed": self.counts["pass"] + sum(s["status"] == "pass" for s in flight),
                "failed": self.counts["fail"] + sum(s["status"] == "fail" for s in flight),
                "errors": self.counts["error"] + sum(s["status"] not in ("pass", "fail") for s in flight),
                "passing_summaries_dropped": max(0, self.counts["pass"] - len(self.passing)),
                "failing_summaries_dropped": max(0, self.counts["fail"] + self.counts["error"] - len(self.failing)),
                "first_failure": None if first is None else {
                    "replica": first["replica"], "seed": first["seed"], "run_replica": first["run_replica"],
                    "failed": first["failed"]},
                "replicas": replicas,
            },
        )
        if not done:
            doc["errors"] = list(doc.get("errors") or []) + ["the soak did not finish (report written while running)"]
        return doc
