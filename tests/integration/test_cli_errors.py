"""No traceback on any bad command line (issue 10): every command, driven with missing and extra
arguments, unknown flags, empty strings and values of the wrong type, through entry.py's fast path
and through typer, exits 2 (usage) or 125 (sdc's own error) with one line and a hint."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import typer.main

from sdcontainer.cli import app
from tests.integration.conftest import Sdc

# The commands a user types (not _cleanup, which systemd runs), with valid positionals for the
# cases that need some: bad values are then the only thing wrong.
GROUP = typer.main.get_command(app)
assert isinstance(GROUP, click.Group)
COMMANDS = sorted(name for name, cmd in GROUP.commands.items() if not cmd.hidden)
SOME_ARGS = {"run": ["nosuch-image", "true"], "import": ["-", "x"], "rmi": ["nosuch"], "logs": ["nosuch"],
             "inspect": ["nosuch"], "stop": ["nosuch"], "kill": ["nosuch"], "rm": ["nosuch"]}  # fmt: skip


def bad_command_lines() -> list[list[str]]:
    lines: list[list[str]] = []
    for name in COMMANDS:
        command = GROUP.commands[name]
        positionals = SOME_ARGS.get(name, [])
        required = any(isinstance(p, click.Argument) and p.required for p in command.params)
        lines += [[name]] if required else []
        lines += [[name, ""], [name, "", ""], [name, "--no-such-flag", *positionals],
                  [name, *positionals, "extra", "arguments", "here"] if name not in ("run", "rm", "stop", "kill",
                  "inspect", "rmi") else [name, "", *positionals]]  # fmt: skip
        for param in command.params:
            if not isinstance(param, click.Option) or param.is_flag:
                continue
            flag = max(param.opts, key=len)
            lines += [[name, flag], [name, flag, "", *positionals]]
            if not isinstance(param.type, click.types.StringParamType):
                lines.append([name, flag, "not-a-number", *positionals])
    # sdc run's values, each wrong in its own way
    for flag, value in [("-m", "lots"), ("-m", "1k"), ("--memory-swap", "x"), ("-c", "1"), ("--cpus", "-1"),
                        ("--cpus", "nan"), ("--cpuset-cpus", "3-1"), ("--cpuset-cpus", "a"), ("--pids-limit", "-5"),
                        ("--blkio-weight", "5"), ("-u", "bob"), ("-u", "1:x"), ("--name", "-bad"), ("--name", "a/b"),
                        ("-e", "=x"), ("--env-file", "/nonexistent"), ("--stop-signal", "NOPE"),
                        ("--stop-timeout", "-1"), ("-w", "relative")]:  # fmt: skip
        lines.append(["run", flag, value, "nosuch-image", "true"])
    lines += [["--root"], ["--storage-driver", "zfs", "ps"], ["--root", "", "ps", "-a", "--format", "yaml"],
              ["frobnicate"], ["run", "--", "-x"]]  # fmt: skip
    return lines


@pytest.mark.parametrize("path", ["fast path", "typer"])
def test_no_traceback_on_any_bad_command_line(sdc: Sdc, path: str) -> None:
    env = sdc.env(SDC_NO_FAST_PATH="1") if path == "typer" else sdc.env()
    failures = []
    for argv in bad_command_lines():
        proc = sdc(*argv, env=env, input=b"")
        output = proc.stdout + proc.stderr
        if "Traceback" in output or proc.returncode not in (2, 125):
            failures.append(f"sdc {' '.join(repr(a) for a in argv)} -> {proc.returncode}: {output[-300:]}")
        elif proc.returncode == 125 and not (proc.stderr.startswith("sdc: error: ") and proc.stderr.count("\n") == 1):
            failures.append(f"sdc {' '.join(repr(a) for a in argv)}: not one line: {proc.stderr}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", ["fast path", "typer"])
def test_a_working_directory_that_is_gone(sdc: Sdc, path: str, tmp_path: Path) -> None:
    """A shell left in a directory since removed (issue 22, item 13): what needs no relative path
    works; a relative path is one line that says why, never getcwd's traceback."""
    import subprocess

    env = sdc.env(SDC_NO_FAST_PATH="1") if path == "typer" else sdc.env()
    gone = tmp_path / "gone"

    def in_gone(*argv: str, **more: str) -> subprocess.CompletedProcess[str]:
        gone.mkdir()
        script = 'cd "$0" && rmdir "$0" && exec "$@"'
        return subprocess.run(["sh", "-c", script, str(gone), *sdc.argv(*argv)], env={**env, **more},
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    assert in_gone("ps", "-a").returncode == 0
    cases = [(["--root", "relative", "ps"], "--root 'relative' is relative, and the working directory is gone"),
             (["load", "-i", "image.tar"], "cannot read image.tar"),
             (["run", "--security-opt", "seccomp=profile.json", "nosuch", "true"], "working directory is gone")]
    for argv, says in cases:
        proc = in_gone(*argv)
        assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and says in proc.stderr, (argv, proc.stderr)
    proc = in_gone("ps", SDC_ROOT="relative")
    assert proc.returncode == 125 and "$SDC_ROOT 'relative' is relative" in proc.stderr, proc.stderr
