"""The leak ledger (docs/diagnostics.md, "Leak ledger"): what was leaked at the end of a run,
grouped by allocating role, thread, allocation kind, size class and where the block was last
seen, with the first blocks in full.

Three sources, each a different kind of leak:
  * mimalloc's view (the one that matters for the glue): blocks mimalloc still holds as allocated
    after the drain that carry this run's header. The engine stamps every block just before it
    hands it to cc_free/cc_free_unsized, so each says who gave it to the glue and when.
  * in flight at stop: blocks the engine itself still held when an aborted or timed-out run
    stopped (queues, pending pushes, retire lists, oom holdings); the drain freed them.
  * the engine's books: blocks allocated minus blocks freed (non-zero only for an engine bug).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from stresskit.diagnostics.engine_records import MAX_LEAKS, EngineRecords
from stresskit.diagnostics.layout import RunLayout, ns_or_none
from stresskit.report import units

STATES = {0: "live", 1: "retired", 2: "freed", 3: "freed_retired"}
OTHER_CLASS = 255  # the engine's group for blocks its group table had no room for
# Stops after which the engine legitimately held blocks: a graceful stop drains everything but
# a reclaimer's limbo, which the drain frees (not a leak).
_CLEAN_STOPS = ("completed", "duration", "short", "exhausted")


def last_seen(layout: RunLayout, state: int, freer: int, alloc_who: int) -> str:
    """Where a leaked block was last seen by the engine, as a sentence fragment."""
    if state == 0:
        return "allocated, never given to the glue's free (the engine lost it)"
    if state == 1:
        return "retired, never given to the glue's free (the engine lost it)"
    who = layout.who(freer)
    if who is None:
        return "given to the glue's free by an unknown thread (no free stamp)"
    if who.get("drain"):
        return f"{who['location']['label']} when the run stopped, then given to the glue's free by the drain"
    call = layout.thread(freer).free_call  # type: ignore[union-attr]
    if freer == alloc_who:
        return f"never handed off; given to {call} by {who['label']}"
    if state == 3:
        return f"retired, then given to {call} by {who['label']}"
    return f"handed off, then given to {call} by {who['label']}"


def size_class_label(cls: int) -> str:
    return "other (ledger full)" if cls == OTHER_CLASS else f"<= {2**cls} B"


def _ranked(groups: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], tuple], names: tuple[str, ...]):
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for g in groups:
        s = sums[key(g)]
        s[0] += g["blocks"]
        s[1] += g["bytes"]
    rows = [{**dict(zip(names, k, strict=True)), "blocks": b, "bytes": y} for k, (b, y) in sums.items()]
    return sorted(rows, key=lambda r: (-r["blocks"], -r["bytes"]))


def _groupings(groups: list[dict[str, Any]], layout: RunLayout) -> dict[str, list[dict[str, Any]]]:
    def thread(g: dict[str, Any]) -> tuple[str, int, str]:
        t = layout.thread(g["alloc_who"])
        return (t.role, t.thread, t.kind) if t else ("unknown", -1, "unknown")

    def seen(g: dict[str, Any]) -> tuple[str]:
        if g["size_class"] == OTHER_CLASS:
            return ("unknown (ledger full)",)
        return (last_seen(layout, g["state"], g["freer"], g["alloc_who"]),)

    return {
        "by_role": _ranked(groups, lambda g: thread(g)[:1], ("role",)),
        "by_thread": _ranked(groups, lambda g: thread(g)[:2], ("role", "thread")),
        "by_kind": _ranked(groups, lambda g: thread(g)[2:], ("kind",)),
        "by_size_class": _ranked(groups, lambda g: (size_class_label(g["size_class"]),), ("size_class",)),
        "by_last_seen": _ranked(groups, seen, ("last_seen",)),
    }


def _block(rec: dict[str, Any], layout: RunLayout, end_ns: int) -> dict[str, Any]:
    born = ns_or_none(rec["born_ns"])
    return {
        "address": f"{rec['address']:#x}",
        "size": rec["size"],
        "serial": rec["serial"],
        "handed_off": not rec["serial"] >> 63,
        "allocated_by": layout.who(rec["alloc_who"]),
        "alloc_index": ns_or_none(rec["alloc_index"]),
        "state": STATES.get(rec["state"], "unknown"),
        "last_seen": last_seen(layout, rec["state"], rec["freer"], rec["alloc_who"]),
        "freed_by": layout.who(rec["freer"]),
        "retired_by": layout.who(rec["retirer"]),
        "born_at_ns": born,
        "age_ns": max(0, end_ns - born) if born is not None else None,
        "freed_at_ns": ns_or_none(rec["freed_ns"]),
        "retire_epoch": ns_or_none(rec["retire_epoch"]),
        "retired_at_ns": ns_or_none(rec["retire_ns"]),
    }


def build(records: EngineRecords, layout: RunLayout, *, mimalloc_blocks: int, mimalloc_bytes: int,
          engine_blocks: int, engine_bytes: int, end_ns: int, stop_reason: str) -> dict[str, Any] | None:
    """The ledger as a plain dict, or None when nothing leaked (and nothing was left in flight
    by an aborted run)."""
    inflight_blocks = sum(b for b, _ in records.inflight.values())
    in_flight_matters = inflight_blocks > 0 and stop_reason not in _CLEAN_STOPS
    if mimalloc_blocks == 0 and engine_blocks == 0 and not in_flight_matters:
        return None
    where = [
        {**layout.location(loc), "blocks": b, "bytes": y}
        for loc, (b, y) in sorted(records.inflight.items(), key=lambda kv: -kv[1][0])
    ]
    return {
        "blocks": mimalloc_blocks,
        "bytes": mimalloc_bytes,
        **_groupings(records.leak_groups, layout),
        "first_blocks": [_block(r, layout, end_ns) for r in records.leaks],
        "first_blocks_limit": MAX_LEAKS,
        "in_flight_at_stop": {
            "stop_reason": stop_reason,
            "blocks": inflight_blocks,
            "bytes": sum(y for _, y in records.inflight.values()),
            "where": where,
        },
        "engine_books": {"blocks": engine_blocks, "bytes": engine_bytes},
    }


def _ms(ns: int | None) -> str:
    return "?" if ns is None else units.nanoseconds(ns)


def summary_lines(diag: dict[str, Any]) -> list[str]:
    """A few console lines for a leak ledger (empty for an empty one)."""
    lines: list[str] = []
    if diag.get("blocks"):
        lines.append(f"leak ledger: {units.count(diag['blocks'], 'blocks')} ({units.byte_size(diag['bytes'])}) "
                     "still allocated in mimalloc after the engine freed them")
        top = diag["by_last_seen"][:2]
        lines.append("  last seen: " + "; ".join(f"{g['blocks']} {g['last_seen']}" for g in top)
                     + (" ..." if len(diag["by_last_seen"]) > 2 else ""))
        threads = diag["by_thread"][:3]
        lines.append("  allocated by: " + ", ".join(f"{g['blocks']} {g['role']}[{g['thread']}]" for g in threads)
                     + (" ..." if len(diag["by_thread"]) > 3 else ""))
        if diag["first_blocks"]:
            b = diag["first_blocks"][0]
            who = b["allocated_by"]["label"] if b["allocated_by"] else "unknown"
            index = "" if b["alloc_index"] is None else f" (block #{b['alloc_index']})"
            lines.append(f"  first: {b['address']} {units.byte_size(b['size'])} from {who}{index}, "
                         f"born at {_ms(b['born_at_ns'])}, freed at {_ms(b['freed_at_ns'])}")
    flight = diag.get("in_flight_at_stop", {})
    if flight.get("blocks") and flight.get("stop_reason") not in _CLEAN_STOPS:
        parts = ", ".join(f"{w['blocks']} {w['label']}" for w in flight["where"][:3])
        lines.append(f"in flight at stop ({flight['stop_reason']}): {units.count(flight['blocks'], 'blocks')}: {parts}")
    books = diag.get("engine_books", {})
    if books.get("blocks"):
        lines.append(f"engine books: {units.count(books['blocks'], 'blocks')} allocated but never freed by the engine")
    return lines


__all__ = ["STATES", "build", "last_seen", "size_class_label", "summary_lines"]
