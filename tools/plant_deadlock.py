"""Plant a real deadlock in the engine and print what the watchdog reports (docs/diagnostics.md).

    python tools/plant_deadlock.py            # the wait-for graph and its sentence, as JSON
    python tools/plant_deadlock.py --stacks   # with every thread's py-spy dump

The scenario format cannot express it (the validator rejects cyclic flows), so the plan is built
here: a producer feeds q1, retire_a moves q1 -> q2, retire_b moves q2 -> q1, both queues hold 2
blocks, and the engine's recirculate hook lets a retired block be retired again. Once the loop
is full, retire_a waits on a full q2 that only retire_b pops and retire_b on a full q1 that only
retire_a pops. The tier-4 tests (tests/diagnostics/test_stalls.py) use the same plan.
"""

from __future__ import annotations

import argparse
import json

from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan


def deadlock_plan(stall_timeout_s: float = 1.0, *, recirculate: bool = True, ops: int = 1_000_000) -> ReplicaPlan:
    roles = (
        RolePlan("producer", "produce", 2, outbox="q1"),
        RolePlan("retire_a", "retire", 1, inbox="q1", outbox="q2"),
        RolePlan("retire_b", "retire", 1, inbox="q2", outbox="q1"),
    )
    return ReplicaPlan("planted_deadlock", 0, 5, roles, (QueuePlan("q1", 2), QueuePlan("q2", 2)), ops=ops,
                       deadline_s=60, stall_timeout_s=stall_timeout_s,
                       extra={"testing_recirculate": 1} if recirculate else {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", action="store_true", help="keep py-spy's dump of every thread")
    args = parser.parse_args()
    from stresskit.report.json_report import _replica
    from stresskit.runner.pool import run_replicas

    worker = _replica(run_replicas([deadlock_plan()], workers=1)[0])
    diag = worker["diagnostics"]["stall"]
    if not args.stacks and diag.get("stacks", {}).get("ok"):
        diag["stacks"]["text"] = f"... {len(diag['stacks']['text'].splitlines())} lines (--stacks shows them)"
    print(json.dumps({k: worker[k] for k in ("status", "stop_reason", "error", "diagnostics")}, indent=2))


if __name__ == "__main__":
    main()
