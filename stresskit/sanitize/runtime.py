"""What a sanitized worker needs in its environment: the sanitized library, its runtime preloaded
(CPython is not built with it, and ASAN/TSAN must be in the process before anything else), and
the runtime's options, with one log file per worker process."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from stresskit._native import ENV_VAR as NATIVE_LIB_ENV

SUPPRESSIONS = Path(__file__).with_name("tsan.supp")
MEMCHECK_SUPPRESSIONS = Path(__file__).with_name("memcheck.supp")
OPTIONS_ENV = {"address": "ASAN_OPTIONS", "thread": "TSAN_OPTIONS", "undefined": "UBSAN_OPTIONS"}
# Valgrind: the worker's interpreter runs inside it (a wrapper the spawn context starts instead of
# python). Leak checking is off for the same reason as LeakSanitizer's; the error exit code is 0
# so the log alone decides; --fullpath-after= keeps whole source paths (reports.py tells ours by them).
MEMCHECK_ARGS = ("--tool=memcheck", "--error-exitcode=0", "--leak-check=no", "--fullpath-after=", "--num-callers=24",
                 f"--suppressions={MEMCHECK_SUPPRESSIONS}")

# Beyond log_path, per sanitizer, and why:
#  - detect_leaks=0: LeakSanitizer sees only malloc, not mimalloc's blocks, and CPython keeps its
#    own allocations at exit; leaks are what the glue's books and the engine's leak scan check.
#  - allocator_may_return_null=1: the OOM role and edge probes ask for impossible sizes on purpose.
#  - halt_on_error: ASAN and UBSAN stop at the first error (its stack is the diagnosis); TSAN goes
#    on so one run lists every race, and exitcode=0 leaves the verdict to the log (reports.py),
#    which also discards reports about the uninstrumented interpreter alone.
_OPTIONS = {
    "address": {"detect_leaks": "0", "halt_on_error": "1", "allocator_may_return_null": "1",
                "print_summary": "1", "symbolize": "1"},
    "thread": {"halt_on_error": "0", "exitcode": "0", "report_signal_unsafe": "0",
               "allocator_may_return_null": "1", "suppressions": str(SUPPRESSIONS), "history_size": "4"},
    "undefined": {"print_stacktrace": "1", "halt_on_error": "1", "print_summary": "1"},
}


def log_prefix(log_dir: Path, replica: int) -> Path:
    """The runtime appends ".<pid>" to this."""
    return log_dir / f"replica-{replica}"


def valgrind_wrapper(valgrind: Path, log_dir: Path, replica: int) -> Path:
    """An executable that runs this interpreter, with the arguments it is given, under memcheck."""
    script = log_dir / f"valgrind-replica-{replica}.sh"
    args = " ".join(shlex.quote(a) for a in (*MEMCHECK_ARGS, f"--log-file={log_prefix(log_dir, replica)}.%p"))
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(str(valgrind))} {args} {shlex.quote(sys.executable)} \"$@\"\n")
    script.chmod(0o755)
    return script


def worker_env(kind: str, library: Path, runtime: Path, log_dir: Path, replica: int) -> dict[str, str]:
    if kind == "memcheck":
        # pymalloc's arenas look like one big block to memcheck: plain malloc lets it see CPython's
        # own allocations (their errors are then not taken for the glue's: reports.py)
        return {NATIVE_LIB_ENV: str(library), "PYTHONMALLOC": "malloc"}
    options = {"log_path": str(log_prefix(log_dir, replica)), **_OPTIONS[kind]}
    user = os.environ.get(OPTIONS_ENV[kind], "")
    # The user's own options come last, so they win (e.g. ASAN_OPTIONS=quarantine_size_mb=16).
    text = ":".join(f"{k}={v}" for k, v in options.items()) + (f":{user}" if user else "")
    preload = " ".join(p for p in (str(runtime), os.environ.get("LD_PRELOAD", "")) if p)
    return {NATIVE_LIB_ENV: str(library), "LD_PRELOAD": preload, OPTIONS_ENV[kind]: text}
