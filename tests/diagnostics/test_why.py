"""The "why it failed" block (stresskit/diagnostics/why.py) over hand-made reports."""

from __future__ import annotations

import pytest

from stresskit.diagnostics.why import why_lines

pytestmark = pytest.mark.tier1


def _report(workers, thresholds, status="fail"):
    return {"status": status, "workers": workers, "thresholds": thresholds}


def _t(name, ok, builtin=True):
    return {"name": name, "expression": f"{name} expr", "ok": ok, "skipped": False, "builtin": builtin}


def test_a_passing_run_has_no_block():
    assert why_lines(_report([{"replica": 0, "status": "ok"}], [_t("no_leak", True)], "pass"), "r.json") == []


def test_each_failing_replica_gets_its_sections_and_a_pointer():
    leak = {"blocks": 2, "bytes": 32, "by_last_seen": [{"blocks": 2, "last_seen": "handed off, then given to cc_free by c[0]"}],
            "by_thread": [{"blocks": 2, "role": "p", "thread": 0}], "first_blocks": []}
    lines = why_lines(_report([{"replica": 0, "status": "ok"}, {"replica": 1, "status": "ok", "diagnostics": {"leaks": leak}}],
                              [_t("no_glue_leak", False), _t("did_work", True)]), "r.json")
    assert lines[0] == "failed: no_glue_leak"
    assert "replica 1:" in lines and not any(line.startswith("replica 0") for line in lines)
    assert any("leak ledger: 2 blocks" in line for line in lines), lines
    assert "  details: r.json: workers[1].diagnostics.leaks (docs/diagnostics.md)" in lines
    assert lines[-1] == "rerun it: stresskit replay r.json --replica 1"


def test_no_delivered_replica_is_said_once_not_as_every_check():
    lines = why_lines(_report([{"replica": 0, "status": "crashed", "error": "worker killed by SIGSEGV"}],
                              [_t(n, False) for n in ("did_work", "no_leak", "contract")], "error"), None)
    assert lines[0] == "no replica delivered a result: the checks had nothing to judge"
    assert lines[1] == "replica 0: crashed: worker killed by SIGSEGV"
    assert not any("rerun it" in line for line in lines), "no report path: no replay hint"


def test_a_broken_summariser_never_hides_the_verdict():
    lines = why_lines(_report([{"replica": 0, "status": "ok", "diagnostics": {"leaks": {"blocks": "many"}}}],
                              [_t("no_glue_leak", False)]), "r.json")
    assert any(line.startswith("  leaks: could not be summarised") for line in lines), lines


def test_many_failures_are_capped():
    lines = why_lines(_report([{"replica": 0, "status": "ok"}], [_t(f"c{i}", False) for i in range(12)]), None)
    assert lines[0].endswith("and 4 more")
