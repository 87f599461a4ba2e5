"""The glue's statistics (cc_alloc_stats_*) against what the engine knows it did.

The engine keeps its own ledger of every call it made through the glue (sk_checks_t: blocks
returned and given back, their usable sizes, NULLs that were ENOMEM). Once a run has drained,
the glue's snapshot must equal that ledger field by field: a counter missed on one path, bytes
counted as requested instead of usable, a failure not counted, a free of NULL counted, all show
as a named mismatch. The statistics' lifecycle (reset, counting after reset) is checked around
every stats-on replica, with every counter non-zero before each reset so a reset that forgets one
cannot hide.
"""

from __future__ import annotations

from collections.abc import Mapping

GLUE_FIELDS = ("alloc_count", "free_count", "alloc_bytes", "free_bytes", "current_allocated", "failed_count")
_MASK64 = (1 << 64) - 1


def snapshot(lib) -> dict[str, int]:  # noqa: ANN001 - the cffi library
    snap = lib.cc_alloc_stats_snapshot()
    return {name: int(getattr(snap, name)) for name in GLUE_FIELDS}


def expected_from_ledger(ledger: Mapping[str, int]) -> dict[str, int]:
    """What each glue counter must read, from the engine's ledger (sk_checks_t fields)."""
    return {
        "alloc_count": ledger["allocs"],
        "free_count": ledger["frees"],
        "alloc_bytes": ledger["usable_allocated"],
        "free_bytes": ledger["usable_freed"],
        "current_allocated": (ledger["usable_allocated"] - ledger["usable_freed"]) & _MASK64,
        "failed_count": ledger["enomem_nulls"],
    }


def compare(glue: Mapping[str, int], ledger: Mapping[str, int]) -> list[str]:
    """One line per glue counter that disagrees with the ledger."""
    want = expected_from_ledger(ledger)
    return [
        f"glue {name} = {glue[name]:,} but the engine's ledger says {want[name]:,}"
        for name in GLUE_FIELDS
        if glue.get(name) != want[name]
    ]


def reset_check(lib, when: str) -> list[str]:  # noqa: ANN001
    """Reset, then every counter must read 0."""
    lib.cc_alloc_stats_reset()
    left = {k: v for k, v in snapshot(lib).items() if v != 0}
    return [f"{when}: cc_alloc_stats_reset left {name} = {value:,}" for name, value in left.items()]


def lifecycle_check(ffi, lib) -> list[str]:  # noqa: ANN001
    """A known sequence through every counting path, with exact expectations, between resets.

    Runs single-threaded in the worker before the replica (a handful of calls, not a loop):
    every counter becomes non-zero, so the reset that follows must really clear each of them.
    Leaves statistics on and reset.
    """
    problems: list[str] = []
    lib.cc_alloc_stats_enable(True)
    problems += reset_check(lib, "before the run")
    blocks = [
        (lib.cc_alloc(24), 24, False),
        (lib.cc_calloc(3, 5), 15, True),
        (lib.cc_alloc_node(1), 1, False),
        (lib.cc_alloc_aligned(40, 256), 40, True),
    ]
    failed = lib.cc_calloc(2**63, 4)  # overflows: NULL, counted as failed
    if failed != ffi.NULL:
        lib.cc_free_unsized(failed)
        problems.append("statistics check: cc_calloc(2^63, 4) returned a block instead of NULL")
    usable = 0
    for p, _size, _unsized in blocks:
        if p == ffi.NULL:
            problems.append("statistics check: a small allocation returned NULL")
            return problems
        usable += int(lib.cc_usable_size(p))
    want = {"alloc_count": 4, "free_count": 0, "alloc_bytes": usable, "free_bytes": 0,
            "current_allocated": usable, "failed_count": 1}
    problems += _diff("after 4 allocations and 1 failure", snapshot(lib), want)
    for p, size, unsized in blocks:
        if unsized:
            lib.cc_free_unsized(p)
        else:
            lib.cc_free(p, size)
    lib.cc_free(ffi.NULL, 8)  # frees of NULL are no-ops and not counted
    lib.cc_free_unsized(ffi.NULL)
    want.update(free_count=4, free_bytes=usable, current_allocated=0)
    problems += _diff("after freeing them (2 sized, 2 unsized, 2 NULL)", snapshot(lib), want)
    problems += reset_check(lib, "mid-life")
    return problems


def _diff(when: str, got: Mapping[str, int], want: Mapping[str, int]) -> list[str]:
    return [f"statistics check {when}: {k} = {got[k]:,}, expected {v:,}" for k, v in want.items() if got[k] != v]
