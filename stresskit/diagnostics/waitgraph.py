"""The wait-for graph of a stalled replica: roles are nodes; a role waiting on an empty inbox
waits for the roles that push to that queue, a role waiting on a full outbox for the roles that
pop it. A cycle (a strongly connected component of two or more roles, or a role waiting for
itself) is a deadlock: nobody in it can move until another in it does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WAIT_EMPTY = "wait_empty"
WAIT_FULL = "wait_full"


@dataclass(frozen=True)
class Edge:
    waiter: str
    waits_for: str
    queue: str
    why: str  # "empty" (waiter's inbox) or "full" (waiter's outbox)

    def to_json(self) -> dict[str, str]:
        return {"from": self.waiter, "to": self.waits_for, "queue": self.queue, "why": self.why}

    def phrase(self) -> str:
        return f"{self.waiter} waits for {self.waits_for} (queue {self.queue} {self.why})"


def edges(roles: Sequence[Mapping[str, object]], waiting: Sequence[Mapping[str, object]] | None = None) -> list[Edge]:
    """Edges from the engine's view: the waits (``waits``: [{"state", "queue"}]) of ``waiting``
    (default: every role) against every role's ``inbox``/``outbox``. A role with several waiting
    threads contributes each distinct wait once."""
    pushers: dict[str, list[str]] = {}
    poppers: dict[str, list[str]] = {}
    for r in roles:
        if r.get("outbox"):
            pushers.setdefault(str(r["outbox"]), []).append(str(r["name"]))
        if r.get("inbox"):
            poppers.setdefault(str(r["inbox"]), []).append(str(r["name"]))
    out: list[Edge] = []
    for r in roles if waiting is None else waiting:
        seen: set[tuple[str, str]] = set()
        for w in r.get("waits", ()):  # type: ignore[union-attr]
            state, queue = str(w["state"]), str(w["queue"])
            if (state, queue) in seen:
                continue
            seen.add((state, queue))
            if state == WAIT_EMPTY:
                targets, why = pushers.get(queue, []), "empty"
            elif state == WAIT_FULL:
                targets, why = poppers.get(queue, []), "full"
            else:
                continue
            out += [Edge(str(r["name"]), t, queue, why) for t in targets]
    return out


def cycles(graph_edges: Sequence[Edge]) -> list[list[Edge]]:
    """Every deadlocked group as the edges that close it, in a readable order (Tarjan's strongly
    connected components; within one, a walk from its first role along edges inside it)."""
    succ: dict[str, list[Edge]] = {}
    nodes: list[str] = []
    for e in graph_edges:
        for n in (e.waiter, e.waits_for):
            if n not in succ:
                succ[n] = []
                nodes.append(n)
        succ[e.waiter].append(e)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:  # recursion depth is bounded by the roles (at most 64)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for e in succ[v]:
            w = e.waits_for
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            components.append(comp)

    for n in nodes:
        if n not in index:
            connect(n)
    found = []
    for comp in components:
        members = set(comp)
        inside = [e for e in graph_edges if e.waiter in members and e.waits_for in members]
        if len(comp) == 1 and not inside:
            continue
        found.append(_walk(sorted(members, key=nodes.index)[0], inside))
    return found


def _walk(start: str, inside: list[Edge]) -> list[Edge]:
    """The shortest closed walk from ``start`` back to it (breadth first): the cycle a sentence
    names."""
    reached: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for e in inside:
                if e.waiter != node:
                    continue
                if e.waits_for == start:
                    path = [e]
                    while node != start:
                        path.append(reached[node])
                        node = reached[node].waiter
                    return path[::-1]
                if e.waits_for not in reached:
                    reached[e.waits_for] = e
                    following.append(e.waits_for)
        frontier = following
    return []
