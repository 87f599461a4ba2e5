"""Threshold expressions (k6 style): ``bytes.leaked == 0``, ``throughput.ops_per_s > 5e6``,
``latency.alloc.p99_ns < 2000``, ``unreclaimed.peak_bytes < 64MiB``.

Grammar: comparisons (``== != < <= > >=``, chains allowed) between dotted metric names and
numbers, joined with ``and`` / ``or`` / ``not`` and parentheses. Numbers may carry a byte suffix
(``KiB MiB GiB``, ``KB MB GB``, ``B``) or a count suffix (``k M G``); ``true``/``false`` stand for
1/0. Parsed with Python's ``ast`` and checked node by node against that grammar; nothing is ever
evaluated by Python itself.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Union

from stresskit.units import LITERAL_UNITS, NUMBER, literal_value


class ThresholdSyntaxError(ValueError):
    """The expression is not in the threshold grammar. str() is a user-facing explanation."""


@dataclass(frozen=True)
class Metric:
    name: str


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Compare:
    operands: tuple[Operand, ...]
    ops: tuple[str, ...]  # len(operands) - 1 operators: a < b <= c


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    value: Expr


Operand = Union[Metric, Number]
Expr = Union[Compare, BoolOp, Not]

_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_CONSTANTS = {"true": 1.0, "false": 0.0}
# A number followed by letters, not part of a name (p99_ns) nor of a longer number.
_LITERAL = re.compile(rf"(?<![\w.])({NUMBER})([A-Za-z]+)(?![\w.])")
EXAMPLE = "e.g. 'bytes.leaked == 0' or 'latency.alloc.p99_ns < 2000 and unreclaimed.peak_bytes < 64MiB'"


@dataclass(frozen=True)
class Threshold:
    expression: str
    tree: Expr

    @property
    def metrics(self) -> tuple[str, ...]:
        found: list[str] = []
        _collect(self.tree, found)
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class ThresholdResult:
    expression: str
    value: float | bool | dict[str, float | bool | None] | None  # the metric's value (a map if several)
    ok: bool
    reason: str = ""  # why it failed when that is not just the comparison (a missing metric)
    name: str = ""  # built-in checks only: their name (checks.skip uses it)
    builtin: bool = False  # a built-in safety check rather than one of the scenario's thresholds
    skipped: bool = False  # a built-in check the scenario turned off (ok is then True)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"expression": self.expression, "value": self.value, "ok": self.ok}
        if self.reason:
            out["reason"] = self.reason
        if self.builtin:
            out.update(builtin=True, name=self.name, skipped=self.skipped)
        elif self.skipped:  # a scenario threshold not judged (run --sanitize: speed and RSS)
            out["skipped"] = True
        return out


def _expand_units(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        number, unit = match.group(1), match.group(2)
        try:
            return repr(literal_value(number, unit))
        except OverflowError:
            raise ThresholdSyntaxError(f"{_FINITE} (got '{number}{unit}')") from None
        except ValueError:
            raise ThresholdSyntaxError(
                f"a number with a known unit ({', '.join(LITERAL_UNITS)}) (got '{number}{unit}')"
            ) from None

    return _LITERAL.sub(repl, text)


def parse(expression: str) -> Threshold:
    """Parse one expression or raise ThresholdSyntaxError saying what was expected."""
    text = _expand_units(expression.strip())
    if not text:
        raise ThresholdSyntaxError(f"an expression, {EXAMPLE} (got an empty string)")
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        where = f" at column {exc.offset}" if isinstance(exc, SyntaxError) and exc.offset else ""
        raise ThresholdSyntaxError(f"a threshold expression, {EXAMPLE} (could not parse{where})") from None
    try:
        tree = _expr(node)
    except RecursionError:
        raise ThresholdSyntaxError(f"a shallower expression, {EXAMPLE}") from None
    return Threshold(expression=expression.strip(), tree=tree)


def _expr(node: ast.AST) -> Expr:
    if isinstance(node, ast.Compare):
        ops = []
        for op in node.ops:
            if type(op) not in _OPS:
                shown = {ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}.get(type(op), "?")
                raise ThresholdSyntaxError(f"a comparison with == != < <= > >= (got '{shown}')")
            ops.append(_OPS[type(op)])
        operands = tuple(_operand(n) for n in (node.left, *node.comparators))
        if not any(isinstance(o, Metric) for o in operands):
            raise ThresholdSyntaxError(f"a comparison that names a metric, {EXAMPLE}")
        return Compare(operands=operands, ops=tuple(ops))
    if isinstance(node, ast.BoolOp):
        return BoolOp(op="and" if isinstance(node.op, ast.And) else "or", values=tuple(_expr(v) for v in node.values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Not(_expr(node.operand))
    raise ThresholdSyntaxError(f"a comparison, {EXAMPLE} (got '{_shown(node)}')")


_FINITE = "a number between -1.8e308 and 1.8e308"


def _operand(node: ast.AST) -> Operand:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        try:
            value = float(node.value)  # an int literal of 309+ digits overflows here
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise ThresholdSyntaxError(f"{_FINITE} (got a literal too large to represent)")
        return Number(value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _operand(node.operand)
        if isinstance(inner, Number):
            return Number(-inner.value if isinstance(node.op, ast.USub) else inner.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return Number(_CONSTANTS[node.id])
    name = _dotted(node)
    if name is not None:
        return Metric(name)
    raise ThresholdSyntaxError(f"a metric name or a number (got '{_shown(node)}')")


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _shown(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001 - only used to quote the user's input back
        text = type(node).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _collect(tree: Expr, out: list[str]) -> None:
    if isinstance(tree, Compare):
        out.extend(o.name for o in tree.operands if isinstance(o, Metric))
    elif isinstance(tree, BoolOp):
        for v in tree.values:
            _collect(v, out)
    else:
        _collect(tree.value, out)


NOT_PRODUCED = "was not produced by this run"  # the reason of a threshold over a metric the run lacks


class _Missing(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _value(operand: Operand, metrics: dict[str, float | bool | None]) -> float:
    if isinstance(operand, Number):
        return operand.value
    value = metrics.get(operand.name)
    if value is None:
        raise _Missing(operand.name)
    return float(value)


_CMP = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _eval(tree: Expr, metrics: dict[str, float | bool | None]) -> bool:
    if isinstance(tree, Compare):
        values = [_value(o, metrics) for o in tree.operands]
        return all(_CMP[op](values[i], values[i + 1]) for i, op in enumerate(tree.ops))
    if isinstance(tree, BoolOp):
        results = (_eval(v, metrics) for v in tree.values)
        return all(results) if tree.op == "and" else any(results)
    return not _eval(tree.value, metrics)


def evaluate(threshold: Threshold, metrics: dict[str, float | bool | None]) -> ThresholdResult:
    """A metric the run did not produce (a crashed worker, an action that has no such op) fails
    the threshold, with the reason, rather than passing silently."""
    names = threshold.metrics
    value: float | bool | dict[str, float | bool | None] | None
    value = metrics.get(names[0]) if len(names) == 1 else {n: metrics.get(n) for n in names}
    try:
        ok = _eval(threshold.tree, metrics)
    except _Missing as missing:
        return ThresholdResult(threshold.expression, value, False, f"metric '{missing.name}' {NOT_PRODUCED}")
    return ThresholdResult(threshold.expression, value, ok)
