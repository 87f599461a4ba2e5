"""Read the engine's diagnostic records (native/include/sk_engine.h, section "diagnostics") out
of native memory into plain dicts, field for field; leaks.py and corruption.py give them names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_LEAKS = 32
MAX_GROUPS = 256
MAX_DAMAGED = 16
MAX_DOUBLES = 16
LOCATIONS = 256


@dataclass
class EngineRecords:
    leaks: list[dict[str, Any]] = field(default_factory=list)
    leak_groups: list[dict[str, Any]] = field(default_factory=list)
    inflight: dict[int, tuple[int, int]] = field(default_factory=dict)  # location -> (blocks, bytes)
    damaged_total: int = 0
    damaged: list[dict[str, Any]] = field(default_factory=list)
    doubles_total: int = 0
    doubles: list[dict[str, Any]] = field(default_factory=list)


def _plain(rec, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: int(getattr(rec, name)) for name in fields}


_LEAK_FIELDS = ("address", "size", "serial", "alloc_index", "alloc_who", "state", "freer", "retirer",
                "born_ns", "freed_ns", "retire_epoch", "retire_ns")
_GROUP_FIELDS = ("alloc_who", "state", "freer", "size_class", "blocks", "bytes")
_DAMAGE_FIELDS = ("address", "size", "usable", "serial", "alloc_index", "alloc_who", "finder", "retirer", "region",
                  "born_ns", "retire_ns", "retire_epoch", "found_ns", "offset", "window_start", "window_len",
                  "checked")
_DOUBLE_FIELDS = ("address", "size", "serial", "alloc_index", "alloc_who", "loser", "winner", "state", "queue",
                  "born_ns", "found_ns")


def read(ffi, lib, run, *, scanned: bool) -> EngineRecords:
    """Everything the engine recorded; the leak records only when mimalloc's heap was scanned."""
    out = EngineRecords()
    if scanned:
        recs = ffi.new(f"sk_leak_record_t[{MAX_LEAKS}]")
        n = min(int(lib.sk_run_leak_records(run, recs, MAX_LEAKS)), MAX_LEAKS)
        out.leaks = [_plain(recs[i], _LEAK_FIELDS) for i in range(n)]
        groups = ffi.new(f"sk_leak_group_t[{MAX_GROUPS}]")
        n = min(int(lib.sk_run_leak_groups(run, groups, MAX_GROUPS)), MAX_GROUPS)
        out.leak_groups = [_plain(groups[i], _GROUP_FIELDS) for i in range(n)]
    blocks = ffi.new(f"uint64_t[{LOCATIONS}]")
    nbytes = ffi.new(f"uint64_t[{LOCATIONS}]")
    if lib.sk_run_inflight(run, blocks, nbytes) > 0:
        out.inflight = {i: (int(blocks[i]), int(nbytes[i])) for i in range(LOCATIONS) if blocks[i]}
    damaged = ffi.new(f"sk_damage_t[{MAX_DAMAGED}]")
    out.damaged_total = int(lib.sk_run_damaged(run, damaged, MAX_DAMAGED))
    for i in range(min(out.damaged_total, MAX_DAMAGED)):
        rec = _plain(damaged[i], _DAMAGE_FIELDS)
        size = rec["window_len"]
        rec["actual"] = bytes(ffi.buffer(damaged[i].actual, size))
        rec["expected"] = bytes(ffi.buffer(damaged[i].expected, size))
        out.damaged.append(rec)
    doubles = ffi.new(f"sk_double_t[{MAX_DOUBLES}]")
    out.doubles_total = int(lib.sk_run_doubles(run, doubles, MAX_DOUBLES))
    out.doubles = [_plain(doubles[i], _DOUBLE_FIELDS) for i in range(min(out.doubles_total, MAX_DOUBLES))]
    return out


__all__ = ["EngineRecords", "read"]
