"""A line every few seconds while a run goes on and stdout is not a terminal (CI logs): a log that
stays silent for minutes looks hung. On a terminal the progress bars say the same.

``STRESSKIT_HEARTBEAT_S`` sets the interval (default 5 s; 0 turns it off).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from stresskit.report import units
from stresskit.runner.records import WorkerRecord

ENV = "STRESSKIT_HEARTBEAT_S"
DEFAULT_INTERVAL_S = 5.0


def interval() -> float:
    try:
        return max(0.0, float(os.environ.get(ENV, DEFAULT_INTERVAL_S)))
    except ValueError:  # a bad value must not stop a run: use the default
        return DEFAULT_INTERVAL_S


class Heartbeat:
    """Started with the run, fed the workers' events, stopped with the display."""

    def __init__(self, name: str, replicas: int, emit: Callable[[str], None], every_s: float) -> None:
        self.name, self.replicas, self.emit, self.every_s = name, replicas, emit, every_s
        self.t0 = time.monotonic()
        self.ops: dict[int, int] = {}
        self.finished = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stresskit-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def observe(self, kind: str, rec: WorkerRecord) -> None:
        if kind == "progress" and isinstance(rec.progress.get("ops"), int):
            self.ops[rec.replica] = rec.progress["ops"]
        elif kind == "finished":
            self.finished += 1

    def line(self) -> str:
        done = ", ".join(f"replica {r} {units.count(n, 'ops')}" for r, n in sorted(self.ops.items())) or "no progress reported yet"
        return f"stresskit: {self.name}: {time.monotonic() - self.t0:.1f} s, {self.finished}/{self.replicas} replicas finished; {done}"

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.emit(self.line())

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)
