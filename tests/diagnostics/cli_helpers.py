"""Run the real `stresskit` command in a subprocess, as a user would, with a controlled
environment (the engine's test hooks and the native library are environment variables)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stresskit.diagnostics.replay_record import HOOK_VARIABLES, NATIVE_ENV

REPO = Path(__file__).resolve().parents[2]


def stresskit(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Hooks and STRESSKIT_NATIVE_LIB come only from ``env``: a test proves what it plants."""
    base = {k: v for k, v in os.environ.items() if k not in HOOK_VARIABLES and k != NATIVE_ENV and not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-c", "from stresskit.cli import main; main()", *args], capture_output=True, text=True,
                          timeout=timeout, env={**base, **(env or {})}, cwd=cwd, stdin=subprocess.DEVNULL, check=False)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """Bad input: exactly one line on stderr, never a traceback."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]
