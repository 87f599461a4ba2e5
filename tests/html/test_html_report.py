"""The HTML report (stresskit/html/): built from a real profiled run, loaded in a real browser
(Debian's chromium driven by playwright), and refused with one line for bad input."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stresskit.cli import main
from stresskit.html import data, flame
from stresskit.html.page import render

pytestmark = pytest.mark.tier2

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def profiled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real profiled run, made once: two replicas of a short smr run."""
    pytest.importorskip("plotly", reason="plotly (the html extra, in [test]) is not installed")
    out = tmp_path_factory.mktemp("run")
    report = out / "smr.json"
    result = CliRunner().invoke(main, ["run", "smr", "--duration", "1s", "--json", str(report), "--profile",
                                       "--profile-dir", str(out / "profile"), "-q"])
    assert result.exit_code == 0, result.output + result.stderr
    return report, json.loads(report.read_text())


def _browser() -> str:
    found = next((p for p in map(shutil.which, BROWSERS) if p), None)
    if found is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium; .ci/run installs it where it can)")
    pytest.importorskip("playwright.sync_api", reason="playwright (in the [test] extra) is not installed")
    return found


def _with_diagnoses(report: dict[str, Any]) -> dict[str, Any]:
    """The run with two planted diagnosis sections: one with summary lines, one without."""
    doc = copy.deepcopy(report)
    doc["status"] = "fail"
    doc["workers"][0]["diagnostics"] = {
        "leaks": {"summary": ["3 blocks (192 B) never freed", "allocated by role A"], "blocks": 3},
        "stall": {"role": "C", "waited_s": 1.5, "queue": {"name": "B_to_C", "depth": 0}},
    }
    return doc


