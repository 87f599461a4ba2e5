"""One `stresskit run --sanitize KIND`: the sanitized library, the workers' environment, their
plans loosened for a sanitizer's cost, and the sanitizer's reports turned into diagnoses.

The supervisor (stresskit/runner/pool.py) calls worker_env() before it starts a worker and
collect() once the worker is over; stresskit/session.py calls adapt() and judge().
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stresskit.sanitize import reports, runtime
from stresskit.sanitize.build import SanitizedLibrary

if TYPE_CHECKING:
    from stresskit.plan import ReplicaPlan
    from stresskit.runner.records import WorkerRecord
    from stresskit.scenario.validation import CheckedScenario
    from stresskit.thresholds import ThresholdResult

# A sanitized worker runs 2-20x slower and its RSS includes shadow memory and (ASAN) a quarantine
# of freed memory: deadlines and RSS budgets are scaled, and thresholds on speed or RSS are not
# judged (they would measure the sanitizer, not the glue).
DEADLINE_FACTOR = 20.0
RSS_FACTOR = {"address": 4.0, "thread": 6.0, "undefined": 1.5}
RSS_SLACK = 512 << 20
SPEED_AND_RSS = ("throughput.", "cpu.", "workers.peak_rss_bytes", "elapsed.")
UNJUDGED_CHECKS = ("bounded_rss",)


def _unjudged(metric: str) -> bool:
    return metric.startswith(SPEED_AND_RSS) or (metric.startswith("latency.") and metric.endswith("_ns"))


def refusal(kind: str, checked: CheckedScenario) -> str | None:
    """Why ``kind`` cannot run the scenario meaningfully (one line), or None."""
    if kind in ("address", "thread") and any(r.action == "oom" for r in checked.model.roles.values()):
        return (f"{checked.file}: --sanitize {kind} cannot run an oom role: its memory bound counts "
                f"address space, and {kind} reserves terabytes of shadow memory (use --sanitize undefined)")
    return None


@dataclass
class SanitizedRun:
    built: SanitizedLibrary
    log_dir: Path

    @classmethod
    def start(cls, built: SanitizedLibrary) -> SanitizedRun:
        return cls(built, Path(tempfile.mkdtemp(prefix=f"stresskit-{built.kind}-san-")))

    @property
    def kind(self) -> str:
        return self.built.kind

    def worker_env(self, plan: ReplicaPlan) -> dict[str, str]:
        return runtime.worker_env(self.kind, self.built.library, self.built.runtime, self.log_dir, plan.replica)

    def adapt(self, plans: Sequence[ReplicaPlan]) -> list[ReplicaPlan]:
        out = []
        for p in plans:
            budget = None if p.rss_budget_bytes is None else int(p.rss_budget_bytes * RSS_FACTOR[self.kind]) + RSS_SLACK
            out.append(dataclasses.replace(p, deadline_s=p.deadline_s * DEADLINE_FACTOR, rss_budget_bytes=budget))
        return out

    def judge(self, thresholds: Sequence[ThresholdResult]) -> list[ThresholdResult]:
        from stresskit.thresholds import parse

        out = []
        for t in thresholds:
            metrics = () if t.builtin else parse(t.expression).metrics
            if (t.builtin and t.name in UNJUDGED_CHECKS) or any(_unjudged(m) for m in metrics):
                t = dataclasses.replace(t, ok=True, skipped=True,
                                        reason=f"not judged under --sanitize {self.kind}: it measures the sanitizer's cost")
            out.append(t)
        return out

    def collect(self, rec: WorkerRecord) -> None:
        """Read the worker's sanitizer log(s); a report makes the replica fail with its diagnosis."""
        pattern = f"{runtime.log_prefix(self.log_dir, rec.replica).name}.{rec.pid if rec.pid else '*'}"
        diag = reports.diagnose(self.kind, sorted(self.log_dir.glob(pattern)))
        if diag is None:
            return
        rec.diagnostics["sanitizer"] = diag
        if rec.status != "ok":  # it halted on the report: say so instead of "crashed"
            how = f"killed by {rec.signal}" if rec.signal else f"exit {rec.exitcode}"
            rec.error = f"stopped by {reports.summary_lines(diag)[0]} ({how})"
