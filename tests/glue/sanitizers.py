"""Builds native/tests/cc_sanitize.c with the glue and mimalloc under ASAN or MSAN.

A sanitizer only sees what is instrumented, so everything is compiled with it: mimalloc from its
upstream source (the wheel's static library is not instrumented), the glue's C sources, and the
driver program. For ASAN, mimalloc's own MI_TRACK_ASAN poisons freed blocks (ASAN cannot see inside
a custom allocator otherwise) and MI_DEBUG enables its double-free check. MSAN has no mimalloc
support; the driver marks blocks uninitialised itself (see cc_sanitize.c).

Both the mimalloc build and the program are cached under the stresskit cache, keyed by a hash of
everything that goes into them: a warm run only executes the programs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

from stresskit.sanitize.cache import digest as _digest

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native"
# The glue only: the engine and benchmark sources in native/src are not needed and not under test.
GLUE_SOURCES = [
    NATIVE / "src" / name for name in ("alloc.c", "entry_x86_64.c", "stats.c", "info.c", "batch.c")
]
DRIVER = NATIVE / "tests" / "cc_sanitize.c"
MSAN_IGNORELIST = NATIVE / "tests" / "msan_ignorelist.txt"
INSTALL_HINT = "apt-get update && apt-get install -y clang libclang-rt-14-dev"


class SanitizerUnavailable(RuntimeError):
    """The compiler or sanitizer runtime needed is not installed (the message says what to do)."""


CONFIGS = {
    "asan": {
        "compiler": "gcc",
        "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer"],
        "mimalloc_options": ["-DMI_TRACK_ASAN=ON", "-DMI_DEBUG=ON"],
        "mimalloc_lib": "libmimalloc-asan.a",
    },
    "msan": {
        "compiler": "clang",
        "cflags": [
            "-fsanitize=memory",
            "-fsanitize-memory-track-origins",
            "-fno-omit-frame-pointer",
            f"-fsanitize-ignorelist={MSAN_IGNORELIST}",
        ],
        "mimalloc_options": [],
        "mimalloc_lib": "libmimalloc.a",
    },
}


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(
        cmd, check=False, capture_output=True, text=True, cwd=cwd, timeout=600
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{what} failed ({' '.join(cmd)}):\n{(proc.stdout + proc.stderr)[-4000:]}"
        )


def check_toolchain(kind: str, scratch: Path) -> str:
    """Return the compiler for `kind` after proving it can build and run a sanitized program."""
    config = CONFIGS[kind]
    compiler = shutil.which(config["compiler"])
    if compiler is None:
        raise SanitizerUnavailable(
            f"{config['compiler']} is not installed; install it with: {INSTALL_HINT}"
        )
    scratch.mkdir(parents=True, exist_ok=True)
    probe = scratch / f"probe_{kind}.c"
    probe.write_text("int main(void) { return 0; }\n")
    exe = scratch / f"probe_{kind}"
    flags = [f for f in config["cflags"] if not f.startswith("-fsanitize-ignorelist")]
    proc = subprocess.run(
        [compiler, *flags, str(probe), "-o", str(exe)],
        check=False,
        capture_output=True,
        text=True,
    )
    if (
        proc.returncode != 0
        or subprocess.run([str(exe)], check=False, capture_output=True).returncode != 0
    ):
        raise SanitizerUnavailable(
            f"{config['compiler']} cannot build a {' '.join(flags)} program here "
            f"({proc.stderr.strip()[-300:] or 'it does not run'}); install the runtime with: {INSTALL_HINT}"
        )
    return compiler


def _compiler_id(compiler: str) -> bytes:
    return subprocess.run(
        [compiler, "--version"], check=False, capture_output=True
    ).stdout


def build_program(kind: str, mimalloc_source: Path, cache_lock) -> Path:
    """The cc_sanitize executable for `kind` ("asan" or "msan"), built or taken from the cache."""
    config = CONFIGS[kind]
    with cache_lock(f"sanitizer-{kind}") as root:
        base = root / "sanitizers"
        compiler = check_toolchain(kind, base / "probe")
        compiler_id = _compiler_id(compiler)
        flags = config["cflags"]
        inputs = [MSAN_IGNORELIST.read_bytes()] if kind == "msan" else []

        # 1. mimalloc from source, instrumented.
        mi_key = _digest(
            kind.encode(),
            compiler_id,
            " ".join(flags + config["mimalloc_options"]).encode(),
            str(mimalloc_source).encode(),
            *inputs,
        )
        mi_build = base / f"mimalloc-{kind}-{mi_key}"
        mi_lib = mi_build / config["mimalloc_lib"]
        if not mi_lib.is_file():
            shutil.rmtree(mi_build, ignore_errors=True)
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            _run(
                [
                    "cmake",
                    "-S",
                    str(mimalloc_source),
                    "-B",
                    str(mi_build),
                    *generator,
                    "-DCMAKE_BUILD_TYPE=Release",
                    f"-DCMAKE_C_COMPILER={compiler}",
                    f"-DCMAKE_C_FLAGS={' '.join(flags)}",
                    "-DMI_OVERRIDE=OFF",
                    "-DMI_BUILD_SHARED=OFF",
                    "-DMI_BUILD_OBJECT=OFF",
                    "-DMI_BUILD_STATIC=ON",
                    "-DMI_BUILD_TESTS=OFF",
                    *config["mimalloc_options"],
                ],
                f"configuring mimalloc for {kind}",
            )
            _run(
                ["cmake", "--build", str(mi_build), "--parallel"],
                f"building mimalloc for {kind}",
            )
            if not mi_lib.is_file():
                raise RuntimeError(f"mimalloc's {kind} build did not produce {mi_lib}")

        # 2. The driver with the glue, linked against it.
        headers = sorted((NATIVE / "include").glob("*.h")) + [
            NATIVE / "src" / "stats_internal.h"
        ]
        sources = [*GLUE_SOURCES, DRIVER]
        prog_key = _digest(
            mi_key.encode(), *(p.read_bytes() for p in headers + sources)
        )
        exe = base / f"cc_sanitize-{kind}-{prog_key}"
        if not exe.is_file():
            tmp = exe.with_suffix(".tmp")
            _run(
                [
                    compiler,
                    "-std=c11",
                    "-g",
                    "-O1",
                    *flags,
                    "-pthread",
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                    f"-I{NATIVE / 'include'}",
                    f"-I{mimalloc_source / 'include'}",
                    *map(str, sources),
                    str(mi_lib),
                    "-o",
                    str(tmp),
                ],
                f"building cc_sanitize for {kind}",
            )
            tmp.rename(exe)  # only a complete program ever carries the final name
        return exe


def describe(proc: subprocess.CompletedProcess) -> str:
    """Exit status and output of a sanitizer run, for assertion messages."""
    return (
        textwrap.shorten(f"exit {proc.returncode}; stdout: {proc.stdout!r}", 300)
        + "\nstderr:\n"
        + proc.stderr[-3000:]
    )


def run_sanitized(
    program, mode: str, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run one cc_sanitize mode. mimalloc's error messages are switched on (they are its half of
    the detection); LeakSanitizer is off: it only sees malloc, not mimalloc's blocks, and leaks are
    what the glue's statistics check (test_no_leak_*)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "MIMALLOC_SHOW_ERRORS": "1",
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
        **(env_extra or {}),
    }
    return subprocess.run(
        [str(program), mode],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def assert_clean(program) -> None:
    """The glue's correct use of every function, threads and cross-thread frees draws no report
    (mimalloc's "request is too large" lines for the deliberate SIZE_MAX requests are expected)."""
    proc = run_sanitized(program, "clean")
    assert proc.returncode == 0 and "clean ok" in proc.stdout, describe(proc)
    assert "Sanitizer" not in proc.stderr, describe(proc)
    assert not any(
        k in proc.stderr for k in ("double free", "corrupted", "overflow detected")
    ), describe(proc)


def assert_double_free_caught(program, mode: str) -> None:
    """The planted double free of `mode` must stop the program with a report naming it."""
    proc = run_sanitized(program, mode)
    assert proc.returncode != 0, f"{mode} was not stopped:\n" + describe(proc)
    assert "not detected" not in proc.stdout
    assert any(
        k in proc.stderr for k in ("attempting double-free", "double free detected")
    ), describe(proc)
