"""The CLI's own behaviour, without root: errors, help, which command gets converted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sdcontainer.cli import app, invoked_app
from sdcontainer.entry import parse_ps


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


def test_fast_ps_takes_only_its_plain_forms() -> None:
    assert parse_ps(["ps", "-aq"]) == {"root": os.environ.get("SDC_ROOT"), "all": True, "quiet": True, "fmt": "table"}
    assert parse_ps(["ps", "--format", "json"])["fmt"] == "json"  # type: ignore[index]
    assert parse_ps(["--root", "/r", "ps"])["root"] == "/r"  # type: ignore[index]
    for other in (["ps", "--filter", "x"], ["ps", "--format", "{{.ID}}"], ["images"], ["ps", "-h"]):
        assert parse_ps(other) is None
