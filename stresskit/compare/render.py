"""A comparison as markdown (for a PR comment or a CI log) or JSON."""

from __future__ import annotations

import json

from stresskit.compare.core import Comparison, Row
from stresskit.report import units

MARK = {"regression": "REGRESSION", "improvement": "better", "noise": "noise", "ungated": "changed (not gated)", "same": "same", "info": ""}


def _change(row: Row) -> str:
    if row.change is None:
        return "new" if row.new else "0"
    return f"{row.change:+.1%}"


def _spread(r: tuple[float, float] | None, metric: str) -> str:
    return "" if r is None else f"{units.metric(metric, r[0])} .. {units.metric(metric, r[1])}"


def markdown(comparisons: list[Comparison], *, all_rows: bool = False) -> str:
    """Judged metrics only (higher/lower is better) unless ``all_rows``."""
    out = []
    for c in comparisons:
        verdict = f"**REGRESSION** ({len(c.regressions)}: {', '.join(r.metric for r in c.regressions)})" if c.failed else "no regression"
        out.append(f"### {c.scenario}: {verdict} (fail above {c.bound:.1%}, beyond the replicas' spread)\n")
        if c.machine_note:
            out.append(f"Note: {c.machine_note}.\n")
        out.append("| metric | better | old | new | change | old replicas | new replicas | verdict |")
        out.append("|---|---|---:|---:|---:|---|---|---|")
        for r in c.rows:
            if r.verdict == "info" and not all_rows:
                continue
            out.append(f"| `{r.metric}` | {r.better} | {units.metric(r.metric, r.old)} | {units.metric(r.metric, r.new)} | {_change(r)} | "
                       f"{_spread(r.old_range, r.metric)} | {_spread(r.new_range, r.metric)} | {MARK[r.verdict]} |")
        out.append("")
    return "\n".join(out)


def as_json(comparisons: list[Comparison]) -> str:
    doc = {"verdict": "regression" if any(c.failed for c in comparisons) else "ok", "comparisons": [c.to_json() for c in comparisons]}
    return json.dumps(doc, indent=2, allow_nan=False)
