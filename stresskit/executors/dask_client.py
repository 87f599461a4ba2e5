"""``--executor dask`` / ``dask://HOST:PORT``: replicas as Dask tasks (docs/scale.md).

Dask's ``distributed`` is the engine (scheduler, workers, nannies that restart dead workers);
stresskit only submits one task per replica and collects the WorkerRecords as they finish
(as_completed). Each task runs its replica as a fresh OS process on the worker
(stresskit/executors/dask_task.py). A task whose Dask worker died is given once more to the
cluster (``attempts``: 2, both workers named in the record); a second death is reported as a
crash. Ctrl-C sets a Dask Event that stops the running replicas like a local Ctrl-C, cancels
the tasks not yet started and raises Interrupted with what finished.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import time
import uuid
from collections.abc import Sequence
from typing import Any

from stresskit.diagnostics.replay_record import test_environment
from stresskit.report.environment import library_identity
from stresskit.executors.base import ExecutorError
from stresskit.executors.dask_task import LibraryMismatch, library_difference, run_replica, worker_library
from stresskit.plan import ReplicaPlan
from stresskit.runner.pool import STOP_GRACE_S, Attacher, EventFn, Interrupted, Sanitizer
from stresskit.runner.records import WorkerRecord
from stresskit.runner.signals import described, name_of

EXIT_USAGE, EXIT_ERROR = 2, 3
CONNECT_TIMEOUT_S = 10
WORKERS_TIMEOUT_S = 30
MAX_ATTEMPTS = 2  # a replica whose worker died is retried once, on whatever worker the cluster picks
MAX_REQUEUES = 3  # a task lost with its worker before the replica started is only resubmitted, this often
POLL_S = 0.1
INSTALL_HINT = "--executor dask needs Dask's distributed package: pip install 'stresskit[dask]'"


def require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ExecutorError(INSTALL_HINT, EXIT_USAGE) from None


def local_cluster(n_workers: int, **kwargs: Any) -> Any:
    """A LocalCluster of single-threaded worker processes on loopback, no dashboard. Its
    scheduler gives up on a task at the first worker death (allowed-failures 0): the retry is
    ours, so that the record can say where each attempt ran. No memory limit: each replica's own
    supervisor enforces its plan's RSS budget, and a nanny would count the wrong process."""
    import dask
    from distributed import LocalCluster

    # worker-saturation 1.0: a task waits at the scheduler until a worker thread is free, so a
    # worker that dies takes only the replica it was running with it.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0, "distributed.scheduler.worker-saturation": 1.0}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR,
                            # the scheduler's HTTP routes (health, metrics) run even without a
                            # dashboard: on any free loopback port, not 8787 (another cluster's)
                            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, **kwargs)


def machine_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class DaskExecutor:
    name = "dask"

    def __init__(self, address: str | None) -> None:
        require_distributed()
        from distributed import Client

        self.library = library_identity()
        if "error" in self.library:
            raise ExecutorError(f"--executor dask: the native library cannot be loaded here: {self.library['error']}", EXIT_ERROR)
        self.cluster = local_cluster(machine_cpus()) if address is None else None
        self.address = self.cluster.scheduler_address if self.cluster is not None else address
        try:
            self.client = Client(self.address, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError) as exc:
            self.close()
            raise ExecutorError(f"--executor dask://{self.address.removeprefix('tcp://')}: cannot reach the Dask scheduler: "
                                f"{exc}", EXIT_ERROR) from None
        self.check_workers()

    def check_workers(self) -> None:
        """Every worker must load the client's build of the native library (a late joiner is
        checked by its first task)."""
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError:
            self.close()
            raise ExecutorError(f"--executor dask: no Dask worker joined {self.address} within {WORKERS_TIMEOUT_S} s", EXIT_ERROR) from None
        for address, found in sorted(self.client.run(worker_library).items()):
            problem = library_difference(self.library, found)
            if problem is not None:
                self.close()
                raise ExecutorError(f"--executor dask: Dask worker {address}: {problem}; refusing to run", EXIT_ERROR)

    def execution(self, plans: Sequence[ReplicaPlan], workers: int, engine_ref: str, on_event: EventFn,
                  attacher: Attacher | None = None, sanitizer: Sanitizer | None = None) -> DaskExecution:
        if attacher is not None or sanitizer is not None:  # the CLI refuses these first; the API gets the same line
            raise ExecutorError(unsupported("--profile" if attacher is not None else "--sanitize"), EXIT_USAGE)
        return DaskExecution(self, plans, engine_ref, on_event)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "scheduler": self.address, "local_cluster": self.cluster is not None,
                "workers": len(self.client.scheduler_info().get("workers", {}))}

    def close(self) -> None:
        # A task's stop watcher may be inside Event.wait when the cluster goes away; the
        # scheduler then logs the cancelled wait as an ERROR with a traceback. Nothing is lost
        # (every replica has been collected or cancelled by now), so the user is not shown it.
        logging.getLogger("distributed.event").setLevel(logging.CRITICAL)
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def unsupported(option: str) -> str:
    why = ("py-spy must attach to each replica's process on its own machine" if option == "--profile"
           else "the sanitized library is built and preloaded on this machine only")
    return f"{option} cannot be combined with --executor dask ({why}); run it with --executor local"


