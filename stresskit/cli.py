"""The `stresskit` command. click: subcommands, typed options and --help for free."""

from __future__ import annotations

import click

from stresskit._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stresskit")
def main() -> None:
    """Stress-test the cc_* allocation glue over mimalloc."""


def _register() -> None:
    # Each subsystem owns its command module; the group only gathers them.
    from stresskit.bench.command import bench

    main.add_command(bench)


try:
    _register()
except ImportError:  # a subsystem still being built; its command is simply absent
    pass
