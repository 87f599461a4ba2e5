"""The page: one self-contained HTML file (plotly.js inlined in <head>, no network needed)."""

from __future__ import annotations

import importlib.util
import json
from html import escape
from typing import Any

from stresskit.html import charts, data, flame
from stresskit.matrix.cells import titled

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h1 .pass { color: #1a7f37; } h1 .fail, h1 .error { color: #cf222e; }
table { border-collapse: collapse; margin: .5em 0 1.5em; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.FAIL td:first-child { color: #cf222e; font-weight: bold; } tr.pass td:first-child { color: #1a7f37; }
.meta { color: #555; } .note { color: #555; font-style: italic; }
.diagnosis { border-left: 4px solid #cf222e; padding: .2em 1em; margin: 1em 0; background: #fff8f8; }
pre { white-space: pre-wrap; font-size: .85em; }
"""

_SEARCH_JS = """
function skFlameSearch(divId, query, outId) {
  var gd = document.getElementById(divId), q = query.trim().toLowerCase(), n = 0;
  var colors = gd.data[0].labels.map(function (label) {
    var hit = q !== "" && label.toLowerCase().indexOf(q) >= 0;
    if (hit) { n += 1; }
    return q === "" ? "#f5a05a" : hit ? "#d62728" : "#e5e5e5";
  });
  Plotly.restyle(gd, {"marker.colors": [colors]});
  document.getElementById(outId).textContent = q === "" ? "" : n + " frame(s) match";
}
"""


class HtmlUnavailable(RuntimeError):
    """plotly is missing: the one line says how to get it."""


def require_plotly() -> None:
    if importlib.util.find_spec("plotly") is None:
        raise HtmlUnavailable("plotly is not installed: HTML reports need the html extra (pip install 'stresskit[html]')")


def _table(header: list[str], rows: list[list[str]], row_class: list[str] | None = None, table_id: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = ""
    for i, row in enumerate(rows):
        cls = f' class="{escape(row_class[i])}"' if row_class else ""
        body += f"<tr{cls}>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _latency(report: dict[str, Any], n: int) -> str:
    hists = data.histograms(report)
    if not hists:
        return '<p class="note">no latency samples in this report</p>'
    groups: dict[tuple[str, str], list[data.Histogram]] = {}
    for h in hists:
        groups.setdefault((h.role, h.op), []).append(h)
    return "".join(charts.latency(hs, role, op, f"r{n}-latency-{i}") for i, ((role, op), hs) in enumerate(groups.items()))


def _over_time(report: dict[str, Any], n: int) -> str:
    out = ""
    tput = data.throughput(report)
    out += charts.over_time(tput, "throughput per replica", "allocations per second", f"r{n}-throughput") if tput else \
        '<p class="note">no throughput samples in this report (workers reported no progress)</p>'
    unrec = data.unreclaimed(report)
    out += charts.over_time(unrec, "unreclaimed memory per replica (retired, not yet freed)", "bytes", f"r{n}-unreclaimed") if unrec else \
        '<p class="note">no unreclaimed-memory series (the scenario retires no blocks)</p>'
    return out


def _diagnoses(report: dict[str, Any]) -> str:
    sections = data.diagnoses(report)
    if not sections:
        return '<p class="note">nothing to diagnose: no replica reported leaks, corruption, stalls or crashes</p>'
    out = ""
    for s in sections:
        body = ("<pre>" + escape("\n".join(s.lines)) + "</pre>" if s.lines else "") + (_table(["key", "value"], [list(p) for p in s.pairs]) if s.pairs else "")
        out += (f'<div class="diagnosis" data-section="{escape(s.name)}"><h3>replica {s.replica}: {escape(s.name)}</h3>{body}'
                f"<details><summary>the whole section (workers[].diagnostics.{escape(s.name)})</summary><pre>{escape(s.raw)}</pre></details></div>")
    return out


def _flamegraph(report: dict[str, Any], n: int) -> str:
    tree, why = flame.load(report)
    if tree is None:
        return f'<p class="note">{escape(why or "")}</p>'
    div = f"r{n}-flamegraph"
    search = (f'<label>search frames: <input type="search" id="{div}-search" placeholder="cc_ or mi_" '
              f'oninput="skFlameSearch(\'{div}\', this.value, \'{div}-matches\')"></label> <span id="{div}-matches"></span>')
    return search + charts.flamegraph(tree, div)


def _section(report: dict[str, Any], n: int) -> str:
    word, tail = data.verdict(report)
    name = titled(report)
    meta = (f'{escape(report["scenario"].get("description") or "")}<br>{escape(tail)}; seed {report.get("seed")}; '
            f'started {escape(str(report.get("started_at")))}, {report.get("elapsed_s") or 0:.2f} s; file {escape(report["scenario"].get("file") or "")}')
    rows = data.threshold_rows(report)
    thresholds = _table(["", "kind", "expression", "value", "why"], [[r["status"], r["kind"], r["expression"], r["value"], r["reason"]] for r in rows],
                        [r["status"] for r in rows], f"r{n}-thresholds")
    errors = "".join(f"<li>{escape(e)}</li>" for e in report.get("errors") or [])
    env = report.get("environment") or {}
    return (f'<section class="report" id="report-{n}"><h1>{escape(name)}: <span class="{escape(report["status"])}" id="r{n}-verdict">{word}</span></h1>'
            f'<p class="meta">{meta}</p>'
            + (f"<h2>Errors</h2><ul>{errors}</ul>" if errors else "")
            + f"<h2>Thresholds and checks</h2>{thresholds}"
            + f'<h2>Roles</h2>{_table(list(data.ROLE_COLUMNS), data.role_rows(report), table_id=f"r{n}-roles")}'
            + f"<h2>Diagnoses</h2>{_diagnoses(report)}"
            + f"<h2>Latency</h2>{_latency(report, n)}"
            + f"<h2>Over time</h2>{_over_time(report, n)}"
            + f"<h2>Flamegraph</h2>{_flamegraph(report, n)}"
            + f'<h2>Key metrics</h2>{_table(["metric", "value"], [list(p) for p in data.key_metrics(report)])}'
            + (f"<h2>Environment</h2><details><summary>machine, OS, Python, library, commit, command line</summary>"
               f"<pre>{escape(json.dumps(env, indent=2))}</pre></details>" if env else "")
            + "</section>")


def _matrix(reports: list[dict[str, Any]]) -> str:
    """A matrix's cells (stresskit/matrix): throughput and p99 latency against the swept keys."""
    from stresskit.matrix.cells import lines, p99_metric
    from stresskit.matrix.table import table_rows

    key, chart_lines = lines(reports)
    header, body = table_rows(reports)
    return (f'<section id="matrix"><h1>matrix: {len(reports)} cells</h1>{_table(header, body, table_id="matrix-cells")}'
            + charts.matrix(key, chart_lines, "ops_per_s", "throughput (ops/s)", "matrix-throughput")
            + charts.matrix(key, chart_lines, "p99_ns", f"{p99_metric(reports)} (ns)", "matrix-p99") + "</section>")


def render(reports: list[dict[str, Any]]) -> str:
    """The whole page for one or several run reports (report dicts as written by `run --json`)."""
    require_plotly()
    from plotly.offline import get_plotlyjs

    status = "error" if any(r["status"] == "error" for r in reports) else "fail" if any(r["status"] == "fail" for r in reports) else "pass"
    title = f"stresskit: {', '.join(r['scenario']['name'] for r in reports)}: {status.upper()}"
    body = "".join(_section(r, i) for i, r in enumerate(reports))
    if any(r.get("cell") for r in reports):
        body = _matrix(reports) + body
    # "</script" inside the inlined library would end the tag early: escape it the standard way.
    plotly_js = get_plotlyjs().replace("</script", "<\\/script")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style><script>{plotly_js}</script><script>{_SEARCH_JS}</script></head>"
            f'<body data-status="{status}">{body}</body></html>\n')
