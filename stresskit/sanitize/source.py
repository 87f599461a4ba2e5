"""The sources a sanitizer build compiles: stresskit's native/ tree and mimalloc's upstream tree.

mimalloc comes from the cmeel-mimalloc sdist on PyPI (the source the pip wheel was built from),
downloaded once with pip into the cache; it is never vendored. The wheel's static library cannot
be used: a sanitizer only sees code compiled with it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from stresskit.sanitize.cache import locked

MIMALLOC_VERSION = "3.4.3"
# The sdist is pinned (as tools/conda/build_local.py pins it): a tampered or truncated download is
# refused instead of being compiled into the library a run trusts.
SDIST_SHA256 = {"3.4.3": "8d355a77cc0f4133cdeb9156c9098bbb4e88924326d38343cf73ff9caa95ece3"}
NATIVE_SOURCE_ENV = "STRESSKIT_NATIVE_SOURCE"


class SourceUnavailable(RuntimeError):
    """A source tree could not be found or fetched (the message says what to do)."""


def native_source() -> Path:
    """native/ of the checkout this package runs from, or $STRESSKIT_NATIVE_SOURCE (a patched
    copy, as the planted-bug tests use)."""
    explicit = os.environ.get(NATIVE_SOURCE_ENV)
    candidates = [Path(explicit)] if explicit else [Path(__file__).resolve().parents[2] / "native"]
    for path in candidates:
        if (path / "CMakeLists.txt").is_file() and (path / "src").is_dir():
            return path
    where = f"${NATIVE_SOURCE_ENV}={explicit}" if explicit else str(candidates[0])
    raise SourceUnavailable(
        f"--sanitize builds the native library from source and found no native/ tree at {where}; "
        f"run from a stresskit checkout (pip install -e .) or set {NATIVE_SOURCE_ENV} to its native/ directory"
    )


def mimalloc_source(version: str = MIMALLOC_VERSION) -> Path:
    """mimalloc's upstream source tree, from the cmeel-mimalloc sdist; ~1 min the first time."""
    with locked("mimalloc-source") as root:
        tree = root / f"mimalloc-{version}-src"
        if (tree / "CMakeLists.txt").is_file():
            return tree
        download = root / "downloads"
        download.mkdir(exist_ok=True)
        pattern = f"cmeel_mimalloc-{version}.tar.gz"
        if not sorted(download.glob(pattern)):
            # --no-binary for this package only: a global :all: would also build the sdist's build
            # requirements (cmake, ...) from source.
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "cmeel-mimalloc",
                   f"cmeel-mimalloc=={version}", "-d", str(download)]
            try:
                run = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
                why = run.stderr.strip().splitlines()[-1:] if run.returncode else []
            except (OSError, subprocess.TimeoutExpired) as exc:
                why = [str(exc)]
            if not sorted(download.glob(pattern)):
                raise SourceUnavailable(
                    f"cannot download mimalloc's source ({' '.join(cmd[2:])}): {' '.join(why) or 'no sdist arrived'}"
                )
        sdist = sorted(download.glob(pattern))[0]
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if version in SDIST_SHA256 and digest != SDIST_SHA256[version]:
            sdist.unlink()
            raise SourceUnavailable(f"{sdist.name}: sha256 {digest}, expected {SDIST_SHA256[version]}; deleted, run again")
        staging = root / f"mimalloc-{version}-staging"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(tree, ignore_errors=True)  # an interrupted earlier extraction
        with tarfile.open(sdist) as tar:
            try:
                tar.extractall(staging, filter="data")  # refuses absolute paths, links out, devices
            except TypeError:  # Python < 3.10.12 has no extraction filters; the sdist is pinned
                tar.extractall(staging)
        (staging / f"cmeel_mimalloc-{version}" / "mimalloc").rename(tree)
        shutil.rmtree(staging)
        return tree
