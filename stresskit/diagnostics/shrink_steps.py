"""What `stresskit shrink` may try, and what "smaller" means (docs/diagnostics.md, Shrink).

A scenario is handled as its document (the validated model dumped the way a TOML file writes
it: ``Scenario.model_dump(by_alias=True, exclude_unset=True)``), so every candidate goes back
through the same loader and validator as a file would; a candidate they reject is skipped.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import astuple, dataclass, fields
from typing import Any

from stresskit.planner import DEFAULT_OPS
from stresskit.scenario.model import Scenario

Doc = dict[str, Any]


@dataclass(frozen=True)
class Measure:
    """The size of a scenario, one number per dimension shrink reduces. A scenario is smaller
    than another when it is no larger in any dimension and strictly smaller in at least one."""

    roles: int
    threads: int  # over all roles
    ops: int  # allocations per replica (0 when only a duration bounds the run)
    duration_ms: int  # the allocating roles' time bound (0: none)
    warmup_ops: int  # per allocating thread, before measuring
    replicas: int
    size_values: int  # distinct block sizes the allocating roles may ask for, summed over roles
    largest_size: int  # the largest block size of each allocating role, summed
    batch: int  # blocks per step, summed over roles
    capacity: int  # queue slots, summed over queues
    grace_us: int  # reclaim roles' grace, summed (microseconds)
    grace_epochs: int  # reclaim roles' grace in epochs, summed

    def smaller_than(self, other: Measure) -> bool:
        mine, theirs = astuple(self), astuple(other)
        return all(a <= b for a, b in zip(mine, theirs, strict=True)) and mine != theirs

    def changes(self, before: Measure) -> str:
        """``threads 6 -> 3, ops 64000 -> 32000``: the dimensions that moved."""
        return ", ".join(f"{f.name} {getattr(before, f.name):,} -> {getattr(self, f.name):,}"
                         for f in fields(self) if getattr(self, f.name) != getattr(before, f.name))


def _distinct_sizes(sizes: Any) -> tuple[int, int]:
    """(how many sizes, the largest) of a role's validated ``sizes``."""
    if sizes.dist == "fixed":
        return 1, int(sizes.size)
    if sizes.dist in ("uniform", "loguniform"):
        return int(sizes.max) - int(sizes.min) + 1, int(sizes.max)
    return len(set(sizes.values)), max(sizes.values)


def measure(model: Scenario) -> Measure:
    roles = model.roles.values()
    allocating = [r for r in roles if r.action in ("alloc_free", "produce", "oom")]
    load = model.load
    ops = load.ops if load.ops is not None else (0 if load.duration is not None else DEFAULT_OPS)
    queues: dict[str, int] = {}
    for f in model.flows:
        queues[f.queue or f"{f.source}_to_{f.to}"] = f.capacity
    reclaim = [r for r in roles if r.action == "reclaim"]
    return Measure(
        roles=len(model.roles),
        threads=sum(r.threads for r in roles),
        ops=int(ops),
        duration_ms=round((load.duration or 0.0) * 1000),
        warmup_ops=load.warmup_ops,
        replicas=load.replicas,
        size_values=sum(_distinct_sizes(r.sizes)[0] for r in allocating),
        largest_size=sum(_distinct_sizes(r.sizes)[1] for r in allocating),
        batch=sum(r.batch for r in roles),
        capacity=sum(queues.values()),
        grace_us=sum(round((r.grace or 0.0) * 1e6) for r in reclaim),
        grace_epochs=sum(2 if r.grace_epochs is None else r.grace_epochs for r in reclaim),
    )


