"""What every executor provides, and the ``--executor`` value parsed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from stresskit.plan import ReplicaPlan
from stresskit.runner.pool import Attacher, EventFn, Sanitizer
from stresskit.runner.records import WorkerRecord

DASK_SCHEME = "dask://"


class ExecutorError(Exception):
    """The executor cannot run this (unreachable scheduler, another native library on a worker,
    a feature it does not support): one line for stderr and the exit code (docs/exit-codes.md)."""

    def __init__(self, line: str, code: int) -> None:
        super().__init__(line)
        self.line = line
        self.code = code


class Execution(Protocol):
    """One run of a list of plans (stresskit.runner.Supervisor is one)."""

    problems: list[str]  # one line each, for the report and stderr
    start_failures: list[str]  # for stderr (the report has them as the replica's error)

    def run(self) -> list[WorkerRecord]: ...


class Executor(Protocol):
    name: str

    def execution(self, plans: Sequence[ReplicaPlan], workers: int, engine_ref: str, on_event: EventFn,
                  attacher: Attacher | None = None, sanitizer: Sanitizer | None = None) -> Execution: ...

    def describe(self) -> dict[str, Any]: ...  # for the report's environment

    def close(self) -> None: ...


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str  # "local" | "dask"
    address: str | None = None  # dask: tcp://HOST:PORT of an existing scheduler; None = a LocalCluster


def parse_spec(value: str) -> ExecutorSpec:
    """``local``, ``dask`` or ``dask://HOST:PORT``; ValueError names what was expected."""
    text = value.strip()
    if text in ("local", "dask"):
        return ExecutorSpec(text)
    if text.startswith(DASK_SCHEME):
        host, sep, port = text[len(DASK_SCHEME):].rpartition(":")
        if sep and host and port.isdigit() and 0 < int(port) < 65536 and "/" not in host:
            return ExecutorSpec("dask", f"tcp://{host}:{port}")
    raise ValueError(f"expected local, dask or dask://HOST:PORT (got {value!r})")
