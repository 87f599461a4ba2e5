"""`stresskit bench` end to end in a tiny configuration (hidden --scale): every row for every
implementation, the JSON schema, --compare gating, baseline errors, and the plot."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from stresskit.bench import engine_row
from stresskit.bench.command import bench
from stresskit.bench.harness import IMPLS
from stresskit.bench.runner import ALIGNMENTS_QUICK, LATENCY_SIZES_QUICK, THREADS

TINY = ["--quick", "--scale", "0.01", "--repeats", "2"]
# A smaller run for the --compare tests: enough rows of both kinds (latency and throughput).
SMALL = ["--quick", "--scale", "0.01", "--repeats", "2", "--op", "alloc", "--op", "throughput",
         "--threads", "1,2"]

ROW_KEYS = {"op", "impl", "threads", "size", "alignment", "median", "min", "max",
            "ratio_to_mimalloc"}


def _invoke(args):
    return CliRunner().invoke(bench, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "run.json"
    result = _invoke([*TINY, "--json", str(out)])
    assert result.exit_code == 0, result.output
    return out, json.loads(out.read_text()), result.output


@pytest.mark.tier1
def test_all_rows_for_all_impls(tiny_run):
    _, doc, _ = tiny_run
    rows = doc["results"]
    expected = (
        {("alloc", 1, s, None) for s in LATENCY_SIZES_QUICK}
        | {("free", 1, s, None) for s in LATENCY_SIZES_QUICK}
        | {("aligned_alloc", 1, 64, a) for a in ALIGNMENTS_QUICK}
        | {("cross_thread_free", 2, 64, None)}
        | {("throughput", t, None, None) for t in THREADS}
    )
    for impl in IMPLS:
        got = {(r["op"], r["threads"], r["size"], r["alignment"]) for r in rows if r["impl"] == impl.value}
        assert got == expected, impl
    assert len(rows) == 4 * len(expected)
    assert all(r["failures"] == 0 for r in rows)


@pytest.mark.tier2
def test_json_schema(tiny_run):
    _, doc, _ = tiny_run
    assert doc["schema"] == "stresskit-bench/1"
    for r in doc["results"]:
        assert ROW_KEYS <= r.keys()
        throughput = r["op"] == "throughput"
        value_key = "ops_per_s" if throughput else "ns_per_op"
        assert value_key in r and ("ns_per_op" if throughput else "ops_per_s") not in r
        assert r[value_key] == r["median"]
        assert r["unit"] == ("ops/s" if throughput else "ns/op")
        assert 0 < r["min"] <= r["median"] <= r["max"]
        assert r["repeats"] == len(r["samples"]) == 2
        assert isinstance(r["threads"], int)
        assert r["size"] is None if throughput else isinstance(r["size"], int)
        assert (r["alignment"] is not None) == (r["op"] == "aligned_alloc")
        assert r["ratio_to_mimalloc"] > 0
        if r["impl"] == "mimalloc":
            assert r["ratio_to_mimalloc"] == 1.0
    m = doc["machine"]
    for key in ("cpu_model", "cores", "mimalloc_version", "compiler", "system_allocator", "optimized"):
        assert m[key] not in (None, ""), key
    assert re.fullmatch(r"\d+\.\d+\.\d+", m["mimalloc_version"])
    for when in ("before", "after"):  # the machine's hand-off latency, around the measurement
        h = m[f"handoff_{when}"]
        assert (h["round_trip_ns"] > 0 and len(set(h["cpus"])) == 2) if m["usable_cores"] >= 2 else "error" in h, h
    names = {t["name"] for t in doc["targets"]}
    assert names == {
        "perf_alloc_latency", "perf_free_latency", "perf_cross_thread_free_latency",
        "perf_aligned_alloc_latency", "perf_throughput_single_thread", "perf_throughput_multi_thread",
    }
    for t in doc["targets"]:
        assert t["impl"] == "cc" and isinstance(t["value"], (int, float))
        assert isinstance(t["passed"], bool)
    goals = {g["name"]: g for g in doc["goals"]}
    assert set(goals) == {"cc_alloc_ratio", "cc_free_ratio", "cc_aligned_alloc_ratio",
                          "cc_cross_thread_free_ratio", "cc_throughput_ratio",
                          "cc_stats_throughput_vs_cc", "engine_vs_loop"}
    for g in goals.values():
        assert isinstance(g["met"], bool) and isinstance(g["value"], float)
    assert len(goals["cc_throughput_ratio"]["points"]) == len(THREADS)
    assert len(goals["cc_stats_throughput_vs_cc"]["points"]) == len(THREADS) - 1
    engine = doc["engine"]  # the engine row: every variant, interleaved, with the loop as reference
    assert {r["variant"] for r in engine["rows"]} == {v.name for v in engine_row.variants()}
    assert all(r["bad_blocks"] == 0 and r["max_threads_inside"] == 2 and len(r["samples"]) == 2
               for r in engine["rows"])
    assert goals["engine_vs_loop"]["value"] == engine["ratio_loop_checks"]
    assert {c["check"] for c in engine["check_costs"]} == {*engine_row.CHECKS, engine_row.INVARIANTS}


@pytest.mark.tier1
def test_plain_table_lists_every_impl(tiny_run):
    _, _, output = tiny_run
    assert "# results" in output and "# ratio goals" in output
    for impl in IMPLS:
        assert re.search(rf"\b{re.escape(impl.value)}\b", output)
    assert "\x1b[" not in output  # not a terminal: no colour codes


@pytest.mark.tier1
def test_plot_next_to_json_has_four_series(tiny_run):
    path, _, _ = tiny_run
    svg = path.with_suffix(".svg").read_text()
    series = re.findall(r'<g id="series-([^"]+)"', svg)
    assert sorted(series) == sorted(i.value for i in IMPLS)


@pytest.mark.tier1
def test_explicit_png_plot(tmp_path):
    pytest.importorskip("matplotlib", reason="the plot needs matplotlib (optional dependency)")
    png = tmp_path / "tp.png"
    result = _invoke([*SMALL, "--op", "throughput", "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.tier1
def test_input_compared_against_itself_passes(tiny_run, tmp_path):
    path, doc, _ = tiny_run
    result = _invoke(["--input", str(path), "--compare", str(path), "--fail-above", "0%",
                      "--json", str(tmp_path / "again.json")])
    assert result.exit_code == 0, result.output
    gated = sum(1 for r in doc["results"] if r["impl"] not in ("mimalloc", "system"))  # mimalloc is the reference, libc not the user's
    assert f"{gated} rows within" in result.output
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["results"] == doc["results"]
    assert again["goals"] == doc["goals"] and again["targets"] == doc["targets"]
    assert (tmp_path / "again.svg").exists()


@pytest.mark.tier1
def test_system_rows_are_gated_only_when_asked(tiny_run, tmp_path):
    path, doc, _ = tiny_run
    # a baseline in which only libc was twice as fast: this run's system rows look 2x worse
    better_libc = json.loads(path.read_text())
    for r in better_libc["results"]:
        if r["impl"] == "system" and r["ratio_to_mimalloc"]:
            r["ratio_to_mimalloc"] = r["ratio_to_mimalloc"] / 2 if r["op"] != "throughput" else r["ratio_to_mimalloc"] * 2
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(better_libc))
    result = _invoke(["--input", str(path), "--compare", str(baseline)])
    system = sum(1 for r in doc["results"] if r["impl"] == "system")
    assert result.exit_code == 0 and f"{system} system-allocator rows not gated" in result.output, result.output
    result = _invoke(["--input", str(path), "--compare", str(baseline), "--compare-system"])
    assert result.exit_code == 1 and "REGRESSION" in result.output and " system " in result.output, result.output


@pytest.mark.tier1
@pytest.mark.parametrize("baseline_rt,noted", [(None, False), (90.0, False), (400.0, True)])
def test_compare_names_a_baseline_measured_at_another_hand_off_speed(tiny_run, tmp_path, baseline_rt, noted):
    """The verdict is the ratios'; a baseline whose round trip was over 2x this run's gets a note
    first (the cross-thread row follows the machine). None: a baseline from before the probe."""
    path, _, _ = tiny_run
    run = json.loads(path.read_text())
    run["machine"]["handoff_before"] = run["machine"]["handoff_after"] = {"round_trip_ns": 80.0, "cpus": [0, 1]}
    current = tmp_path / "current.json"
    current.write_text(json.dumps(run))
    base = json.loads(path.read_text())
    base["machine"].pop("handoff_before", None)
    base["machine"].pop("handoff_after", None)
    if baseline_rt is not None:
        base["machine"]["handoff_before"] = {"round_trip_ns": 80.0, "cpus": [0, 1]}
        base["machine"]["handoff_after"] = {"round_trip_ns": baseline_rt, "cpus": [0, 1]}
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(base))
    result = _invoke(["--input", str(current), "--compare", str(baseline), "--fail-above", "100%"])
    assert result.exit_code == 0, result.output
    note = "note: the machine's hand-off round trip was 400 ns in the baseline and 80 ns in this run"
    assert (note in result.output) is noted, result.output


@pytest.mark.tier1
def test_markdown_tables(tiny_run, tmp_path):
    path, doc, _ = tiny_run
    md = tmp_path / "t.md"
    assert _invoke(["--input", str(path), "--markdown", str(md)]).exit_code == 0
    lines = md.read_text().splitlines()
    result_rows = [line for line in lines if line.startswith("| ") and line.count("|") == 11]
    assert len(result_rows) == len(doc["results"]) + 1  # + header
    assert sum(1 for line in lines if line.startswith("| perf_")) == 6
    assert sum(1 for line in lines if line.startswith("| cc_")) == 6


def _doctor(src: Path, dst: Path, factor: float) -> None:
    doc = json.loads(src.read_text())
    for r in doc["results"]:
        r["ratio_to_mimalloc"] *= factor
    dst.write_text(json.dumps(doc))


@pytest.mark.tier1
def test_input_against_doctored_baseline_fails_and_names_rows(tiny_run, tmp_path):
    path, _, _ = tiny_run
    doctored = tmp_path / "doctored.json"
    _doctor(path, doctored, 0.5)  # every latency ratio now looks twice as good as it is
    result = _invoke(["--input", str(path), "--compare", str(doctored), "--fail-above", "10%"])
    assert result.exit_code == 1, result.output
    assert "REGRESSION" in result.output
    named = {line.split("(")[0].strip() for line in result.output.splitlines() if line.startswith("  ")}
    latency_ops = {"alloc", "free", "aligned_alloc", "cross_thread_free"}
    assert named == {f"{op} {impl}" for op in latency_ops for impl in ("cc", "cc+stats")}  # libc is not gated unless asked


@pytest.mark.tier1
def test_measured_run_against_doctored_baseline_fails(tmp_path):
    base = tmp_path / "base.json"
    first = _invoke([*SMALL, "--json", str(base)])
    assert first.exit_code == 0, first.output
    doctored = tmp_path / "doctored.json"
    _doctor(base, doctored, 0.5)
    bad = _invoke([*SMALL, "--compare", str(doctored), "--fail-above", "10%"])
    assert bad.exit_code == 1, bad.output
    assert "REGRESSION" in bad.output
    regressed = [line for line in bad.output.splitlines() if line.startswith("  alloc ")]
    assert regressed, bad.output
    assert not any(line.startswith("  alloc mimalloc") for line in regressed)


@pytest.mark.tier5
def test_bad_input_file_exits_2(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"results": [{"op": "alloc", "impl": "cc", "threads": 1, "size": 64,'
                    ' "alignment": null, "ratio_to_mimalloc": 1.0}]}')
    result = CliRunner().invoke(bench, ["--input", str(path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"stresskit bench: bad input: {path}: results[0]: expected a 'median' key (a number)"


def _row_json(**override: str) -> str:
    fields = {"op": '"alloc"', "impl": '"cc"', "threads": "1", "size": "64", "alignment": "null",
              "ratio_to_mimalloc": "1.0", **override}
    return '{"results": [{' + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}]}"


def _bad_baseline(tmp_path: Path, content: str | None) -> tuple[int, str]:
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(bench, [*SMALL, "--compare", str(path)])
    return result.exit_code, result.output


@pytest.mark.tier5
@pytest.mark.parametrize(
    "content,needle",
    [
        (None, "cannot read"),
        ("{not json", "expected JSON"),
        ("[]", "(top level): expected a JSON object"),
        ("{}", "'results' key"),
        ('{"results": 3}', "results: expected a list of result rows"),
        ('{"results": [{"op": "alloc"}]}', "results[0]: expected a 'impl' key"),
        (_row_json(threads='"two"'), "results[0].threads: expected an integer (got 'two')"),
        (_row_json(ratio_to_mimalloc='"fast"'),
         "results[0].ratio_to_mimalloc: expected a number or null (got 'fast')"),
        (_row_json(op='"nope"'), "none did"),
    ],
)
def test_bad_baseline_exits_2_with_one_line(tmp_path, content, needle):
    code, output = _bad_baseline(tmp_path, content)
    assert code == 2
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 or needle == "none did", output
    message = lines[-1]
    assert message.startswith("stresskit bench: bad baseline: ")
    assert "baseline.json" in message
    assert needle in message
    assert "Traceback" not in output


@pytest.mark.tier5
@pytest.mark.parametrize("args", [["--fail-above", "lots"], ["--threads", "0,2"], ["--threads", "x"]])
def test_bad_options_exit_2(args):
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.tier5
def test_ctrl_c_exits_130_and_writes_nothing(tmp_path, monkeypatch):
    from stresskit.bench import processes

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(processes, "measure_all", interrupted)
    out = tmp_path / "run.json"
    result = CliRunner().invoke(bench, [*SMALL, "--json", str(out)])
    assert result.exit_code == 130
    assert "interrupted" in result.output
    assert not out.exists()


@pytest.mark.tier1
def test_latency_rows_come_from_two_fresh_processes_by_default_with_quick(tiny_run):
    """--quick splits the latency rows over 2 spawned processes: each row keeps both medians."""
    _, doc, _ = tiny_run
    assert doc["config"]["processes"] == 2
    for row in doc["results"]:
        if row["op"] in ("alloc", "free", "aligned_alloc"):
            assert len(row["process_medians"]) == 2, row
            assert row["min"] <= min(row["process_medians"]) <= max(row["process_medians"]) <= row["max"]
        else:
            assert "process_medians" not in row, row
