"""`stresskit replay REPORT.json`: rerun exactly one replica's recorded plan, several times, and
say whether its failure reproduced (docs/diagnostics.md, Replay).

What is recorded (every run) is replay_record.py's; reading a report back, replay_report.py's.
Here: which library the reruns load, the environment their workers start with, the reruns
themselves (session.execute, one worker process each, exactly as `stresskit run` runs a replica),
the comparison of failure signatures and the command's verdict and exit code.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresskit.diagnostics.replay_record import NATIVE_ENV, recordable
from stresskit.report.environment import library_identity, sha256_of
from stresskit.diagnostics.replay_report import Recorded, ReplayInputError, read_report


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
        return fail(f"{report}: environment.native: {exc}", EXIT_USAGE)
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
