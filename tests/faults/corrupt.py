"""Damaged copies of a real input file, the way disks, editors and half-finished writes damage
them: truncated, a region zeroed, bits flipped and (for JSON) values of the wrong type.

Every variant is named, so a failure says which damage broke which reader; seeded, so a failing
variant is the same on every run.
"""

from __future__ import annotations

import json
import random
from typing import Any

WRONG_VALUES: tuple[Any, ...] = ("x", None, [], {}, -1, 2**70, 1e308, True, [[[]]], {"a": {"b": None}})


def byte_damage(data: bytes, seed: int = 0, flips: int = 8) -> list[tuple[str, bytes]]:
    rnd = random.Random(seed)
    n = len(data)
    out = [(f"truncated_at_{f}", data[: int(n * f / 4)]) for f in (0, 1, 2, 3)]
    out.append(("truncated_last_byte", data[:-1]))
    for where in (0, n // 3, n - 64):
        start = max(0, where)
        out.append((f"zeroed_64_at_{start}", data[:start] + b"\0" * min(64, n - start) + data[start + 64:]))
    for i in range(flips):
        pos, bit = rnd.randrange(n), rnd.randrange(8)
        out.append((f"bit_{bit}_flipped_at_{pos}", data[:pos] + bytes([data[pos] ^ (1 << bit)]) + data[pos + 1:]))
    return out


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc[path[0]] = _set(doc[path[0]], path[1:], value)
    return doc


def json_damage(data: bytes, seed: int = 0, count: int = 12) -> list[tuple[str, bytes]]:
    """Valid JSON whose values have the wrong type or an absurd size, and documents with a key
    missing: what a hand-edited or foreign file looks like."""
    rnd = random.Random(seed)
    doc = json.loads(data)
    leaves = [p for p in _leaves(doc) if p]
    out = [("not_an_object", b"[]"), ("empty_object", b"{}"), ("a_string", b'"report"')]
    for _ in range(count):
        path = rnd.choice(leaves)
        value = rnd.choice(WRONG_VALUES)
        out.append((f"{'.'.join(map(str, path))}={json.dumps(value)}", json.dumps(_set(json.loads(data), path, value)).encode()))
    if isinstance(doc, dict):
        for key in sorted(doc)[:6]:
            out.append((f"without_{key}", json.dumps({k: v for k, v in doc.items() if k != key}).encode()))
    return out
