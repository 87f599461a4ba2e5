"""The corruption report names the damaged block's allocator, its hand-offs, who found it, the
first wrong byte and the bytes around it; a doubled block names both of its takers. Faults are
planted with the engine's hooks aimed at one role; each producing role of the plans has its own
block size, so the size says who allocated a block."""

from __future__ import annotations

import dataclasses

import pytest

from stresskit.engine import run_replica
from stresskit.plan import ReplicaPlan

from .plans import by_size, local, smr, two_producers

pytestmark = pytest.mark.tier4
FLIP = 0x5A  # what the corruption hook XORs into a block's last written byte


def _report(plan: ReplicaPlan) -> dict:
    result = run_replica(plan)
    return result.diagnostics["corruption"]


def _window_bytes(hexes: str) -> bytes:
    return bytes.fromhex(hexes.replace(" ", ""))


def _assert_flipped_at(block: dict, offset: int) -> None:
    """The window's actual and expected bytes differ exactly at `offset`, by the hook's flip."""
    w = block["window"]
    actual, expected = _window_bytes(w["actual"]), _window_bytes(w["expected"])
    assert len(actual) == len(expected) > 0
    assert w["start"] <= offset < w["start"] + len(actual)
    i = offset - w["start"]
    assert actual[i] ^ expected[i] == FLIP
    assert actual[:i] + actual[i + 1:] == expected[:i] + expected[i + 1:]
    assert w["differs_at"] == [offset]


def test_damage_found_by_consumers_names_allocator_queue_finder_and_byte():
    report = _report(two_producers(testing_corrupt_blocks=4, testing_corrupt_role="consumer"))
    damaged = report["damaged"]
    assert damaged["count"] == 4 and len(damaged["blocks"]) == 4
    for block in damaged["blocks"]:
        producer = by_size(block["size"])
        assert block["allocated_by"]["label"] == f"{producer}[0]"
        assert block["found_by"]["role"] == "consumer"
        # the hook flips the last byte of the request (usable >= size)
        assert block["offset"] == block["size"] - 1
        assert block["region"] == "body"
        _assert_flipped_at(block, block["size"] - 1)
        events = [e["event"] for e in block["path"]]
        assert events == ["allocated", "handed_off", "found_damaged"]
        assert block["path"][1]["queue"] == "q"
        assert block["hand_offs"] == f"{producer}[0] -> queue 'q' -> {block['found_by']['label']}"
        assert block["path"][0]["at_ns"] <= block["path"][2]["at_ns"]
    assert report["doubles"]["count"] == 0


def test_damage_in_a_16_byte_header_is_located_in_the_header():
    report = _report(local(size=16, testing_corrupt_blocks=2, testing_corrupt_role="local"))
    for block in report["damaged"]["blocks"]:
        assert block["offset"] == 15
        assert block["region"] == "header.size_tag"
        assert block["found_by"]["label"] == block["allocated_by"]["label"] == "local[0]"
        assert block["hand_offs"] == "local[0] (never handed off)"
        _assert_flipped_at(block, 15)


def test_damage_found_by_the_reclaimer_shows_the_retirement():
    report = _report(smr(size=200, testing_corrupt_blocks=3, testing_corrupt_role="C"))
    assert report["damaged"]["count"] == 3
    for block in report["damaged"]["blocks"]:
        assert block["hand_offs"] == "A[0] -> queue 'published' -> B[0] -> queue 'retired' -> C[0]"
        retired = block["path"][2]
        assert retired["event"] == "retired" and retired["epoch"] >= 1 and retired["at_ns"] is not None
        assert block["offset"] == 199 and block["region"] == "body"
        _assert_flipped_at(block, 199)


def test_damage_in_a_large_block_tail_is_found_past_the_unpatterned_middle():
    report = _report(local(size=100_000, ops=200, testing_corrupt_blocks=1, testing_corrupt_role="local"))
    (block,) = report["damaged"]["blocks"]
    assert block["offset"] == 99_999
    _assert_flipped_at(block, 99_999)


def test_double_handoff_aimed_at_one_producer_names_its_blocks_and_the_queue():
    report = _report(two_producers(consumers=1, testing_double_handoffs=3, testing_double_handoff_role="big"))
    doubles = report["doubles"]
    assert doubles["count"] == 3
    for d in doubles["blocks"]:
        assert d["kind"] == "double free"
        assert d["allocated_by"]["label"] == "big[0]"
        assert d["size"] == 3000
        assert d["second_owner"]["label"] == "consumer[0]"
        # best effort: "small" may push any number of blocks between big's two pushes
        assert d["first_owner"] is None or d["first_owner"]["label"] == "consumer[0]"
        assert d["queue"] == "q"
    assert report["damaged"]["count"] == 0


def test_double_free_names_both_owners():
    """One producer, one consumer: the duplicate follows its original in the queue with nothing
    in between, so the first taker is certainly still in the ring of recent takes."""
    plan = two_producers(consumers=1, testing_double_handoffs=2, testing_double_handoff_role="small")
    plan = dataclasses.replace(plan, roles=(plan.roles[0], plan.roles[2]))
    doubles = _report(plan)["doubles"]
    assert doubles["count"] == 2
    for d in doubles["blocks"]:
        assert d["first_owner"]["label"] == d["second_owner"]["label"] == "consumer[0]"
        assert d["allocated_by"]["label"] == "small[0]"


def test_double_handoff_into_a_retirer_is_a_double_hand_off_caught_by_the_retirer():
    report = _report(smr(testing_double_handoffs=2, testing_double_handoff_role="A"))
    doubles = report["doubles"]
    assert doubles["count"] == 2
    for d in doubles["blocks"]:
        assert d["allocated_by"]["label"] == "A[0]"
        assert d["second_owner"]["label"] == "B[0]"
        assert d["queue"] == "published"
        assert d["kind"] == "double hand-off"
        assert d["first_owner"]["label"] == "B[0]"


def test_summary_lines_show_the_bytes_and_both_owners():
    from stresskit.diagnostics import corruption

    report = _report(two_producers(consumers=1, testing_corrupt_blocks=1, testing_corrupt_role="consumer",
                                   testing_double_handoffs=1, testing_double_handoff_role="small"))
    lines = corruption.summary_lines(report)
    block = report["damaged"]["blocks"][0]
    assert lines[0].startswith("corruption: 1 damaged block; first: ")
    assert f"first wrong byte at offset {block['offset']} (body)" in lines[0]
    assert lines[1].endswith(block["window"]["actual"]) and lines[2].endswith(block["window"]["expected"])
    assert "taken by consumer[0], again by consumer[0] from queue 'q'" in lines[3]


@pytest.mark.tier4
@pytest.mark.parametrize("size", [16, 24, 64])
def test_a_damaged_block_s_recorded_header_is_not_taken_for_a_leak(size):
    """The corruption report keeps a copy of a small block's header (its byte window); the
    mimalloc-side leak scan must not count that copy as a leaked block (it once did)."""
    from stresskit.engine import run_replica
    from stresskit.plan import ReplicaPlan, RolePlan, SizeDistribution

    plan = ReplicaPlan(scenario="t", replica=0, seed=5, ops=1000, extra={"testing_corrupt_blocks": 1},
                       roles=(RolePlan("p", "alloc_free", 1, sizes=SizeDistribution("fixed", (size,)), batch=8),))
    result = run_replica(plan)
    assert result.canary_failures == 1 and result.checks["mimalloc_scanned"] == 1
    assert result.checks["mimalloc_leaked_blocks"] == 0
    assert "leaks" not in result.diagnostics
