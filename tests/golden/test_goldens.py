"""Tier 2 goldens: what stresskit prints and writes, compared with versioned expected files.

Each case runs the real CLI in a subprocess (plain output: not a terminal) and compares its
normalised stdout/stderr, exit code and JSON (tests/golden/normalise.py says what is normalised)
with tests/golden/expected/<python version>/<case>.*. On a difference the assertion shows a
unified diff. To accept new output after a deliberate change:

    MODE=record python3 -m pytest tests/golden            # this interpreter's version
    MODE=record python3 tests/run_tests.py --tier 2 --version both

and review the diff of tests/golden/expected/ before committing it.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import normalise

pytestmark = [pytest.mark.tier2, pytest.mark.slow]

REPO = normalise.REPO
HERE = Path(__file__).resolve().parent
VERSION = f"{sys.version_info.major}{sys.version_info.minor}"
EXPECTED = HERE / "expected" / VERSION
RECORD = os.environ.get("MODE") == "record"
HOOKS = "STRESSKIT_TEST_ENGINE_HOOKS"


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    report: bool = False  # the command writes a JSON report (--json <tmp>/report.json is added)
    stdout_json: bool = False  # stdout is one JSON document
    # doctor --json: entries whose value is a path or an interpreter version (machine facts)
    mask_checks: tuple[str, ...] = ()
    numbers: bool = False  # the console carries timings: every number becomes N (the JSON keeps the exact counts)


def _corpus() -> tuple[str, ...]:
    return tuple(str(p.relative_to(REPO)) for p in sorted((HERE / "corpus").glob("*.toml")))


def _shipped() -> tuple[str, ...]:
    return tuple(str(p.relative_to(REPO)) for p in sorted((REPO / "scenarios").glob("*.toml")))


ONE_TO_ONE = str((HERE / "scenarios" / "one_to_one.toml").relative_to(REPO))
CASES = (
    Case("list", ("list",)),
    Case("validate_shipped", ("validate", *_shipped())),
    Case("validate_bad_inputs", ("validate", *_corpus())),
    Case("doctor_json", ("doctor", "--json", "--no-attach"), stdout_json=True,
         mask_checks=("python", "native library", "engine", "py-spy")),
    Case("run_pass", ("run", "scenarios/cross_thread_free.toml", "--seed", "7", "--ops", "20000", "--workers", "1"), report=True, numbers=True),
    Case("run_corrupt", ("run", ONE_TO_ONE), env={HOOKS: "testing_corrupt_blocks=1"}, report=True, numbers=True),
    Case("run_leak", ("run", ONE_TO_ONE), env={HOOKS: "testing_leak_blocks=2"}, report=True, numbers=True),
    Case("run_double_handoff", ("run", ONE_TO_ONE), env={HOOKS: "testing_double_handoffs=1"}, report=True, numbers=True),
)


def _run(case: Case, tmp: Path) -> dict[str, str]:
    args = list(case.args)
    if case.report:
        args += ["--json", str(tmp / "report.json")]
    env = {k: v for k, v in os.environ.items() if k != HOOKS}
    env.update(case.env, COLUMNS="100", NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-c", "from stresskit.cli import main; main()", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    out = {"console.txt": f"$ stresskit {' '.join(normalise.text(a, tmp, numbers=False) for a in args)}\n"
                          f"exit {proc.returncode}\n--- stdout\n{normalise.text(proc.stdout, tmp, case.numbers) if not case.stdout_json else ''}"
                          f"--- stderr\n{normalise.text(proc.stderr, tmp, case.numbers)}"}
    if case.stdout_json:
        doc = json.loads(proc.stdout)
        for entry in doc.get("checks", []):
            if entry.get("key") in case.mask_checks:
                entry["value"] = "<V>"
        out["stdout.json"] = json.dumps(normalise.document(doc, tmp), indent=2, sort_keys=True) + "\n"
    if case.report:
        doc = json.loads((tmp / "report.json").read_text())
        out["report.json"] = json.dumps(normalise.document(doc, tmp), indent=2, sort_keys=True) + "\n"
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_golden(case: Case, tmp_path: Path) -> None:
    produced = _run(case, tmp_path)
    problems = []
    for suffix, text in produced.items():
        path = EXPECTED / f"{case.name}.{suffix}"
        if RECORD:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            continue
        if not path.exists():
            problems.append(f"{path.relative_to(REPO)} does not exist: record it with MODE=record (Python {VERSION})")
            continue
        expected = path.read_text()
        if expected != text:
            diff = difflib.unified_diff(expected.splitlines(), text.splitlines(), f"expected/{VERSION}/{path.name}", "produced", lineterm="")
            problems.append("\n".join(list(diff)[:120]))
    assert not problems, "\n\n".join(problems) + "\n\n(accept deliberate changes with MODE=record, see this module's docstring)"


def test_every_golden_file_belongs_to_a_case() -> None:
    """A renamed or removed case must not leave its expected files behind to rot."""
    known = {f"{c.name}.{s}" for c in CASES for s in ("console.txt", "stdout.json", "report.json")}
    stale = [p.name for p in EXPECTED.glob("*") if p.name not in known] if EXPECTED.is_dir() else []
    assert not stale, f"stale golden files in {EXPECTED.relative_to(REPO)}: {stale}"
