"""Cross-builds of the native library and its C test programs for the platforms the conda recipe
claims: macOS and Windows with the `ziglang` package's `zig cc` (a PyPI-installed compiler whose
bundled libc headers and import libraries cover both), linux-aarch64 with Debian's
gcc-aarch64-linux-gnu (zig's ELF linker refuses --exclude-libs, which hides mimalloc there).

The library is built by native/CMakeLists.txt itself (CMAKE_SYSTEM_NAME set, zig as the compiler,
mimalloc from the cmeel-mimalloc sdist through STRESSKIT_MIMALLOC_SOURCE), so its link options, the
macOS export list and the Windows dllexport path are the ones a real build uses. For linux-aarch64
the seed-matrix program (native/tests/cc_sanitize.c) and the engine's scenario driver
(tests/engine/native/scenario_driver.c) are also linked, statically, so that `qemu-aarch64` runs
them without an aarch64 sysroot.

Every build lives in $STRESSKIT_CACHE/cross/<platform>-<hash>/, keyed by everything that goes into
it, and is made under the cache's file lock: a warm run only reads the artifacts.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from stresskit.sanitize.cache import cache_dir, digest as _digest, locked
from stresskit.sanitize.source import MIMALLOC_VERSION, mimalloc_source

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native"
GLUE = ("alloc.c", "entry_x86_64.c", "stats.c", "info.c", "batch.c")
QEMU_HINT = "apt-get update && apt-get install -y qemu-user"
GCC_HINT = "apt-get update && apt-get install -y gcc-aarch64-linux-gnu"
# zig's clang rejects the -march=armv8.1-a mimalloc adds on arm64 (zig spells CPUs its own way);
# -Wdate-time is an error under zig (reproducible builds) and mimalloc prints __DATE__ in a banner.
MIMALLOC_OPTIONS = ("-DMI_NO_OPT_ARCH=ON",)
C_FLAGS = "-Wno-date-time"


class CrossUnavailable(RuntimeError):
    """The cross toolchain is missing (the message says how to install it)."""


@dataclass(frozen=True)
class Platform:
    conda: str  # the recipe's name for it
    zig: str  # zig's -target, or "" for the Debian cross gcc below
    system: str  # CMAKE_SYSTEM_NAME
    processor: str
    library: str  # the real file (not a symlink) the build leaves
    cache_line: int  # CC_CACHE_LINE_SIZE the header must pick there

    @property
    def prefix(self) -> str:
        """Mach-O prefixes C names with an underscore."""
        return "_" if self.system == "Darwin" else ""


PLATFORMS = {
    p.conda: p
    for p in (
        Platform("linux-aarch64", "", "Linux", "aarch64", "libstresskit_native.so.0.1.0", 64),
        Platform("osx-64", "x86_64-macos", "Darwin", "x86_64", "libstresskit_native.0.1.0.dylib", 64),
        Platform("osx-arm64", "aarch64-macos", "Darwin", "arm64", "libstresskit_native.0.1.0.dylib", 128),
        Platform("win-64", "x86_64-windows-gnu", "Windows", "AMD64", "libstresskit_native.dll", 64),
    )
}
GCC = "aarch64-linux-gnu-gcc"


def zig_command() -> list[str]:
    try:
        import ziglang  # noqa: F401  (only to tell a missing package from a broken one)
    except ImportError as exc:
        raise CrossUnavailable("the ziglang package is missing: pip install -e '.[test]'") from exc
    return [sys.executable, "-m", "ziglang"]


def zig_version() -> str:
    return subprocess.run([*zig_command(), "version"], check=True, capture_output=True, text=True).stdout.strip()


def qemu() -> str:
    path = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if path is None:
        raise CrossUnavailable(f"qemu-aarch64 is not installed; install it with: {QEMU_HINT}")
    return path


def _inputs() -> list[Path]:
    # Not rglob over native/: an in-tree build directory there would change the key at every build.
    files = [p for d in ("src", "include", "tests") for p in (NATIVE / d).rglob("*") if p.is_file()]
    files += [NATIVE / "CMakeLists.txt", ROOT / "tests" / "engine" / "native" / "scenario_driver.c", Path(__file__)]
    return sorted(files)


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({shlex.join(cmd)}):\n{(proc.stdout + proc.stderr)[-5000:]}")


def compiler(platform: Platform) -> list[str]:
    if platform.zig:
        return [*zig_command(), "cc", "-target", platform.zig]
    if shutil.which(GCC) is None:
        raise CrossUnavailable(f"{GCC} is not installed; install it with: {GCC_HINT}")
    return [GCC]


def toolchain_id(platform: Platform) -> str:
    if platform.zig:
        return "zig " + zig_version()
    return subprocess.run([GCC, "--version"], check=True, capture_output=True, text=True).stdout


def _wrappers(where: Path, platform: Platform) -> dict[str, Path]:
    """CMake wants one executable per tool; zig's are subcommands of `python -m ziglang`."""
    where.mkdir(parents=True, exist_ok=True)
    if not platform.zig:
        compiler(platform)  # installed, or say how to install it
        return {name: Path(shutil.which(f"aarch64-linux-gnu-{tool}") or f"aarch64-linux-gnu-{tool}")
                for name, tool in (("cc", "gcc"), ("ar", "ar"), ("ranlib", "ranlib"))}
    zig = shlex.join(zig_command())
    tools = {"cc": f"cc -target {platform.zig}", "ar": "ar", "ranlib": "ranlib"}
    paths = {}
    for name, sub in tools.items():
        path = where / f"zig-{name}"
        path.write_text(f'#!/bin/sh\nexec {zig} {sub} "$@"\n')
        path.chmod(0o755)
        paths[name] = path
    return paths


