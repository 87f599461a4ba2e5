"""Worker processes for replicas: start, watch, contain crashes, stream results back."""

from stresskit.runner.pool import Interrupted, Supervisor, run_replicas
from stresskit.runner.records import WorkerRecord
from stresskit.runner.worker import CRASH_HOOK_ENV, DEFAULT_ENGINE

__all__ = ["CRASH_HOOK_ENV", "DEFAULT_ENGINE", "Interrupted", "Supervisor", "WorkerRecord", "run_replicas"]
