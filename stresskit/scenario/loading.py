"""File -> TOML document -> typed Scenario (pydantic), every failure as a ScenarioError."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from stresskit.io.inputs import MAX_SCENARIO_BYTES, InputError, TomlShapeError, check_toml_shape, read_bounded
from stresskit.scenario.errors import ScenarioError, combined, format_path, shown
from stresskit.scenario.model import Scenario

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MAX_FILE_BYTES = MAX_SCENARIO_BYTES  # defined once, in stresskit.io.inputs
_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def read_toml(path: Path) -> dict[str, Any]:
    name = str(path)
    try:
        data = read_bounded(path, MAX_SCENARIO_BYTES, "scenario file")
    except InputError as exc:
        if exc.expected.startswith("an existing"):
            raise ScenarioError(name, "", "an existing scenario file (no such file; `stresskit list` shows the shipped ones)") from None
        raise ScenarioError(name, "", exc.expected, exc.got) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(name, f"line {line}", "UTF-8 text", f"byte 0x{data[exc.start]:02x}") from None
    try:
        check_toml_shape(text)
    except TomlShapeError as exc:
        raise ScenarioError(name, f"line {exc.line}", exc.expected) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        match = _AT.search(msg)
        where = f"line {match.group(1)}, column {match.group(2)}" if match else ""
        what = _AT.sub("", msg)
        what = what[:1].lower() + what[1:]
        raise ScenarioError(name, where, f"valid TOML: {what}") from None
    except RecursionError:
        raise ScenarioError(name, "", "valid TOML (nesting too deep)") from None


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose keys live at `loc` (for "unknown key; expected one of ...")."""
    import typing

    current: Any = Scenario
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return None
            current = field.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            origin = typing.get_origin(current)
            if origin is dict and len(args) == 2:
                current = args[1]
            elif origin is list and args:
                current = args[0]
            elif len(args) == 1:
                current = args[0]
            else:
                return None
        while typing.get_origin(current) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            args = [a for a in typing.get_args(current) if a is not type(None)]
            if len(args) != 1:
                return None
            current = args[0]
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _raw_at(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any]:
    """The longest prefix of loc present in the user's data, and the value there. A shorthand
    (``sizes = 0``) is reported at the key the user wrote, not at the key it expands to."""
    reached: list[Any] = []
    for part in loc:
        if isinstance(data, dict) and isinstance(part, str) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            break
        reached.append(part)
    return tuple(reached), data


def _expected(err: dict[str, Any], loc: tuple[Any, ...]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        keys = ", ".join(_allowed_keys(model)) if model else ""
        return f"unknown key; expected one of: {keys}" if keys else "unknown key"
    if kind == "missing":
        return "this key, which is required"
    if kind == "literal_error":
        choices = str(ctx.get("expected", ""))
        return f"one of {choices}" if " or " in choices else choices
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind == "string_pattern_mismatch":
        if loc == ("name",):
            return "a name of letters, digits, '_', '.' and '-' (1 to 64 characters)"
        return "a name of letters, digits and _ that does not start with a digit (max 32 characters)"
    simple = {
        "string_type": "a string", "float_type": "a number", "float_parsing": "a number", "list_type": "an array",
        "bool_type": "true or false", "bool_parsing": "true or false",
    }
    if kind in simple:
        return simple[kind]
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "a table"
    bounds = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "greater than or equal to"),
              "less_than": ("lt", "less than"), "less_than_equal": ("le", "less than or equal to")}
    if kind in bounds:
        key, words = bounds[kind]
        if isinstance(ctx.get(key), int):  # pydantic's own text shows 2**64-1 as 18446744073709552000
            return f"a number {words} {ctx[key]}"
        return "a number " + err["msg"].removeprefix("Input should be ")
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "an integer"
    msg = err["msg"]
    for prefix in ("Input should be ", "Value should be "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg[:1].lower() + msg[1:]


def load_scenario(path: Path | str) -> tuple[Scenario, dict[str, Any]]:
    """Read and type-check a scenario file. Returns the model and the raw TOML (for key paths).
    Raises ScenarioError for a file that cannot be read or parsed (nothing else can be checked
    then); for a document the model rejects, one per wrong key (ScenarioErrors when several)."""
    path = Path(path)
    raw = read_toml(path)
    return scenario_from_document(str(path), raw), raw


def scenario_from_document(name: str, raw: dict[str, Any]) -> Scenario:
    """A TOML-shaped document (a file's, or one `shrink` made, or a report's record of the
    scenario) as a typed Scenario, or ScenarioError(s) naming each wrong key of ``name``."""
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        error = combined(_all_errors(name, raw, exc))
        if error is None:  # pragma: no cover - a ValidationError holds at least one error
            raise
        raise error from None


def _all_errors(name: str, raw: dict[str, Any], exc: ValidationError) -> list[ScenarioError]:
    problems: list[tuple[str, list[str], str | None, bool]] = []  # path, expectations, got, union member
    for err in exc.errors(include_url=False):
        where, expected, got, loc = _one_error(raw, err)
        # A value no member of a union accepts (`stats = 5`: neither a bool nor "alternate") comes
        # as one error per member, each located below the key the user wrote: one line, "A or B".
        member = len(loc) > len(where)
        path = format_path(where)
        last = problems[-1] if problems else None
        if member and last is not None and last[3] and (last[0], last[2]) == (path, got):
            if expected not in last[1]:
                last[1].append(expected)
            continue
        problems.append((path, [expected], got, member))
    return [ScenarioError(name, path, ", or ".join(expected), got) for path, expected, got, _ in problems]


def _one_error(raw: dict[str, Any], err: Any) -> tuple[tuple[Any, ...], str, str | None, tuple[Any, ...]]:
    """Where the user should look, what was expected, what was found, and pydantic's location."""
    loc = tuple(err["loc"])
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        return loc, "a name of letters, digits and _ that does not start with a digit (max 32 characters)", shown(loc[-1] if loc else None), loc
    if err["type"] in ("extra_forbidden", "missing"):
        return loc, _expected(err, loc), None, loc
    where, value = _raw_at(raw, loc)
    return where, _expected(err, loc), shown(value), loc
