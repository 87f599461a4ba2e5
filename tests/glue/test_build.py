"""Tier 0: the native library builds from a clean CMake configure with -Werror, keeps mimalloc's
symbols private, and does not depend on libpython (one build serves every Python version)."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stresskit import _native

pytestmark = [pytest.mark.tier0, pytest.mark.slow]

NATIVE = Path(__file__).resolve().parents[2] / "native"


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory) -> Path:
    """One clean configure + build per session, shared by the checks below."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed (pip install cmake)")
    try:
        prefix = importlib.metadata.distribution("cmeel-mimalloc").locate_file(
            "cmeel.prefix"
        )
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(
            "cmeel-mimalloc is not installed (pip install cmeel-mimalloc==3.4.3)"
        )
    build = tmp_path_factory.mktemp("native-build")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    configure = subprocess.run(
        [
            "cmake",
            "-S",
            str(NATIVE),
            "-B",
            str(build),
            *generator,
            "-DSTRESSKIT_WERROR=ON",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={prefix}",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert configure.returncode == 0, (
        configure.stdout[-2000:] + configure.stderr[-3000:]
    )
    compile_ = subprocess.run(
        ["cmake", "--build", str(build), "--parallel", "--verbose"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert compile_.returncode == 0, (
        "the native library does not build with -Werror:\n" + compile_.stdout[-5000:]
    )
    assert "-Werror" in compile_.stdout, "the build did not use -Werror"
    libs = sorted(
        p
        for p in build.glob("libstresskit_native.so*")
        if p.is_file() and not p.is_symlink()
    )
    assert libs, f"no libstresskit_native.so in {build}"
    return libs[0]


def dynamic_symbols(library: Path) -> list[str]:
    out = subprocess.run(
        ["nm", "-D", "--defined-only", str(library)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


def needed_libraries(library: Path) -> list[str]:
    out = subprocess.run(
        ["readelf", "-d", str(library)], check=True, capture_output=True, text=True
    ).stdout
    return [
        line.split("[", 1)[1].rstrip("]")
        for line in out.splitlines()
        if "(NEEDED)" in line
    ]


def libraries_under_test(fresh_build: Path) -> list[Path]:
    return [fresh_build, Path(_native.load().path)]


@pytest.mark.skipif(
    sys.platform != "linux", reason="nm -D / readelf inspect ELF libraries (Linux)"
)
def test_native_library_builds_with_werror_and_hides_mimalloc(fresh_build):
    for library in libraries_under_test(fresh_build):
        symbols = dynamic_symbols(library)
        assert "cc_alloc" in symbols and "sk_batch_alloc" in symbols, library
        leaked = [s for s in symbols if s.startswith(("mi_", "_mi_"))]
        assert not leaked, f"{library} exports mimalloc symbols: {leaked[:10]}"


@pytest.mark.skipif(
    sys.platform != "linux", reason="readelf -d reads ELF dependencies (Linux)"
)
def test_native_library_does_not_link_libpython(fresh_build):
    for library in libraries_under_test(fresh_build):
        needed = needed_libraries(library)
        assert needed, (
            f"readelf found no NEEDED entries in {library}: the check would be empty"
        )
        assert not [n for n in needed if "python" in n.lower()], (
            f"{library} links {needed}"
        )
        undefined = subprocess.run(
            ["nm", "-D", "--undefined-only", str(library)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert "Py" not in {
            line.split()[-1][:2] for line in undefined.splitlines() if line.strip()
        }, f"{library} needs Python C-API symbols"
