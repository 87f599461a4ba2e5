"""`run --plot FILE`: throughput and p99 latency against the swept key(s), drawn by matplotlib
(the optional extra stresskit[plot]; Agg, no display needed). svg or png, by the file's suffix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stresskit.matrix.cells import lines, p99_metric

SUFFIXES = (".svg", ".png")


class PlotUnavailable(RuntimeError):
    """matplotlib is missing, or the file's suffix is not one it can write here."""


def check(path: str) -> None:
    import importlib.util

    if Path(path).suffix.lower() not in SUFFIXES:
        raise PlotUnavailable(f"--plot {path}: expected a file name ending in .svg or .png")
    if importlib.util.find_spec("matplotlib") is None:
        raise PlotUnavailable("--plot: matplotlib is not installed (pip install 'stresskit[plot]')")


def render(reports: Sequence[dict[str, Any]], fmt: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key, chart_lines = lines(reports)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for line in chart_lines:
        top.plot(line.x, [float("nan") if v is None else v for v in line.ops_per_s], marker="o", label=line.label or None)
        bottom.plot(line.x, [float("nan") if v is None else v for v in line.p99_ns], marker="o", label=line.label or None)
    top.set_ylabel("throughput (ops/s)")
    bottom.set_ylabel(f"{p99_metric(reports)} (ns)")
    bottom.set_xlabel(key)
    top.set_title(f"{reports[0]['scenario']['name']}: {len(reports)} cells")
    if any(line.label for line in chart_lines):
        top.legend(fontsize="small")
    for ax in (top, bottom):
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    plt.close(fig)
    return out.getvalue()
