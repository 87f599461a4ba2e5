"""The CLI's side of ``--executor``: refusals and the opened executor, one line and an exit code
each (docs/exit-codes.md). Shared by every command that runs scenarios (`run`, its matrices)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click

from stresskit.executors.base import Executor, ExecutorError, ExecutorSpec
from stresskit.executors.factory import open_executor

EXIT_USAGE = 2


def refuse_unsupported(spec: ExecutorSpec, sanitize: str | None, profile: bool) -> None:
    """--sanitize and --profile work on this machine's processes only: refused with dask (exit 2)."""
    if spec.kind == "local" or not (sanitize or profile):
        return
    from stresskit.executors.dask_client import unsupported

    click.echo(f"stresskit: {unsupported('--sanitize' if sanitize else '--profile')}", err=True)
    sys.exit(EXIT_USAGE)


@contextlib.contextmanager
def opened(spec: ExecutorSpec | None) -> Iterator[Executor]:
    """One executor (one Dask cluster or connection) for every scenario of the command (None:
    local); an executor that cannot be used, or refuses the run, is one line and its exit code."""
    try:
        executor = open_executor(spec or ExecutorSpec("local"))
    except ExecutorError as exc:
        click.echo(f"stresskit: {exc.line}", err=True)
        sys.exit(exc.code)
    try:
        yield executor
    except ExecutorError as exc:
        click.echo(f"stresskit: {exc.line}", err=True)
        sys.exit(exc.code)
    finally:
        executor.close()
