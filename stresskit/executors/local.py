"""``--executor local``: today's worker processes on this machine (stresskit.runner.Supervisor)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stresskit.plan import ReplicaPlan
from stresskit.runner.pool import Attacher, EventFn, Sanitizer, Supervisor


class LocalExecutor:
    name = "local"

    def execution(self, plans: Sequence[ReplicaPlan], workers: int, engine_ref: str, on_event: EventFn,
                  attacher: Attacher | None = None, sanitizer: Sanitizer | None = None) -> Supervisor:
        return Supervisor(plans, workers, engine_ref, on_event, attacher, sanitizer=sanitizer)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def close(self) -> None:
        pass
