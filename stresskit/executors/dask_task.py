"""What runs inside a Dask worker: one replica, as a fresh OS process, through a one-replica
stresskit.runner.Supervisor (the same start, crash containment, deadline and RSS budget as a
local run). Imported by reference on the worker: the same stresskit must be installed there.

Before it starts anything the task compares the native library this worker would load with the
client's (sha256 and versions, stresskit/report/environment.py): a replica measured on
another build is not the run that was asked for. Events ("started", "progress") go back on a
per-run Dask event topic; the WorkerRecord is the task's result.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from stresskit.report.environment import library_identity
from stresskit.plan import ReplicaPlan
from stresskit.runner.pool import Interrupted, Supervisor
from stresskit.runner.records import WorkerRecord

IDENTITY_KEYS = ("sha256", "glue_version", "mimalloc_version")
STOP_POLL_S = 0.25


class LibraryMismatch(Exception):
    """This worker's native library is not the client's; the message is one line."""


def library_difference(expected: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
    """What differs between two library_identity() dicts, or None when they are the same build."""
    if "error" in found:
        return f"cannot load the native library: {found['error']}"
    diffs = [f"{key} {found.get(key)} (client: {expected.get(key)})" for key in IDENTITY_KEYS if found.get(key) != expected.get(key)]
    return f"another native library at {found.get('path')}: " + ", ".join(diffs) if diffs else None


def check_library(expected: Mapping[str, Any], where: str) -> None:
    problem = library_difference(expected, library_identity())
    if problem is not None:
        raise LibraryMismatch(f"Dask worker {where}: {problem}")


def _watch_stop(stop: Any, supervisor: Supervisor, done: threading.Event) -> None:
    """The client sets a Dask Event on Ctrl-C; the supervisor then stops as on a local Ctrl-C."""
    while not done.is_set():
        try:
            if stop.wait(timeout=STOP_POLL_S):
                supervisor.stop_requested.set()
                return
        except Exception:  # noqa: BLE001 - the scheduler is going away: nothing left to hear
            return


def run_replica(plan: ReplicaPlan, engine_ref: str, expected_library: Mapping[str, Any], environment: dict[str, str],
                topic: str, stop_event: str) -> WorkerRecord:
    from distributed import Event, get_client, get_worker

    worker = get_worker()
    # The client is looked up here: only the task's own thread knows its worker's client.
    stop = Event(stop_event, client=get_client())
    check_library(expected_library, worker.address)

    def on_event(kind: str, rec: WorkerRecord) -> None:
        if kind in ("started", "progress"):
            progress = {k: v for k, v in rec.progress.items() if k != "view"}  # the engine's view stays here
            worker.log_event(topic, {"kind": kind, "replica": rec.replica, "pid": rec.pid, "worker": worker.address,
                                     "progress": progress})

    supervisor = Supervisor([plan], 1, engine_ref, on_event, environment=environment)
    done = threading.Event()
    threading.Thread(target=_watch_stop, args=(stop, supervisor, done), name="stresskit-stop-watch", daemon=True).start()
    try:
        records = supervisor.run()
    except Interrupted as interrupted:
        records = interrupted.records
    finally:
        done.set()
    rec = records[0]
    rec.executor_workers = [worker.address]
    if supervisor.problems or supervisor.start_failures:
        rec.error = "; ".join(filter(None, [rec.error, *supervisor.problems, *supervisor.start_failures]))
    return rec


def worker_library() -> dict[str, Any]:
    """Run on every worker by the client before any task (Client.run)."""
    return library_identity()
