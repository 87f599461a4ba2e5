"""A scenario's matrix (its ``[matrix]`` table and `run --matrix KEY=V1,V2`) -> one checked
scenario per cell, the cartesian product of the swept values.

Every key path must name a real scenario key, and every cell must validate as a scenario would:
a bad value or a bad combination is a one-line ScenarioError naming the file, the cell and the
key before anything runs.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Any

from pydantic import BaseModel

from stresskit.scenario.errors import ScenarioError, combined, shown
from stresskit.scenario.model import Scenario

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MAX_VALUES_PER_KEY = 64
MAX_CELLS = 1024  # documented in docs/scenarios.md: a typo must not start a day of runs
OPTION = "--matrix"


@dataclass(frozen=True)
class Axis:
    """One swept key: its dotted path ("roles.A.threads") and values as TOML would give them."""

    key: str
    values: tuple[Any, ...]
    origin: str  # where it was written, for error lines: "matrix" (the file) or "--matrix"


@dataclass(frozen=True)
class Cell:
    index: int
    params: dict[str, Any]  # key path -> value, in axis order
    document: dict[str, Any]  # the scenario document of this cell (no matrix table)

    def label(self) -> str:
        return " ".join(f"{k}={shown(v)}" for k, v in self.params.items())


def parse_option(text: str) -> Axis:
    """``roles.A.threads=1,2,4`` (values are TOML: ``64``, ``"4KiB"``, ``[16, 64]``; a bare word
    such as ``4KiB`` is a string). Raises ScenarioError naming --matrix."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip():
        raise ScenarioError(OPTION, "", "KEY=V1,V2,... with a scenario key path, e.g. roles.A.threads=1,2,4", repr(text))
    items = _split_top_level(rest)
    if any(not item.strip() for item in items):
        raise ScenarioError(OPTION, key, "comma-separated values, none empty", repr(rest))
    return Axis(key, tuple(_toml_value(item.strip()) for item in items), OPTION)


def _split_top_level(text: str) -> list[str]:
    """Commas inside [...], {...} or quotes belong to one value (``sizes=[16,64],256``)."""
    items, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        current += ch
    items.append(current)
    return items


def _toml_value(item: str) -> Any:
    try:
        return tomllib.loads(f"v = {item}")["v"]
    except tomllib.TOMLDecodeError:
        return item  # 4KiB, 500ms: the key's own parser reads units from strings


def axes_of_table(file: str, table: Mapping[str, Any]) -> list[Axis]:
    """The file's ``[matrix]``: TOML's dotted keys (``roles.A.threads = [1, 2]``) nest, so the
    leaves are the arrays and their paths are the swept keys."""
    out: list[Axis] = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for name, value in node.items():
            path = f"{prefix}.{name}" if prefix else str(name)
            if isinstance(value, dict):
                walk(value, path)
            elif isinstance(value, list) and value:
                out.append(Axis(path, tuple(value), "matrix"))
            else:
                raise ScenarioError(file, f"matrix.{path}", "a non-empty array of the values to sweep", shown(value))

    walk(table, "")
    return out


def _key_problem(document: Mapping[str, Any], parts: Sequence[str]) -> str | None:
    """None if ``parts`` names a key of the scenario model (roles and flows by the names and
    indexes the document has); else what was expected."""
    current: Any = Scenario
    node: Any = document
    for depth, part in enumerate(parts):
        current = _unwrap(current)
        here = ".".join(parts[:depth]) or "the scenario"
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {f.alias or n: f for n, f in current.model_fields.items()}
            if part not in fields or (depth == 0 and part == "matrix"):
                keys = ", ".join(k for k in fields if k != "matrix")
                return f"a scenario key: {here} has {keys}"
            current = fields[part].annotation
            node = node.get(part) if isinstance(node, dict) else None
        elif typing.get_origin(current) is dict:
            names = list(node) if isinstance(node, dict) else []
            if part not in names:
                return f"a key of {here}: one of {', '.join(names) or '(none)'}"
            current, node = typing.get_args(current)[1], node[part]
        elif typing.get_origin(current) is list:
            size = len(node) if isinstance(node, list) else 0
            if not part.isdigit() or int(part) >= size:
                return f"an index of {here} below {size}"
            current, node = typing.get_args(current)[0], node[int(part)]
        else:
            return f"a key path ending at a scenario key: {here} is a value"
    return None


