"""`stresskit replay REPORT.json`: rerun exactly one replica's recorded plan, several times, and
say whether its failure reproduced (docs/diagnostics.md, Replay).

Recording (every run): each ``workers[i].replay`` holds what decides the replica's work — its
seed, its whole ReplicaPlan (stresskit/plan_codec.py), the test hooks in force (environment
variables), and its failure signature; the run-wide part (Python, the native library's path,
versions and sha256, hashed once per run) is under ``tool``, the validated scenario under
``scenario.definition``. Replaying: the report is read with the bounded input readers, the
library is checked, and the plan runs again through session.execute, one worker process per
rerun, exactly as `stresskit run` runs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from stresskit.plan import ReplicaPlan
from stresskit.plan_codec import PlanDecodeError, plan_from_dict, plan_to_dict
from stresskit.runner.records import WorkerRecord
from stresskit.thresholds import NOT_PRODUCED, ThresholdResult

# Environment variables that change what a worker does: the engine's and the worker's test hooks
# (a planted failure must replay) and mimalloc's options (read when the library loads).
HOOK_VARIABLES = ("STRESSKIT_TEST_ENGINE_HOOKS", "STRESSKIT_TEST_CRASH")
MIMALLOC_PREFIX = "MIMALLOC_"
NATIVE_ENV = "STRESSKIT_NATIVE_LIB"


# -- recording ------------------------------------------------------------------------------------
def recordable(name: str) -> bool:
    return name in HOOK_VARIABLES or name.startswith(MIMALLOC_PREFIX)


def test_environment() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items()) if recordable(k)}


_hashed: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """Hashed once per file version (path, size, mtime): `shrink` runs many candidates."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hashed:
        with open(path, "rb") as fh:
            _hashed[key] = hashlib.file_digest(fh, "sha256").hexdigest() if hasattr(hashlib, "file_digest") else hashlib.sha256(fh.read()).hexdigest()
    return _hashed[key]


def library_identity() -> dict[str, Any]:
    """The native library this process loads (and its workers find the same way)."""
    from stresskit import _native

    try:
        lib = _native.load()
        mi = int(lib.lib.cc_mimalloc_version())
        return {"path": str(lib.path.resolve()), "origin": lib.origin, "sha256": sha256_of(lib.path),
                "glue_version": lib.ffi.string(lib.lib.cc_glue_version()).decode(),
                "mimalloc_version": f"{mi // 10000}.{mi // 100 % 100}.{mi % 100}"}
    except (_native.NativeLibraryError, OSError) as exc:
        return {"error": str(exc)}


def run_environment() -> dict[str, Any]:
    """The run-wide facts of a replay record (under the report's ``tool``)."""
    return {"python": platform.python_version(), "native": library_identity()}


def failed_names(thresholds: Sequence[ThresholdResult]) -> list[str]:
    """What failed on a value. A check over a metric the replica never produced (it crashed, it
    was killed) is left out: the worker's status and signal already say why, and the list of
    every check would hide it."""
    return sorted(t.name if t.builtin else t.expression for t in thresholds if not t.ok and not t.reason.endswith(NOT_PRODUCED))


def signature(status: str, thresholds: Sequence[ThresholdResult], rec: WorkerRecord) -> dict[str, Any]:
    """What makes two failures the same: the verdict, what failed, how the worker ended."""
    return {"status": status, "failed": failed_names(thresholds), "worker_status": rec.status,
            "stop_reason": rec.result.stop_reason if rec.result is not None else None, "signal": rec.signal}


def record(plan: ReplicaPlan, rec: WorkerRecord, thresholds: Sequence[ThresholdResult]) -> dict[str, Any]:
    """``workers[i].replay``: ``thresholds`` are the scenario's checks over this replica alone."""
    from stresskit.report.json_report import status_of

    return {"seed": plan.seed, "plan": plan_to_dict(plan), "environment": test_environment(),
            "signature": signature(status_of([rec], thresholds, False), thresholds, rec)}


# -- reading a report -----------------------------------------------------------------------------
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


class _Native(_Open):
    path: str | None = None
    sha256: str | None = None
    glue_version: str | None = None
    error: str | None = None


class _Tool(_Open):
    version: str
    python: str | None = None
    native: _Native | None = None


class _ScenarioInfo(_Open):
    name: str
    file: str
    definition: dict[str, Any] | None = None


class _Report(_Open):
    tool: _Tool
    scenario: _ScenarioInfo
    seed: int
    workers: list[_Worker]


