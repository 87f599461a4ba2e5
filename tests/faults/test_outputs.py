"""Safe output (issue 9.1): a report is written only to a regular file or a new path, refused
with exit 2 and one line before any work starts otherwise; concurrent runs do not overwrite each
other; a full disk keeps the last report written whole and leaves no temporary file."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from conftest import fill, leftovers, scenario, start, stresskit, temp_files

pytestmark = [pytest.mark.tier5, pytest.mark.faults]


def _device(tmp_path: Path) -> Path:
    """A private /dev/null (same major/minor): the real one must not be at stake if the
    check ever regressed."""
    if os.geteuid() != 0:
        pytest.skip("mknod of a character device needs root")
    dev = tmp_path / "null"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return dev


HOSTILE = ["device", "fifo", "directory", "scenario", "hardlink-to-scenario", "symlink", "empty", "file-as-parent", "dir-symlink-parent-file"]


def _hostile(kind: str, tmp_path: Path, sc: Path) -> tuple[str, str]:
    """(path given to --json, what the one line must say)"""
    if kind == "device":
        return str(_device(tmp_path)), "character device"
    if kind == "fifo":
        os.mkfifo(tmp_path / "pipe")
        return str(tmp_path / "pipe"), "FIFO"
    if kind == "directory":
        return str(tmp_path), "directory"
    if kind == "scenario":
        return str(sc), "which this command reads"
    if kind == "hardlink-to-scenario":
        os.link(sc, tmp_path / "alias.json")
        return str(tmp_path / "alias.json"), "which this command reads"
    if kind == "symlink":
        (tmp_path / "target.json").write_text("{}")
        os.symlink(tmp_path / "target.json", tmp_path / "link.json")
        return str(tmp_path / "link.json"), "symbolic link"
    if kind == "empty":
        return "", "empty"
    if kind == "file-as-parent":
        return str(sc / "r.json"), "is not a directory"
    (tmp_path / "plain").write_text("x")
    return str(tmp_path / "plain" / "deeper" / "r.json"), "is not a directory"


@pytest.mark.parametrize("kind", HOSTILE)
def test_run_refuses_hostile_json_before_any_work(tmp_path: Path, kind: str) -> None:
    sc = scenario(tmp_path)
    before = sc.read_bytes()
    path, needle = _hostile(kind, tmp_path, sc)
    mode_before = os.lstat(path).st_mode if path and os.path.lexists(path) else None
    run = stresskit("run", str(sc), "--json", path, "--quiet")
    assert run.returncode == 2, run.stderr
    assert len(run.lines()) == 1, run.stderr
    line = run.lines()[0]
    assert "--json" in line and needle in line, line
    assert run.stdout == "", "something ran"
    assert sc.read_bytes() == before
    if mode_before is not None:
        assert os.lstat(path).st_mode == mode_before, "the path was replaced"
    assert run.elapsed < 5
    assert temp_files(tmp_path) == []


def test_profile_dir_hostile_variants(tmp_path: Path) -> None:
    sc = scenario(tmp_path)
    (tmp_path / "afile").write_text("x")
    os.symlink(tmp_path, tmp_path / "dirlink")
    for path, needle in ((tmp_path / "afile", "regular file"), (tmp_path / "afile" / "sub", "is not a directory"),
                         (tmp_path / "dirlink", "symbolic link"), ("", "empty")):
        run = stresskit("run", str(sc), "--profile", "--profile-dir", str(path), "--quiet")
        assert run.returncode == 2 and len(run.lines()) == 1, run.stderr
        assert "--profile-dir" in run.stderr and needle in run.stderr, run.stderr


def test_read_only_mount_is_refused_fast(tmp_path: Path, tmpfs) -> None:
    ro = tmpfs(1 << 20, readonly=True)
    sc = scenario(tmp_path)
    for args in (("--json", str(ro / "r.json")), ("--profile", "--profile-dir", str(ro / "prof"))):
        run = stresskit("run", str(sc), *args, "--quiet")
        assert run.returncode == 2, run.stderr
        assert len(run.lines()) == 1 and "Read-only file system" in run.stderr and str(ro) in run.stderr, run.stderr
        assert run.elapsed < 3, f"took {run.elapsed:.1f} s: the failure must not wait for a deadline"


def test_second_run_on_the_same_json_is_refused(tmp_path: Path) -> None:
    sc = scenario(tmp_path, timed=True)
    out = tmp_path / "r.json"
    first, tag = start("run", str(sc), "--json", str(out), "--duration", "3s", "--quiet", cwd=tmp_path)
    try:
        end = time.monotonic() + 15
        while not (tmp_path / ".r.json.lock").exists() and time.monotonic() < end:
            time.sleep(0.05)
        second = stresskit("run", str(sc), "--json", str(out), "--quiet")
        assert second.returncode == 2, second.stderr
        assert "in use by another stresskit run" in second.stderr and f"pid {first.pid}" in second.stderr, second.stderr
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert json.loads(out.read_text())["complete"] is True
    assert not (tmp_path / ".r.json.lock").exists() and temp_files(tmp_path) == []
    # the lock is released: the next run may use the path
    assert stresskit("run", str(sc), "--json", str(out), "--ops", "1000", "--quiet").returncode == 0
    assert leftovers(tag) == []


def _check_full_disk(run, out: Path, reason: str) -> None:
    assert run.returncode == 3, run.stdout + run.stderr
    line = [ln for ln in run.lines() if "could not write the report" in ln]
    assert len(line) == 1 and str(out) in line[0] and reason in line[0], run.stderr
    doc = json.loads(out.read_text())  # the last version written whole: valid JSON
    finished = [w for w in doc["workers"] if w["status"] != "not_started"]
    assert f"({len(finished)} finished replica(s)" in line[0]
    assert temp_files(out.parent) == []
    assert "Traceback" not in run.stderr


def test_disk_full_mid_run_on_a_small_tmpfs(tmp_path: Path, tmpfs) -> None:
    disk = tmpfs(64 << 10)
    fill(disk, 12 << 10)  # room for the first report (no results; with its environment), not for one with results
    sc = scenario(tmp_path, replicas=3, workers=2)
    out = disk / "r.json"
    run = stresskit("run", str(sc), "--json", str(out))
    _check_full_disk(run, out, "No space left on device")
    assert run.stdout.count("replica ") >= 3, "every replica is still shown"


def test_disk_full_variant_file_size_limit(tmp_path: Path) -> None:
    """RLIMIT_FSIZE: writes past 6500 bytes fail with EFBIG (Python ignores SIGXFSZ). The first
    report (no results; with the run-wide replay facts, environment.native and scenario.definition, and
    the report's environment) fits; one with a replica's results and replay record does not."""
    import resource

    sc = scenario(tmp_path, replicas=2, workers=2)
    out = tmp_path / "out" / "r.json"
    run = stresskit("run", str(sc), "--json", str(out), "--quiet", limits={resource.RLIMIT_FSIZE: 6500})
    _check_full_disk(run, out, "File too large")
