"""Bounded input (issue 9.2, 9.5): non-regular files are refused without blocking, sizes and
TOML shape are checked before parsing cost can grow, overflowing literals are input errors."""

from __future__ import annotations

import os
import re
import resource
from pathlib import Path

import pytest

from conftest import REPO, scenario, stresskit

pytestmark = [pytest.mark.tier5, pytest.mark.faults]

GIB = 1 << 30


def _one_line_exit_2(run, *needles: str) -> str:
    assert run.returncode == 2, run.stdout + run.stderr
    assert len(run.lines()) == 1, run.stderr
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in run.stderr, run.stderr
    return run.lines()[0]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "oversize", "oversize-sparse"])
def test_non_regular_or_huge_scenarios_are_refused_without_reading(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "pipe.toml"
        os.mkfifo(path)  # no writer: a blocking open or read would hang here
        needle = "FIFO"
    elif kind == "dev-zero":
        path, needle = Path("/dev/zero"), "character device"
    elif kind == "directory":
        path, needle = tmp_path, "directory"
    else:
        path = tmp_path / "big.toml"
        with open(path, "wb") as fh:
            if kind == "oversize":
                fh.write(b"# " + b"x" * (1 << 20) + b"\n")
            else:
                fh.truncate(64 * GIB)  # sparse: reading it would take minutes and 64 GiB
        needle = "at most 1 MiB"
    run = stresskit("validate", str(path), timeout=20, limits={resource.RLIMIT_AS: 2 * GIB})
    _one_line_exit_2(run, str(path), needle)
    assert run.elapsed < 5


DEEP = {
    "dotted": "a" + ".a" * 20_000 + " = 1\n",
    "digit-keys": "1" + ".1" * 20_000 + " = 1\n",
    "quoted-keys": '"a"' + '."a"' * 20_000 + " = 1\n",
    "header": "[" + "a." * 20_000 + "b]\nx = 1\n",
    "arrays": "x = " + "[" * 20_000 + "]" * 20_000 + "\n",
    "inline-tables": "x = " + "{a = " * 5_000 + "1" + "}" * 5_000 + "\n",
    "many-keys": "".join(f"k{i} = {i}\n" for i in range(10_001)),
}


@pytest.mark.parametrize("kind", list(DEEP))
def test_toml_bombs_are_rejected_fast_under_a_memory_limit(tmp_path: Path, kind: str) -> None:
    """A 40 KB file of 20 000-level dotted keys took 2.4 GB and 7.7 s in tomllib; under a
    1 GiB address-space limit it must be refused in well under a second of work."""
    path = tmp_path / f"{kind}.toml"
    path.write_text(DEEP[kind])
    run = stresskit("validate", str(path), limits={resource.RLIMIT_AS: GIB}, timeout=30)
    line = _one_line_exit_2(run, str(path))
    assert re.search(r"at most \d+ (keys|nested|levels)|nested at most", line), line
    assert run.elapsed < 4, f"{run.elapsed:.1f} s"


def test_limits_are_documented_as_defined() -> None:
    from stresskit.io import inputs

    doc = (REPO / "docs" / "scenarios.md").read_text()
    section = doc[doc.index("## Limits"):]
    for value in (f"{inputs.MAX_SCENARIO_BYTES >> 20} MiB", str(inputs.MAX_TOML_DEPTH), f"{inputs.MAX_TOML_KEYS:,}".replace(",", " "),
                  f"{inputs.MAX_BASELINE_BYTES >> 20} MiB", str(inputs.MAX_JSON_DEPTH)):
        assert value in section, value


def test_a_legal_file_at_the_limits_still_loads(tmp_path: Path) -> None:
    from stresskit.io.inputs import MAX_TOML_DEPTH

    sc = scenario(tmp_path)
    deep_ok = "x" + ".x" * (MAX_TOML_DEPTH - 4)
    sc.write_text(sc.read_text() + f'\n[extra_not_a_key]\n{deep_ok} = 1\n')
    run = stresskit("validate", str(sc))
    # the file parses (no shape error); the unknown table is then a schema error, one line
    assert run.returncode == 2 and "extra_not_a_key" in run.stderr and "nested" not in run.stderr, run.stderr


BIG = "9" * 400
OVERFLOWS = {
    "threshold-int-400-digits": ("checks = [\"bytes.leaked == 0\"]", f'checks = ["bytes.leaked < {BIG}"]', "between"),
    "threshold-1e400k": ("checks = [\"bytes.leaked == 0\"]", 'checks = ["bytes.leaked < 1e400k"]', "between"),
    "threshold-negative-1e999": ("checks = [\"bytes.leaked == 0\"]", 'checks = ["bytes.leaked > -1e999"]', "between"),
    "sizes-1e400": ('action = "produce"', 'action = "produce"\nsizes = "1e400"', "below 1e308"),
    "sizes-1e400KiB": ('action = "produce"', 'action = "produce"\nsizes = "1e400KiB"', "below 1e308"),
    "deadline-1e400s": ('deadline = "20s"', 'deadline = "1e400s"', "below 1e308"),
}


@pytest.mark.parametrize("kind", list(OVERFLOWS))
def test_overflowing_literals_are_input_errors(tmp_path: Path, kind: str) -> None:
    old, new, needle = OVERFLOWS[kind]
    sc = scenario(tmp_path)
    sc.write_text(sc.read_text().replace(old, new))
    _one_line_exit_2(stresskit("validate", str(sc)), str(sc), needle)


def test_memory_limit_1e400_and_every_file_reported(tmp_path: Path) -> None:
    good = scenario(tmp_path, name="a.toml")
    oom = tmp_path / "b.toml"
    oom.write_text('[roles.o]\naction = "oom"\nmemory_limit = "1e400"\n')
    good2 = scenario(tmp_path, name="c.toml")
    run = stresskit("validate", str(good), str(oom), str(good2))
    assert run.returncode == 2
    assert "b.toml: roles.o.memory_limit: a byte size below 1e308" in run.stderr and "Traceback" not in run.stderr
    assert "a.toml: ok" in run.stdout and "c.toml: ok" in run.stdout


def test_sizes_float_shorthand_and_batch_bound(tmp_path: Path) -> None:
    sc = scenario(tmp_path)
    text = sc.read_text()
    sc.write_text(text.replace('action = "produce"', 'action = "produce"\nsizes = 64.0\nbatch = 65536'))
    assert stresskit("validate", str(sc)).returncode == 0
    sc.write_text(text.replace('action = "produce"', 'action = "produce"\nbatch = 65537'))
    _one_line_exit_2(stresskit("validate", str(sc)), "roles.p.batch", "65536")


def test_every_exit_code_is_documented() -> None:
    doc = (REPO / "docs" / "exit-codes.md").read_text()
    for code in ("**0**", "**1**", "**2**", "**3**", "**130**", "**143**", "**129**"):
        assert code in doc, code
