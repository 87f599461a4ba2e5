"""Stalls: the per-replica watchdog's findings (docs/diagnostics.md, "Stalls and the wait-for graph").

The engine publishes, per role thread, a state word (what it is doing: running, waiting on an
empty inbox or a full outbox and which queue, ...) and a heartbeat (work done, per chunk), both
readable at any time (``sk_run_thread_states``). The worker's conductor feeds them to a
:class:`Watchdog`; when a role has made no progress for ``load.stall_timeout`` and nothing
upstream of it is moving either, or the replica reaches its deadline, the engine's view goes to
the supervisor, which adds every thread's Python and native stack (``py-spy dump --native``)
before the replica is aborted or killed. :func:`diagnose` turns the view into the report's
``workers[i].diagnostics.stall``: each role's state, the wait-for graph, its cycles and one
sentence ("deadlock: ..." or "stall: ...").
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stresskit.diagnostics import waitgraph

# sk_thread_state_t (native/include/sk_engine.h): the low 8 bits of a state word
STATES = ("not_started", "running", "wait_empty", "wait_full", "start_line", "oom_barrier", "grace",
          "finished", "held")
_QUEUE_STATES = (waitgraph.WAIT_EMPTY, waitgraph.WAIT_FULL)
DUMP_TIMEOUT_S = 10.0

_PHRASES = {
    "not_started": "has not started",
    "running": "is running",
    "start_line": "waits at the start line",
    "oom_barrier": "waits for the other oom threads",
    "grace": "waits out its grace period",
    "finished": "has finished",
    "held": "was stopped by a test hook",
}


def state_of(word: int, queues: Sequence[str]) -> dict[str, Any]:
    """One thread's state word as {"state", "queue"} (queue only for the two queue waits)."""
    kind, q = word & 0xFF, word >> 8
    name = STATES[kind] if kind < len(STATES) else f"unknown({kind})"
    out: dict[str, Any] = {"state": name}
    if name in _QUEUE_STATES:
        out["queue"] = queues[q] if q < len(queues) else f"#{q}"
    return out


@dataclass
class _Seen:
    beat: int = -1
    since: float = 0.0


@dataclass
class Watchdog:
    """Heartbeats over time, per thread. ``roles``: (name, action, threads, inbox, outbox,
    grace_s) in the engine's role order; ``queues``: queue names in the engine's order."""

    roles: Sequence[tuple[str, str, int, str | None, str | None, float]]
    queues: Sequence[str]
    timeout_s: float
    _seen: list[_Seen] = field(default_factory=list)

    def view(self, now: float, words: Sequence[int], beats: Sequence[int]) -> dict[str, Any]:
        """The engine's view now: per role its threads' states, heartbeats and idle time."""
        if len(self._seen) != len(words):
            self._seen = [_Seen(-1, now) for _ in words]
        for seen, beat in zip(self._seen, beats):
            if beat != seen.beat:
                seen.beat, seen.since = beat, now
        out = []
        i = 0
        for name, action, threads, inbox, outbox, grace_s in self.roles:
            ts = []
            for t in range(threads):
                st = state_of(words[i], self.queues)
                ts.append({"thread": t, **st, "heartbeat": int(beats[i]), "idle_s": round(now - self._seen[i].since, 3)})
                i += 1
            out.append({
                "name": name, "action": action, "inbox": inbox, "outbox": outbox,
                "progress": sum(t["heartbeat"] for t in ts),
                "idle_s": min((t["idle_s"] for t in ts), default=0.0),
                "threads": ts,
                "waits": [{"state": t["state"], "queue": t["queue"]} for t in ts if "queue" in t],
                "grace_s": grace_s,
            })
        return {"roles": out, "queues": list(self.queues), "stall_timeout_s": self.timeout_s}

    def stalled(self, view: Mapping[str, Any]) -> list[str]:
        """Roles stuck for the timeout with nothing upstream moving: a consumer starved by a slow
        but working producer is not a stall; one whose producer is stuck too is."""
        roles = list(view["roles"])
        stuck = {r["name"] for r in roles if self._stuck(r)}
        moving = {r["name"] for r in roles if r["name"] not in stuck and not _all(r, "finished")}
        out = []
        for r in roles:
            if r["name"] not in stuck:
                continue
            inboxes = {w["queue"] for w in r["waits"] if w["state"] == waitgraph.WAIT_EMPTY}
            if r["waits"] and all(w["state"] == waitgraph.WAIT_EMPTY for w in r["waits"]) and any(
                o["outbox"] in inboxes and o["name"] in moving for o in roles
            ):
                continue
            out.append(r["name"])
        return out

    def _stuck(self, role: Mapping[str, Any]) -> bool:
        if _all(role, "finished"):
            return False
        # A reclaim role legitimately sits out its grace: only past grace + timeout is it stuck.
        extra = role["grace_s"] if any(t["state"] == "grace" for t in role["threads"]) else 0.0
        return role["idle_s"] >= self.timeout_s + extra


def _all(role: Mapping[str, Any], state: str) -> bool:
    return bool(role["threads"]) and all(t["state"] == state for t in role["threads"])


