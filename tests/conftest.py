"""Fixtures shared by every test directory. Keep this small and general: each subdirectory puts
its own fixtures in its own conftest.py."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stresskit import _native

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; run one session at a time there
    fcntl = None

ROOT = Path(__file__).resolve().parents[1]
MIMALLOC_VERSION = "3.4.3"


@pytest.fixture(scope="session")
def ffi():
    """The cffi FFI of the loaded native library."""
    return _native.ffi()


@pytest.fixture(scope="session")
def lib():
    """The raw cffi library object (cc_*, sk_* functions), for tests of the C contract."""
    return _native.lib()


@pytest.fixture
def clean_stats(lib) -> Iterator[None]:
    """Glue statistics are process-global: start the test with them off and zeroed, and leave
    them that way whatever the test did."""
    lib.cc_alloc_stats_enable(False)
    lib.cc_alloc_stats_reset()
    yield
    lib.cc_alloc_stats_enable(False)
    lib.cc_alloc_stats_reset()


def cache_dir() -> Path:
    """Where slow-to-make test inputs (downloads, sanitizer builds) survive between runs:
    $STRESSKIT_CACHE, else ~/.cache/stresskit. CI caches this directory."""
    base = os.environ.get("STRESSKIT_CACHE")
    path = Path(base) if base else Path.home() / ".cache" / "stresskit"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _cache_lock(name: str) -> Iterator[Path]:
    """Hold an exclusive lock on cache_dir()/name.lock: concurrent pytest sessions (helpers, CI
    shards) then build each cached thing once instead of racing on half-written files."""
    root = cache_dir()
    with open(root / f"{name}.lock", "w") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield root
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def cache_lock():
    """`with cache_lock("name") as root:` holds the cache's lock "name" and yields its root."""
    return _cache_lock


@pytest.fixture(scope="session")
def mimalloc_source() -> Path:
    """mimalloc's upstream source tree (the one the wheel was built from), from the cmeel-mimalloc
    sdist on PyPI; downloaded once and kept in the cache (~1 min cold)."""
    with _cache_lock("mimalloc-source") as root:
        tree = root / f"mimalloc-{MIMALLOC_VERSION}-src"
        if (tree / "CMakeLists.txt").is_file():
            return tree
        download = root / "downloads"
        download.mkdir(exist_ok=True)
        sdists = sorted(download.glob(f"cmeel_mimalloc-{MIMALLOC_VERSION}.tar.gz"))
        if not sdists:
            # --no-binary for this package only: a global :all: would also build the sdist's build
            # requirements (cmake, ...) from source.
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                "cmeel-mimalloc",
                f"cmeel-mimalloc=={MIMALLOC_VERSION}",
                "-d",
                str(download),
            ]
            run = subprocess.run(
                cmd, check=False, capture_output=True, text=True, timeout=600
            )
            sdists = sorted(download.glob(f"cmeel_mimalloc-{MIMALLOC_VERSION}.tar.gz"))
            if run.returncode != 0 or not sdists:
                pytest.skip(
                    f"cannot download the mimalloc source ({' '.join(cmd)}): {run.stderr[-500:]}"
                )
        staging = root / f"mimalloc-{MIMALLOC_VERSION}-staging"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(tree, ignore_errors=True)  # an interrupted earlier extraction
        with tarfile.open(sdists[0]) as tar:
            tar.extractall(staging, filter="data")
        (staging / f"cmeel_mimalloc-{MIMALLOC_VERSION}" / "mimalloc").rename(tree)
        shutil.rmtree(staging)
        return tree


TIER_MARKERS = tuple(f"tier{i}" for i in range(6))


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001 - pytest hook
    """Every test is in exactly one tier (tests/run_tests.py selects tiers by these markers, so a
    test without one would silently never run there, and one with two would run twice)."""
    wrong = [(item.nodeid, [m for m in TIER_MARKERS if item.get_closest_marker(m)]) for item in items]
    wrong = [(nodeid, tiers) for nodeid, tiers in wrong if len(tiers) != 1]
    if wrong:
        lines = [f"  {nodeid}: {', '.join(tiers) if tiers else 'no tier marker'}" for nodeid, tiers in wrong[:20]]
        raise pytest.UsageError("every test needs exactly one of the markers " + ", ".join(TIER_MARKERS) + ":\n" + "\n".join(lines))