@dataclass(frozen=True)
class Recorded:
    """One replica of a report, ready to rerun."""

    file: str
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
        return _Report.model_validate(data), prefix
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
                               f"stresskit {report.tool.version}, which does not record them; rerun the scenario)")
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
    native = report.tool.native.model_dump(exclude_none=True) if report.tool.native else {}
    return Recorded(file=name, scenario=checked, base_seed=report.seed, plan=plan, environment=dict(rec.environment),
                    signature=rec.signature.model_dump(), native=native, stresskit=report.tool.version,
                    python=report.tool.python)


# -- the library ----------------------------------------------------------------------------------
class LibraryMismatch(Exception):
    """The library at hand is not the one recorded (one line: what differs)."""


def choose_library(recorded: dict[str, Any], allow_other: bool) -> tuple[Path | None, str]:
    """(the library the reruns must load, a note for the user). The recorded file itself if it
    is still there unchanged, else the one this stresskit finds if its hash matches; a different
    one only with ``allow_other``, else LibraryMismatch."""
    want = recorded.get("sha256")
    where = recorded.get("path")
    if where and want and Path(where).is_file() and sha256_of(Path(where)) == want:
        return Path(where), f"the recorded library {where} (sha256 {want[:12]}, unchanged)"
    current = library_identity()
    if "error" in current:
        raise OSError(current["error"])
    if want and current["sha256"] == want:
        return Path(current["path"]), f"{current['path']} (sha256 {want[:12]}, as recorded)"
    differs = (f"the report was run with {where or 'an unknown library'} (sha256 {str(want)[:12]}, glue {recorded.get('glue_version')}), "
               f"{'which is gone or changed' if where else 'unrecorded'}; this stresskit loads {current['path']} "
               f"(sha256 {current['sha256'][:12]}, glue {current['glue_version']})")
    if not allow_other:
        raise LibraryMismatch(f"{differs}; point {NATIVE_ENV} at the recorded library, or pass --allow-other-library")
    return Path(current["path"]), f"{current['path']}, NOT the recorded library (--allow-other-library): {differs}"


