"""`stresskit replay` (stresskit/diagnostics/replay.py): a report records what decides each
replica's work, and replaying it reruns exactly that replica and says whether its failure came back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cli_helpers import one_line, stresskit
from stresskit.engine import HOOKS_ENV

SCENARIO = """\
[load]
ops = 20_000
replicas = 2
seed = 11

[roles.p]
action = "produce"
threads = 2
sizes = [16, 64, 256]

[roles.c]
action = "consume"

[[flows]]
from = "p"
to = "c"
capacity = 256
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "handoff.toml"
    path.write_text(SCENARIO)
    return path


def _report(tmp_path: Path, scenario: Path, name: str, env: dict[str, str] | None = None, code: int = 0) -> Path:
    out = tmp_path / name
    proc = stresskit("run", str(scenario), "--json", str(out), "-q", cwd=tmp_path, env=env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    return out


@pytest.mark.tier4
def test_a_planted_corruption_replays_without_the_hook_being_set_again(tmp_path: Path, scenario: Path) -> None:
    report = _report(tmp_path, scenario, "corrupt.json", {HOOKS_ENV: "testing_corrupt_blocks=3"}, code=1)
    doc = json.loads(report.read_text())
    rec = doc["workers"][1]["replay"]
    assert rec["environment"] == {HOOKS_ENV: "testing_corrupt_blocks=3"}
    # (replica 1 runs the glue's fast path; there a damaged block also shows as no_glue_leak)
    assert "no_corruption" in rec["signature"]["failed"] and rec["seed"] == doc["workers"][1]["seed"]
    assert len(doc["environment"]["native"]["sha256"]) == 64 and doc["environment"]["python"]["version"]

    # the hook is not in replay's environment: it comes from the report
    proc = stresskit("replay", str(report), "--replica", "1", "--runs", "2", "--json", "replay.json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "recorded: fail: no_corruption" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "reproduced in 2/2 runs"
    out = json.loads((tmp_path / "replay.json").read_text())
    assert out["replica"] == 1 and out["reproduced"] == 2 and out["exit_code"] == 1
    assert all(r["signature"] == rec["signature"] for r in out["runs"])


@pytest.mark.tier4
def test_a_clean_report_does_not_reproduce(tmp_path: Path, scenario: Path) -> None:
    report = _report(tmp_path, scenario, "clean.json")
    proc = stresskit("replay", str(report), "--runs", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "did not reproduce" in proc.stdout.strip().splitlines()[-1]
    assert "replica 0 (seed " in proc.stdout  # no failing replica: the first is replayed


@pytest.mark.tier4
def test_a_failure_that_is_gone_does_not_reproduce(tmp_path: Path, scenario: Path) -> None:
    """The recorded hooks are what made the replica fail: with them removed from the record
    (as if the bug were fixed), the same plan passes and replay says so, exit 0."""
    report = _report(tmp_path, scenario, "leak.json", {HOOKS_ENV: "testing_leak_blocks=2"}, code=1)
    doc = json.loads(report.read_text())
    assert "no_glue_leak" in doc["workers"][0]["replay"]["signature"]["failed"]
    for w in doc["workers"]:
        w["replay"]["environment"] = {}
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(doc))
    proc = stresskit("replay", str(fixed), "--runs", "1", cwd=tmp_path, env={HOOKS_ENV: "testing_leak_blocks=2"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "did not reproduce: 1/1 runs passed"


@pytest.mark.tier4
def test_a_mutant_glue_replays_with_the_recorded_library(tmp_path: Path, mutant_library) -> None:
    """The report names the library it ran with; replay loads that one (not the installed
    one), so a failure found with a mutant reproduces without STRESSKIT_NATIVE_LIB."""
    scenario = tmp_path / "bare.toml"
    scenario.write_text('[load]\nops = 20_000\nstats = true\n\n[roles.a]\naction = "alloc_free"\n')
    report = _report(tmp_path, scenario, "mutant.json", {"STRESSKIT_NATIVE_LIB": str(mutant_library)}, code=1)
    assert json.loads(report.read_text())["environment"]["native"]["path"] == str(mutant_library.resolve())
    proc = stresskit("replay", str(report), "--runs", "1", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"the recorded library {mutant_library.resolve()}" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "reproduced in 1/1 runs"


@pytest.mark.tier5
def test_another_library_is_refused_unless_allowed(tmp_path: Path, scenario: Path) -> None:
    report = _report(tmp_path, scenario, "r.json", {HOOKS_ENV: "testing_corrupt_blocks=1"}, code=1)
    doc = json.loads(report.read_text())
    doc["environment"]["native"].update(path=str(tmp_path / "gone.so"), sha256="0" * 64)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    proc = stresskit("replay", str(other), cwd=tmp_path)
    assert proc.returncode == 2
    line = one_line(proc)
    assert line.startswith(f"stresskit: {other}: environment.native: the report was run with {tmp_path / 'gone.so'} (sha256 000000000000")
    assert "--allow-other-library" in line
    proc = stresskit("replay", str(other), "--allow-other-library", "--runs", "1", cwd=tmp_path)
    assert proc.returncode == 1 and "NOT the recorded library" in proc.stdout, proc.stdout + proc.stderr


def _damaged(doc: dict, how: str) -> dict:
    if how == "plan-type":
        doc["workers"][0]["replay"]["plan"]["roles"][0]["threads"] = "two"
    elif how == "no-signature":
        del doc["workers"][0]["replay"]["signature"]
    elif how == "no-replay":
        for w in doc["workers"]:
            del w["replay"]
    elif how == "workers-type":
        doc["workers"] = {"0": {}}
    elif how == "definition":
        doc["scenario"]["definition"]["roles"]["p"]["threads"] = 0
    elif how == "foreign-env":
        doc["workers"][0]["replay"]["environment"]["LD_PRELOAD"] = "/tmp/evil.so"
    return doc


@pytest.mark.tier5
@pytest.mark.parametrize(("how", "expected"), [
    ("plan-type", ": workers[0].replay.plan.roles[0].threads: expected a valid integer (got 'two')"),
    ("no-signature", ": workers[0].replay.signature: expected this key"),
    ("no-replay", ": workers[*].replay: expected a replay record per replica"),
    ("workers-type", ": workers: expected a valid list"),
    ("definition", ": scenario.definition.roles.p.threads: "),
    ("foreign-env", ": workers[0].replay.environment: expected only STRESSKIT_TEST_ENGINE_HOOKS, STRESSKIT_TEST_CRASH and MIMALLOC_* variables (got LD_PRELOAD)"),
    ("truncated", ": a complete JSON report file (line "),
    ("not-json", ": a complete JSON report file (line 1 column 1"),
    ("replica", ": --replica: expected one of 0, 1 (got 7)"),
])
def test_a_bad_report_is_one_line_and_exit_2(tmp_path: Path, scenario: Path, how: str, expected: str) -> None:
    report = _report(tmp_path, scenario, "r.json")
    text = report.read_text()
    bad = tmp_path / "bad.json"
    if how == "truncated":
        bad.write_text(text[: len(text) // 2])
    elif how == "not-json":
        bad.write_text("<html>")
    elif how == "replica":
        bad = report
    else:
        bad.write_text(json.dumps(_damaged(json.loads(text), how)))
    proc = stresskit("replay", str(bad), *(["--replica", "7"] if how == "replica" else []), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = one_line(proc)
    assert line.startswith(f"stresskit: {bad}{expected}"), line


@pytest.mark.tier5
@pytest.mark.parametrize("path", ["/dev/zero", "missing.json", "."])
def test_a_report_that_is_no_file_is_refused(tmp_path: Path, path: str) -> None:
    proc = stresskit("replay", path, cwd=tmp_path)
    assert proc.returncode == 2
    assert one_line(proc).startswith(f"stresskit: {path}: ")


@pytest.mark.tier4
def test_a_planted_crash_replays_as_the_same_signal(tmp_path: Path, scenario: Path) -> None:
    """A replica that died delivered nothing, yet its plan is in the report: replay reruns it
    and matches the crash by worker status and signal (not by the checks it could not feed)."""
    report = _report(tmp_path, scenario, "crash.json", {"STRESSKIT_TEST_CRASH": "1:segv:0"}, code=3)
    sig = json.loads(report.read_text())["workers"][1]["replay"]["signature"]
    assert sig == {"status": "error", "failed": [], "worker_status": "crashed", "stop_reason": None, "signal": "SIGSEGV"}
    proc = stresskit("replay", str(report), "--runs", "1", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "replica 1 (seed" in proc.stdout and "recorded: error: crashed (SIGSEGV)" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "reproduced in 1/1 runs"


@pytest.mark.tier4
def test_a_report_of_several_scenarios_replays_the_one_named(tmp_path: Path, scenario: Path) -> None:
    other = tmp_path / "local.toml"
    other.write_text('[load]\nops = 5000\n\n[roles.a]\naction = "alloc_free"\n')
    report = tmp_path / "both.json"
    proc = stresskit("run", str(scenario), str(other), "--json", str(report), "-q", cwd=tmp_path, env={HOOKS_ENV: "testing_corrupt_blocks=1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    first = stresskit("replay", str(report), "--runs", "1", cwd=tmp_path)
    assert first.returncode == 1 and first.stdout.startswith(f"replay: {report}: handoff replica 0 "), first.stdout + first.stderr
    named = stresskit("replay", str(report), "--runs", "1", "--scenario", "local", cwd=tmp_path)
    assert named.returncode == 1 and named.stdout.startswith(f"replay: {report}: local replica 0 "), named.stdout + named.stderr
    wrong = stresskit("replay", str(report), "--scenario", "nope", cwd=tmp_path)
    assert wrong.returncode == 2 and one_line(wrong) == f"stresskit: {report}: --scenario: expected one of handoff, local (got nope)"


def _sig(status: str = "fail", failed: tuple[str, ...] = ("no_glue_leak",), worker: str = "ok", signal: str | None = None) -> dict:
    return {"status": status, "failed": list(failed), "worker_status": worker, "stop_reason": "completed" if worker == "ok" else None,
            "signal": signal}


@pytest.mark.tier1
@pytest.mark.parametrize(("recorded", "seen", "line", "code"), [
    (_sig(), [_sig(), _sig("pass", ())], "reproduced in 1/2 runs", 1),
    (_sig(), [_sig(), _sig(failed=("no_corruption",))], "reproduced in 1/2 runs; 1 failed otherwise (fail: no_corruption)", 1),
    (_sig(), [_sig("pass", ()), _sig("pass", ())], "did not reproduce: 2/2 runs passed", 0),
    (_sig(), [_sig(failed=("glue_books", "no_glue_leak"))], "did not reproduce; 1/1 runs failed otherwise: fail: glue_books, no_glue_leak", 1),
    (_sig("error", (), "crashed", "SIGSEGV"), [_sig("error", (), "crashed", "SIGABRT")],
     "did not reproduce; 1/1 runs failed otherwise: error: crashed (SIGABRT)", 1),
    (_sig("pass", ()), [_sig("pass", ())], "did not reproduce: there was no failure to reproduce (the recorded replica passed), and 1/1 runs passed", 0),
    (_sig("pass", ()), [_sig()], "there was no failure to reproduce (the recorded replica passed); 1/1 runs failed otherwise: fail: no_glue_leak", 1),
])
def test_the_verdict_line_and_exit_code(recorded: dict, seen: list[dict], line: str, code: int) -> None:
    """Reproduced means the same signature; a rerun that fails another way still fails (exit 1),
    and only reruns that all pass give exit 0."""
    from stresskit.diagnostics.replay import Rerun, outcome_line, same_failure

    reruns = [Rerun(s, same_failure(recorded, s), 0.1) for s in seen]
    assert outcome_line(recorded, reruns) == (line, code)


@pytest.mark.tier5
def test_no_library_to_load_is_exit_3(tmp_path: Path, scenario: Path) -> None:
    """The recorded library is gone and none can be found: infrastructure, not input (exit 3)."""
    report = _report(tmp_path, scenario, "r.json")
    doc = json.loads(report.read_text())
    doc["environment"]["native"].update(path=str(tmp_path / "gone.so"), sha256="0" * 64)
    report.write_text(json.dumps(doc))
    proc = stresskit("replay", str(report), cwd=tmp_path, env={"STRESSKIT_NATIVE_LIB": str(tmp_path / "missing.so")})
    assert proc.returncode == 3 and proc.stdout == ""
    assert one_line(proc).startswith(f"stresskit: STRESSKIT_NATIVE_LIB={tmp_path / 'missing.so'} does not name a file")


@pytest.mark.tier5
def test_a_schema_1_report_with_tool_is_still_read(tmp_path: Path, scenario: Path) -> None:
    """Reports written before `tool` went into `environment` name their library under
    tool.native: replay reads it from there."""
    from stresskit.diagnostics.replay_report import read_report

    report = _report(tmp_path, scenario, "r.json")
    doc = json.loads(report.read_text())
    env = doc["environment"]
    native = env.pop("native")
    doc["tool"] = {"name": "stresskit", "version": env.pop("stresskit"), "python": env["python"].pop("version"), "native": native}
    doc["schema_version"] = 1
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    rec = read_report(old)
    assert rec.native["sha256"] == native["sha256"] and rec.native["path"] == native["path"]
    assert rec.python == doc["tool"]["python"] and rec.stresskit == doc["tool"]["version"]