# -- candidates -----------------------------------------------------------------------------------
def _components(doc: Doc) -> list[set[str]]:
    """Roles connected by flows (either direction): a component can go without breaking another."""
    parent = {name: name for name in doc["roles"]}

    def root(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    for f in doc.get("flows", []):
        if f.get("from") in parent and f.get("to") in parent:
            parent[root(f["from"])] = root(f["to"])
    groups: dict[str, set[str]] = {}
    for name in doc["roles"]:
        groups.setdefault(root(name), set()).add(name)
    return sorted(groups.values(), key=lambda g: sorted(g))


def _without(doc: Doc, names: set[str]) -> Doc:
    out = copy.deepcopy(doc)
    for n in names:
        del out["roles"][n]
    out["flows"] = [f for f in out.get("flows", []) if f.get("from") not in names and f.get("to") not in names]
    # a threshold about a role that is gone names an unknown metric: it goes with the role
    about = re.compile(r"\broles\.(" + "|".join(map(re.escape, sorted(names))) + r")\.")
    checks = out.get("thresholds", {}).get("checks")
    if checks:
        out["thresholds"]["checks"] = [c for c in checks if not about.search(c)]
    return out


def _halved(value: int, floor: int) -> int | None:
    new = max(floor, value // 2)
    return new if new < value else None


def _edit(doc: Doc, path: tuple[Any, ...], value: Any) -> Doc:
    out = copy.deepcopy(doc)
    target = out
    for part in path[:-1]:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    if value is None:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return out


def _smaller_sizes(sizes: Doc) -> Iterator[tuple[str, Doc]]:
    dist = sizes.get("dist")
    if dist == "choice" and len(sizes["values"]) > 1:
        keep = max(1, len(sizes["values"]) // 2)
        out = {"dist": "choice", "values": sizes["values"][:keep]}
        if "weights" in sizes:
            out["weights"] = sizes["weights"][:keep]
        if keep == 1:  # one value is a fixed size: the next step can halve it
            out = {"dist": "fixed", "size": sizes["values"][0]}
        yield f"sizes {sizes['values']} -> {sizes['values'][:keep]}", out
    elif dist in ("uniform", "loguniform") and sizes["max"] > sizes["min"]:
        yield f"sizes {dist} {sizes['min']}..{sizes['max']} -> fixed {sizes['min']}", {"dist": "fixed", "size": sizes["min"]}
        top = sizes["min"] + (sizes["max"] - sizes["min"]) // 2
        yield f"sizes {dist} {sizes['min']}..{sizes['max']} -> {sizes['min']}..{top}", {**sizes, "max": top}
    elif dist == "fixed" and sizes["size"] > 1:
        yield f"size {sizes['size']} -> {sizes['size'] // 2}", {"dist": "fixed", "size": sizes["size"] // 2}


def candidates(doc: Doc) -> Iterator[tuple[str, Doc]]:
    """Smaller variants of ``doc``, the coarsest first (one replica, whole roles, then halvings).
    Each is a description and a new document; validity is the caller's to check."""
    load = doc.get("load", {})
    if load.get("replicas", 1) > 1:
        yield f"replicas {load['replicas']} -> 1", _edit(_edit(doc, ("load", "replicas"), 1), ("load", "workers"), None)
    groups = _components(doc)
    if len(groups) > 1:
        for g in groups:
            yield f"drop roles {', '.join(sorted(g))}", _without(doc, g)
    for name in doc["roles"]:
        if len(doc["roles"]) > 1:
            yield f"drop role {name}", _without(doc, {name})
    for name, role in doc["roles"].items():
        new = _halved(role.get("threads", 1), 1)
        if new is not None:
            yield f"{name}: threads {role.get('threads', 1)} -> {new}", _edit(doc, ("roles", name, "threads"), new)
    if "duration" in load:
        yield f"duration {load['duration']:g} s -> {load['duration'] / 2:g} s", _edit(doc, ("load", "duration"), load["duration"] / 2)
    ops = load.get("ops", DEFAULT_OPS if "duration" not in load else None)
    if ops is not None and (new := _halved(ops, 1)) is not None:
        yield f"ops {ops:,} -> {new:,}", _edit(doc, ("load", "ops"), new)
    if load.get("warmup_ops"):
        yield f"warmup_ops {load['warmup_ops']:,} -> 0", _edit(doc, ("load", "warmup_ops"), None)
    for name, role in doc["roles"].items():
        if "sizes" in role:
            for what, sizes in _smaller_sizes(role["sizes"]):
                yield f"{name}: {what}", _edit(doc, ("roles", name, "sizes"), sizes)
        elif role.get("action") in ("alloc_free", "produce"):  # the default, 64 B
            yield f"{name}: size 64 -> 32", _edit(doc, ("roles", name, "sizes"), {"dist": "fixed", "size": 32})
        new = _halved(role.get("batch", 64), 1)
        if new is not None:
            yield f"{name}: batch {role.get('batch', 64)} -> {new}", _edit(doc, ("roles", name, "batch"), new)
        if role.get("action") == "reclaim":
            if role.get("grace"):
                half = role["grace"] / 2 if role["grace"] > 1e-6 else None
                yield f"{name}: grace {role['grace'] * 1e6:g} us -> {(half or 0) * 1e6:g} us", _edit(doc, ("roles", name, "grace"), half)
            epochs = role.get("grace_epochs", 2)
            if (new := _halved(epochs, 0)) is not None:
                yield f"{name}: grace_epochs {epochs} -> {new}", _edit(doc, ("roles", name, "grace_epochs"), new)
    queues: dict[str, list[int]] = {}
    for i, f in enumerate(doc.get("flows", [])):
        queues.setdefault(f.get("queue") or f"{f['from']}_to_{f['to']}", []).append(i)
    for queue, flows in queues.items():
        capacity = doc["flows"][flows[0]].get("capacity", 1024)
        if (new := _halved(capacity, 2)) is not None:
            out = copy.deepcopy(doc)
            for i in flows:  # flows sharing a queue share its capacity
                out["flows"][i]["capacity"] = new
            yield f"queue {queue}: capacity {capacity} -> {new}", out
