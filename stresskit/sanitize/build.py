"""Build libstresskit_native with a sanitizer: native/CMakeLists.txt over mimalloc compiled from
its upstream source with the matching tracking, once per source hash, into the cache.

Everything is compiled with the sanitizer, mimalloc included: ASAN cannot see inside a custom
allocator it did not instrument, and TSAN misses every synchronisation it did not see. gcc is used
for all three: its runtimes are shared libraries a preloaded CPython accepts (clang 14's TSAN
runtime crashes at start-up under current kernels' mmap randomisation, and clang links no
sanitizer runtime into a shared library, which native/CMakeLists.txt's --no-undefined refuses).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stresskit.sanitize.cache import locked

KINDS = ("address", "thread", "undefined", "memcheck")
LIB_NAME = "libstresskit_native.so"
COMPILER = "gcc"


@dataclass(frozen=True)
class Flavour:
    flag: str  # "" for valgrind: it runs the uninstrumented machine code
    runtime: str  # gcc's shared runtime preloaded into workers (runtime.py), or the valgrind tool
    package: str  # Debian package that ships it
    mimalloc: tuple[str, ...]  # mimalloc's own CMake options for this sanitizer


FLAVOURS: dict[str, Flavour] = {
    # MI_TRACK_ASAN: mimalloc poisons freed and unallocated block memory, so a use after cc_free
    # is reported (as use-after-poison); MI_DEBUG adds its double-free and padding checks, which a
    # release build skips.
    "address": Flavour("-fsanitize=address", "libasan.so", "libasan8", ("-DMI_TRACK_ASAN=ON", "-DMI_DEBUG=ON")),
    # MI_TSAN is what upstream's MI_DEBUG_TSAN defines (that option itself insists on clang): it
    # turns off the checks that read other threads' blocks without synchronisation. No MI_DEBUG:
    # its padding shrinks what fits an oom bound and its checks find no races.
    "thread": Flavour("-fsanitize=thread", "libtsan.so", "libtsan2", ("-DMI_EXTRA_CPPDEFS=MI_TSAN=1",)),
    # mimalloc's release build: UBSAN checks the C it executes, which MI_DEBUG would only add to.
    "undefined": Flavour("-fsanitize=undefined", "libubsan.so", "libubsan1", ()),
    # Valgrind's memcheck: no compiler instrumentation; MI_TRACK_VALGRIND tells it which of
    # mimalloc's pages are blocks, and which blocks are free (a use after cc_free is an invalid
    # read or write). Helgrind/DRD do not fit: they model neither C11 atomics nor the GIL, so the
    # glue's relaxed counters and every CPython thread switch would be reported.
    "memcheck": Flavour("", "memcheck", "valgrind", ("-DMI_TRACK_VALGRIND=ON", "-DMI_DEBUG=ON")),
}
VALGRIND = ("memcheck",)


class ToolMissing(RuntimeError):
    """A compiler, CMake or a sanitizer runtime is not installed (the message says what to install)."""


class BuildFailed(RuntimeError):
    """CMake failed; ``log`` holds its whole output."""

    def __init__(self, message: str, log: Path) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class SanitizedLibrary:
    kind: str
    library: Path
    runtime: Path
    cached: bool
    seconds: float
    # The source trees it was compiled from, as its debug info names them (a cached library may
    # come from another copy of the same sources): reports.py tells our frames by them.
    sources: tuple[str, ...] = ()


def install_hint(kind: str) -> str:
    return f"apt-get install gcc {FLAVOURS[kind].package}"


def _valgrind(kind: str) -> Path:
    found = shutil.which("valgrind")
    if found is None or not Path("/usr/include/valgrind/valgrind.h").is_file():
        raise ToolMissing(f"--sanitize {kind} needs valgrind and its headers, which are not installed; "
                          f"install them with: {install_hint(kind)}")
    return Path(found)


def runtime_path(kind: str) -> Path:
    """The sanitizer's shared runtime as gcc links it; ToolMissing if gcc or the runtime is absent."""
    gcc = shutil.which(COMPILER)
    if gcc is None:
        raise ToolMissing(f"--sanitize {kind} needs gcc, which is not installed; install it with: {install_hint(kind)}")
    if kind in VALGRIND:
        return _valgrind(kind)
    name = FLAVOURS[kind].runtime
    out = subprocess.run([gcc, f"-print-file-name={name}"], capture_output=True, text=True, check=False).stdout.strip()
    path = Path(out)
    if not path.is_absolute() or not path.exists():  # gcc echoes the bare name when it has none
        raise ToolMissing(f"--sanitize {kind} needs gcc's {name}, which is not installed; install it with: {install_hint(kind)}")
    return path.resolve()


