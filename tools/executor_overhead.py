"""Overhead per replica of each executor on this machine (docs/scale.md prints its table).

    python tools/executor_overhead.py [--replicas 12] [--ops 2000] [--scenario parallel_alloc]

Runs a tiny scenario's replica N times one at a time (each time a fresh worker process: the
start-up is what is measured) and N at once, through ``--executor local`` (the Supervisor) and a
2-worker Dask LocalCluster, and prints a Markdown table: wall time per replica (median, min-max),
wall minus the replica's own time (the executor's overhead), the LocalCluster's start-up, and the
pickled sizes of what crosses the wire. The machine's load average is printed with it: timings on
a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from stresskit import api
from stresskit.executors.dask_client import DaskExecutor, local_cluster
from stresskit.executors.local import LocalExecutor
from stresskit.plan import ReplicaPlan
from stresskit.planner import Overrides, plan
from stresskit.runner import DEFAULT_ENGINE, WorkerRecord

Executor = LocalExecutor | DaskExecutor


def _plans(scenario: str, ops: int, n: int) -> list[ReplicaPlan]:
    first = plan(api.load(scenario), Overrides(ops=ops)).replicas[0]
    return [dataclasses.replace(first, replica=i) for i in range(n)]


def _run(executor: Executor, plans: Sequence[ReplicaPlan]) -> list[WorkerRecord]:
    records = executor.execution(plans, 2, DEFAULT_ENGINE, lambda kind, rec: None).run()
    bad = [r for r in records if r.status != "ok"]
    if bad:
        sys.exit(f"executor_overhead: replica {bad[0].replica} ended {bad[0].status}: {bad[0].error}")
    return records


def one_at_a_time(executor: Executor, plans: Sequence[ReplicaPlan]) -> tuple[list[float], list[float]]:
    """Wall time of each replica alone, and that minus the replica's own elapsed time."""
    walls, overheads = [], []
    for p in plans:
        began = time.perf_counter()
        rec = _run(executor, [p])[0]
        walls.append(time.perf_counter() - began)
        overheads.append(walls[-1] - rec.elapsed_s)
    return walls, overheads


def all_at_once(executor: Executor, plans: Sequence[ReplicaPlan]) -> float:
    began = time.perf_counter()
    _run(executor, plans)
    return (time.perf_counter() - began) / len(plans)


def _ms(values: Sequence[float]) -> str:
    return f"{statistics.median(values) * 1e3:.0f} ms ({min(values) * 1e3:.0f}-{max(values) * 1e3:.0f})"


def _timed(make: Callable[[], object]) -> tuple[object, float]:
    began = time.perf_counter()
    made = make()
    return made, time.perf_counter() - began


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=12)
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--scenario", default="parallel_alloc")
    args = ap.parse_args(argv)
    plans = _plans(args.scenario, args.ops, args.replicas)
    load_before = os.getloadavg()

    rows = []
    local = LocalExecutor()
    walls, over = one_at_a_time(local, plans)
    rows.append(("local (Supervisor)", _ms(walls), _ms(over), f"{all_at_once(local, plans) * 1e3:.0f} ms", "-"))

    cluster, started_s = _timed(lambda: local_cluster(2))
    try:
        dask, connect_s = _timed(lambda: DaskExecutor(cluster.scheduler_address))  # type: ignore[attr-defined]
        one_at_a_time(dask, plans[:2])  # the workers' first task imports stresskit and loads the library
        walls, over = one_at_a_time(dask, plans)
        rows.append(("dask (2-worker LocalCluster)", _ms(walls), _ms(over), f"{all_at_once(dask, plans) * 1e3:.0f} ms",
                     f"{started_s:.1f} s + {connect_s:.2f} s connect and library check"))
        record = _run(dask, plans[:1])[0]
        dask.close()
    finally:
        cluster.close()  # type: ignore[attr-defined]

    print(f"scenario {args.scenario}, --ops {args.ops}, {args.replicas} replicas, {os.cpu_count()} CPUs, "
          f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after\n")
    print("| executor | wall per replica, one at a time: median (min-max) | wall minus the replica's own time | "
          "wall per replica, all at once | start-up |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nover the wire per replica: the pickled ReplicaPlan {len(pickle.dumps(plans[0], protocol=5))} B out, "
          f"the pickled WorkerRecord {len(pickle.dumps(record, protocol=5))} B back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
