"""The worker process: runs one replica and streams messages back over its pipe.

Protocol (tuples over a duplex multiprocess Pipe):
  worker -> supervisor: ("ready", pid) · ("progress", {..}) · ("result", ReplicaResult, usage)
                        · ("error", text, usage) · ("threads", {ident: name}) once the role
                        threads exist · ("stall", view, stalled_roles, trigger) when the watchdog
                        fires (the worker then waits for "dumped" before aborting the run)
  supervisor -> worker: ("go",) once profilers are attached · ("stop",) to end early (Ctrl-C)
                        · ("dumped",) once the stalled worker's stacks are taken
Progress dicts carry "ops", "fraction", "roles" ({role: work done}) and "view" (the engine's
view of every thread, stresskit/diagnostics/stalls.py), so a crash or a kill still knows them.

Crash evidence: given a directory (the supervisor's, per replica), the worker opens two files in
it before the replica starts: faulthandler writes every thread's Python stack to
python-stacks.txt on a fatal signal, and the engine's handler (sk_crash_handler_install) the
faulting thread's native backtrace to native-backtrace.txt; the supervisor reads both after the
death (stresskit/diagnostics/crashes.py).
``usage`` is {"peak_rss_bytes", "cpu_s", "elapsed_s"} measured in the worker around the replica.

Testing hook (documented in docs/exit-codes.md): STRESSKIT_TEST_CRASH="REPLICA:MODE:DELAY_S" makes
the worker running replica REPLICA, DELAY_S seconds after it starts the replica, do MODE: ``kill``
(SIGKILL itself), ``segv``, ``abort``, ``hang`` (stop responding; the deadline must end it),
``raise`` (a Python exception) or ``grow`` (take 512 MiB more memory every second, written, until
killed: the supervisor's RSS budget must stop it). Crash containment is tested with it; it does nothing when unset.
"""

from __future__ import annotations

import faulthandler
import importlib
import inspect
import os
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from stresskit.diagnostics.crashes import NATIVE_BACKTRACE, PYTHON_STACKS

DEFAULT_ENGINE = "stresskit.engine:run_replica"
PARENT_ENV = "STRESSKIT_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1
CRASH_HOOK_ENV = "STRESSKIT_TEST_CRASH"
PROGRESS_INTERVAL_S = 0.2
STALL_DUMP_WAIT_S = 20.0  # the supervisor's py-spy dump is bounded below this


def resolve_engine(ref: str) -> Callable[..., Any]:
    """``package.module:function`` (the default is the native engine's driver)."""
    module, _, func = ref.partition(":")
    return getattr(importlib.import_module(module), func)


def peak_rss_bytes() -> int:
    """This process's own peak RSS. On Linux from VmHWM: ru_maxrss also keeps the peak of the
    image replaced by exec, i.e. of the parent at fork time (a worker started by a large
    supervisor, or a child of a test runner, would otherwise inherit its size)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    # ru_maxrss is KiB on Linux, bytes on macOS.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _usage(start_wall: float, start: resource.struct_rusage) -> dict[str, float]:
    now = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "peak_rss_bytes": float(peak_rss_bytes()),
        "cpu_s": (now.ru_utime - start.ru_utime) + (now.ru_stime - start.ru_stime),
        "elapsed_s": time.monotonic() - start_wall,
    }


def _arm_crash_hook(replica: int) -> None:
    spec = os.environ.get(CRASH_HOOK_ENV)
    if not spec:
        return
    try:
        which, mode, delay = spec.split(":")
        if int(which) != replica:
            return
        delay_s = float(delay)
    except ValueError:
        return
    if mode == "hang":
        time.sleep(delay_s)
        while True:  # a worker that stopped making progress: only the deadline ends it
            time.sleep(3600)
    if mode == "raise":
        time.sleep(delay_s)
        raise RuntimeError(f"{CRASH_HOOK_ENV} asked replica {replica} to raise")
    if mode == "grow":
        def grow() -> None:
            time.sleep(delay_s)
            held = []
            while True:
                held.append(b"\x01" * (64 << 20))  # written: resident, not merely reserved
                time.sleep(0.125)

        threading.Thread(target=grow, name="stresskit-test-grow", daemon=True).start()
        return
    sig = {"kill": signal.SIGKILL, "segv": signal.SIGSEGV, "abort": signal.SIGABRT}.get(mode)
    if sig is not None:
        timer = threading.Timer(delay_s, os.kill, (os.getpid(), sig))
        timer.daemon = True
        timer.start()


def _die_with_parent() -> None:
    """No worker outlives its supervisor, however the supervisor ends (SIGKILL included): the
    kernel SIGKILLs this process when its parent thread dies (Linux PR_SET_PDEATHSIG; the
    supervisor starts workers from its main thread). A supervisor that died before this call is
    caught by the parent-pid check. Elsewhere the pipe's EOF is the only signal (see listen())."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    expected = os.environ.get(PARENT_ENV, "")
    if expected.isdigit() and os.getppid() != int(expected):
        os._exit(1)


