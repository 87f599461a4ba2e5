"""Fixtures shared by every test directory. Keep this small and general: each subdirectory puts
its own fixtures in its own conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stresskit import _native
from stresskit.sanitize import cache, source

ROOT = Path(__file__).resolve().parents[1]
MIMALLOC_VERSION = source.MIMALLOC_VERSION


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


# One cache and one mimalloc download for the package (run --sanitize) and the tests.
cache_dir = cache.cache_dir
_cache_lock = cache.locked


@pytest.fixture(scope="session")
def cache_lock():
    """`with cache_lock("name") as root:` holds the cache's lock "name" and yields its root."""
    return _cache_lock


@pytest.fixture(scope="session")
def mimalloc_source() -> Path:
    """mimalloc's upstream source tree (the one the wheel was built from), from the cmeel-mimalloc
    sdist on PyPI; downloaded once and kept in the cache (~1 min cold)."""
    try:
        return source.mimalloc_source(MIMALLOC_VERSION)
    except source.SourceUnavailable as exc:
        pytest.skip(str(exc))


TIER_MARKERS = tuple(f"tier{i}" for i in range(6))


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001 - pytest hook
    """Every test is in exactly one tier (tests/run_tests.py selects tiers by these markers, so a
    test without one would silently never run there, and one with two would run twice)."""
    wrong = [(item.nodeid, [m for m in TIER_MARKERS if item.get_closest_marker(m)]) for item in items]
    wrong = [(nodeid, tiers) for nodeid, tiers in wrong if len(tiers) != 1]
    if wrong:
        lines = [f"  {nodeid}: {', '.join(tiers) if tiers else 'no tier marker'}" for nodeid, tiers in wrong[:20]]
        raise pytest.UsageError("every test needs exactly one of the markers " + ", ".join(TIER_MARKERS) + ":\n" + "\n".join(lines))
