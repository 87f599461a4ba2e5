"""``--executor`` value -> an executor, opened once for every scenario of a command."""

from __future__ import annotations

from stresskit.executors.base import Executor, ExecutorSpec
from stresskit.executors.local import LocalExecutor


def open_executor(spec: ExecutorSpec) -> Executor:
    """Raises ExecutorError (one line and an exit code) when it cannot be used."""
    if spec.kind == "local":
        return LocalExecutor()
    from stresskit.executors.dask_client import DaskExecutor, require_distributed

    require_distributed()  # before anything else: the install hint, exit 2
    return DaskExecutor(spec.address)
