"""Names for the engine's numbers: which role and thread a "who" code is, which queue or list a
drain location code is (native/include/sk_engine.h, section "diagnostics").

The engine numbers threads globally in role order, then thread order, and queues in the order
they were added (the plan's order), so the plan alone is enough to name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stresskit.plan import ReplicaPlan

WHO_DRAIN = 1 << 19
MAX_QUEUES = 64
UNKNOWN = 2**64 - 1
# Drain location codes: queue q; 64 + r: role r's pending push; 128 + r: role r's reclaim limbo
# (its retire list); 192 + r: role r's holdings (an oom role's ledger, an alloc_free role's live
# sets, reported as "live_set").
_LOCATION_KINDS = ("queue", "pending_push", "retire_list", "oom_holdings")


@dataclass(frozen=True)
class ThreadName:
    role: str
    thread: int
    action: str
    kind: str
    free_call: str  # "cc_free" or "cc_free_unsized"
    inbox: str | None
    outbox: str | None

    @property
    def label(self) -> str:
        return f"{self.role}[{self.thread}]"


@dataclass(frozen=True)
class RunLayout:
    threads: tuple[ThreadName, ...]
    queues: tuple[str, ...]
    roles: tuple[str, ...]

    @classmethod
    def from_plan(cls, plan: ReplicaPlan) -> RunLayout:
        threads = tuple(
            ThreadName(r.name, j, r.action, r.alloc_kind, "cc_free_unsized" if r.free_mode == "unsized" else "cc_free",
                       r.inbox, r.outbox)
            for r in plan.roles
            for j in range(r.threads)
        )
        return cls(threads, tuple(q.name for q in plan.queues), tuple(r.name for r in plan.roles))

    def thread(self, who: int) -> ThreadName | None:
        """The thread a "who" code names, or None (unknown, or the drain)."""
        return self.threads[who - 1] if 0 < who <= len(self.threads) else None

    def location(self, loc: int) -> dict[str, Any]:
        """A drain location code as {"kind", "queue" or "role", "label"}."""
        kind = _LOCATION_KINDS[loc // MAX_QUEUES] if 0 <= loc < 4 * MAX_QUEUES else "unknown"
        index = loc % MAX_QUEUES
        if kind == "queue":
            name = self.queues[index] if index < len(self.queues) else f"#{index}"
            return {"kind": kind, "queue": name, "label": f"waiting in queue {name!r}"}
        role = self.roles[index] if index < len(self.roles) else f"#{index}"
        if kind == "oom_holdings" and any(t.role == role and t.action == "alloc_free" for t in self.threads):
            kind = "live_set"
        label = {
            "pending_push": f"waiting to be pushed by {role}",
            "retire_list": f"on {role}'s retire list",
            "oom_holdings": f"held by {role} (oom)",
            "live_set": f"in a live set of {role} (held or handed over)",
        }.get(kind, f"location {loc}")
        return {"kind": kind, "role": role, "label": label}

    def who(self, code: int) -> dict[str, Any] | None:
        """A "who" code as a plain dict: a thread {"role", "thread", "label"}, the drain
        {"drain": True, "location": {...}, "label"}, or None when unknown."""
        if code >= WHO_DRAIN:
            where = self.location(code - WHO_DRAIN)
            return {"drain": True, "location": where, "label": f"the drain ({where['label']} at stop)"}
        t = self.thread(code)
        if t is None:
            return None
        return {"role": t.role, "thread": t.thread, "label": t.label}

    def label(self, code: int) -> str:
        named = self.who(code)
        return named["label"] if named else "unknown"


def ns_or_none(value: int) -> int | None:
    """A time or index field of a native record: None when the engine did not know it."""
    return None if value == UNKNOWN else int(value)


__all__ = ["RunLayout", "ThreadName", "UNKNOWN", "WHO_DRAIN", "ns_or_none"]
