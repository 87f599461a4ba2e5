"""Numbers as a person reads them: ``85.3 M ops/s``, ``2.3 MiB``, ``1,234 ns``, ``true``.

The one place that turns a metric's value into text for people (the console, bench tables, anyone
else). The unit comes from the metric registry (stresskit.metrics.METRICS), so a new metric is
shown with its unit without touching this module; machine outputs (the JSON report) keep raw
numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stresskit.metrics import spec_for

MISSING = "-"
_BINARY = ("KiB", "MiB", "GiB", "TiB", "PiB")
_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
# Below this many ns a latency stays in ns, exact to the nanosecond: thresholds on latencies are
# written in ns (``p99_ns < 2000``), so the value reads against the expression without arithmetic.
_NS_EXACT_BELOW = 10_000
_TIME = ((1e9, "s"), (1e6, "ms"), (1e3, "µs"))
# Count units whose singular is not the plural minus its "s".
_SINGULAR = {"processes": "process", "ops": "op"}


def integer(value: float) -> str:
    """``1234567`` -> ``1,234,567``; a float is rounded."""
    return f"{round(value):,}"


def _significant(value: float, digits: int = 3) -> str:
    """Three significant digits, no exponent: 85.3, 8.53, 853."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def byte_size(value: float) -> str:
    """``512`` -> ``512 B``; ``2411724`` -> ``2.3 MiB`` (binary prefixes, as scenarios write them)."""
    if abs(value) < 1024:
        return f"{integer(value)} B"
    scaled = float(value)
    for prefix in _BINARY:
        scaled /= 1024
        if abs(scaled) < 1024 or prefix == _BINARY[-1]:
            return f"{scaled:,.1f} {prefix}"
    raise AssertionError("unreachable")  # pragma: no cover


def nanoseconds(value: float) -> str:
    """``1234`` -> ``1,234 ns``; ``45600`` -> ``45.6 µs``; ``2.5e9`` -> ``2.5 s``."""
    if abs(value) < _NS_EXACT_BELOW:
        return f"{integer(value)} ns"
    for scale, unit in _TIME:
        if abs(value) >= scale:
            return f"{_significant(value / scale)} {unit}"
    return f"{_significant(value / 1e3)} µs"  # pragma: no cover - caught by _NS_EXACT_BELOW


def seconds(value: float) -> str:
    """``1.234`` -> ``1.23 s``; ``0.0042`` -> ``4.2 ms``."""
    return nanoseconds(value * 1e9) if abs(value) < 1 else f"{_significant(value)} s"


def rate(value: float, unit: str) -> str:
    """``85285149.7`` -> ``85.3 M ops/s``: SI prefixes, three significant digits."""
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{_significant(value / scale)} {prefix} {unit}"
    return f"{_significant(value)} {unit}"


def count(value: float, unit: str) -> str:
    """``1234`` blocks -> ``1,234 blocks``; exact (a leak of 1 block is not "0.0 k blocks")."""
    if isinstance(value, float) and not value.is_integer():
        return f"{_significant(value)} {unit}"
    if value == 1 and unit.endswith("s"):
        unit = _SINGULAR.get(unit, unit[:-1])
    return f"{integer(value)} {unit}"


def quantity(value: Any, unit: str | None) -> str:
    """Any metric value in the given unit (a METRICS unit string; None: a bare number)."""
    if value is None:
        return MISSING
    if isinstance(value, bool) or unit == "bool":
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return pairs(value)
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if unit in ("bytes", "B"):
        return byte_size(value)
    if unit == "ns":
        return nanoseconds(value)
    if unit == "s":
        return seconds(value)
    if unit and unit.endswith("/s"):
        return rate(value, unit)
    if not unit:
        return integer(value) if float(value).is_integer() else _significant(value)
    return count(value, unit)


def unit_of(name: str) -> str | None:
    """The unit of a concrete metric name, from the registry; None for a name it does not know."""
    spec = spec_for(name)
    if spec is None:
        return None
    if spec.unit == "count/bytes":  # glue.<stat>: alloc_count, failed_count... or a byte total
        return "bytes" if name.endswith(("_bytes", "_allocated")) else ""
    return spec.unit


def metric(name: str, value: Any) -> str:
    """A metric's value with the unit the registry gives it: metric("bytes.leaked", 0) -> "0 B"."""
    return quantity(value, unit_of(name))


def pairs(values: Mapping[str, Any]) -> str:
    """Several metrics at once (a threshold over several): ``a.b=1,024 ops, c.d=2.3 MiB``."""
    return ", ".join(f"{name}={metric(name, v)}" for name, v in values.items())
