"""Executors: where the replicas of a planned run execute (``run --executor``).

``local`` (the default) is stresskit.runner's Supervisor on this machine; ``dask`` starts a Dask
LocalCluster sized to this machine; ``dask://HOST:PORT`` uses an existing Dask scheduler
(docs/scale.md). Every executor runs a list of ReplicaPlans, streams WorkerRecords through the
same ``on_event`` callback as the Supervisor, and returns one record per plan in plan order
(or raises stresskit.runner.Interrupted with what it collected).
"""

from stresskit.executors.base import Execution, Executor, ExecutorError, ExecutorSpec, parse_spec
from stresskit.executors.factory import open_executor

__all__ = ["Execution", "Executor", "ExecutorError", "ExecutorSpec", "open_executor", "parse_spec"]