def check_tools(kind: str) -> Path:
    """The runtime's path once gcc, the runtime and cmake are known to be there (ToolMissing if not)."""
    runtime = runtime_path(kind)
    if shutil.which("cmake") is None:
        raise ToolMissing(f"--sanitize {kind} needs cmake, which is not installed; install it with: pip install cmake")
    return runtime


def _tree_digest(h: "hashlib._Hash", root: Path, parts: tuple[str, ...]) -> None:
    for part in parts:
        base = root / part
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(path.read_bytes())


def cmake_args(kind: str, native: Path, mimalloc: Path, build: Path) -> list[str]:
    flavour = FLAVOURS[kind]
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    return [
        "-S", str(native), "-B", str(build), *generator,
        "-DCMAKE_BUILD_TYPE=RelWithDebInfo",  # -O2 -g: file:line in every frame of a report
        f"-DCMAKE_C_COMPILER={COMPILER}",
        f"-DCMAKE_C_FLAGS={flavour.flag} -fno-omit-frame-pointer".lstrip(),
        *([f"-DCMAKE_SHARED_LINKER_FLAGS={flavour.flag}"] if flavour.flag else []),
        f"-DSTRESSKIT_MIMALLOC_SOURCE={mimalloc}",
        *flavour.mimalloc,
    ]


def build_key(kind: str, native: Path, mimalloc: Path) -> str:
    """Everything that goes into the library: the sanitizer, gcc's version, the CMake options, the
    native sources and mimalloc's."""
    h = hashlib.sha256(kind.encode())
    h.update(subprocess.run([COMPILER, "--version"], capture_output=True, check=False).stdout)
    h.update("\0".join(cmake_args(kind, Path("N"), Path("M"), Path("B"))).encode())
    _tree_digest(h, native, ("CMakeLists.txt", "include", "src"))
    _tree_digest(h, mimalloc, ("CMakeLists.txt", "cmake", "include", "src"))
    return h.hexdigest()[:16]


def _run(cmd: list[str], log: Path, what: str) -> None:
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=1800)
    if proc.returncode != 0:
        raise BuildFailed(f"{what} failed (exit {proc.returncode}); its output is in {log}", log)


def build(kind: str, native: Path, mimalloc: Path, announce: Callable[[str], None] | None = None) -> SanitizedLibrary:
    """The sanitized library for ``kind``, built now or taken from the cache; ``announce`` hears
    one line before a build starts (it takes 10-30 s)."""
    if kind not in FLAVOURS:
        raise ValueError(f"unknown sanitizer {kind!r}")
    runtime = check_tools(kind)
    started = time.monotonic()
    key = build_key(kind, native, mimalloc)
    name = f"sanitize/{kind}-{key}"
    with locked(name) as root:
        home = root / name
        library = home / LIB_NAME
        sources = home / "sources.txt"
        if library.is_file() and sources.is_file():
            roots = tuple(sources.read_text().split("\n")[:2])
            return SanitizedLibrary(kind, library, runtime, True, time.monotonic() - started, roots)
        if announce is not None:
            announce(f"building the {kind}-sanitized native library with mimalloc from {mimalloc} (once; cached in {home})")
        shutil.rmtree(home, ignore_errors=True)  # an interrupted earlier build
        home.mkdir(parents=True)
        log = home / "build.log"
        tree = home / "build"
        _run(["cmake", *cmake_args(kind, native, mimalloc, tree)], log, f"configuring the {kind}-sanitized library")
        _run(["cmake", "--build", str(tree), "--parallel", str(os.cpu_count() or 2)], log,
             f"building the {kind}-sanitized library")
        built = (tree / LIB_NAME).resolve()
        tmp = home / (LIB_NAME + ".tmp")
        shutil.copy2(built, tmp)
        sources.write_text(f"{native}\n{mimalloc}\n")
        tmp.rename(library)  # only a complete library ever carries the final name
        shutil.rmtree(tree, ignore_errors=True)
        return SanitizedLibrary(kind, library, runtime, False, time.monotonic() - started, (str(native), str(mimalloc)))
