"""Build the native library with one planted bug (tests/mutation/mutants.py), cached.

One CMake workspace holds a copy of native/; each mutant restores the pristine files, applies
its patch and rebuilds, so only the patched translation units recompile (a second or two each,
not a full build). The resulting library is kept under cache_dir()/mutants/<digest>/, keyed by
the native sources and the patch, so CI builds each variant once and reruns find it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
from pathlib import Path

from mutation.mutants import Mutant

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native"
LIB_NAME = "libstresskit_native.so"


class BuildError(RuntimeError):
    pass


def _sources_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in NATIVE.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(NATIVE)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


# Part of every cached library's key: bump it when the way a mutant is built changes, so no
# library built the old way is reused. 2: restored sources get a fresh mtime (before, an object
# built from the previous mutant's patched file could be linked into the next mutant unrebuilt).
_BUILD_RECIPE = "2"


def digest(mutant: Mutant) -> str:
    h = hashlib.sha256(_sources_digest().encode())
    h.update(_BUILD_RECIPE.encode())
    for file, old, new in mutant.edits:
        h.update(f"{file}\0{old}\0{new}\0".encode())
    return h.hexdigest()[:20]


def apply(mutant: Mutant, src: Path) -> None:
    """Patch the copy at `src` (native/src); each `old` must occur exactly once."""
    for file, old, new in mutant.edits:
        path = src / file
        text = path.read_text()
        found = text.count(old)
        if found != 1:
            raise BuildError(f"mutant {mutant.name}: the text to replace occurs {found} times in {file} "
                             f"(the glue changed; update tests/mutation/mutants.py): {old.splitlines()[0]!r}")
        path.write_text(text.replace(old, new))


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise BuildError(f"{what} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")


class Workspace:
    """A configured build tree over a private copy of native/ (see module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.native = root / "native"
        self.build = root / "build"
        self.configured = False

    def _reset_sources(self) -> None:
        for path in sorted((NATIVE / "src").iterdir()):
            target = self.native / "src" / path.name
            if not target.exists() or target.read_bytes() != path.read_bytes():
                # A fresh mtime: a header the last mutant patched must rebuild everything that
                # includes it (the original's older mtime would leave those objects as patched).
                # Files no mutant touched are not copied, so they do not rebuild.
                shutil.copyfile(path, target)

    def _configure(self) -> None:
        if self.configured:
            return
        if shutil.which("cmake") is None:
            raise BuildError("cmake is not installed (pip install cmake)")
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.copytree(NATIVE, self.native)
        prefix = importlib.metadata.distribution("cmeel-mimalloc").locate_file("cmeel.prefix")
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        # -Werror off: a mutant may leave a helper unused; the shipped build keeps -Werror (tier 0)
        _run(["cmake", "-S", str(self.native), "-B", str(self.build), *generator, "-DCMAKE_BUILD_TYPE=Release",
              "-DSTRESSKIT_WERROR=OFF", f"-DCMAKE_PREFIX_PATH={prefix}"], "cmake configure")
        self.configured = True

    def library(self, mutant: Mutant, cache: Path) -> Path:
        out = cache / digest(mutant) / LIB_NAME
        if out.is_file():
            return out
        self._configure()
        self._reset_sources()
        apply(mutant, self.native / "src")
        _run(["cmake", "--build", str(self.build), "--parallel"], f"build of mutant {mutant.name}")
        built = next(p for p in (self.build / LIB_NAME, *self.build.glob(f"{LIB_NAME}.*")) if p.is_file() and not p.is_symlink())
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        shutil.copy2(built, tmp)
        tmp.replace(out)
        return out
