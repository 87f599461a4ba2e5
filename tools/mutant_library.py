"""Build one planted glue bug (tests/mutation/mutants.py) and print its library's path, so a
mutant can be run by hand (docs/diagnostics.md uses it):

    STRESSKIT_NATIVE_LIB=$(python tools/mutant_library.py leak_slow_path) stresskit run my.toml

Cached like the mutation tier's builds (~/.cache/stresskit/mutants, or $STRESSKIT_CACHE); the
first build of a mutant takes a CMake configure, later ones print the cached path at once.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import _cache_lock  # noqa: E402  (tests/conftest.py: the shared cache and its lock)
from mutation.build import BuildError, Workspace  # noqa: E402
from mutation.mutants import MUTANTS  # noqa: E402


def main(argv: list[str]) -> int:
    names = {m.name: m for m in MUTANTS}
    if len(argv) != 1 or argv[0] not in names:
        print(f"usage: python tools/mutant_library.py NAME   (NAME: one of {', '.join(names)})", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, _cache_lock("mutants") as root:
        try:
            print(Workspace(Path(tmp) / "ws").library(names[argv[0]], root / "mutants"))
        except BuildError as exc:
            print(f"mutant_library: {exc}", file=sys.stderr)
            return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
