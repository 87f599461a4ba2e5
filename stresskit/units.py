"""Byte sizes and durations as people write them: ``64MiB``, ``4KiB``, ``1.5e6``, ``250ms``.

One table of suffixes serves the scenario files and the threshold expressions, so a number means
the same thing wherever a user writes it.
"""

from __future__ import annotations

import math
import re

BYTE_UNITS: dict[str, int] = {
    "B": 1,
    "KiB": 1 << 10,
    "MiB": 1 << 20,
    "GiB": 1 << 30,
    "TiB": 1 << 40,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
}
# Time suffixes are for scenario files (converted to seconds). Threshold literals take byte and
# count suffixes only: a metric's own name carries its time unit (``p99_ns < 2000``).
TIME_UNITS_S: dict[str, float] = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
COUNT_UNITS: dict[str, float] = {"k": 1e3, "M": 1e6, "G": 1e9}

NUMBER = r"[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9]+)?"
_QUANTITY = re.compile(rf"^\s*({NUMBER})\s*([A-Za-z]*)\s*$")


def parse_bytes(text: str) -> int:
    """``"64MiB"`` -> 67108864. Raises ValueError with what is accepted."""
    match = _QUANTITY.match(text)
    if not match or match.group(2) not in BYTE_UNITS and match.group(2) != "":
        raise ValueError(f"a byte size like 4096, \"64KiB\" or \"1GiB\" (units: {', '.join(BYTE_UNITS)})")
    value = float(match.group(1).replace("_", "")) * BYTE_UNITS.get(match.group(2) or "B", 1)
    if not math.isfinite(value):  # "1e400" is inf: int() of it would raise OverflowError
        raise ValueError("a byte size below 1e308")
    if value != int(value):
        raise ValueError("a whole number of bytes")
    return int(value)


def parse_duration_s(text: str) -> float:
    """``"250ms"`` -> 0.25; a bare number is seconds."""
    match = _QUANTITY.match(text)
    if not match or (match.group(2) and match.group(2) not in TIME_UNITS_S):
        raise ValueError(f"a duration like 2.5, \"500ms\" or \"3s\" (units: {', '.join(TIME_UNITS_S)})")
    value = float(match.group(1).replace("_", "")) * TIME_UNITS_S.get(match.group(2) or "s", 1.0)
    if not math.isfinite(value):
        raise ValueError("a duration below 1e308 seconds")
    return value


def literal_value(number: str, unit: str) -> float:
    """A threshold literal: ``64``+``MiB`` -> 67108864, ``5``+``M`` -> 5e6.
    Raises ValueError for an unknown unit."""
    value = float(number.replace("_", ""))
    if unit in BYTE_UNITS:
        value *= BYTE_UNITS[unit]
    elif unit in COUNT_UNITS:
        value *= COUNT_UNITS[unit]
    else:
        raise ValueError(unit)
    if not math.isfinite(value):
        raise OverflowError(f"{number}{unit}")
    return value


LITERAL_UNITS = tuple(BYTE_UNITS) + tuple(COUNT_UNITS)
