"""Scenario problems as one line each: ``FILE: key.path: what was expected (got X)``.

Every way a scenario file can be wrong ends up as a ScenarioError; a file with several independent
problems raises ScenarioErrors, which holds them all. The CLI prints ``lines()`` on stderr, one
line per problem, and exits 2. Nothing here ever shows a traceback to the user.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Loc = Sequence["str | int"]
MAX_LINES_PER_FILE = 100


def format_path(loc: Loc) -> str:
    """('flows', 0, 'to') -> 'flows[0].to'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if text and not all(c.isalnum() or c in "_-" for c in text):
                text = json.dumps(text)  # a key with dots or spaces stays readable and unambiguous
            out += ("." if out else "") + text
    return out


def shown(value: Any, limit: int = 48) -> str:
    """A value as the user wrote it in TOML, shortened."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, dict):
        text = "a table {" + ", ".join(map(str, list(value)[:5])) + (", ..." if len(value) > 5 else "") + "}"
    elif isinstance(value, list):
        text = f"an array of {len(value)}"
    else:
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ScenarioError(ValueError):
    """An invalid scenario. ``path`` is the key path ('' for the file as a whole)."""

    def __init__(self, file: str, path: str, expected: str, got: str | None = None) -> None:
        self.file = file
        self.path = path
        self.expected = expected
        self.got = got
        super().__init__(self.line())

    def line(self) -> str:
        where = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        got = f" (got {self.got})" if self.got is not None else ""
        return (where + self.expected + got).replace("\n", " ")

    def lines(self, limit: int = MAX_LINES_PER_FILE) -> list[str]:
        return [self.line()]


class ScenarioErrors(ScenarioError):
    """Every independent problem found in one file, in file order. It is a ScenarioError (its
    first problem) so that a caller wanting one line still gets one; ``lines()`` gives them all."""

    def __init__(self, problems: Sequence[ScenarioError]) -> None:
        if not problems:
            raise ValueError("ScenarioErrors needs at least one problem")
        # The same line twice is one problem: pydantic may report one value through several
        # validators (a union's members), and a file is never told the same thing twice.
        unique: dict[str, ScenarioError] = {}
        for problem in problems:
            unique.setdefault(problem.line(), problem)
        self.problems: tuple[ScenarioError, ...] = tuple(unique.values())
        first = self.problems[0]
        super().__init__(first.file, first.path, first.expected, first.got)

    def lines(self, limit: int = MAX_LINES_PER_FILE) -> list[str]:
        shown_lines = [p.line() for p in self.problems[:limit]]
        rest = len(self.problems) - limit
        if rest > 0:
            # A file mangled beyond recognition would otherwise bury the useful lines.
            shown_lines.append(f"{self.file}: {rest} more problem(s) not shown; fix the ones above first")
        return shown_lines


def combined(problems: Sequence[ScenarioError]) -> ScenarioError | None:
    """No problem: None; one: itself; several: a ScenarioErrors holding them all."""
    if not problems:
        return None
    return problems[0] if len(problems) == 1 else ScenarioErrors(problems)
