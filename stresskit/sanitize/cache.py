"""Where slow-to-make things (the mimalloc source, sanitizer builds) live between runs, and the lock
that makes concurrent stresskit runs and test sessions build each of them once.

$STRESSKIT_CACHE, else ~/.cache/stresskit. CI caches this directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one run at a time there
    fcntl = None  # type: ignore[assignment]

CACHE_ENV = "STRESSKIT_CACHE"


def cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV)
    path = Path(base) if base else Path.home() / ".cache" / "stresskit"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(name: str) -> Iterator[Path]:
    """Hold an exclusive lock on cache_dir()/name.lock and yield the cache root: a second run
    waits for the first one's build instead of racing it on half-written files."""
    root = cache_dir()
    lock = root / f"{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield root
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def digest(*parts: bytes) -> str:
    """A cache key over several inputs, each length-prefixed so that no two different lists of
    parts (b"ab", b"c" and b"a", b"bc") give the same key."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:16]
