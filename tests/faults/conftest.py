"""Fault injection (issue 9): hostile paths, memory bombs, signals, full disks, exhausted limits.

Every test runs the real CLI in a subprocess tagged with a unique environment variable, so
`leftovers(tag)` finds any process of the run (workers, py-spy) that outlived it."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TAG_ENV = "STRESSKIT_FAULT_TAG"

TINY = """
name = "tiny"
[load]
ops = 20_000
replicas = {replicas}
workers = {workers}
seed = 1
deadline = "20s"
[roles.p]
action = "produce"
[roles.c]
action = "consume"
[[flows]]
from = "p"
to = "c"
[thresholds]
checks = ["bytes.leaked == 0"]
"""

TIMED = TINY.replace("ops = 20_000", 'duration = "30s"').replace('deadline = "20s"', 'deadline = "60s"')


def scenario(directory: Path, replicas: int = 2, workers: int = 2, timed: bool = False, name: str = "s.toml") -> Path:
    path = directory / name
    path.write_text((TIMED if timed else TINY).format(replicas=replicas, workers=workers))
    return path


def _limits(limits: dict[int, int]):  # noqa: ANN202
    def apply() -> None:
        for which, value in limits.items():
            resource.setrlimit(which, (value, value))

    return apply


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str], elapsed: float, tag: str) -> None:
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        self.elapsed, self.tag = elapsed, tag

    def lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def stresskit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, limits: dict[int, int] | None = None,
              timeout: float = 60) -> Run:
    tag = uuid.uuid4().hex
    full_env = {**os.environ, **(env or {}), TAG_ENV: tag}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", "from stresskit.cli import main; main()", *args], capture_output=True, text=True,
        timeout=timeout, env=full_env, cwd=cwd or REPO, stdin=subprocess.DEVNULL, preexec_fn=_limits(limits or {}),
    )
    return Run(proc, time.monotonic() - t0, tag)


def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    tag = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-c", "from stresskit.cli import main; main()", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, **(env or {}), TAG_ENV: tag}, cwd=cwd, stdin=subprocess.DEVNULL,
    )
    return proc, tag


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def leftovers(tag: str, grace_s: float = 5.0) -> list[int]:
    """Processes (not zombies: in a container PID 1 may never reap them) that carry the run's tag."""
    needle = f"{TAG_ENV}={tag}".encode()
    end = time.monotonic() + grace_s
    while True:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if needle not in fh.read():
                        continue
            except OSError:
                continue
            if _state(int(entry)) not in (None, "Z", "X"):
                found.append(int(entry))
        if not found or time.monotonic() > end:
            return found
        time.sleep(0.1)


def workers_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if b"spawn_main" in fh.read():
                    out.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return sorted(out)


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def wait_running(sup: subprocess.Popen[str], count: int, running: int | None = None, timeout: float = 20) -> list[int]:
    """The supervisor's ``count`` workers once ``running`` of them (default: all) run their
    role threads (more than 3 threads: main, stop listener, roles)."""
    running = count if running is None else running
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert sup.poll() is None, sup.communicate()
        pids = workers_of(sup.pid)
        if len(pids) >= count and sum(_threads(p) > 3 for p in pids) >= running:
            return pids
        time.sleep(0.05)
    raise AssertionError("workers did not start their replicas in time")


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A mount of the given size (bytes) and options, unmounted afterwards. Needs root and a
    kernel that lets this process mount (a container may not): otherwise skipped, saying so."""
    mounts: list[Path] = []

    def make(size: int, readonly: bool = False) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE variant covers a full disk without it")
        where = tmp_path / f"mnt{len(mounts)}"
        where.mkdir()
        opts = f"size={size}" + (",ro" if readonly else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounts.append(where)
        return where

    yield make
    for where in mounts:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(directory: Path, leave: int) -> None:
    """Fill a small file system until about ``leave`` bytes are free."""
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    if free > leave:
        (directory / "filler").write_bytes(b"\0" * (free - leave))


SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP, "SIGINT": signal.SIGINT}
AS_LIMIT = resource.RLIMIT_AS
