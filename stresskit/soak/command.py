"""`stresskit run SCENARIO --repeat N | --until-failure [--max-time 2h]`: a soak of one scenario."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from stresskit.scenario.validation import CheckedScenario

EXIT_USAGE = 2


def wanted(repeat: int | None, until_failure: bool, max_time: float | None) -> bool:
    return repeat is not None or until_failure or max_time is not None


def run(loaded: Sequence[CheckedScenario], repeat: int | None, until_failure: bool, max_time: float | None,
        options: dict[str, Any]) -> None:
    """Exit 0 every replica passed, 1 one failed, 2 invalid options, 3 an error, 130/143/129
    interrupted (the report keeps every replica finished)."""
    from stresskit.api import ScenarioInvalid
    from stresskit.api import validate as check
    from stresskit.executors.command import opened
    from stresskit.planner import Overrides
    from stresskit.report.console import Display
    from stresskit.session import Options, exit_code, prepare_run
    from stresskit.soak.drive import Limits, soak
    from stresskit.soak.stream import SoakWriter

    def refuse(line: str) -> None:
        click.echo(line, err=True)
        sys.exit(EXIT_USAGE)

    if len(loaded) != 1:
        refuse("stresskit: --repeat/--until-failure/--max-time: expected one scenario file (a soak repeats one scenario)")
    if repeat is None and not until_failure and max_time is not None:
        until_failure = True  # --max-time alone: soak until a failure or the time is up
    for name in ("baseline", "html_path", "junit_path", "sanitize"):
        if options[name] is not None:
            flag = {"html_path": "--html", "junit_path": "--junit"}.get(name, f"--{name}")
            refuse(f"stresskit: {flag}: not with a soak (rerun the failing replica with `run --seed` and use it there)")
    if options["profile"]:
        refuse("stresskit: --profile: not with a soak (profile one replica: `run --seed S --profile`)")
    checked = loaded[0]
    seed, ops, duration = options["seed"], options["ops"], options["duration"]
    if seed is None:
        seed = checked.model.load.seed if checked.model.load.seed is not None else int.from_bytes(os.urandom(8), "little") >> 1
    try:
        check(checked, seed=seed, ops=ops, duration=duration, workers=options["workers"], max_memory=options["max_memory"])
    except ScenarioInvalid as err:
        refuse(err.lines[0])
    json_path, profile_dir = prepare_run(options["json_path"], options["profile_dir"], [checked], False)
    limits = Limits(repeat, until_failure, max_time)
    writer = SoakWriter(json_path, seed, limits.as_json())
    display = Display(quiet=options["quiet"])
    with opened(options.get("executor")) as executor:  # one Dask cluster or connection for every batch
        opts = Options(Overrides(seed=seed, ops=ops, duration_s=duration), options["workers"], False, profile_dir, executor=executor)
        doc, interrupted = soak(checked, opts, display, writer, limits)
    info = doc["soak"]
    click.echo(f"{checked.name}: soak {doc['status'].upper()}: {info['replicas_run']} replicas, {info['passed']} passed, "
               f"{info['failed']} failed, {info['errors']} errors (stopped: {info['stopped']}; run seed {seed})")
    first = info["first_failure"]
    if first is not None:
        click.echo(f"first failure: replica {first['replica']} ({', '.join(first['failed']) or 'see the report'}); "
                   f"rerun it: stresskit run {checked.file} --seed {first['seed']}"
                   + (f" (its replica {first['run_replica']})" if first["run_replica"] else "")
                   + (f" or stresskit replay {json_path} --replica {first['replica']}" if json_path else ""))
    if json_path:
        click.echo(f"report: {json_path}")
    code = exit_code("error", interrupted=interrupted) if interrupted else exit_code(doc["status"])
    sys.exit(writer.outcome(code))
