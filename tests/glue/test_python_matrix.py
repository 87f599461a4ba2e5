"""Tier 0, build matrix: one native build serves every supported Python.

The library has a plain C ABI and no Python headers, so the very file this interpreter loaded must
work, unchanged, from every other CPython 3.10-3.13 on the machine. Each is driven with ctypes
(stdlib only: nothing to install into it) through a short allocate / count / free round trip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stresskit import _native

pytestmark = pytest.mark.tier0

VERSIONS = ("3.10", "3.11", "3.12", "3.13")

PROBE = textwrap.dedent(
    """
    import ctypes, sys
    lib = ctypes.CDLL(sys.argv[1])
    lib.cc_alloc.restype = ctypes.c_void_p
    lib.cc_alloc.argtypes = [ctypes.c_size_t]
    lib.cc_free.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.cc_alloc_stats_enable.argtypes = [ctypes.c_bool]
    lib.cc_glue_version.restype = ctypes.c_char_p
    class Stats(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint64) for n in (
            "alloc_count", "free_count", "alloc_bytes", "free_bytes", "current_allocated", "failed_count")]
    lib.cc_alloc_stats_get.argtypes = [ctypes.POINTER(Stats)]
    lib.cc_alloc_stats_enable(True)
    blocks = [lib.cc_alloc(64) for _ in range(100)]
    assert all(b and b % 16 == 0 for b in blocks)
    assert lib.cc_alloc(2**64 - 1) is None
    for b in blocks:
        lib.cc_free(b, 64)
    s = Stats()
    lib.cc_alloc_stats_get(ctypes.byref(s))
    assert (s.alloc_count, s.free_count, s.current_allocated, s.failed_count) == (100, 100, 0, 1), (
        s.alloc_count, s.free_count, s.current_allocated, s.failed_count)
    print("%d.%d" % sys.version_info[:2], lib.cc_glue_version().decode(), lib.cc_mimalloc_version())
    """
)


def _candidates(version: str) -> list[str]:
    # pyenv installs every version under $PYENV_ROOT/versions, but its shims only answer for the
    # selected ones: look there first, then on PATH.
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = [str(p) for p in sorted(root.glob(f"versions/{version}.*/bin/python{version}"))]
    on_path = shutil.which(f"python{version}")
    return found + ([on_path] if on_path else [])


def _interpreters() -> dict[str, str]:
    found = {}
    for v in VERSIONS:
        if sys.version_info[:2] == tuple(map(int, v.split("."))):
            found[v] = sys.executable
            continue
        for exe in _candidates(v):
            if subprocess.run([exe, "-c", "pass"], capture_output=True, timeout=30).returncode == 0:
                found[v] = exe
                break
    return found


def test_one_native_build_serves_every_python():
    interpreters = _interpreters()
    if len(interpreters) < 2:
        pytest.skip(f"only {sorted(interpreters)} of CPython {', '.join(VERSIONS)} found on PATH: no matrix to check")
    library = str(_native.load().path)
    seen = {}
    for version, exe in interpreters.items():
        result = subprocess.run([exe, "-c", PROBE, library], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"Python {version} ({exe}): {result.stderr}"
        seen[version] = result.stdout.split()
    assert {v[0] for v in seen.values()} == set(interpreters), seen
    assert len({tuple(v[1:]) for v in seen.values()}) == 1, f"versions differ across interpreters: {seen}"
