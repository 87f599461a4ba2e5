"""Damaged blocks, double hand-offs and double frees (docs/diagnostics.md, "Corruption, double
hand-off, double free"): for each (up to the engine's limit) who allocated the block, the
hand-offs it went through, who found the damage or took it a second time, and for damage the
first wrong byte with the bytes around it, actual against expected.

The engine records these on its slow paths only (engine_diag.c): a verification failure, or a
lost ownership CAS. Who took a doubled block first is found by searching every thread's ring of
its last 64 takes, so it can be missing (None) when that thread has moved on (a producer
descheduled between the two pushes lets others push any number of blocks in between).
"""

from __future__ import annotations

from typing import Any

from stresskit.diagnostics.engine_records import MAX_DAMAGED, MAX_DOUBLES, EngineRecords
from stresskit.diagnostics.layout import RunLayout, ns_or_none
from stresskit.report import units

REGIONS = {0: "header.identity", 1: "header.size_tag", 2: "retire_stamp", 3: "body"}
# The ownership state the second taker found (native/src/engine_internal.h, SK_OWN_*).
_ALREADY = {0: "double free", 1: "double hand-off", 2: "double hand-off"}


def hex_bytes(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def _path(rec: dict[str, Any], layout: RunLayout, finder_key: str, found_event: str) -> list[dict[str, Any]]:
    """The block's way from its allocation to whoever found the problem, from the flow graph
    (each role's outbox) and what the engine knew about the block."""
    events: list[dict[str, Any]] = [
        {"event": "allocated", "by": layout.who(rec["alloc_who"]), "at_ns": ns_or_none(rec["born_ns"])}
    ]
    alloc = layout.thread(rec["alloc_who"])
    if not rec["serial"] >> 63 and alloc is not None and alloc.outbox:
        events.append({"event": "handed_off", "queue": alloc.outbox})
    retirer = layout.thread(rec.get("retirer", 0))
    if retirer is not None:
        events.append({"event": "retired", "by": layout.who(rec["retirer"]), "at_ns": ns_or_none(rec["retire_ns"]),
                       "epoch": ns_or_none(rec["retire_epoch"])})
        if retirer.outbox:
            events.append({"event": "handed_off", "queue": retirer.outbox})
    events.append({"event": found_event, "by": layout.who(rec[finder_key]), "at_ns": ns_or_none(rec["found_ns"])})
    return events


def path_text(path: list[dict[str, Any]]) -> str:
    """producer[0] -> queue 'jobs' -> retirer[1] -> ... -> consumer[1]"""
    if not any(e["event"] == "handed_off" for e in path):
        return f"{path[0]['by']['label'] if path[0].get('by') else 'unknown'} (never handed off)"
    steps = []
    for e in path:
        if e["event"] == "handed_off":
            steps.append(f"queue {e['queue']!r}")
        else:
            steps.append(e["by"]["label"] if e.get("by") else "unknown")
    return " -> ".join(steps)


def _window(rec: dict[str, Any]) -> dict[str, Any]:
    start, actual, expected, checked = rec["window_start"], rec["actual"], rec["expected"], rec["checked"]
    return {
        "start": start,
        "actual": hex_bytes(actual),
        "expected": hex_bytes(expected),
        "differs_at": [start + i for i in range(len(actual)) if checked >> i & 1 and actual[i] != expected[i]],
        "unchecked_at": [start + i for i in range(len(actual)) if not checked >> i & 1],
    }


def _damaged(rec: dict[str, Any], layout: RunLayout) -> dict[str, Any]:
    path = _path(rec, layout, "finder", "found_damaged")
    return {
        "address": f"{rec['address']:#x}",
        "size": rec["size"],
        "usable": rec["usable"],
        "serial": rec["serial"],
        "allocated_by": layout.who(rec["alloc_who"]),
        "alloc_index": ns_or_none(rec["alloc_index"]),
        "found_by": layout.who(rec["finder"]),
        "path": path,
        "hand_offs": path_text(path),
        "offset": ns_or_none(rec["offset"]),
        "region": REGIONS.get(rec["region"], "unknown"),
        "window": _window(rec),
    }


def _double(rec: dict[str, Any], layout: RunLayout) -> dict[str, Any]:
    queue = layout.queues[rec["queue"]] if 0 <= rec["queue"] < len(layout.queues) else None
    return {
        "kind": _ALREADY.get(rec["state"], "double hand-off"),
        "address": f"{rec['address']:#x}",
        "size": rec["size"],
        "serial": rec["serial"],
        "allocated_by": layout.who(rec["alloc_who"]),
        "alloc_index": ns_or_none(rec["alloc_index"]),
        "first_owner": layout.who(rec["winner"]),
        "second_owner": layout.who(rec["loser"]),
        "queue": queue,
        "born_at_ns": ns_or_none(rec["born_ns"]),
        "found_at_ns": ns_or_none(rec["found_ns"]),
    }


def build(records: EngineRecords, layout: RunLayout) -> dict[str, Any] | None:
    """Damaged and doubled blocks as a plain dict, or None when there were none."""
    if records.damaged_total == 0 and records.doubles_total == 0:
        return None
    return {
        "damaged": {
            "count": records.damaged_total,
            "limit": MAX_DAMAGED,
            "blocks": [_damaged(r, layout) for r in records.damaged],
        },
        "doubles": {
            "count": records.doubles_total,
            "limit": MAX_DOUBLES,
            "blocks": [_double(r, layout) for r in records.doubles],
        },
    }


def _label(who: dict[str, Any] | None) -> str:
    return who["label"] if who else "unknown"


def summary_lines(diag: dict[str, Any]) -> list[str]:
    """A few console lines: the first damaged block with its bytes, the first doubled block."""
    lines: list[str] = []
    damaged = diag.get("damaged", {})
    if damaged.get("count"):
        b = damaged["blocks"][0] if damaged["blocks"] else None
        head = f"corruption: {units.count(damaged['count'], 'damaged blocks')}"
        if b is None:
            lines.append(head)
        else:
            at = "unknown offset" if b["offset"] is None else f"offset {b['offset']} ({b['region']})"
            lines.append(f"{head}; first: {units.byte_size(b['size'])} block, first wrong byte at {at}, "
                         f"path {b['hand_offs']}")
            w = b["window"]
            lines.append(f"  actual   @{w['start']}: {w['actual']}")
            lines.append(f"  expected @{w['start']}: {w['expected']}")
    doubles = diag.get("doubles", {})
    if doubles.get("count"):
        line = f"double hand-offs: {units.count(doubles['count'], 'blocks')}"
        if doubles["blocks"]:
            d = doubles["blocks"][0]
            where = f" from queue {d['queue']!r}" if d["queue"] else ""
            line += (f"; first: {d['kind']} of serial {d['serial']} (from {_label(d['allocated_by'])}): taken by "
                     f"{_label(d['first_owner'])}, again by {_label(d['second_owner'])}{where}")
        lines.append(line)
    return lines


__all__ = ["REGIONS", "build", "hex_bytes", "path_text", "summary_lines"]