def _arm_crash_evidence(diag_dir: str | None, engine_ref: str) -> list[Any]:
    """Open the crash files now (a handler may not open files) and install both handlers:
    faulthandler first, then the engine's, which chains to it. Returns the open files (they must
    stay open for the life of the process)."""
    if not diag_dir:
        return []
    py = open(os.path.join(diag_dir, PYTHON_STACKS), "w")  # noqa: SIM115 - open until the process ends
    faulthandler.enable(file=py, all_threads=True)
    files = [py]
    if engine_ref == DEFAULT_ENGINE:
        native = open(os.path.join(diag_dir, NATIVE_BACKTRACE), "w")  # noqa: SIM115
        files.append(native)
        from stresskit.engine import install_crash_handler

        if not install_crash_handler(native.fileno()):
            native.write("no native backtrace: this platform has no backtrace() (glibc only)\n")
            native.flush()
    return files


class _Watch:
    """The engine's watchdog hooks (stresskit.engine.WatchHooks) over the pipe."""

    def __init__(self, send: Callable[[tuple[Any, ...]], None], dumped: threading.Event) -> None:
        self.send, self.dumped = send, dumped
        self.view: dict[str, Any] | None = None

    def on_threads(self, names: dict[int, str]) -> None:
        self.send(("threads", dict(names)))

    def on_view(self, view: dict[str, Any]) -> None:
        self.view = view

    def on_stall(self, view: dict[str, Any], stalled: list[str], trigger: str) -> None:
        self.dumped.clear()
        self.send(("stall", view, list(stalled), trigger))
        self.dumped.wait(STALL_DUMP_WAIT_S)

    def progress_fields(self) -> dict[str, Any]:
        if self.view is None:
            return {}
        return {"roles": {r["name"]: r["progress"] for r in self.view["roles"]}, "view": self.view}


def _accepts(func: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def worker_main(plan: Any, conn: Any, engine_ref: str = DEFAULT_ENGINE, diag_dir: str | None = None) -> None:
    _die_with_parent()
    # The supervisor owns Ctrl-C, SIGTERM and SIGHUP (a closing terminal sends SIGHUP to the
    # whole process group): it asks workers to stop and keeps their results, so they must not
    # die of these signals first.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    stop = threading.Event()
    try:
        conn.send(("ready", os.getpid()))
        msg = conn.recv()
    except (EOFError, OSError):
        return
    if msg[0] != "go":
        return

    dumped = threading.Event()

    def listen() -> None:
        try:
            while True:
                kind = conn.recv()[0]
                if kind == "dumped":
                    dumped.set()
                elif kind == "stop":
                    stop.set()
        except (EOFError, OSError):
            stop.set()
            dumped.set()

    send_lock = threading.Lock()
    last = [0.0]

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            try:
                conn.send(message)
            except (OSError, ValueError):
                pass

    watch = _Watch(send, dumped)

    def progress(*args: Any, **kwargs: Any) -> None:
        # Engines report progress as they like (a dict, a fraction, keywords); pass on a dict,
        # at most every PROGRESS_INTERVAL_S so a chatty engine cannot flood the pipe.
        now = time.monotonic()
        if now - last[0] < PROGRESS_INTERVAL_S:
            return
        last[0] = now
        info: dict[str, Any] = {}
        numbers = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        for a in args:
            if isinstance(a, dict):
                info.update(a)
        if numbers:  # stresskit.engine calls progress(ops_done, ops_target)
            info["ops"] = numbers[0]
            if len(numbers) > 1 and numbers[1]:
                info["fraction"] = min(1.0, numbers[0] / numbers[1])
        info.update(kwargs)
        info.update(watch.progress_fields())
        send(("progress", info))

    start_ru = resource.getrusage(resource.RUSAGE_SELF)
    start_wall = time.monotonic()
    try:
        # Inside the try: a thread that cannot start (ulimit -u) is reported as the cause.
        threading.Thread(target=listen, name="stresskit-stop-listener", daemon=True).start()
        run_replica = resolve_engine(engine_ref)
        evidence = _arm_crash_evidence(diag_dir, engine_ref)  # noqa: F841 - kept open on purpose
        _arm_crash_hook(plan.replica)
        extra = {"watch": watch} if _accepts(run_replica, "watch") else {}
        result = run_replica(plan, progress=progress, stop_event=stop, **extra)
        message: tuple[Any, ...] = ("result", result, _usage(start_wall, start_ru))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the supervisor as text
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        detail = traceback.format_exc(limit=8)
        message = ("error", text, _usage(start_wall, start_ru), detail)
    with send_lock:
        try:
            conn.send(message)
        except (OSError, ValueError):
            pass  # the supervisor is gone: nobody to tell, and no traceback to print
    conn.close()
