"""Finding and loading the native library (libstresskit_native).

Where it is looked for, first match wins:
  1. ``STRESSKIT_NATIVE_LIB``: an explicit path to the library file;
  2. the copy installed inside this package (``stresskit/_lib``) by ``pip install``;
  3. the conda native package: ``<sys.prefix>/lib`` when this interpreter is a conda environment's,
     then ``$CONDA_PREFIX/lib`` (``Library/bin`` on Windows).
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from cffi import FFI

from stresskit._cdefs import ALL_CDEFS

ENV_VAR = "STRESSKIT_NATIVE_LIB"


def library_filename() -> str:
    if sys.platform == "win32":
        return "stresskit_native.dll"
    if sys.platform == "darwin":
        return "libstresskit_native.dylib"
    return "libstresskit_native.so"


class NativeLibraryError(RuntimeError):
    """The native library could not be found or loaded."""


@dataclass(frozen=True)
class LoadedLibrary:
    ffi: FFI
    lib: object
    path: Path
    origin: str  # which rule found it: "env", "package" or "conda"


def candidate_paths() -> list[tuple[str, Path]]:
    name = library_filename()
    found: list[tuple[str, Path]] = []
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        found.append(("env", Path(explicit)))
    # Every entry of the package path: an editable install keeps the built library in
    # site-packages while the Python sources stay in the checkout.
    import stresskit

    for entry in stresskit.__path__:
        found.append(("package", Path(entry) / "_lib" / name))
    # A conda environment: the one this interpreter lives in (works without activation), then
    # the activated one.
    sub = Path("Library", "bin") if sys.platform == "win32" else Path("lib")
    prefixes = []
    if Path(sys.prefix, "conda-meta").is_dir():
        prefixes.append(sys.prefix)
    if os.environ.get("CONDA_PREFIX"):
        prefixes.append(os.environ["CONDA_PREFIX"])
    for prefix in dict.fromkeys(prefixes):
        found.append(("conda", Path(prefix) / sub / name))
    return found


_lock = threading.Lock()
_loaded: LoadedLibrary | None = None


def load() -> LoadedLibrary:
    """Load the library once per process and return it."""
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        tried = []
        for origin, path in candidate_paths():
            if origin == "env" and not path.is_file():
                raise NativeLibraryError(
                    f"{ENV_VAR}={path} does not name a file; point it at {library_filename()} "
                    f"or unset it to use the installed copy"
                )
            if not path.is_file():
                tried.append(f"{path} ({origin})")
                continue
            ffi = FFI()
            for cdef in ALL_CDEFS:
                ffi.cdef(cdef)
            try:
                lib = ffi.dlopen(str(path))
            except OSError as exc:
                raise NativeLibraryError(f"cannot load {path}: {exc}") from exc
            _loaded = LoadedLibrary(ffi=ffi, lib=lib, path=path, origin=origin)
            return _loaded
        raise NativeLibraryError(
            "stresskit's native library was not found. Tried: "
            + "; ".join(tried)
            + f". Install stresskit with `pip install .` (it builds the library), set {ENV_VAR} "
            "to the library file, or activate the conda environment that holds stresskit-native."
        )


def ffi() -> FFI:
    return load().ffi


def lib():  # noqa: ANN201 - cffi's lib object has no static type
    return load().lib