def test_report_command_writes_a_page_that_works_offline_in_a_browser(profiled_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    browser = _browser()
    from playwright.sync_api import sync_playwright

    report_path, report = profiled_run
    planted = tmp_path / "planted.json"
    planted.write_text(json.dumps(_with_diagnoses(report)))
    page_path = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(planted), "-o", str(page_path)])
    assert result.exit_code == 0, result.output + result.stderr

    tree, why = flame.load(report)
    assert tree is not None, why  # the run was profiled: the page must draw it
    needle = next(label for label in tree.labels[1:] if len(label) > 4)[:5]
    expected_matches = sum(needle.lower() in label.lower() for label in tree.labels)

    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        try:
            page = chrome.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else (outside.append(route.request.url), route.abort()))
            page.goto(page_path.as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0")
            traces = page.evaluate("""Array.from(document.querySelectorAll('.js-plotly-plot')).map(d =>
                [d.id, d.data.map(t => (t.labels || t.x || []).filter(v => v !== null).length)])""")
            external = page.evaluate("document.querySelectorAll('script[src], link[href], img[src]').length")
            verdict = page.inner_text("#r0-verdict")
            sections = page.evaluate("Array.from(document.querySelectorAll('.diagnosis')).map(d => d.dataset.section + ':' + d.innerText)")
            page.fill("#r0-flamegraph-search", needle)
            matches = page.inner_text("#r0-flamegraph-matches")
            highlighted = page.evaluate("document.getElementById('r0-flamegraph').data[0].marker.colors.filter(c => c === '#d62728').length")
            # zoom: clicking a frame makes it the flamegraph's root (plotly's icicle "level")
            page.locator("#r0-flamegraph g.slice").nth(1).click()
            page.wait_for_function("document.getElementById('r0-flamegraph')._fullData[0].level")
            zoomed = page.evaluate("document.getElementById('r0-flamegraph')._fullData[0].level")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            chrome.close()

    assert errors == [], errors
    assert outside == [], outside  # no network: a CDN reference would show up here
    assert external == 0  # everything inlined
    ids = {div: counts for div, counts in traces}
    assert {"r0-throughput", "r0-unreclaimed", "r0-flamegraph"} <= set(ids), sorted(ids)
    assert any(div.startswith("r0-latency-") for div in ids)
    empty = [div for div, counts in traces if not counts or min(counts) == 0]
    assert empty == [], f"charts without data: {empty}"
    assert ids["r0-flamegraph"] == [len(tree.labels)]
    assert verdict == "FAIL"
    assert any(s.startswith("leaks:") and "3 blocks (192 B) never freed" in s for s in sections), sections
    assert any(s.startswith("stall:") and "queue.name" in s and "B_to_C" in s for s in sections), sections
    assert matches == f"{expected_matches} frame(s) match" and highlighted == expected_matches >= 1
    assert zoomed in tree.ids[1:]
    assert shot.stat().st_size > 0


def test_page_tables_hold_the_reports_numbers(profiled_run: tuple[Path, dict[str, Any]]) -> None:
    pytest.importorskip("plotly", reason="plotly (the html extra) is not installed")
    _, report = profiled_run
    html = render([report])
    for row in data.threshold_rows(report):
        assert f"<td>{row['expression'].replace('>', '&gt;').replace('<', '&lt;')}</td>" in html
    for role in report["plan"]["roles"]:
        assert f"<td>{role['name']}</td>" in html
    assert len(data.histograms(report)) == len(report["latency_histograms"]) > 0
    assert sum(h.count for h in data.histograms(report)) == sum(sum(b[2] for b in h["buckets"]) for h in report["latency_histograms"])


def test_histogram_buckets_agree_with_the_percentiles(profiled_run: tuple[Path, dict[str, Any]]) -> None:
    _, report = profiled_run
    for h in report["latency_histograms"]:
        assert sum(b[2] for b in h["buckets"]) == h["count"]
        assert all(lo < hi for lo, hi, _ in h["buckets"]) and [b[0] for b in h["buckets"]] == sorted(b[0] for b in h["buckets"])
    # every replica's p50 lies in (or at the edge of) one of its non-empty buckets
    m = report["metrics"]
    alloc = [h for h in report["latency_histograms"] if h["role"] == "A" and h["op"] == "alloc"]
    assert alloc and "roles.A.latency.alloc.p50_ns" in m
    merged = sorted(b for h in alloc for b in h["buckets"])
    assert merged[0][0] <= m["roles.A.latency.alloc.p50_ns"] <= merged[-1][1]


def test_run_html_writes_the_page(tmp_path: Path) -> None:
    pytest.importorskip("plotly", reason="plotly (the html extra) is not installed")
    page = tmp_path / "run.html"
    scenario = tmp_path / "local.toml"  # no throughput threshold: this machine is shared
    scenario.write_text('name = "local"\n[load]\nops = 2000\nreplicas = 1\n[roles.w]\naction = "alloc_free"\nthreads = 2\nsizes = 64\n')
    result = CliRunner().invoke(main, ["run", str(scenario), "--html", str(page), "-q"])
    assert result.exit_code == 0, result.output + result.stderr
    assert f"html report: {page}" in result.output
    text = page.read_text()
    assert 'id="r0-verdict">PASS<' in text and "Plotly.newPlot" in text


def test_a_matrix_page_charts_throughput_and_p99_per_cell(tmp_path: Path) -> None:
    """`run --matrix ... --html`: the page opens with the cells' table and two charts whose
    points are the cells' own numbers."""
    browser = _browser()
    from playwright.sync_api import sync_playwright

    page_path, report = tmp_path / "matrix.html", tmp_path / "matrix.json"
    result = CliRunner().invoke(main, ["run", "parallel_alloc", "--ops", "20000", "--matrix", "roles.worker.threads=2,4",
                                       "--matrix", "load.replicas=1", "--json", str(report), "--html", str(page_path), "-q"])
    assert result.exit_code in (0, 1), result.output + result.stderr  # a cell may miss the throughput threshold on a busy machine
    cells = json.loads(report.read_text())["reports"]
    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        try:
            page = chrome.new_page()
            page.goto(page_path.as_uri())
            page.wait_for_function("document.getElementById('matrix-p99') && document.getElementById('matrix-p99').data")
            charts = page.evaluate("""['matrix-throughput', 'matrix-p99'].map(id =>
                document.getElementById(id).data.map(t => [Array.from(t.x), Array.from(t.y)]))""")
            rows = page.evaluate("document.querySelectorAll('#matrix-cells tbody tr').length")
        finally:
            chrome.close()
    assert rows == 2
    (tput,), (p99,) = charts
    assert tput == [["2", "4"], [c["metrics"]["throughput.ops_per_s"] for c in cells]]
    assert p99 == [["2", "4"], [c["metrics"]["latency.alloc.p99_ns"] for c in cells]]
    assert all(isinstance(v, (int, float)) and v > 0 for v in tput[1] + p99[1])
