"""`--compare BASELINE.json --fail-above 10%`: gate on regressions against an earlier run.

Rows are matched on (op, impl, threads, size, alignment) and compared on `ratio_to_mimalloc`, not
on absolute ns or ops/s: both runs measured raw mimalloc side by side with the others, so a slower
or busier machine moves numerator and denominator together and cancels out, while a slower glue
does not. The mimalloc rows are the reference (ratio 1 by definition) and are not gated.

A row regresses when its ratio got worse by more than the bound: for latency rows (higher is
worse) when current > baseline * (1 + bound); for throughput rows (lower is worse) when
current < baseline * (1 - bound).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class BaselineError(ValueError):
    """The baseline file cannot be used; str() is the one-line message for the user."""


class _Row(BaseModel):
    model_config = ConfigDict(extra="allow")

    op: str
    impl: str
    threads: StrictInt
    size: StrictInt | None
    alignment: StrictInt | None
    ratio_to_mimalloc: float | None = Field(strict=True)


class _FullRow(_Row):
    """A row complete enough to be rendered and plotted again (--input)."""

    median: float = Field(strict=True)
    min: float = Field(strict=True)
    max: float = Field(strict=True)
    unit: str
    process_medians: list[float] | None = Field(default=None, strict=True, min_length=1)


class _Baseline(BaseModel):
    model_config = ConfigDict(extra="allow")

    results: list[_Row]
    machine: dict = {}


class _Run(BaseModel):
    model_config = ConfigDict(extra="allow")

    results: list[_FullRow]
    machine: dict = {}


_EXPECTED = {
    "op": "a string (alloc, free, aligned_alloc, cross_thread_free or throughput)",
    "impl": "a string (cc, cc+stats, mimalloc or system)",
    "threads": "an integer",
    "size": "an integer or null",
    "alignment": "an integer or null",
    "ratio_to_mimalloc": "a number or null",
    "results": "a list of result rows",
    "median": "a number",
    "min": "a number",
    "max": "a number",
    "unit": "a string (ns/op or ops/s)",
    "machine": "an object",
    "process_medians": "a non-empty list of numbers (one median per process)",
}


def load_baseline(path: Path) -> tuple[list[dict], dict]:
    """Read and validate a baseline written by `stresskit bench --json`: its rows and its
    ``machine`` (empty when absent); raise BaselineError."""
    model = _load(path, _Baseline)
    return [r.model_dump() for r in model.results], model.machine


def load_run(path: Path) -> tuple[list[dict], dict]:
    """Read a whole earlier run: its rows (complete enough to render and plot) and the rest of
    the document (machine, config, timing)."""
    model = _load(path, _Run)
    rest = model.model_dump(exclude={"results"})
    return [r.model_dump(exclude_unset=True) for r in model.results], rest


def _load(path: Path, schema: type[BaseModel]):
    from stresskit.io.json_models import JsonInputError, load_model

    try:
        return load_model(path, schema, "bench JSON file", "a JSON object with a 'results' list", _EXPECTED)
    except JsonInputError as exc:
        raise BaselineError(str(exc)) from None


def parse_bound(text: str) -> float:
    """'10%' or '10' -> 0.10 (both mean percent). Raises ValueError."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", text)
    if not m:
        raise ValueError(f"expected a percentage such as 10% or 2.5%, got {text!r}")
    return float(m.group(1)) / 100.0


@dataclass(frozen=True)
class Comparison:
    compared: int
    missing_in_baseline: int
    regressions: list[dict]
    ignored: int = 0  # system-allocator rows left out (the user does not control libc)

    @property
    def failed(self) -> bool:
        return bool(self.regressions)


def _key(r: dict) -> tuple:
    return (r["op"], r["impl"], r["threads"], r["size"], r["alignment"])


def compare(current: Sequence[dict], baseline: Sequence[dict], bound: float, include_system: bool = False) -> Comparison:
    """``include_system``: gate the system allocator's rows too. Off by default: libc changes
    with the machine's OS, not with the glue, so its ratio moving is not the user's regression."""
    base = {_key(r): r for r in baseline}
    regressions: list[dict] = []
    compared = missing = ignored = 0
    for row in current:
        if row["impl"] == "mimalloc":
            continue
        if row["impl"] == "system" and not include_system:
            ignored += 1
            continue
        old = base.get(_key(row))
        if old is None:
            missing += 1
            continue
        now_r, old_r = row["ratio_to_mimalloc"], old["ratio_to_mimalloc"]
        if now_r is None or old_r is None or old_r <= 0:
            continue
        compared += 1
        higher_is_worse = row["op"] != "throughput"
        change = (now_r - old_r) / old_r if higher_is_worse else (old_r - now_r) / old_r
        if change > bound:
            regressions.append(
                {
                    "op": row["op"],
                    "impl": row["impl"],
                    "threads": row["threads"],
                    "size": row["size"],
                    "alignment": row["alignment"],
                    "baseline_ratio": old_r,
                    "current_ratio": now_r,
                    "worse_by": round(change, 4),
                }
            )
    return Comparison(compared=compared, missing_in_baseline=missing, regressions=regressions, ignored=ignored)