def _unwrap(annotation: Any) -> Any:
    """Optional[X] -> X; Annotated[X, ...] -> X."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if typing.get_origin(annotation) in (typing.Union, UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _set(document: dict[str, Any], parts: Sequence[str], value: Any) -> None:
    node: Any = document
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


def axes(file: str, document: Mapping[str, Any], extra: Sequence[Axis] = ()) -> list[Axis]:
    """The file's matrix, then the command line's (which replaces a key the file also sweeps);
    each key path checked against the model."""
    merged: dict[str, Axis] = {a.key: a for a in axes_of_table(file, document.get("matrix") or {})}
    for axis in extra:
        merged[axis.key] = axis
    problems = []
    for axis in merged.values():
        where = f"matrix.{axis.key}" if axis.origin == "matrix" else f"{OPTION} {axis.key}"
        why = _key_problem(document, axis.key.split("."))
        if why is not None:
            problems.append(ScenarioError(file, where, why))
        elif len(axis.values) > MAX_VALUES_PER_KEY:
            problems.append(ScenarioError(file, where, f"at most {MAX_VALUES_PER_KEY} values", str(len(axis.values))))
    error = combined(problems)
    if error is not None:
        raise error
    cells = 1
    for axis in merged.values():
        cells *= len(axis.values)
    if cells > MAX_CELLS:
        raise ScenarioError(file, "matrix", f"at most {MAX_CELLS} cells (the product of the values per key)", str(cells))
    return list(merged.values())


def cells(file: str, document: Mapping[str, Any], matrix_axes: Sequence[Axis]) -> list[Cell]:
    """The cartesian product, first axis slowest; each cell's document without the matrix table."""
    base = {k: v for k, v in document.items() if k != "matrix"}
    out = []
    for index, combo in enumerate(itertools.product(*(a.values for a in matrix_axes))):
        doc = copy.deepcopy(base)
        for axis, value in zip(matrix_axes, combo):
            _set(doc, axis.key.split("."), value)
        out.append(Cell(index, {a.key: v for a, v in zip(matrix_axes, combo)}, doc))
    return out


def checked_cells(file: str, document: Mapping[str, Any], extra: Sequence[Axis] = (), default_name: str = "scenario") -> list[tuple[Cell, Any]]:
    """Every cell as (Cell, CheckedScenario), or ScenarioError(s): one line per bad value, naming
    the cell (index and parameters) and the key, before anything runs."""
    from stresskit.scenario.loading import scenario_from_document
    from stresskit.scenario.validation import check

    matrix_axes = axes(file, document, extra)
    out = []
    # one line per distinct problem, naming the first cell that has it and how many more do
    problems: dict[tuple[str, str, str | None], tuple[Cell, ScenarioError, int]] = {}
    for cell in cells(file, document, matrix_axes):
        where = f"{file}: matrix cell {cell.index} ({cell.label()})"
        try:
            # errors name the cell; the checked cell names its file, as any scenario does
            checked = dataclasses.replace(check(where, scenario_from_document(where, cell.document), default_name=default_name), file=file)
        except ScenarioError as err:
            for problem in getattr(err, "problems", [err]):
                key = (problem.path, problem.expected, problem.got)
                first = problems.get(key)
                problems[key] = (cell, problem, 0) if first is None else (first[0], first[1], first[2] + 1)
            continue
        out.append((cell, checked))
    unique = [ScenarioError(f"{file}: matrix cell {cell.index} ({cell.label()}"
                            + (f"; and {more} more cell{'s' if more > 1 else ''})" if more else ")"), p.path, p.expected, p.got)
              for cell, p, more in problems.values()]
    error = combined(unique)
    if error is not None:
        raise error
    return out

