"""A stand-in for stresskit.engine used only by runner tests that must not depend on the native
engine (crash containment, deadlines, streaming). It does real work in native code (the glue's
sk_alloc_free_loop, GIL released) so the worker has a live native stack, and builds a
ReplicaResult from what it actually did. Never used by the CLI."""

from __future__ import annotations

import threading
import time

from stresskit import _native
from stresskit.results import Histogram, ReplicaResult, RoleResult


def run_replica(plan, progress=None, stop_event=None):
    lib = _native.lib()
    start = time.monotonic()
    roles = []
    for role in plan.roles:
        done = [0]

        def loop(done=done, role=role):
            per_call = 2_000  # batches of 64 blocks: 128k allocations per native call
            budget = (plan.ops or 10**9) // max(1, len(plan.roles)) // role.threads
            end = time.monotonic() + (plan.duration_s or 1e9)
            while done[0] < budget * role.threads and time.monotonic() < end:
                if stop_event is not None and stop_event.is_set():
                    return
                damaged = lib.sk_alloc_free_loop(per_call, 64, 64, 0, 0, plan.seed, _native.ffi().NULL)
                assert damaged == 0
                done[0] += per_call * 64
                if progress:
                    progress({"ops": done[0]})

        threads = [threading.Thread(target=loop) for _ in range(role.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        roles.append(
            RoleResult(
                name=role.name, action=role.action, threads=role.threads, ops=done[0], allocs=done[0],
                frees=done[0], elapsed_s=time.monotonic() - start,
                latency={"alloc": Histogram(count=1, p50_ns=10, p90_ns=20, p99_ns=30, p999_ns=40, max_ns=50)},
            )
        )
    return ReplicaResult(scenario=plan.scenario, replica=plan.replica, seed=plan.seed, roles=roles, elapsed_s=time.monotonic() - start)