@contextlib.contextmanager
def worker_environment(library: Path | None, recorded: dict[str, str]) -> Iterator[None]:
    """The workers see the recorded hooks and mimalloc options, and only those (spawned workers
    copy this process's environment when they start)."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if recordable(key):
            del os.environ[key]
    os.environ.update(recorded)
    if library is not None:
        os.environ[NATIVE_ENV] = str(library)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- rerunning ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rerun:
    signature: dict[str, Any]
    reproduced: bool
    elapsed_s: float


def same_failure(recorded: dict[str, Any], seen: dict[str, Any]) -> bool:
    return recorded["status"] != "pass" and all(recorded.get(k) == seen.get(k) for k in ("status", "failed", "worker_status", "stop_reason", "signal"))


def rerun(rec: Recorded, runs: int, on_run: Any = None) -> tuple[list[Rerun], str | bool]:
    """Run the recorded plan ``runs`` times, one worker process each, through the same session
    code as `stresskit run`. Returns the reruns and the signal that interrupted them (or False)."""
    from stresskit.planner import RunPlan
    from stresskit.report.console import Display
    from stresskit.report.json_report import ReportWriter
    from stresskit.session import Options, execute

    run = RunPlan(scenario=rec.scenario, seed=rec.base_seed, replicas=(rec.plan,), workers=1, profile=False)
    done: list[Rerun] = []
    for i in range(runs):
        report, interrupted = execute(run, Options(), Display(quiet=True), ReportWriter(None, multiple=False), 0)
        if interrupted:
            return done, interrupted
        worker = report["workers"][0]
        seen = worker["replay"]["signature"]
        done.append(Rerun(seen, same_failure(rec.signature, seen), float(worker.get("elapsed_s") or 0.0)))
        if on_run is not None:
            on_run(i, done[-1])
    return done, False


def describe(sig: dict[str, Any]) -> str:
    """``fail: no_glue_leak, glue_books`` / ``error: crashed (SIGSEGV)`` / ``pass``."""
    if sig["status"] == "pass":
        return "pass"
    how = []
    if sig.get("worker_status") not in (None, "ok"):
        how.append(sig["worker_status"] + (f" ({sig['signal']})" if sig.get("signal") else ""))
    if sig.get("stop_reason") not in (None, "completed", "duration"):
        how.append(f"stopped: {sig['stop_reason']}")
    how += sig.get("failed") or []
    return f"{sig['status']}: {', '.join(how)}" if how else sig["status"]



# -- the command ----------------------------------------------------------------------------------
EXIT_NOT_REPRODUCED, EXIT_STILL_FAILS, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


def outcome_line(recorded: dict[str, Any], reruns: Sequence[Rerun]) -> tuple[str, int]:
    """The verdict line and the exit code (docs/exit-codes.md, replay)."""
    k, n = sum(r.reproduced for r in reruns), len(reruns)
    other = [r for r in reruns if not r.reproduced and r.signature["status"] != "pass"]
    if k:
        extra = f"; {len(other)} failed otherwise ({'; '.join(sorted({describe(r.signature) for r in other}))})" if other else ""
        return f"reproduced in {k}/{n} runs{extra}", EXIT_STILL_FAILS
    what = "there was no failure to reproduce (the recorded replica passed)" if recorded["status"] == "pass" else "did not reproduce"
    if other:
        kinds = "; ".join(sorted({describe(r.signature) for r in other}))
        return f"{what}; {len(other)}/{n} runs failed otherwise: {kinds}", EXIT_STILL_FAILS
    return (f"did not reproduce: {n}/{n} runs passed" if recorded["status"] != "pass"
            else f"did not reproduce: {what}, and {n}/{n} runs passed"), EXIT_NOT_REPRODUCED


def command(report: str, replica: int | None, runs: int, json_out: str | None, allow_other_library: bool,
            scenario: str | None = None, echo: Any = print) -> int:
    """`stresskit replay`: returns the exit code; every problem is one line on stderr."""
    import sys

    def fail(line: str, code: int) -> int:
        print(f"stresskit: {line}", file=sys.stderr, flush=True)
        return code

    try:
        rec = read_report(report, replica, scenario)
    except ReplayInputError as exc:
        return fail(str(exc), EXIT_USAGE)
    out: Path | None = None
    if json_out is not None:
        from stresskit.io.outputs import OutputError, claim_file

        try:
            out = claim_file("--json", json_out, inputs=[report])
        except OutputError as exc:
            return fail(exc.line(), EXIT_USAGE)
    try:
        library, note = choose_library(rec.native, allow_other_library)
    except LibraryMismatch as exc:
        return fail(f"{report}: tool.native: {exc}", EXIT_USAGE)
    except OSError as exc:
        return fail(f"{exc} (`stresskit doctor` shows where it looks)", EXIT_ERROR)
    p = rec.plan
    work = f"{p.ops:,} ops" if p.ops is not None else f"{p.duration_s:g} s"
    hooks = f"; test hooks {', '.join(f'{k}={v}' for k, v in rec.environment.items())}" if rec.environment else ""
    echo(f"replay: {report}: {rec.scenario.name} replica {p.replica} (seed {p.seed}, {work}, "
         f"{sum(r.threads for r in p.roles)} threads{hooks})")
    echo(f"recorded: {describe(rec.signature)}")
    echo(f"library: {note}")
    from stresskit._version import __version__

    # the plan is replayed as recorded; the Python and stresskit driving it are these ones
    if rec.stresskit != __version__ or (rec.python and rec.python != platform.python_version()):
        echo(f"note: recorded with stresskit {rec.stresskit} on Python {rec.python}, replayed with {__version__} on {platform.python_version()}")

    def progress(i: int, r: Rerun) -> None:
        mark = "  <- the recorded failure" if r.reproduced else ""
        echo(f"run {i + 1}/{runs}: {describe(r.signature)} ({r.elapsed_s:.2f} s){mark}")

    from stresskit.runner import signals

    previous = signals.install()  # SIGTERM/SIGHUP stop the reruns the way Ctrl-C does
    try:
        with worker_environment(library, rec.environment):
            reruns, interrupted = rerun(rec, runs, progress)
    finally:
        signals.restore(previous)
    line, code = outcome_line(rec.signature, reruns)
    if interrupted:
        line, code = f"interrupted by {signals.described(str(interrupted))} after {len(reruns)} run(s); {line}", signals.exit_code(str(interrupted))
    echo(line)
    if out is not None:
        import json

        from stresskit.io.outputs import WriteFailed, write_atomic

        doc = {"report": report, "scenario": rec.scenario.name, "replica": p.replica, "seed": p.seed, "library": note,
               "recorded": rec.signature, "runs": [{"signature": r.signature, "reproduced": r.reproduced, "elapsed_s": r.elapsed_s} for r in reruns],
               "reproduced": sum(r.reproduced for r in reruns), "verdict": line, "exit_code": code}
        try:
            write_atomic(out, json.dumps(doc, indent=2) + "\n", "--json")
        except WriteFailed as exc:
            return fail(exc.line(), EXIT_ERROR if code < 128 else code)
    return code
