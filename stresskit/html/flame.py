"""The flamegraph's tree: the run's speedscope file (profile.speedscope_json) merged over every
worker into parallel arrays for a plotly icicle (ids, labels, parents, values)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stresskit.profiling import INTERVAL_KEY

MAX_NODES = 20_000  # beyond this the page gets slow; the deepest, thinnest branches go first


@dataclass
class Tree:
    ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    values: list[int] = field(default_factory=list)
    samples: int = 0


def _interval(profile: dict[str, Any]) -> float:
    """What one sample weighs: stresskit writes milliseconds with the sampling interval beside
    them; other files (unit "none", or no interval) count each weight as samples."""
    interval = profile.get(INTERVAL_KEY)
    if profile.get("unit", "none") != "none" and isinstance(interval, (int, float)) and interval > 0:
        return float(interval)
    return 1.0


def stacks_from_speedscope(doc: dict[str, Any]) -> Counter[tuple[str, ...]]:
    """Whole samples per stack, whatever unit the file's weights are in."""
    frames = [f.get("name", "?") + (f" ({f['file']})" if f.get("file") else "") for f in doc.get("shared", {}).get("frames", [])]
    stacks: Counter[tuple[str, ...]] = Counter()
    for profile in doc.get("profiles", []):
        interval = _interval(profile)
        for sample, weight in zip(profile.get("samples", []), profile.get("weights", [])):
            stacks[tuple(frames[i] for i in sample if 0 <= i < len(frames))] += round(float(weight) / interval)
    return stacks


def tree(stacks: Counter[tuple[str, ...]]) -> Tree:
    """Root "all" at the bottom, callees above: a node's value is its inclusive samples."""
    inclusive: Counter[tuple[str, ...]] = Counter()
    for stack, n in stacks.items():
        for depth in range(1, len(stack) + 1):
            inclusive[stack[:depth]] += n
    total = sum(stacks.values())
    out = Tree(ids=["all"], labels=["all"], parents=[""], values=[total], samples=total)
    kept = sorted(inclusive, key=lambda path: (len(path), -inclusive[path]))[:MAX_NODES]
    numbers = {(): "all"}
    for path in kept:
        parent = numbers.get(path[:-1])
        if parent is None:  # its parent was cut
            continue
        numbers[path] = f"n{len(numbers)}"
        out.ids.append(numbers[path])
        out.labels.append(path[-1])
        out.parents.append(parent)
        out.values.append(inclusive[path])
    return out


def load(report: dict[str, Any]) -> tuple[Tree | None, str | None]:
    """(the tree, None), or (None, why there is no flamegraph) for a report without a profile."""
    from stresskit.io.json_models import JsonInputError, read_json_object

    profile = report.get("profile") or {}
    path = profile.get("speedscope_json")
    if not path:
        return None, "no profile in this run (run with --profile)" if not profile else "the profile recorded no samples"
    try:
        doc = read_json_object(Path(path), "speedscope file", "a speedscope JSON object")
    except JsonInputError as exc:
        return None, f"profile not drawn: {exc}"
    stacks = stacks_from_speedscope(doc)
    if not stacks:
        return None, f"profile not drawn: {path} holds no samples"
    return tree(stacks), None
