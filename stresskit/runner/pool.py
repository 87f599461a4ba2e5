"""The supervisor: replicas in separate worker processes, crash containment, deadlines.

Not a multiprocess.Pool: a Pool whose worker dies replaces it silently and the task's result never
arrives (the caller hangs; see docs/exit-codes.md). Here every worker is a Process we watch
directly: its pipe (results, streamed as they come) and its sentinel (death) are waited on
together, so a worker that dies, by any signal, is noticed at once and the others go on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal as _signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import multiprocess
from multiprocess.connection import wait

from stresskit.diagnostics import crashes, stalls
from stresskit.plan import ReplicaPlan
from stresskit.runner.records import WorkerRecord
from stresskit.runner.signals import described, name_of
from stresskit.runner.worker import DEFAULT_ENGINE, PARENT_ENV, worker_main

# Explicit start method: never fork a process that may have threads (py-spy readers, rich's
# refresh thread). forkserver is cheaper per worker; spawn is the portable fallback.
START_METHOD = os.environ.get("STRESSKIT_START_METHOD", "spawn")
POLL_S = 0.1
STOP_GRACE_S = 3.0  # after ("stop",), how long a worker gets to send what it has
STARTUP_ALLOWANCE_S = 30.0  # interpreter start-up is not part of the replica's deadline
DEADLINE_DUMP_TIMEOUT_S = 5.0  # py-spy on a worker about to be killed: a hung one may not answer
# Children copy os.environ (and the spawn executable) at start: supervisors in threads of one
# process (a Dask worker running several replicas) must not interleave those changes.
_START_LOCK = threading.Lock()


class Attacher(Protocol):
    def attach(self, pid: int, replica: int) -> None: ...


class Sanitizer(Protocol):
    """stresskit.sanitize.SanitizedRun: the workers' environment and their reports."""

    def worker_env(self, plan: ReplicaPlan) -> dict[str, str]: ...

    def executable(self, plan: ReplicaPlan) -> Any: ...  # a path run instead of python (valgrind), or None

    def collect(self, rec: WorkerRecord) -> None: ...


EventFn = Callable[[str, WorkerRecord], None]


@dataclass
class _Active:
    record: WorkerRecord
    process: Any
    conn: Any
    started: float
    deadline_s: float
    rss_budget: int | None = None
    go_sent: float | None = None
    last_rss_sample: float = 0.0
    killed_for: str = ""
    done: bool = False
    pending_stop: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Interrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP arrived (``signame``); ``records`` holds what was collected."""

    def __init__(self, records: list[WorkerRecord], signame: str = "SIGINT") -> None:
        super().__init__("interrupted")
        self.records = records
        self.signame = signame


def _worker_env(plan: ReplicaPlan, engine_ref: str) -> dict[str, str]:
    """What the engine needs in the worker's environment before the native library loads (e.g.
    a small mimalloc arena reserve, without which an OOM bound is loose by ~1 GiB)."""
    if engine_ref != DEFAULT_ENGINE:
        return {}
    from stresskit.engine import worker_environment

    return worker_environment(plan)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """The child inherits an ignored SIGINT across exec, so a Ctrl-C during its start-up cannot
    kill it with a KeyboardInterrupt traceback; the supervisor handles Ctrl-C. Only the main
    thread may change handlers: a supervisor in another thread (a Dask task) gets no SIGINT."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    try:
        yield
    finally:
        _signal.signal(_signal.SIGINT, previous)


