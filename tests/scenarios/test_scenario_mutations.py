"""Robustness: mutated copies of the shipped scenarios (random bytes, lines, keys and values)
never make `stresskit validate` show a traceback: exit 0 or 2, and every problem a line naming its
file."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stresskit.cli import main

from scenario_helpers import SHIPPED, stresskit

pytestmark = pytest.mark.tier5

TEXTS = [p.read_bytes() for p in SHIPPED]
VALUES = [
    b"0", b"-1", b"1e309", b"nan", b"inf", b"-inf", b"true", b"\"\"", b"\"64MiB\"", b"\"-3KiB\"", b"[]", b"{}",
    b"[1, \"a\", true]", b"{ dist = \"uniform\" }", b"99999999999999999999999", b"0x10", b"1979-05-27", b"\"a\\u0000b\"",
    b"{ dist = \"choice\", values = [], weights = [1] }", b"\"roles.A.ops > 0\"", b"[\"bytes.leaked ==\"]", b"[[1]]",
]
KEYS = [b"action", b"threads", b"sizes", b"from", b"to", b"capacity", b"checks", b"ops", b"duration", b"alloc",
        b"alignment", b"grace", b"memory_limit", b"roles", b"flows", b"load", b"extra", b"name", b"bogus", b"\"a.b\""]


def mutate(data: bytes, seed: int, count: int) -> bytes:
    rnd = random.Random(seed)
    for _ in range(count):
        kind = rnd.randrange(7)
        lines = data.split(b"\n")
        if kind == 0 and data:  # flip/replace a byte
            i = rnd.randrange(len(data))
            data = data[:i] + bytes([rnd.randrange(256)]) + data[i + 1:]
        elif kind == 1 and data:  # delete a span
            i = rnd.randrange(len(data))
            data = data[:i] + data[i + rnd.randrange(1, 20):]
        elif kind == 2:  # drop, duplicate or swap lines
            i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
            op = rnd.randrange(3)
            if op == 0:
                del lines[i]
            elif op == 1:
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif kind == 3:  # replace a value
            idx = [i for i, ln in enumerate(lines) if b"=" in ln]
            if idx:
                i = rnd.choice(idx)
                key = lines[i].split(b"=", 1)[0]
                lines[i] = key + b"= " + rnd.choice(VALUES)
                data = b"\n".join(lines)
        elif kind == 4:  # rename a key
            idx = [i for i, ln in enumerate(lines) if b"=" in ln]
            if idx:
                i = rnd.choice(idx)
                lines[i] = rnd.choice(KEYS) + b" =" + lines[i].split(b"=", 1)[1]
                data = b"\n".join(lines)
        elif kind == 5:  # rename a table
            idx = [i for i, ln in enumerate(lines) if ln.startswith(b"[")]
            if idx:
                i = rnd.choice(idx)
                lines[i] = rnd.choice([b"[roles.X]", b"[[flows]]", b"[load]", b"[thresholds]", b"[roles]", b"[[roles.A]]", b"[extra]", b"[x.y.z]"])
                data = b"\n".join(lines)
        else:  # change a number
            data = re.sub(rb"\d+", lambda m: rnd.choice([b"0", b"3", b"-7", b"257", b"1025", m.group(0) * 3]), data, count=1)
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(TEXTS) - 1), seed=st.integers(0, 2**32), count=st.integers(1, 6))
def test_validate_never_shows_a_traceback(tmp_path: Path, which: int, seed: int, count: int) -> None:
    path = tmp_path / "mutated.toml"
    path.write_bytes(mutate(TEXTS[which], seed, count))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert lines and all(line.startswith(f"{path}: ") for line in lines), result.stderr


def test_validate_in_a_real_process_on_many_mutants(tmp_path: Path) -> None:
    files = []
    for i in range(60):
        path = tmp_path / f"m{i}.toml"
        path.write_bytes(mutate(TEXTS[i % len(TEXTS)], seed=i, count=1 + i % 5))
        files.append(str(path))
    result = stresskit("validate", *files)
    assert result.returncode in (0, 2)
    assert "Traceback" not in result.stdout + result.stderr
    # every file reported: one "ok" line on stdout, or its problems (at least one) on stderr
    ok = [ln.split(": ")[0] for ln in result.stdout.splitlines() if ln]
    bad = [ln.split(": ")[0] for ln in result.stderr.splitlines() if ln]
    assert len(ok) == len(set(ok)) and not set(ok) & set(bad)
    assert set(ok) | set(bad) == set(files)