def py_spy_dump(pid: int, timeout_s: float = DUMP_TIMEOUT_S) -> dict[str, Any]:
    """Every thread's Python and native frames, or why there are none (one line)."""
    from stresskit.profiling import py_spy

    exe = py_spy()
    cmd = ["py-spy", "dump", "--native", "--pid", str(pid)]
    if exe is None:
        return {"command": " ".join(cmd), "ok": False, "error": "py-spy is not installed (pip install py-spy)"}
    try:
        out = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"command": " ".join(cmd), "ok": False, "error": f"py-spy dump did not answer within {timeout_s:g} s"}
    except OSError as exc:
        return {"command": " ".join(cmd), "ok": False, "error": f"py-spy could not run: {exc.strerror or exc}"}
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        why = lines[0] if lines else f"exited with status {out.returncode}"
        return {"command": " ".join(cmd), "ok": False, "error": f"py-spy could not attach: {why}"}
    return {"command": " ".join(cmd), "ok": True, "text": out.stdout}


def diagnose(view: Mapping[str, Any] | None, trigger: str, stalled: Sequence[str],
             stacks: Mapping[str, Any] | None) -> dict[str, Any]:
    """The report's ``diagnostics.stall``. ``trigger``: "stall_timeout" (the watchdog) or
    "deadline"; ``view`` may be None (a worker that never sent one: only the stacks remain)."""
    out: dict[str, Any] = {"trigger": trigger, "stalled_roles": list(stalled)}
    if view is not None:
        roles = [{k: v for k, v in r.items() if k != "waits"} for r in view["roles"]]
        edges = waitgraph.edges(view["roles"], _stuck_roles(view))
        loops = waitgraph.cycles(edges)
        out.update(stall_timeout_s=view.get("stall_timeout_s"), roles=roles,
                   wait_for=[e.to_json() for e in edges],
                   cycles=[[e.to_json() for e in loop] for loop in loops])
        out["sentence"] = _sentence(view, edges, loops, stalled, trigger)
    else:
        out["sentence"] = f"{_trigger_words(trigger)}: the worker sent no engine view (only its stacks are known)"
    if stacks is not None:
        out["stacks"] = dict(stacks)
    return out


def _stuck_roles(view: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The roles whose waits count: those without progress for the timeout, and those waiting on
    a queue whose other side is all stuck roles (a full queue whose poppers are stuck stays full,
    however recently the pusher got its last block in: it is blocked by them). A role that is
    moving passes through short waits all the time; its state word then says nothing about a
    stall. Without any stuck role (a deadline on a hung worker), every role's wait counts."""
    timeout = view.get("stall_timeout_s") or 0.0
    roles = list(view["roles"])
    stuck = {r["name"] for r in roles if r["idle_s"] >= timeout and not _all(r, "finished")}
    if not stuck:
        return roles
    grew = True
    while grew:  # to a fixed point: whoever waits only on blocked roles is blocked too
        grew = False
        for r in roles:
            if r["name"] in stuck or _all(r, "finished"):
                continue
            targets: dict[tuple[str, str], set[str]] = {}
            for e in waitgraph.edges(roles, [r]):
                targets.setdefault((e.queue, e.why), set()).add(e.waits_for)
            if any(others <= stuck for others in targets.values()):
                stuck.add(r["name"])
                grew = True
    return [r for r in roles if r["name"] in stuck]


def _trigger_words(trigger: str) -> str:
    return "deadline" if trigger == "deadline" else "stall"


def _sentence(view: Mapping[str, Any], edges: Sequence[waitgraph.Edge], loops: Sequence[Sequence[waitgraph.Edge]],
              stalled: Sequence[str], trigger: str) -> str:
    if loops:
        return "deadlock: " + "; ".join(", ".join(e.phrase() for e in loop) for loop in loops)
    by_name = {r["name"]: r for r in view["roles"]}
    parts = []
    named = stalled or [r["name"] for r in view["roles"] if not _all(r, "finished")]
    # Roles stuck on their own (held, running, grace) come first: the waits follow from them.
    for name in sorted(named, key=lambda n: bool(by_name[n]["waits"])):
        r = by_name[name]
        doing = ", ".join(_phrase(t) for t in _distinct(r["threads"]))
        parts.append(f"{name} made no progress for {r['idle_s']:.1f} s ({doing})")
    waits = [e.phrase() for e in edges]
    head = _trigger_words(trigger)
    text = f"{head}: " + "; ".join(parts) if parts else f"{head}: no role is stuck"
    return text + (f"; {'; '.join(waits)}" if waits else "")


def _distinct(threads: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    seen, out = set(), []
    for t in threads:
        key = (t["state"], t.get("queue"))
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def _phrase(t: Mapping[str, Any]) -> str:
    if t["state"] == waitgraph.WAIT_EMPTY:
        return f"waits on its empty inbox {t['queue']}"
    if t["state"] == waitgraph.WAIT_FULL:
        return f"waits on its full outbox {t['queue']}"
    return _PHRASES.get(t["state"], t["state"])


def summary_lines(diag: Mapping[str, Any]) -> list[str]:
    """A few lines for the console's "why it failed" block."""
    lines = [str(diag.get("sentence", "stall: see the report"))]
    for loop in diag.get("cycles", []):
        names = [e["from"] for e in loop]
        lines.append("wait-for cycle: " + " -> ".join([*names, names[0]]) if names else "wait-for cycle")
    stacks = diag.get("stacks")
    if isinstance(stacks, Mapping):
        if stacks.get("ok"):
            lines.append("every thread's Python + native stack (py-spy dump --native): workers[i].diagnostics.stall.stacks")
        else:
            lines.append(f"no thread stacks: {stacks.get('error', 'unknown reason')}")
    return lines
