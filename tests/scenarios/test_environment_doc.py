"""Every environment variable stresskit (or its build and test tooling) reads is documented in
docs/environment.md: the sources are grepped, so a new variable cannot go undocumented."""

from __future__ import annotations

import re

import pytest

from scenario_helpers import REPO

pytestmark = pytest.mark.tier2

DOC = REPO / "docs" / "environment.md"
SOURCES = {"stresskit": ("*.py",), "native": ("*.c", "*.h", "*.cmake", "CMakeLists.txt"), "tools": ("*.py",),
           "recipe": ("*.yaml", "*.sh", "*.bat"), "tests": ("*.py", "*.c")}
# A variable read directly: os.environ.get("X"), os.environ["X"], os.getenv("X"), getenv("X") in C,
# env.get("X") in the recipe's Jinja; "X" in os.environ.
_READ = re.compile(r"""(?:environ\.get|environ\[|getenv|env\.get)\(?\s*["']([A-Z][A-Z0-9_]+)["']|["']([A-Z][A-Z0-9_]+)["']\s+in\s+os\.environ""")
# Our own and mimalloc's names, wherever they are spelt (constants like PY_SPY_ENV = "STRESSKIT_PY_SPY",
# an environment handed to a child): a quoted STRESSKIT_/MIMALLOC_/SKBUILD_ name is an environment variable.
_OURS = re.compile(r"""["']((?:STRESSKIT|MIMALLOC|SKBUILD)_[A-Z0-9_]+)["']""")
# Variables every process has, read for their ordinary meaning only.
_GENERIC = {"PATH", "HOME", "TMPDIR"}


def names_in_sources() -> dict[str, str]:
    found: dict[str, str] = {}
    for top, patterns in SOURCES.items():
        for pattern in patterns:
            for path in sorted((REPO / top).rglob(pattern)):
                if "_lib" in path.parts or "build" in path.parts:
                    continue
                text = path.read_text(errors="replace")
                for match in list(_READ.finditer(text)) + list(_OURS.finditer(text)):
                    name = next(g for g in match.groups() if g)
                    found.setdefault(name, str(path.relative_to(REPO)))
    return {n: where for n, where in found.items() if n not in _GENERIC}


def test_the_grep_finds_the_known_ones() -> None:
    # If this fails the patterns above went blind, and the test below would pass vacuously.
    found = names_in_sources()
    for name in ("STRESSKIT_NATIVE_LIB", "STRESSKIT_PY_SPY", "STRESSKIT_DEBUG", "STRESSKIT_SCENARIOS", "STRESSKIT_START_METHOD",
                 "STRESSKIT_TEST_CRASH", "STRESSKIT_CACHE", "MIMALLOC_ARENA_RESERVE", "CONDA_PREFIX"):
        assert name in found, name


def test_every_environment_variable_is_documented() -> None:
    doc = DOC.read_text()
    missing = {name: where for name, where in names_in_sources().items() if f"`{name}`" not in doc}
    assert not missing, f"docs/environment.md lacks {missing} (name: first file that reads it)"


def test_the_readme_links_the_page() -> None:
    assert "](docs/environment.md)" in (REPO / "README.md").read_text()
