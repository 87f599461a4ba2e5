"""`run --sanitize` on the command line: prepare the sanitized run or say in one line why not."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from stresskit.sanitize.build import check_tools
from stresskit.sanitize import BuildFailed, SourceUnavailable, ToolMissing, build, mimalloc_source, native_source
from stresskit.sanitize.session import SanitizedRun, refusal

if TYPE_CHECKING:
    from stresskit.scenario.validation import CheckedScenario

EXIT_USAGE, EXIT_ERROR = 2, 3


def _say(line: str) -> None:
    click.echo(f"stresskit: {line}", err=True)


def prepare_or_exit(kind: str, loaded: Sequence[CheckedScenario]) -> SanitizedRun:
    """Exit 2 if a scenario cannot run under ``kind`` (nothing is built), exit 3 if a compiler,
    runtime or source is missing or the build fails; else the run, its library built or cached."""
    refusals = [r for checked in loaded if (r := refusal(kind, checked))]
    for line in refusals:
        click.echo(line, err=True)
    if refusals:
        sys.exit(EXIT_USAGE)
    try:
        check_tools(kind)  # before a download or a build: a missing compiler is one line at once
        native = native_source()
        mimalloc = mimalloc_source()
        built = build(kind, native, mimalloc, announce=_say)
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