class DaskExecution:
    def __init__(self, executor: DaskExecutor, plans: Sequence[ReplicaPlan], engine_ref: str, on_event: EventFn) -> None:
        self.executor, self.client = executor, executor.client
        self.plans = list(plans)
        self.engine_ref = engine_ref
        self.on_event = on_event
        self.records = {p.replica: WorkerRecord(replica=p.replica) for p in self.plans}
        self.problems: list[str] = []
        self.start_failures: list[str] = []
        run_id = uuid.uuid4().hex
        self.topic, self.stop_name = f"stresskit-{run_id}", f"stresskit-{run_id}-stop"
        self.events: queue.Queue[Any] = queue.Queue()
        self.environment = test_environment()  # the client's hooks and mimalloc options, for replay too
        self.futures: dict[Any, ReplicaPlan] = {}
        self.tried: dict[int, dict[int, str]] = {}  # replica -> attempt -> the Dask worker that started it
        self.requeued: dict[int, int] = {}  # replica -> times its task died queued, before it started

    # -- submitting and collecting ------------------------------------------------------------
    def _submit(self, plan: ReplicaPlan) -> Any:
        future = self.client.submit(run_replica, plan, self.engine_ref, self.executor.library, self.environment,
                                    self.topic, self.stop_name, pure=False, key=f"stresskit-replica-{plan.replica}-{uuid.uuid4().hex[:8]}")
        self.futures[future] = plan
        return future

    def _drain_events(self) -> None:
        while True:
            try:
                _, msg = self.events.get_nowait()
            except queue.Empty:
                return
            rec = self.records.get(msg.get("replica"))
            if rec is None or rec.status != "not_started":
                continue
            if msg["kind"] == "started":
                rec.pid = msg.get("pid")
                where = self.tried.setdefault(rec.replica, {})
                if rec.attempts in where:  # started again with no KilledWorker: a scheduler with allowed-failures > 0 retried it
                    rec.attempts += 1
                where[rec.attempts] = msg["worker"]
                rec.executor_workers = self._tried(rec)
            else:
                rec.progress = dict(msg.get("progress") or {})
            self.on_event(msg["kind"], rec)

    def _tried(self, rec: WorkerRecord) -> list[str]:
        where = self.tried.get(rec.replica, {})
        return [where.get(attempt, "unknown") for attempt in range(1, rec.attempts + 1)]

    def _collect(self, future: Any, pending: Any) -> None:
        plan = self.futures.pop(future)
        rec = self.records[plan.replica]
        if future.status == "finished":
            done: WorkerRecord = future.result()
            self.tried.setdefault(rec.replica, {})[rec.attempts] = done.executor_workers[-1]
            done.attempts = rec.attempts
            done.executor_workers = self._tried(rec)
            self.records[plan.replica] = done
            self.on_event("finished", done)
            return
        if future.status == "cancelled":
            return
        exc = future.exception()
        if isinstance(exc, LibraryMismatch):
            self._cancel()
            raise ExecutorError(f"--executor dask: {exc}; refusing to run", EXIT_ERROR)
        from distributed import KilledWorker

        if isinstance(exc, KilledWorker):
            self._drain_events()  # did the replica start there before the worker died?
            started = rec.attempts in self.tried.get(rec.replica, {})
            if not started:  # queued on the worker that died: not an attempt, only resubmitted
                self.requeued[rec.replica] = self.requeued.get(rec.replica, 0) + 1
                if self.requeued[rec.replica] <= MAX_REQUEUES:
                    pending.add(self._submit(plan))
                    return
            elif rec.attempts < MAX_ATTEMPTS:
                rec.attempts += 1
                rec.pid = None
                pending.add(self._submit(plan))
                return
            rec.executor_workers = self._tried(rec) if started else rec.executor_workers
            rec.status = "crashed"
            rec.error = (f"its Dask worker died in each of {rec.attempts} attempts ({', '.join(rec.executor_workers)})" if started
                         else f"its task was lost with {self.requeued[rec.replica]} Dask workers before it started")
        else:
            rec.status = "failed"
            rec.error = f"the Dask task raised {type(exc).__name__}: {exc}"
        self.on_event("finished", rec)

    def _cancel(self) -> None:
        self.client.cancel(list(self.futures))
        self.futures.clear()

    def run(self) -> list[WorkerRecord]:
        from distributed import Event, as_completed

        self.client.subscribe_topic(self.topic, self.events.put)
        stop = Event(self.stop_name, client=self.client)
        pending = as_completed([self._submit(p) for p in self.plans])
        try:
            while not pending.is_empty():
                self._drain_events()
                if not pending.has_ready():
                    time.sleep(POLL_S)
                    continue
                for future in pending.next_batch(block=False):
                    self._collect(future, pending)
            self._drain_events()
        except KeyboardInterrupt as exc:
            stop.set()
            self._interrupt(pending, name_of(exc))
            with contextlib.suppress(Exception):  # a cleared Event without waiters leaves the scheduler's memory
                stop.clear()
            raise Interrupted(self.collected(), name_of(exc)) from None
        finally:
            self.client.unsubscribe_topic(self.topic)
            self._cancel()
        return self.collected()

    def _interrupt(self, pending: Any, signame: str) -> None:
        """Replicas already running stop and send what they measured (as a local Ctrl-C: the
        grace, then the kill, inside each task); the others are cancelled."""
        started = [f for f, p in self.futures.items() if self.records[p.replica].pid is not None]
        for future in [f for f in self.futures if f not in started]:
            future.cancel()
            self.futures.pop(future)
        end = time.monotonic() + STOP_GRACE_S + 5
        while self.futures and time.monotonic() < end:
            try:
                for future in pending.next_batch(block=False):
                    if future in self.futures:
                        self._collect(future, pending)
                time.sleep(POLL_S)
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
                break
        for rec in self.records.values():
            if rec.status == "not_started" and rec.pid is not None:
                rec.status = "interrupted"
                rec.error = f"stopped by {described(signame)}"

    def collected(self) -> list[WorkerRecord]:
        return [self.records[p.replica] for p in self.plans]
