"""Throughput vs threads, one line per implementation (matplotlib, Agg: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from stresskit.bench.harness import IMPLS


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


_STYLE = {
    "cc": {"color": "#1f77b4", "marker": "o"},
    "cc+stats": {"color": "#ff7f0e", "marker": "s"},
    "mimalloc": {"color": "#2ca02c", "marker": "^"},
    "system": {"color": "#7f7f7f", "marker": "D"},
}


def plot_throughput(rows: Sequence[dict], machine: dict, path: Path | BinaryIO, fmt: str | None = None) -> int:
    """Write the plot (format from the suffix: .png, .svg, .pdf); return how many series it has.

    In SVG output every series is a group with id `series-<impl>` and text stays text, so the file
    can be checked (and searched) without rendering it.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable("matplotlib is not installed (pip install matplotlib)") from exc

    tp = [r for r in rows if r["op"] == "throughput"]
    series = 0
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "stresskit-bench"}):
        fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
        for impl in [i.value for i in IMPLS]:
            pts = sorted(((r["threads"], r) for r in tp if r["impl"] == impl), key=lambda p: p[0])
            if not pts:
                continue
            xs = [t for t, _ in pts]
            med = [r["median"] / 1e6 for _, r in pts]
            lo = [(r["median"] - r["min"]) / 1e6 for _, r in pts]
            hi = [(r["max"] - r["median"]) / 1e6 for _, r in pts]
            container = ax.errorbar(xs, med, yerr=[lo, hi], label=impl, capsize=3, linewidth=1.8,
                                    markersize=5, **_STYLE.get(impl, {}))
            container.lines[0].set_gid(f"series-{impl}")
            series += 1
        ax.set_xscale("log", base=2)
        threads = sorted({r["threads"] for r in tp})
        if threads:
            ax.set_xticks(threads, [str(t) for t in threads])
        ax.set_xlabel("threads")
        ax.set_ylabel("alloc/free pairs per second (millions)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(title="implementation")
        cores = machine.get("usable_cores") or machine.get("cores")
        ax.set_title(
            f"Throughput, random 16-79 B, 256-slot working set\n"
            f"{machine.get('cpu_model', '?')}, {cores} cores, mimalloc {machine.get('mimalloc_version', '?')}"
            f" (median, bars: min-max)",
            fontsize=9,
        )
        fig.tight_layout()
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format=fmt)
        plt.close(fig)
    return series
