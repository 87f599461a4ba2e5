"""Replica k of a soak is replica j = k mod load.replicas of the scenario planned with base seed
round_seed(run_seed, k): `stresskit run SCENARIO --seed <that seed>` runs the very same plan as its
replica j, and the whole soak is reproducible from the run's seed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from stresskit.plan import ReplicaPlan
from stresskit.planner import Overrides, plan, replica_seed
from stresskit.scenario.validation import CheckedScenario

# Keeps a soak's base seeds apart from the replica seeds of a run with the same seed.
_SOAK_STREAM = 0x5D0A_C0DE_5EED_0001


def round_seed(run_seed: int, k: int) -> int:
    return replica_seed(run_seed ^ _SOAK_STREAM, k)


@dataclass(frozen=True)
class SoakReplica:
    plan: ReplicaPlan  # numbered k (the soak's replica), otherwise exactly what `run --seed base_seed` plans
    base_seed: int  # `run --seed` this to rerun it ...
    run_replica: int  # ... as this replica of that run


def soak_replica(checked: CheckedScenario, overrides: Overrides, run_seed: int, k: int) -> SoakReplica:
    base = round_seed(run_seed, k)
    planned = plan(checked, dataclasses.replace(overrides, seed=base), workers=1)
    j = k % len(planned.replicas)
    return SoakReplica(dataclasses.replace(planned.replicas[j], replica=k), base, j)