@contextlib.contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    """Set variables for a child about to be spawned (it copies os.environ at start), then restore."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _executable(ctx: Any, path: Any) -> Iterator[None]:
    """Spawn the next child with ``path`` instead of this interpreter (the spawn module keeps one
    global executable), then put the interpreter back."""
    if path is None or ctx.get_start_method() != "spawn":
        yield
        return
    from multiprocess import resource_tracker, spawn

    resource_tracker.ensure_running()  # it is spawned too, once: with this interpreter, not ``path``
    previous = spawn.get_executable()
    ctx.set_executable(str(path))
    try:
        yield
    finally:
        ctx.set_executable(previous)


def _proc_peak_rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _discard_diag_dir(act: _Active) -> None:
    diag_dir = act.extra.pop("diag_dir", None)
    if diag_dir:
        shutil.rmtree(diag_dir, ignore_errors=True)


def _signal_name(num: int) -> str:
    try:
        return _signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class Supervisor:
    def __init__(
        self,
        plans: Sequence[ReplicaPlan],
        workers: int,
        engine_ref: str = DEFAULT_ENGINE,
        on_event: EventFn | None = None,
        attacher: Attacher | None = None,
        start_method: str = START_METHOD,
        sanitizer: Sanitizer | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.plans = list(plans)
        self.workers = max(1, workers)
        self.engine_ref = engine_ref
        self.on_event = on_event or (lambda kind, rec: None)
        self.attacher = attacher
        self.sanitizer = sanitizer
        self.environment = dict(environment or {})  # set in every worker's environment (a remote caller's test hooks)
        self.ctx = multiprocess.get_context(start_method)
        self.records: dict[int, WorkerRecord] = {p.replica: WorkerRecord(replica=p.replica) for p in self.plans}
        self.active: dict[int, _Active] = {}
        self.signame = "SIGINT"
        self.problems: list[str] = []  # profiler failures, one line each, for the report and stderr
        self.start_failures: list[str] = []  # for stderr (the report has them as the replica's error)
        self.stop_requested = threading.Event()  # set from another thread: stop as on Ctrl-C

    # -- one worker ---------------------------------------------------------------------------
    def _start(self, plan: ReplicaPlan) -> None:
        parent, child = self.ctx.Pipe(duplex=True)
        # Where the worker's fatal-signal handlers write (read after a crash, removed after).
        diag_dir = tempfile.mkdtemp(prefix=f"stresskit-replica{plan.replica}-")
        proc = self.ctx.Process(
            target=worker_main, args=(plan, child, self.engine_ref, diag_dir), name=f"stresskit-replica-{plan.replica}",
            daemon=True,
        )
        env = {**self.environment, **_worker_env(plan, self.engine_ref)}
        if self.sanitizer is not None:
            env.update(self.sanitizer.worker_env(plan))
        if self.ctx.get_start_method() == "spawn":  # the worker's parent is this process
            env[PARENT_ENV] = str(os.getpid())
        wrapper = self.sanitizer.executable(plan) if self.sanitizer is not None else None
        try:
            with _START_LOCK, _sigint_ignored(), _environment(env), _executable(self.ctx, wrapper):
                proc.start()
        except BaseException:
            parent.close()
            child.close()
            shutil.rmtree(diag_dir, ignore_errors=True)
            raise
        child.close()
        rec = self.records[plan.replica]
        rec.pid = proc.pid
        self.active[plan.replica] = _Active(rec, proc, parent, time.monotonic(), plan.deadline_s, plan.rss_budget_bytes)
        self.active[plan.replica].extra["diag_dir"] = diag_dir
        self.on_event("started", rec)

    def _send(self, act: _Active, msg: tuple[Any, ...]) -> None:
        try:
            act.conn.send(msg)
        except (OSError, ValueError):
            pass  # the worker is gone; its sentinel tells us how

    def _handle(self, act: _Active, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        rec = act.record
        if kind == "ready":
            if self.attacher is not None and rec.pid is not None:
                try:
                    self.attacher.attach(rec.pid, rec.replica)
                except Exception as exc:  # noqa: BLE001 - a profiler failure must never hold back "go"
                    self.problems.append(f"replica {rec.replica}: profiler could not attach: {type(exc).__name__}: {exc}")
            act.go_sent = time.monotonic()
            self._send(act, ("go",))
            if act.pending_stop:
                self._send(act, ("stop",))
        elif kind == "progress":
            info = dict(msg[1])
            if "view" in info:
                act.extra["view"] = info.pop("view")
            rec.progress = info
            self.on_event("progress", rec)
        elif kind == "threads":
            act.extra["threads"] = dict(msg[1])
        elif kind == "stall":
            view, stalled, trigger = msg[1], msg[2], msg[3]
            act.extra["view"] = view
            # The worker waits for "dumped": its threads are still where they got stuck. The
            # dump's time is not the replica's: its deadline moves by as much.
            began = time.monotonic()
            dump = stalls.py_spy_dump(act.process.pid) if act.process.pid else None
            act.deadline_s += time.monotonic() - began
            rec.diagnostics["stall"] = stalls.diagnose(view, trigger, stalled, dump)
            self._send(act, ("dumped",))
        elif kind in ("result", "error"):
            usage = msg[2]
            rec.peak_rss_bytes = int(usage["peak_rss_bytes"])
            rec.cpu_s = float(usage["cpu_s"])
            rec.elapsed_s = float(usage["elapsed_s"])
            if kind == "result":
                rec.result = msg[1]
                rec.status = "ok"
                if getattr(rec.result, "stop_reason", "") == "stalled":
                    # It delivered, but only after the watchdog stopped it: not a result to trust.
                    rec.status = "stalled"
                    timeout = (rec.diagnostics.get("stall") or {}).get("stall_timeout_s")
                    limit = f" for {timeout:g} s (load.stall_timeout)" if isinstance(timeout, (int, float)) else ""
                    rec.error = f"a role made no progress{limit}; stopped by the watchdog"
            else:
                rec.status = "failed"
                rec.error = f"the replica raised {msg[1]}"
            act.extra["delivered"] = True

    def _drain(self, act: _Active) -> None:
        try:
            while act.conn.poll():
                self._handle(act, act.conn.recv())
        except (EOFError, OSError):
            pass

    def _finish(self, act: _Active) -> None:
        self._drain(act)
        act.process.join(timeout=5)
        rec = act.record
        code = act.process.exitcode
        if code is not None and code < 0:
            rec.signal = _signal_name(-code)
        elif code is not None:
            rec.exitcode = code
        if act.killed_for == "over_budget":
            from stresskit.planner import format_bytes

            rec.status = "over_budget"
            rec.error = (f"RSS {format_bytes(act.extra['rss'])} passed its budget {format_bytes(act.rss_budget or 0)}; "
                         "killed (docs/scenarios.md, Memory)")
        elif act.killed_for:
            rec.status = "timeout" if act.killed_for == "deadline" else "interrupted"
            rec.error = (
                f"killed after the {act.deadline_s:g} s deadline (load.deadline)"
                if act.killed_for == "deadline"
                else f"stopped by {described(self.signame)}"
            )
        elif not act.extra.get("delivered"):
            rec.status = "crashed"
            how = f"killed by {rec.signal}" if rec.signal else f"exited with status {code}"
            rec.error = f"worker {how} before delivering its result"
            if rec.signal:
                diag_dir = act.extra.get("diag_dir")
                rec.diagnostics["crash"] = crashes.collect(
                    Path(diag_dir) if diag_dir else None, rec.signal, act.extra.get("threads", {}),
                    rec.progress.get("roles", {}), act.extra.get("view"))
        _discard_diag_dir(act)
        if rec.elapsed_s == 0.0:
            rec.elapsed_s = time.monotonic() - (act.go_sent or act.started)
        if rec.peak_rss_bytes is None:
            rec.peak_rss_bytes = act.extra.get("rss")
        if self.sanitizer is not None:
            self.sanitizer.collect(rec)
        act.done = True
        act.conn.close()
        del self.active[rec.replica]
        self.on_event("finished", rec)

    def _kill(self, act: _Active, why: str) -> None:
        if act.killed_for:
            return
        act.killed_for = why
        if why == "deadline" and "stall" not in act.record.diagnostics and act.process.pid:
            # Last chance to see where it is stuck: the stacks before the SIGKILL.
            dump = stalls.py_spy_dump(act.process.pid, DEADLINE_DUMP_TIMEOUT_S)
            act.record.diagnostics["stall"] = stalls.diagnose(act.extra.get("view"), "deadline", [], dump)
        try:
            os.kill(act.process.pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass

    # -- the loop ---------------------------------------------------------------------------------
    def _tick(self, timeout: float) -> None:
        waitables: list[Any] = []
        for act in self.active.values():
            waitables += [act.conn, act.process.sentinel]
        ready = set(wait(waitables, timeout=timeout)) if waitables else set()
        now = time.monotonic()
        for act in list(self.active.values()):
            if act.conn in ready:
                self._drain(act)
            if act.process.sentinel in ready or not act.process.is_alive():
                self._finish(act)
                continue
            if now - act.last_rss_sample > 0.25 and act.process.pid:
                rss = _proc_peak_rss(act.process.pid)
                if rss is not None:
                    act.extra["rss"] = rss
                    # A worker past its plan's worst case is stopped before it can take the
                    # machine (its peak, VmHWM: a spike between samples counts too).
                    if act.rss_budget is not None and rss > act.rss_budget:
                        self._kill(act, "over_budget")
                act.last_rss_sample = now
            begun = act.go_sent or (act.started + STARTUP_ALLOWANCE_S)
            if now - begun > act.deadline_s:
                self._kill(act, "deadline")

    def _spawn_failed(self, plan: ReplicaPlan, exc: OSError, pending: list[ReplicaPlan]) -> None:
        """The environment refused a process (ulimit -n/-u, out of memory): record the cause on
        this replica, start no more, and let the workers already running finish and report."""
        rec = self.records[plan.replica]
        code = f" [{os.strerror(exc.errno)}]" if exc.errno and not exc.strerror else ""
        rec.status = "failed"
        rec.error = f"could not start its worker process: {exc.strerror or exc}{code} (errno {exc.errno})"
        self.start_failures.append(f"replica {plan.replica}: {rec.error}; no further worker was started")
        for later in pending:
            self.records[later.replica].error = f"not started: replica {plan.replica}'s worker could not be started"
        pending.clear()
        self.on_event("finished", rec)

    def run(self) -> list[WorkerRecord]:
        pending = list(self.plans)
        try:
            while pending or self.active:
                while pending and len(self.active) < self.workers:
                    plan = pending.pop(0)
                    try:
                        self._start(plan)
                    except OSError as exc:
                        self._spawn_failed(plan, exc, pending)
                if self.active:
                    self._tick(POLL_S)
                if self.stop_requested.is_set():  # a supervisor in a thread (Dask task) hears no SIGINT
                    raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            self.signame = name_of(exc)
            self._interrupt()
            raise Interrupted(self.collected(), self.signame) from None
        finally:
            for act in list(self.active.values()):  # only reached on an unexpected error
                self._kill(act, "interrupt")
                _discard_diag_dir(act)
        return self.collected()

    def _interrupt(self) -> None:
        for act in self.active.values():
            try:  # a stopped (SIGSTOP, debugger) worker must run again to hear "stop"
                os.kill(act.process.pid, _signal.SIGCONT)
            except (ProcessLookupError, TypeError):
                pass
            act.pending_stop = True
            if act.go_sent is not None:
                self._send(act, ("stop",))
        end = time.monotonic() + STOP_GRACE_S
        while self.active and time.monotonic() < end:
            try:
                self._tick(POLL_S)
            except KeyboardInterrupt:  # a second Ctrl-C (or SIGTERM, SIGHUP): stop waiting
                break
        for act in list(self.active.values()):
            self._kill(act, "interrupt")
        deadline = time.monotonic() + 5
        while self.active and time.monotonic() < deadline:
            try:
                self._tick(POLL_S)
            except KeyboardInterrupt:  # they are SIGKILLed already: only their records are awaited
                continue
        for rec in self.records.values():
            if rec.status == "not_started" and rec.pid is not None:
                rec.status = "interrupted"

    def collected(self) -> list[WorkerRecord]:
        return [self.records[p.replica] for p in self.plans]


def run_replicas(
    plans: Sequence[ReplicaPlan],
    workers: int,
    engine_ref: str = DEFAULT_ENGINE,
    on_event: EventFn | None = None,
    attacher: Attacher | None = None,
) -> list[WorkerRecord]:
    """Run every replica; returns one record per replica, in replica order. Raises Interrupted
    (with the records collected so far) on Ctrl-C."""
    return Supervisor(plans, workers, engine_ref, on_event, attacher).run()
