"""Argument types the measurement tools share (argparse `type=`): a bad value is one line from
argparse, exit 2. The tools run as scripts, so this sits next to them (their directory is first on
sys.path), not in the stresskit package."""

from __future__ import annotations

import argparse

MAX_CAPACITY = 1 << 24  # the engine's queue limit (SK_QUEUE_MAX_CAPACITY)


def positive(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _is_capacity(value: int) -> bool:
    return 2 <= value <= MAX_CAPACITY and value & (value - 1) == 0


def capacity(text: str) -> int:
    """A queue capacity: a power of two in 2..2^24."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not _is_capacity(value):
        raise argparse.ArgumentTypeError(f"expected a power of two in 2..{MAX_CAPACITY}, got {text!r}")
    return value


def capacities(text: str) -> list[int]:
    """Comma-separated queue capacities."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or not all(_is_capacity(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected powers of two in 2..{MAX_CAPACITY}, comma-separated, got {text!r}")
    return values
