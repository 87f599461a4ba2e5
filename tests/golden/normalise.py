"""Make tool output comparable across runs: what varies by machine, time or interleaving is
replaced by a placeholder (ADDR, <PID>, N, <F>, <V>), what the seed decides stays exact.

Text (console, error lines): paths -> <REPO>/<TMP>/<PREFIX>/<HOME>, hex addresses -> ADDR, pids ->
<PID>, the machine's hand-off line -> <MACHINE>, every other number with its unit -> N (console numbers carry timings; the exact counts are checked in
the JSON). JSON: every float -> <F> (all are times, rates or averages), integers under the keys in
VOLATILE_INTS or ending in _ns (times) -> <V>, strings normalised as text, the unreclaimed series -> its length only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

# Integer fields that depend on timing, interleaving or the machine, not on the seed.
VOLATILE_INTS = frozenset({
    "pid", "peak_rss_bytes", "rss_budget_bytes", "timer_overhead_ns", "max_threads_inside", "empty_retries",
    "full_retries", "epochs", "peak_bytes", "peak_blocks", "exitcode", "max_ns", "age_ns", "t_ns", "time_ns",
    "sha256", "size_bytes", "mtime",
    "count",  # latency samples: drawn per thread, and how many ops each consumer thread gets is a race
})
# String fields that name the machine, the time or the build.
VOLATILE_STRINGS = frozenset({"started_at", "version", "glue_version", "python", "platform", "hostname", "sha256", "commit",
                              "path", "origin"})  # environment.native: where this machine's library was found

_ADDR = re.compile(r"0x[0-9a-fA-F]{4,}")
_PID = re.compile(r"\b(pid|PID) \d+")
# A number and its unit prefix or unit, if any: the console picks the unit by magnitude (ns, µs,
# ms; B, KiB, MiB; k, M), so "623 µs" and "1.2 ms" must normalise alike.
_NUMBER = re.compile(r"(?<![A-Za-z_<\d.,])\d+(?:[.,]\d+)*(?: ?(?:ns|µs|us|ms|s|B|KiB|MiB|GiB|TiB|k|M|G)(?![A-Za-z]))?")


REPO = Path(__file__).resolve().parents[2]


def _roots(tmp: Path | None) -> list[tuple[str, str]]:
    pairs = [(str(REPO), "<REPO>"), (sys.prefix, "<PREFIX>"), (str(Path.home()), "<HOME>")]
    if tmp is not None:
        pairs.insert(0, (str(tmp), "<TMP>"))
    return pairs


# A hex dump (the corruption report's byte windows): a seed decides it, so it stays exact.
_HEX_DUMP = re.compile(r"\b[0-9a-f]{2}(?: [0-9a-f]{2}){7,}\b")


# `stresskit run`'s machine line: its CPUs, whether it was measured at all (a busy CPU gives up) and
# whether it says CHANGED are the host's, not the seed's, so the whole line is one placeholder.
_HANDOFF_LINE = re.compile(r"^cross-core hand-off round trip: .*$", re.MULTILINE)


def text(value: str, tmp: Path | None = None, numbers: bool = True) -> str:
    value = _HANDOFF_LINE.sub("cross-core hand-off round trip: <MACHINE>", value)
    for root, mark in _roots(tmp):
        value = value.replace(root, mark)
    value = _ADDR.sub("ADDR", value)
    value = _PID.sub(lambda m: f"{m.group(1)} <PID>", value)
    if not numbers:
        return value
    dumps = _HEX_DUMP.findall(value)
    value = _NUMBER.sub("N", _HEX_DUMP.sub("\0", value))
    for dump in dumps:
        value = value.replace("\0", dump, 1)
    return value


# A run report's top-level keys that are machine-specific (environment) or timing-shaped (latency
# buckets, progress samples): their shape has its own tests (tests/scenarios/test_scenario_golden.py,
# tests/html, tests/ci), the goldens only that they are there.
OPAQUE_KEYS = ("environment", "latency_histograms", "throughput_series")


def document(value: Any, tmp: Path | None = None, key: str = "") -> Any:
    """Normalise a JSON document. ``key``: the last component of the key holding ``value``
    (metric names are dotted: "latency.alloc.p99_ns" counts as "p99_ns")."""
    last = key.rsplit(".", 1)[-1]
    if isinstance(value, dict):
        if last == "unreclaimed_series":
            return f"<{len(value)} series>"
        report = "scenario" in value and "workers" in value  # a run report: its opaque keys are top-level ones
        return {k: f"<{k}>" if report and k in OPAQUE_KEYS else document(v, tmp, k) for k, v in value.items()}
    if isinstance(value, list):
        if last in ("unreclaimed_series", "points"):
            return f"<{len(value)} entries>"
        return [document(v, tmp, key) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return "<F>"
    if isinstance(value, int):
        return "<V>" if last in VOLATILE_INTS or last.endswith("_ns") else value
    if isinstance(value, str):
        return "<V>" if last in VOLATILE_STRINGS else text(value, tmp, numbers=False)
    return value
