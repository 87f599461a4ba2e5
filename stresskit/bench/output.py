"""The run as a JSON document and as a table (rich on a terminal, plain text otherwise)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from stresskit.bench.machine import handoff_line

SCHEMA = "stresskit-bench/1"


def document(
    rows: Sequence[dict],
    machine: dict,
    config: dict,
    targets: Sequence[dict],
    goals: Sequence[dict],
    timing: dict,
) -> dict:
    return {
        "schema": SCHEMA,
        "machine": machine,
        "config": config,
        "timing": timing,
        "ratio_direction": {
            "latency": "impl ns/op / mimalloc ns/op: above 1 is slower than raw mimalloc",
            "throughput": "impl ops/s / mimalloc ops/s: below 1 is slower than raw mimalloc",
        },
        "results": list(rows),
        "targets": list(targets),
        "goals": list(goals),
    }


def json_text(doc: dict) -> str:
    return json.dumps(doc, indent=2) + "\n"


def write_json(doc: dict, path: Path) -> None:
    from stresskit.io.outputs import write_atomic

    write_atomic(path, json_text(doc), "--json")


def _fmt_value(row: dict, x: float) -> str:
    if row["unit"] == "ops/s":
        return f"{x / 1e6:.1f}M"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _fmt_size(n: int | None) -> str:
    if n is None:
        return "16-79"
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def _console(console: Console | None) -> tuple[Console, bool]:
    if console is None:
        console = Console()
    return console, console.is_terminal


def render(doc: dict, console: Console | None = None) -> None:
    """Results, then targets, then goals. On a terminal: boxed and coloured; otherwise plain
    whitespace-aligned columns (easy to paste, grep or diff)."""
    console, tty = _console(console)
    style = box.SIMPLE_HEAVY if tty else None

    def table(title: str) -> Table:
        return Table(title=title if tty else None, box=style, show_edge=tty, pad_edge=False,
                     header_style="bold" if tty else "")

    if not tty:
        console.print("# results (latency in ns/op, throughput in ops/s; x mimalloc = ratio)")
    t = table("stresskit bench: results")
    for name, justify in (("op", "left"), ("size", "right"), ("align", "right"),
                          ("threads", "right"), ("impl", "left"), ("median", "right"),
                          ("min", "right"), ("max", "right"), ("unit", "left"),
                          ("x mimalloc", "right")):
        t.add_column(name, justify=justify, no_wrap=True)
    previous = None
    for r in doc["results"]:
        key = (r["op"], r["threads"], r["size"], r["alignment"])
        if tty and previous is not None and key != previous:
            t.add_section()
        previous = key
        ratio = r["ratio_to_mimalloc"]
        t.add_row(
            r["op"],
            _fmt_size(r["size"]),
            "" if r["alignment"] is None else str(r["alignment"]),
            str(r["threads"]),
            r["impl"],
            _fmt_value(r, r["median"]),
            _fmt_value(r, r["min"]),
            _fmt_value(r, r["max"]),
            "ns/op" if r["unit"] == "ns/op" else "ops/s",
            "" if ratio is None else f"{ratio:.2f}",
        )
    console.print(t)

    if not tty:
        console.print("# seed targets (cc)")
    t = table("seed targets (cc; informative)")
    for name in ("target", "condition", "cc", "result"):
        t.add_column(name, no_wrap=True)
    for g in doc["targets"]:
        value = g["value"]
        shown = "-" if value is None else (f"{value / 1e6:.1f}M ops/s" if g["op"] == "throughput"
                                           else f"{value:.2f} ns/op")
        t.add_row(g["name"], g["condition"], shown, _verdict(g["passed"], "pass", "FAIL", tty))
    console.print(t)

    if not tty:
        console.print("# ratio goals")
    t = table("ratio goals")
    for name in ("goal", "condition", "worst", "where", "result"):
        t.add_column(name, no_wrap=True)
    for g in doc["goals"]:
        where = ""
        if g["worst_row"]:
            w = g["worst_row"]
            where = ", ".join(
                f"{k}={_fmt_size(v) if k == 'size' else v}" for k, v in w.items()
                if k != "op" and v is not None
            )
        value = "-" if g["value"] is None else f"{g['value']:.3f}"
        t.add_row(g["name"], g["condition"], value, where, _verdict(g["met"], "met", "MISSED", tty))
    console.print(t)
    line = handoff_line(doc.get("machine", {}))
    if line:
        console.print(line, markup=False, highlight=False)


def _verdict(ok: bool | None, yes: str, no: str, tty: bool) -> str:
    if ok is None:
        return "not measured"
    if not tty:
        return yes if ok else no
    return f"[green]{yes}[/green]" if ok else f"[red]{no}[/red]"


def markdown(doc: dict) -> str:
    """The results, targets and goals as GitHub-flavoured Markdown tables (docs/performance.md)."""
    lines = ["| op | size | align | threads | impl | median | min | max | unit | x mimalloc |",
             "|---|---:|---:|---:|---|---:|---:|---:|---|---:|"]
    for r in doc["results"]:
        ratio = r["ratio_to_mimalloc"]
        lines.append(
            f"| {r['op']} | {_fmt_size(r['size'])} | {'' if r['alignment'] is None else r['alignment']}"
            f" | {r['threads']} | {r['impl']} | {_fmt_value(r, r['median'])} | {_fmt_value(r, r['min'])}"
            f" | {_fmt_value(r, r['max'])} | {r['unit']} | {'' if ratio is None else f'{ratio:.2f}'} |"
        )
    lines += ["", "| seed target | condition | cc | result |", "|---|---|---:|---|"]
    for t in doc["targets"]:
        v = t["value"]
        shown = "-" if v is None else (f"{v / 1e6:.1f}M ops/s" if t["op"] == "throughput" else f"{v:.2f} ns/op")
        lines.append(f"| {t['name']} | {t['condition']} | {shown} | "
                     f"{_verdict(t['passed'], 'pass', 'FAIL', False)} |")
    lines += ["", "| goal | condition | worst | where | result |", "|---|---|---:|---|---|"]
    for g in doc["goals"]:
        where = ""
        if g["worst_row"]:
            where = ", ".join(f"{k}={_fmt_size(v) if k == 'size' else v}"
                              for k, v in g["worst_row"].items() if k != "op" and v is not None)
        value = "-" if g["value"] is None else f"{g['value']:.3f}"
        lines.append(f"| {g['name']} | {g['condition']} | {value} | {where} | "
                     f"{_verdict(g['met'], 'met', 'MISSED', False)} |")
    line = handoff_line(doc.get("machine", {}))
    if line:
        lines += ["", line]
    return "\n".join(lines) + "\n"
