"""The soak loop: batches of replicas (as many as run at once), each batch one planned run
through stresskit.session.execute, until a limit is met or, with until_failure, a replica fails."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from stresskit.planner import RunPlan
from stresskit.report.console import Display
from stresskit.scenario.validation import CheckedScenario
from stresskit.soak.seeds import soak_replica
from stresskit.soak.stream import SoakWriter


@dataclass(frozen=True)
class Limits:
    repeat: int | None = None
    until_failure: bool = False
    max_time_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"repeat": self.repeat, "until_failure": self.until_failure, "max_time_s": self.max_time_s}


def batch_size(checked: CheckedScenario, workers: int | None) -> int:
    return max(1, workers or checked.model.load.workers or os.cpu_count() or 1)


def soak(checked: CheckedScenario, opts: Any, display: Display, writer: SoakWriter, limits: Limits) -> tuple[dict[str, Any], str | bool]:
    """The final soak document and the signal that ended it, or False. ``opts`` is a
    session.Options (its overrides.seed is the run's seed, already resolved)."""
    from stresskit.runner import signals
    from stresskit.session import execute

    size = batch_size(checked, opts.workers)
    t0 = time.monotonic()
    k, interrupted, stopped = 0, False, "repeat"
    try:
        while True:
            if limits.repeat is not None and k >= limits.repeat:
                stopped = "repeat"
                break
            if limits.max_time_s is not None and time.monotonic() - t0 >= limits.max_time_s:
                stopped = "max_time"
                break
            n = size if limits.repeat is None else min(size, limits.repeat - k)
            members = [soak_replica(checked, opts.overrides, writer.run_seed, k + i) for i in range(n)]
            run = RunPlan(scenario=checked, seed=writer.run_seed, replicas=tuple(m.plan for m in members), workers=n, profile=False)
            writer.begin(members)
            final, interrupted = execute(run, opts, display, writer, 0)
            writer.end(final)
            k += n
            display.line(f"soak: {writer.counts['run']} replicas, {writer.counts['fail'] + writer.counts['error']} not passed, "
                         f"{time.monotonic() - t0:.1f} s")
            if interrupted:
                stopped = "interrupted"
                break
            if limits.until_failure and writer.failed:
                stopped = "failure"
                break
    except KeyboardInterrupt as exc:  # between batches: the report keeps what finished
        interrupted, stopped = signals.name_of(exc), "interrupted"
    return writer.finish(stopped), interrupted
