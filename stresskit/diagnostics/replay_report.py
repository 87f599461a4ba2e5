"""Reading a run report back for `stresskit replay`: bounded and type-checked (stresskit/io/
inputs.py, pydantic), every problem one line naming the file and the key (exit 2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from stresskit.diagnostics.replay_record import HOOK_VARIABLES, MIMALLOC_PREFIX, recordable
from stresskit.plan import ReplicaPlan
from stresskit.plan_codec import PlanDecodeError, plan_from_dict
from stresskit.report.model import Environment

class ReplayInputError(Exception):
    """The report cannot be replayed: one line naming the file and the key (exit 2)."""


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Signature(_Open):
    status: str
    failed: list[str]
    worker_status: str
    stop_reason: str | None
    signal: str | None


class _Replay(_Open):
    seed: int
    plan: dict[str, Any]
    environment: dict[str, str]
    signature: _Signature


class _Worker(_Open):
    replica: int
    status: str
    replay: _Replay | None = None


class _ScenarioInfo(_Open):
    name: str
    file: str
    definition: dict[str, Any] | None = None


class _Report(_Open):
    environment: Environment
    scenario: _ScenarioInfo
    seed: int
    workers: list[_Worker]


@dataclass(frozen=True)
class Recorded:
    """One replica of a report, ready to rerun."""

    scenario: Any  # CheckedScenario (imported lazily: the scenario layer is heavy)
    base_seed: int
    plan: ReplicaPlan
    environment: dict[str, str]
    signature: dict[str, Any]
    native: dict[str, Any]
    stresskit: str
    python: str | None


def _key(loc: Sequence[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top level)"


def _from_schema_1(data: object) -> object:
    """A report written before `tool` (the library, Python, stresskit) went into `environment`."""
    if not isinstance(data, dict) or not isinstance(data.get("tool"), dict) or "native" in (data.get("environment") or {}):
        return data
    tool, env = data["tool"], data.get("environment")
    env = dict(env) if isinstance(env, dict) else {}
    python = env.get("python") if isinstance(env.get("python"), dict) else {}
    env.update(stresskit=tool.get("version"), native=tool.get("native"), python={**python, "version": tool.get("python")})
    return {**data, "environment": env}


def _model(path: str, data: object, scenario: str | None = None) -> tuple[_Report, str]:
    """The (single-scenario) report to replay and the key path that leads to it."""
    prefix = ""
    if isinstance(data, dict) and "reports" in data and "workers" not in data:  # `run A.toml B.toml --json`
        reports = data["reports"]
        if not isinstance(reports, list) or not reports or not all(isinstance(r, dict) for r in reports):
            raise ReplayInputError(f"{path}: reports: expected a non-empty list of scenario reports")
        if scenario is not None:
            named = [r for r in reports if isinstance(r.get("scenario"), dict) and r["scenario"].get("name") == scenario]
            if not named:
                names = ", ".join(str(r.get("scenario", {}).get("name")) for r in reports if isinstance(r.get("scenario"), dict))
                raise ReplayInputError(f"{path}: --scenario: expected one of {names} (got {scenario})")
            reports = named
        failing = [r for r in reports if r.get("status") != "pass"]
        chosen = (failing or reports)[0]  # the first scenario that failed: the one worth replaying
        prefix = f"reports[{data['reports'].index(chosen)}]."
        data = chosen
    try:
        return _Report.model_validate(_from_schema_1(data)), prefix
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = list(err["loc"])
        if err["type"] == "missing":
            raise ReplayInputError(f"{path}: {prefix}{_key(loc)}: expected this key (a report written by `stresskit run --json`)") from None
        got = repr(err.get("input"))
        got = got if len(got) <= 40 else got[:37] + "..."
        raise ReplayInputError(f"{path}: {prefix}{_key(loc)}: expected {str(err['msg']).removeprefix('Input should be ')} (got {got})") from None


def read_report(path: str | Path, replica: int | None = None, scenario: str | None = None) -> Recorded:
    """The replica to rerun: ``replica``, else the first whose recorded verdict is not a pass,
    else the first (of ``scenario``, else of the first scenario that failed, in a report of
    several). Raises ReplayInputError (one line) for anything that cannot be replayed."""
    from stresskit.io.inputs import MAX_REPORT_BYTES, InputError, read_json
    from stresskit.scenario import ScenarioError
    from stresskit.scenario.loading import scenario_from_document
    from stresskit.scenario.validation import check

    name = str(path)
    try:
        data = read_json(path, MAX_REPORT_BYTES, "report file")
    except InputError as exc:
        raise ReplayInputError(f"{exc}") from None
    report, at = _model(name, data, scenario)
    workers = [w for w in report.workers if w.replay is not None]
    if not workers:
        raise ReplayInputError(f"{name}: {at}workers[*].replay: expected a replay record per replica (the report was written by "
                               f"stresskit {report.environment.stresskit}, which does not record them; rerun the scenario)")
    if replica is None:
        chosen = next((w for w in workers if w.replay.signature.status != "pass"), workers[0])  # type: ignore[union-attr]
    else:
        chosen = next((w for w in workers if w.replica == replica), None)
        if chosen is None:
            raise ReplayInputError(f"{name}: --replica: expected one of {', '.join(str(w.replica) for w in workers)} (got {replica})")
    index = report.workers.index(chosen)
    rec = chosen.replay
    assert rec is not None
    try:
        plan = plan_from_dict(rec.plan)
    except PlanDecodeError as exc:
        raise ReplayInputError(f"{name}: {at}workers[{index}].replay.plan.{exc}") from None
    # Only what stresskit records is handed to the workers: a report is data, and a variable such
    # as LD_PRELOAD in it would otherwise run code in every worker.
    foreign = next((k for k in rec.environment if not recordable(k)), None)
    if foreign is not None:
        raise ReplayInputError(f"{name}: {at}workers[{index}].replay.environment: expected only {', '.join(HOOK_VARIABLES)} "
                               f"and {MIMALLOC_PREFIX}* variables (got {foreign})")
    if plan.replica != chosen.replica or plan.seed != rec.seed:
        raise ReplayInputError(f"{name}: {at}workers[{index}].replay: expected the plan of replica {chosen.replica} with seed {rec.seed} "
                               f"(got replica {plan.replica}, seed {plan.seed})")
    if report.scenario.definition is None:
        raise ReplayInputError(f"{name}: {at}scenario.definition: expected the recorded scenario (rerun it with this stresskit)")
    try:
        model = scenario_from_document(name, report.scenario.definition)
        checked = check(name, model, default_name=report.scenario.name)
    except ScenarioError as err:
        # a ScenarioErrors is its first problem: one line is enough to say the record is damaged
        raise ReplayInputError(f"{name}: {at}scenario.definition.{err.path}: {err.expected}"
                               + (f" (got {err.got})" if err.got is not None else "")) from None
    soak = (rec.model_extra or {}).get("soak")  # a soak's replica: planned from its own base seed (stresskit/soak)
    difference = _unplanned(checked, report.seed, plan, soak if isinstance(soak, dict) else None)
    if difference is not None:
        raise ReplayInputError(f"{name}: {at}workers[{index}].replay.plan.{difference}")
    env = report.environment
    native = env.native.model_dump(exclude_none=True) if env.native else {}
    return Recorded(scenario=checked, base_seed=report.seed, plan=plan, environment=dict(rec.environment),
                    signature=rec.signature.model_dump(), native=native, stresskit=env.stresskit or "an unknown version",
                    python=env.python.version)


def _unplanned(checked: Any, base_seed: int, plan: ReplicaPlan, soak: dict[str, Any] | None = None) -> str | None:
    """None if ``plan`` is what the planner makes of the recorded scenario, seed and ops or
    duration (the only choices `run` takes from its command line); else where it differs. A plan
    that no run could have made (edited, damaged) is refused rather than run: the scenario's
    bounds (threads, sizes, queues...) were checked on the definition, not on the plan."""
    from stresskit.plan_codec import plan_to_dict
    from stresskit.planner import Overrides, PlanError
    from stresskit.planner import plan as make_plan

    if soak is not None:  # replica k of a soak is replica j of `run --seed base_seed`, numbered k
        import dataclasses

        base_seed, j = soak.get("base_seed"), soak.get("replica")
        if not isinstance(base_seed, int) or not isinstance(j, int) or not 0 <= j < checked.model.load.replicas or not 0 <= base_seed < 2**64:
            return "soak: expected the base seed and run replica this replica was planned from"
        try:
            expected = make_plan(checked, Overrides(seed=base_seed, ops=plan.ops, duration_s=plan.duration_s)).replicas[j]
        except (PlanError, ValueError, OverflowError) as exc:
            return f"duration_s: expected what `run` accepts ({exc})"
        return _difference(plan_to_dict(dataclasses.replace(expected, replica=plan.replica)), plan_to_dict(plan))
    if not 0 <= base_seed < 2**64 or (plan.ops is not None and not 1 <= plan.ops <= 10**11) or plan.replica >= checked.model.load.replicas:
        return f"replica: expected a replica of the recorded scenario, seed and ops (got replica {plan.replica}, ops {plan.ops})"
    try:
        expected = make_plan(checked, Overrides(seed=base_seed, ops=plan.ops, duration_s=plan.duration_s)).replicas[plan.replica]
    except (PlanError, ValueError, OverflowError) as exc:
        return f"duration_s: expected what `run` accepts ({exc})"
    return _difference(plan_to_dict(expected), plan_to_dict(plan))


def _difference(want: Any, got: Any, path: str = "") -> str | None:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in want:
            found = _difference(want[key], got.get(key), f"{path}.{key}" if path else key)
            if found is not None:
                return found
        return None
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            found = _difference(a, b, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if want == got and type(want) is type(got):
        return None
    shown = repr(got) if len(repr(got)) <= 40 else repr(got)[:37] + "..."
    return f"{path}: expected {want!r}, what the recorded scenario plans (got {shown}): the plan was edited or damaged"
