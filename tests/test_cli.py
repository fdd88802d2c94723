"""Every command answers --help."""

from __future__ import annotations

import click
from click.testing import CliRunner

from ledgerlearn.cli import main


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        path = (*prefix, name)
        yield path
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, path)


def test_every_command_has_help() -> None:
    runner = CliRunner()
    paths = [(), *_all_commands(main)]
    assert len(paths) > 3
    for path in paths:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
