#!/usr/bin/env python3
"""Run the test tiers (seed 001's interface) under one or more CPython versions.

    python3 tests/run_tests.py --tier all --version both
    python3 tests/run_tests.py --tier 4 --version 313 -- -x -k leak

Tiers are the pytest markers tier0..tier5 (pyproject.toml): the markers are the single source of
which test is in which tier; this script only selects them. ``--version`` takes 310..313, ``both``
(the oldest and the newest supported CPython that can be found) or ``current`` (the interpreter
running this script, as it is). For an explicit version the script finds that interpreter (on
PATH as pythonX.Y, else under pyenv's versions), creates a venv for it in the cache
($STRESSKIT_CACHE or ~/.cache/stresskit/venvs, keyed by the interpreter and pyproject.toml), installs
this checkout into it with its test extra once, and reuses it afterwards.

With several versions, the newest runs every test and the others leave out the tests marked
``native_only`` (native builds, sanitizers, mutants, the conda package: their outcome does not
depend on the interpreter). Prints a table of passed / failed / skipped / errors and time per
tier and version, and exits 1
if anything failed (2 for bad arguments, 3 when an interpreter or venv could not be set up).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIERS = ("0", "1", "2", "3", "4", "5")
SUPPORTED = ("310", "311", "312", "313")
EXIT_FAILED, EXIT_USAGE, EXIT_SETUP = 1, 2, 3


class SetupError(Exception):
    """An interpreter or venv could not be made ready (one line: what and why)."""


@dataclass
class Outcome:
    tier: str
    version: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.errors == 0 and not self.note


def _dotted(version: str) -> str:
    return f"{version[0]}.{version[1:]}"


def find_interpreter(version: str) -> Path | None:
    """pythonX.Y on PATH (if it really is that version), else the newest pyenv build of X.Y."""
    dotted = _dotted(version)
    candidates: list[str] = []
    on_path = shutil.which(f"python{dotted}")
    if on_path:
        candidates.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{dotted}.*/bin/python{dotted}"), reverse=True)
    for exe in candidates:
        try:  # a pyenv shim for a version that is not active fails here
            out = subprocess.run([exe, "-c", "import sys; print('%d%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return Path(exe)
    return None


def resolve_versions(arg: str) -> list[str]:
    if arg == "current":
        return ["current"]
    if arg == "both":
        found = [v for v in SUPPORTED if find_interpreter(v) is not None]
        if not found:
            raise SetupError(f"--version both: no CPython of {', '.join(map(_dotted, SUPPORTED))} found on PATH or under pyenv")
        return sorted({found[0], found[-1]}, key=SUPPORTED.index)
    return [arg]


def cache_root() -> Path:
    base = os.environ.get("STRESSKIT_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "stresskit") / "venvs"


def venv_python(version: str) -> Path:
    """The venv's interpreter, created and filled on first use (keyed so that a changed
    pyproject.toml or interpreter gets a fresh venv)."""
    if version == "current":
        return Path(sys.executable)
    exe = find_interpreter(version)
    if exe is None:
        raise SetupError(f"--version {version}: no CPython {_dotted(version)} on PATH (python{_dotted(version)}) or under pyenv")
    key = hashlib.sha256(str(exe.resolve()).encode() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    venv = cache_root() / f"py{version}-{key}"
    python = venv / "bin" / "python"
    ready = venv / ".stresskit-ready"
    if not ready.exists():
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        print(f"run_tests: creating {venv} ({exe})", flush=True)
        _setup([str(exe), "-m", "venv", str(venv)], f"python{_dotted(version)} -m venv {venv}")
        _setup([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], "pip upgrade")
    # The checkout is installed every time (cheap when nothing changed: the native build is
    # incremental), so the venv always tests this tree, not the one it was created from.
    _setup([str(python), "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"], f"pip install -e .[test] into {venv}")
    ready.touch()
    return python


def _setup(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SetupError(f"{what} failed (exit {proc.returncode}): {tail[0]}")


def run_tier(python: Path, tier: str, version: str, extra: list[str], once_only: bool = False) -> Outcome:
    """``once_only``: leave out the tests marked native_only (they ran under another version)."""
    outcome = Outcome(tier, version)
    with tempfile.TemporaryDirectory(prefix="stresskit-tier-") as tmp:
        junit = Path(tmp) / "junit.xml"
        selection = f"tier{tier} and not native_only" if once_only else f"tier{tier}"
        cmd = [str(python), "-m", "pytest", "-m", selection, f"--junitxml={junit}", *extra]
        print(f"\n=== tier {tier} · Python {version if version == 'current' else _dotted(version)}: {' '.join(cmd[1:])}", flush=True)
        start = time.monotonic()
        code = subprocess.run(cmd, cwd=ROOT).returncode
        outcome.seconds = time.monotonic() - start
        if junit.exists():
            suites = ET.parse(junit).getroot()
            for suite in suites.iter("testsuite"):
                tests = int(suite.get("tests", 0))
                outcome.failed += int(suite.get("failures", 0))
                outcome.errors += int(suite.get("errors", 0))
                outcome.skipped += int(suite.get("skipped", 0))
                outcome.passed += tests - int(suite.get("failures", 0)) - int(suite.get("errors", 0)) - int(suite.get("skipped", 0))
    # pytest's 5 is "no tests collected": an empty tier is reported, not hidden
    if code == 5:
        outcome.note = "no tests in this tier"
    elif code != 0 and outcome.failed == 0 and outcome.errors == 0:
        outcome.note = f"pytest exited {code}"
    return outcome


def table(outcomes: list[Outcome]) -> str:
    head = f"{'tier':<5} {'python':<8} {'passed':>7} {'failed':>7} {'skipped':>8} {'errors':>7} {'time':>8}  result"
    lines = [head, "-" * len(head)]
    for o in outcomes:
        ver = o.version if o.version == "current" else _dotted(o.version)
        result = "ok" if o.ok else (o.note or "FAILED")
        lines.append(f"{o.tier:<5} {ver:<8} {o.passed:>7} {o.failed:>7} {o.skipped:>8} {o.errors:>7} {o.seconds:>7.1f}s  {result}")
    return "\n".join(lines)


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", default="all", choices=[*TIERS, "all"], help="which tier (pytest marker tierN), or all")
    p.add_argument("--version", default="current", choices=[*SUPPORTED, "both", "current"],
                   help="CPython version (310..313), both (oldest and newest found) or current (default)")
    return p.parse_args(argv), extra


def main(argv: list[str] | None = None) -> int:
    args, extra = parse(sys.argv[1:] if argv is None else argv)
    tiers = list(TIERS) if args.tier == "all" else [args.tier]
    outcomes: list[Outcome] = []
    try:
        versions = resolve_versions(args.version)
        # Newest first, with everything; the others leave out the native_only tests, whose
        # outcome cannot depend on the interpreter (one ABI-independent native build, proven by
        # tier 0's Python matrix): that is what keeps --version both within CI's time.
        for i, version in enumerate(reversed(versions)):
            python = venv_python(version)
            outcomes += [run_tier(python, tier, version, extra, once_only=i > 0) for tier in tiers]
    except SetupError as exc:
        print(f"run_tests: {exc}", file=sys.stderr)
        if outcomes:
            print(table(outcomes))
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("run_tests: interrupted", file=sys.stderr)
        if outcomes:
            print(table(outcomes))
        return 130
    print("\n" + table(outcomes))
    if len(versions) > 1:
        print(f"(tests marked native_only ran under {_dotted(versions[-1])} only)")
    return 0 if all(o.ok for o in outcomes) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
