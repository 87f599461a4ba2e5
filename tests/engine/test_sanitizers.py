"""The engine's own synchronisation and memory handling under ThreadSanitizer and
AddressSanitizer+UBSan: native/src/engine_*.c built with clang against a C-library stand-in for
the glue (tests/engine/native/glue_shim.c: the sanitizers see malloc/free, which they cannot in an
uninstrumented mimalloc), driven by tests/engine/native/engine_stress.c from plain pthreads.
With the libc shim a real double free would also be caught by ASAN, so this proves the planted
double hand-offs are stopped before any second free."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.native_only  # version-independent: run once by tests/run_tests.py --version both

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "native"


def mimalloc_include() -> Path:
    prefix = Path(str(importlib.metadata.distribution("cmeel-mimalloc").locate_file("cmeel.prefix")))
    return prefix / "include" / "mimalloc-3.4"


@pytest.mark.tier4
@pytest.mark.parametrize("sanitizer", ["thread", "address,undefined"])
def test_engine_under_sanitizer(tmp_path, sanitizer):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed (apt-get install clang libclang-rt-14-dev); CI installs it")
    exe = tmp_path / "engine_stress"
    sources = sorted(str(p) for p in (ROOT / "native" / "src").glob("engine_*.c"))
    build = subprocess.run(
        [clang, "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-O1", "-g", f"-fsanitize={sanitizer}",
         "-fno-sanitize-recover=all", "-Wall", "-Wextra", "-Werror",
         f"-I{ROOT / 'native' / 'include'}", f"-I{mimalloc_include()}", *sources,
         str(HERE / "glue_shim.c"), str(HERE / "engine_stress.c"), "-lpthread", "-o", str(exe)],
        capture_output=True, text=True, timeout=180,
    )
    if build.returncode != 0 and "cannot find" in build.stderr and "clang_rt" in build.stderr:
        pytest.skip(f"clang's {sanitizer} runtime is missing (apt-get install libclang-rt-14-dev)")
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=180,
                         env={"TSAN_OPTIONS": "halt_on_error=1", "ASAN_OPTIONS": "detect_leaks=1"})
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    assert "engine_stress: ok" in run.stdout
    assert "WARNING: ThreadSanitizer" not in run.stderr
