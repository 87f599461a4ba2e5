"""Without its native library stresskit still explains itself: no traceback, documented exit codes."""

from __future__ import annotations

import pytest
from scenario_helpers import SCENARIOS, stresskit

MISSING = {"STRESSKIT_NATIVE_LIB": "/nonexistent/libstresskit_native.so"}

pytestmark = pytest.mark.tier5


def test_help_and_validate_do_not_need_the_library():
    assert stresskit("--help", env=MISSING).returncode == 0
    result = stresskit("validate", str(SCENARIOS / "smr.toml"), env=MISSING)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("args", [("run", "smr"), ("bench", "--quick"), ("doctor", "--no-attach")])
def test_commands_needing_the_library_exit_3_with_one_line(args):
    result = stresskit(*args, env=MISSING)
    assert result.returncode == 3, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert "/nonexistent/libstresskit_native.so" in out
    if args[0] != "doctor":  # doctor prints its whole table; the others one line
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
