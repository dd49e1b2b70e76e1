"""The CLI's own behaviour, without root: errors, help, which command gets converted."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
import typer.main

from sdcontainer.cli import app, invoked_app
from sdcontainer.entry import PS_OPTIONS, RUN_OPTIONS, parse_ps, parse_run


def sdc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdcontainer", *args], capture_output=True, text=True)


def test_bad_flags_get_one_line_and_a_hint_before_anything_else() -> None:
    proc = sdc("run", "-m", "lots", "bb", "true")
    assert proc.returncode == 125 and proc.stdout == ""
    assert proc.stderr == (
        "sdc: error: invalid size 'lots' for --memory (hint: use a number with an optional unit: 64m, 1g, 512k)\n"
    )
    proc = sdc("run", "--pids-limit", "many", "bb")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "hint: see `sdc run --help`" in proc.stderr
    proc = sdc("frobnicate")
    assert proc.returncode == 2 and "No such command" in proc.stderr


def test_version() -> None:
    from sdcontainer import __version__

    assert sdc("--version").stdout == f"sdc version {__version__}\n"


@pytest.mark.parametrize(
    ("argv", "commands"),
    [
        (["run", "--rm", "bb", "true"], ["run"]),
        (["--root", "/x", "--storage-driver", "vfs", "ps", "-a"], ["ps"]),
        (["-D", "rm", "-f", "web"], ["rm"]),
        (["--help"], None),
        (["nosuch"], None),
        ([], None),
    ],
)
def test_only_the_invoked_command_is_built(argv: list[str], commands: list[str] | None) -> None:
    chosen = invoked_app(argv)
    if commands is None:
        assert chosen is app
    else:
        assert [c.name or c.callback.__name__ for c in chosen.registered_commands] == commands  # type: ignore[union-attr]
        assert len(app.registered_commands) > 5  # the app itself is untouched


def click_command(name: str) -> click.Command:
    group = typer.main.get_command(app)
    assert isinstance(group, click.Group)
    command = group.get_command(click.Context(group), name)
    assert command is not None
    return command


def option_table(command: click.Command) -> dict[str, tuple[str, type]]:
    table: dict[str, tuple[str, type]] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            kind: type = str
            if param.is_flag:
                kind = bool
            elif param.multiple:
                kind = list
            elif isinstance(param.type, click.types.IntParamType):
                kind = int
            elif isinstance(param.type, click.types.FloatParamType):
                kind = float
            table.update({opt: (str(param.name), kind) for opt in param.opts})
    return table


def test_the_fast_paths_know_the_flags_the_typer_commands_declare() -> None:
    assert RUN_OPTIONS == option_table(click_command("run"))
    assert PS_OPTIONS == option_table(click_command("ps"))


def normalized(values: dict[str, object]) -> dict[str, object]:
    return {k: (list(v) or None) if isinstance(v, (tuple, list)) else v for k, v in values.items()}


@pytest.mark.parametrize(
    "args",
    [
        ["bb"],
        ["--rm", "bb", "/bin/true"],
        ["-dit", "--name=web", "-m64m", "--memory-swap", "-1", "bb", "sleep", "9"],
        ["-e", "A=1", "--env=B=2", "-eC=3", "-c", "512", "--cpus", "1.5", "--cpuset-cpus", "0", "bb"],
        ["--pids-limit", "-1", "--blkio-weight=300", "--stop-timeout", "3", "--stop-signal", "HUP", "bb"],
        ["-w", "/srv", "-h", "box", "-u", "7:8", "-ti", "bb", "sh", "-c", "echo --rm -d"],
        ["--", "bb", "--name", "x"],
        ["bb", "--", "-x"],
        ["--rm", "-d", "bb", "-e", "X=1"],
    ],
)
def test_the_fast_run_parses_as_typer_does(args: list[str]) -> None:
    command = click_command("run")
    expected = normalized(command.make_context("run", list(args)).params)
    fast = parse_run(["--root", "/r", "run", *args])
    assert fast is not None and fast["root"] == "/r"
    defaults = normalized({str(p.name): p.default for p in command.params})
    assert normalized({**defaults, **fast["flags"]}) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", "--help"],
        ["run", "-m"],
        ["run", "--pids-limit", "many", "bb"],
        ["run", "--cpus=x", "bb"],
        ["run", "--rm=yes", "bb"],
        ["run", "--bogus", "bb"],
        ["run", "-dx", "bb"],
        ["--debug", "run", "bb"],
        ["--root"],
        ["ps"],
        ["images"],
    ],
)
def test_the_fast_run_leaves_the_rest_to_typer(argv: list[str]) -> None:
    assert parse_run(argv) is None


def test_fast_ps_takes_only_its_plain_forms() -> None:
    assert parse_ps(["ps", "-aq"]) == {
        "root": os.environ.get("SDC_ROOT") or None,
        "storage_driver": os.environ.get("SDC_STORAGE_DRIVER") or None,
        "all_": True,
        "quiet": True,
        "fmt": "table",
    }
    assert parse_ps(["ps", "--format", "json"])["fmt"] == "json"  # type: ignore[index]
    assert parse_ps(["--root", "/r", "ps"])["root"] == "/r"  # type: ignore[index]
    assert parse_ps(["--root=/r", "--storage-driver", "vfs", "ps", "-q"])["storage_driver"] == "vfs"  # type: ignore[index]
    for other in (["ps", "--filter", "x"], ["ps", "--format", "{{.ID}}"], ["images"], ["ps", "-h"], ["ps", "x"]):
        assert parse_ps(other) is None
