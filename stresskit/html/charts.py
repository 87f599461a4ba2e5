"""The page's charts, drawn by plotly (interactive: hover, zoom, pan; the flamegraph zooms on
click). Each function returns an HTML <div> that expects plotly.js on the page (page.py inlines
it once, so the file needs no network)."""

from __future__ import annotations

from typing import Any

from stresskit.html.data import Histogram, Series
from stresskit.html.flame import Tree

_CONFIG = {"displaylogo": False, "responsive": True}


def _go() -> Any:
    import plotly.graph_objects as go  # the optional extra stresskit[html]; page.py checks it first

    return go


def _div(fig: Any, div_id: str, height: int = 360) -> str:
    fig.update_layout(height=height, margin={"l": 60, "r": 20, "t": 40, "b": 50}, template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG)


def latency(hists: list[Histogram], role: str, op: str, div_id: str) -> str:
    """One chart per role and op, a step line per replica over the log buckets."""
    go = _go()
    fig = go.Figure()
    for h in hists:
        # A bucket's count holds from its lower bound to its upper: a step over log-spaced x.
        xs = [x for lo, hi in zip(h.lowers, h.uppers) for x in (lo, max(hi, lo + 1))]
        ys = [c for c in h.counts for _ in (0, 1)]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line_shape="hv", fill="tozeroy", name=f"replica {h.replica}",
                                 hovertemplate="%{x} ns: %{y} samples<extra>replica " + str(h.replica) + "</extra>"))
    fig.update_layout(title=f"{role}: {op} latency ({sum(h.count for h in hists):,} samples)")
    fig.update_xaxes(type="log", title="latency (ns, log buckets)")
    fig.update_yaxes(title="samples")
    return _div(fig, div_id)


def over_time(series: list[Series], title: str, y_title: str, div_id: str) -> str:
    go = _go()
    fig = go.Figure()
    for s in series:
        fig.add_trace(go.Scatter(x=s.t_s, y=s.values, mode="lines", name=f"replica {s.replica}"))
    fig.update_layout(title=title)
    fig.update_xaxes(title="time since the run started (s)")
    fig.update_yaxes(title=y_title, rangemode="tozero")
    return _div(fig, div_id)


def flamegraph(tree: Tree, div_id: str) -> str:
    """An icicle with the root at the bottom (a flamegraph): click a frame to zoom into it, click
    the root to zoom out; page.py adds the search box."""
    go = _go()
    fig = go.Figure(go.Icicle(
        ids=tree.ids, labels=tree.labels, parents=tree.parents, values=tree.values, branchvalues="total",
        tiling={"orientation": "v", "flip": "y"}, maxdepth=24, marker={"colors": ["#f5a05a"] * len(tree.ids)},
        hovertemplate="%{label}<br>%{value} samples (%{percentRoot:.1%} of all)<extra></extra>",
    ))
    fig.update_layout(title=f"flamegraph: {tree.samples:,} samples, all workers (click a frame to zoom)")
    return _div(fig, div_id, height=640)


def matrix(x_key: str, lines: list[Any], metric: str, y_title: str, div_id: str) -> str:
    """A matrix's metric against the first swept key, one line per value of the others."""
    go = _go()
    fig = go.Figure()
    for line in lines:
        fig.add_trace(go.Scatter(x=line.x, y=getattr(line, metric), mode="lines+markers", name=line.label or y_title))
    fig.update_layout(title=f"{y_title} per cell", showlegend=any(line.label for line in lines))
    fig.update_xaxes(title=x_key, type="category")
    fig.update_yaxes(title=y_title, rangemode="tozero")
    return _div(fig, div_id)
