"""Read a JSON document written by stresskit (a run report, a bench baseline) into a pydantic
model, with the same bounds as every other input (stresskit/io/inputs.py) and one line per
problem: ``PATH: key.path: expected WHAT (got X)``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from stresskit.io.inputs import MAX_BASELINE_BYTES, MAX_JSON_DEPTH, InputError, json_depth, read_bounded

M = TypeVar("M", bound=BaseModel)


class JsonInputError(ValueError):
    """The file cannot be used; str() is the one-line message for the user."""


def key_path(loc: Sequence) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def read_json_object(path: Path, what: str, top_level: str) -> dict:
    """The JSON object in PATH; ``what`` names the file kind, ``top_level`` what the object must be."""
    try:
        raw = read_bounded(path, MAX_BASELINE_BYTES, what)
    except InputError as exc:
        raise JsonInputError(f"{path}: cannot read: expected {exc.expected}" + (f" (got {exc.got})" if exc.got else "")) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"{path}: byte {exc.start}: expected UTF-8 JSON") from None
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise JsonInputError(f"{path}: expected JSON nested at most {MAX_JSON_DEPTH} levels (got {depth})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"{path}: line {exc.lineno} column {exc.colno}: expected JSON ({exc.msg})") from None
    except RecursionError:
        raise JsonInputError(f"{path}: expected JSON nested at most {MAX_JSON_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise JsonInputError(f"{path}: (top level): expected {top_level}")
    return data


def validate(path: Path | str, data: dict, schema: type[M], expected: Mapping[str, str]) -> M:
    """``schema`` applied to ``data``; the first problem as one line naming the key."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        field = next((p for p in reversed(loc) if isinstance(p, str)), "")
        if err["type"] == "missing":
            what = f"a '{field}' key ({expected.get(field, 'required')})"
            loc = loc[:-1]
        else:
            got = repr(err.get("input"))
            got = got if len(got) <= 40 else got[:37] + "..."
            what = f"{expected.get(field, _plain(err['msg']))} (got {got})"
        raise JsonInputError(f"{path}: {key_path(loc) if loc else '(top level)'}: expected {what}") from None


def _plain(msg: str) -> str:
    """pydantic's "Input should be a valid string" -> "a valid string" (after "expected")."""
    for prefix in ("Input should be ", "Value error, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def load_model(path: Path, schema: type[M], what: str, top_level: str, expected: Mapping[str, str]) -> M:
    return validate(path, read_json_object(path, what, top_level), schema, expected)