def _env() -> dict[str, str]:
    # zig's compiled libc and objects go with the rest of the cache (CI keeps that directory).
    return {**os.environ, "ZIG_GLOBAL_CACHE_DIR": str(cache_dir() / "zig")}


@dataclass(frozen=True)
class Build:
    platform: Platform
    directory: Path
    tools: dict[str, Path]
    mimalloc: Path  # the upstream tree

    @property
    def library(self) -> Path:
        return self.directory / "build" / self.platform.library

    @property
    def mimalloc_archive(self) -> Path:
        return self.directory / "build" / "mimalloc" / "libmimalloc.a"


def build_library(platform: Platform) -> Build:
    """native/ configured and built by CMake for `platform`; cached."""
    zig = toolchain_id(platform)
    source = mimalloc_source()
    options = [f"-DCMAKE_C_FLAGS={C_FLAGS}", *MIMALLOC_OPTIONS] if platform.zig else []
    key = _digest(platform.conda.encode(), platform.zig.encode(), zig.encode(), MIMALLOC_VERSION.encode(),
                  " ".join(options).encode(), *(p.read_bytes() for p in _inputs()))
    with locked(f"cross-{platform.conda}") as root:
        directory = root / "cross" / f"{platform.conda}-{key}"
        tools = _wrappers(directory / "tools", platform)
        result = Build(platform, directory, tools, source)
        if (directory / "done").is_file():
            return result
        shutil.rmtree(directory / "build", ignore_errors=True)
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        _run(["cmake", "-S", str(NATIVE), "-B", str(directory / "build"), *generator,
              f"-DCMAKE_SYSTEM_NAME={platform.system}", f"-DCMAKE_SYSTEM_PROCESSOR={platform.processor}",
              f"-DCMAKE_C_COMPILER={tools['cc']}", f"-DCMAKE_AR={tools['ar']}", f"-DCMAKE_RANLIB={tools['ranlib']}",
              f"-DSTRESSKIT_MIMALLOC_SOURCE={source}", *options],
             f"configuring native/ for {platform.conda}", _env())
        _run(["cmake", "--build", str(directory / "build"), "--parallel"], f"building native/ for {platform.conda}", _env())
        if not result.library.is_file():
            raise RuntimeError(f"the {platform.conda} build left no {result.library}")
        (directory / "done").write_text(zig + "\n")
        return result


def build_programs() -> dict[str, Path]:
    """cc_sanitize (the glue's seed matrix) and scenario_driver (the engine over the real glue and
    mimalloc), static aarch64 executables; cached with the build they link against."""
    build = build_library(PLATFORMS["linux-aarch64"])
    with locked("cross-linux-aarch64"):
        include = [f"-I{NATIVE / 'include'}", f"-I{NATIVE / 'src'}", f"-I{build.mimalloc / 'include'}"]
        common = [str(build.tools["cc"]), "-static", "-std=c11", "-O2", "-g", "-pthread",
                  "-Wall", "-Wextra", "-Werror", *include]
        glue = [str(NATIVE / "src" / name) for name in GLUE]
        engine = [str(p) for p in sorted((NATIVE / "src").glob("engine_*.c"))]
        recipes = {
            "cc_sanitize": [*glue, str(NATIVE / "tests" / "cc_sanitize.c")],
            "scenario_driver": ["-D_POSIX_C_SOURCE=200809L", "-D_GNU_SOURCE", *engine, *glue,
                                str(ROOT / "tests" / "engine" / "native" / "scenario_driver.c")],
        }
        programs = {}
        for name, sources in recipes.items():
            exe = build.directory / name
            if not exe.is_file():
                tmp = exe.with_suffix(".tmp")
                _run([*common, *sources, str(build.mimalloc_archive), "-o", str(tmp)],
                     f"linking {name} for aarch64", _env())
                tmp.rename(exe)  # only a complete program carries the final name
            programs[name] = exe
        return programs


def cache_line_size(platform: Platform) -> int:
    """CC_CACHE_LINE_SIZE as cc_alloc.h decides it when compiled for `platform` (the
    preprocessor's answer, not this machine's)."""
    proc = subprocess.run(
        [*compiler(platform), "-E", "-P", f"-I{NATIVE / 'include'}", "-x", "c", "-"],
        input='#include "cc_alloc.h"\nstresskit_line CC_CACHE_LINE_SIZE\n',
        check=True, capture_output=True, text=True, env=_env(), timeout=300,
    )
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("stresskit_line")]
    return int(line[-1].split()[1])


def _parse(library: Path):
    import lief

    # LIEF logs harmless "Can't read value" lines for parts of zig's Mach-O it does not model.
    lief.logging.disable()
    return lief.parse(str(library))


def exported_names(library: Path) -> list[str]:
    """The names a shared library exports (ELF dynamic symbols, the PE export table, the Mach-O
    export trie), read with LIEF: one parser for the three formats on any host, unlike
    nm/objdump, which ship per target or not at all with zig."""
    import lief

    binary = _parse(library)
    if binary is None:
        raise RuntimeError(f"LIEF could not parse {library}")
    if isinstance(binary, lief.PE.Binary):
        return sorted(entry.name for entry in binary.get_export().entries)
    return sorted(symbol.name for symbol in binary.exported_symbols)


def linked_libraries(library: Path) -> list[str]:
    """The libraries a shared library needs at load time (ELF NEEDED, Mach-O load commands, PE
    imports)."""
    import lief

    binary = _parse(library)
    if isinstance(binary, lief.PE.Binary):
        return [imp.name for imp in binary.imports]
    if isinstance(binary, lief.MachO.Binary):
        return [lib.name for lib in binary.libraries]
    return list(binary.libraries)
