"""`run --sanitize` on the command line: prepare the sanitized run or say in one line why not."""

from __future__ import annotations

import sys

import click

from stresskit.sanitize import BuildFailed, SourceUnavailable, ToolMissing, build, mimalloc_source, native_source
from stresskit.sanitize.build import check_tools
from stresskit.sanitize.session import SanitizedRun

EXIT_ERROR = 3  # the environment cannot do it (docs/exit-codes.md), as for a missing native library


def _say(line: str) -> None:
    click.echo(f"stresskit: {line}", err=True)


def prepare_or_exit(kind: str) -> SanitizedRun:
    """The run, its library built or taken from the cache; exit 3 with one line if a compiler,
    runtime, valgrind, cmake or a source is missing or the build fails."""
    try:
        check_tools(kind)  # before a download or a build: a missing compiler is one line at once
        built = build(kind, native_source(), mimalloc_source(), announce=_say)
    except (ToolMissing, SourceUnavailable) as exc:
        _say(str(exc))
        sys.exit(EXIT_ERROR)
    except BuildFailed as exc:
        _say(f"--sanitize {kind}: {exc}")
        sys.exit(EXIT_ERROR)
    run = SanitizedRun.start(built)
    how = "from the cache" if built.cached else f"built in {built.seconds:.1f} s"
    _say(f"--sanitize {kind}: {built.library} ({how}); runtime {built.runtime}; logs in {run.log_dir}")
    return run
