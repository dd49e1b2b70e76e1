"""The CLI's own behaviour, without root: errors, help, which command gets converted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main

from sdcontainer.cli import _bool_flags, app, invoked_app
from sdcontainer.entry import PS_DEFAULTS, PS_OPTIONS, parse_ps, parse_run, run_options
from sdcontainer.paths import STORAGE_DRIVERS
from sdcontainer.spec import RUN_DEFAULTS, RUN_FLAGS


def sdc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdcontainer", *args], capture_output=True, text=True)


def test_bad_flags_get_one_line_and_a_hint_before_anything_else() -> None:
    proc = sdc("run", "-m", "lots", "bb", "true")
    assert proc.returncode == 125 and proc.stdout == ""
    assert proc.stderr == (
        "sdc: error: invalid size 'lots' for --memory (hint: use a number with an optional unit: 64m, 1g, 512k)\n"
    )
    proc = sdc("run", "--pids-limit", "many", "bb")
    assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and "hint: see `sdc run --help`" in proc.stderr
    proc = sdc("frobnicate")
    assert proc.returncode == 125
    assert proc.stderr == "sdc: error: 'frobnicate' is not an sdc command (hint: see `sdc --help`)\n"


@pytest.mark.parametrize(
    ("args", "line"),
    [(["rnu", "bb"], "'rnu' is not an sdc command (hint: did you mean `sdc run`?)"),
     (["imgaes"], "'imgaes' is not an sdc command (hint: did you mean `sdc images`?)"),
     (["volume", "lss"], "'lss' is not a command of `sdc volume` (hint: did you mean `sdc volume ls`?)"),
     (["ps", "--alll"], "unknown flag --alll for `sdc ps` (hint: did you mean --all?)"),
     (["run", "--detatch", "bb"], "unknown flag --detatch for `sdc run` (hint: did you mean --detach?)"),
     (["ps", "--zzzzzz"], "unknown flag --zzzzzz for `sdc ps` (hint: see `sdc ps --help`)"),
     (["stop"], "no container given (hint: name one or more, or give --all)"),
     (["logs"], "Missing argument 'CONTAINER'. (hint: see `sdc logs --help`)")],
)  # fmt: skip
def test_usage_errors_are_125_with_what_was_meant(args: list[str], line: str) -> None:
    proc = sdc(*args)
    assert (proc.returncode, proc.stdout, proc.stderr) == (125, "", f"sdc: error: {line}\n")


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
    assert run_options() == option_table(click_command("run"))
    assert PS_OPTIONS == option_table(click_command("ps"))


def normalized(values: dict[str, object]) -> dict[str, object]:
    return {k: (list(v) or None) if isinstance(v, (tuple, list)) else v for k, v in values.items()}


def differences(args: list[str], defaults: dict[str, object] = RUN_DEFAULTS) -> dict[str, object] | None:
    """Where `sdc run ARGS` as the fast path takes it (its values over the defaults it applies,
    spec.RUN_DEFAULTS) differs from click's parse of typer's command; None when the fast path
    leaves the argv to typer."""
    fast = parse_run(["--root", "/r", "run", *args])
    if fast is None:
        return None
    assert fast["root"] == "/r"
    clicked = normalized(click_command("run").make_context("run", list(args)).params)
    mine = normalized({**defaults, **fast["flags"]})
    return {k: (mine.get(k), clicked.get(k)) for k in {*mine, *clicked} if mine.get(k) != clicked.get(k)}


# Each flag's value classes: what the fast path and click could read differently.
VALUES: dict[type, list[str]] = {str: ["x", "", "-1", "a=b", "--rm"], int: ["7", "-1", "0"], float: ["1.5", "2"],
                                 list: ["A=1", ""]}  # fmt: skip


def generated_argvs() -> list[list[str]]:
    """Every flag by every name, with each value class, separate and attached; switches alone and
    in clusters; repeats; the image and command around them."""
    argvs: list[list[str]] = []
    for flag in RUN_FLAGS:
        for name in flag.names:
            if flag.kind is bool:
                argvs += [[name, "bb"], ["bb", name], [name, "bb", "cmd", name]]
                continue
            for value in VALUES[flag.kind]:
                attached = f"{name}={value}" if name.startswith("--") else f"{name}{value}"
                argvs += [[name, value, "bb"], [attached, "bb", "sh", "-c", "x"], [name, value, "--", "bb", "-x"]]
        if flag.kind is list:
            argvs.append([flag.names[0], "A=1", flag.names[-1], "B=2", "bb"])
    switches = "".join(n[1] for f in RUN_FLAGS if f.kind is bool for n in f.names if len(n) == 2)
    return [*argvs, [f"-{switches}", "bb"], [f"-{switches}m", "64m", "bb"], ["--", "bb", "--name", "x"], ["bb"]]


def test_the_fast_run_parses_every_generated_argv_as_typer_does() -> None:
    taken = 0
    for args in generated_argvs():
        found = differences(args)
        if found is not None:
            taken += 1
            assert found == {}, f"sdc run {args}: fast path vs typer: {found}"
    assert taken > len(RUN_FLAGS) * 3  # most of them are the fast path's to take


def test_the_equality_test_sees_a_default_that_drifts() -> None:
    """Were the fast path to apply another default than typer declares, the test above fails:
    shown by drifting one default in its own fixture."""
    assert differences(["bb"]) == {}
    assert differences(["bb"], {**RUN_DEFAULTS, "stop_timeout": 11}) == {"stop_timeout": (11, 10)}
    assert differences(["bb"], {**RUN_DEFAULTS, "workdir": "/srv"}) == {"workdir": ("/srv", None)}


def test_the_readme_tables_every_run_flag() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("`sdc run` options") :].split("\n\n")[1]
    missing = [
        name for flag in RUN_FLAGS for name in flag.names if f"`{name}" not in table and f", {name}" not in table
    ]
    assert missing == []


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
        **PS_DEFAULTS,
        "all_": True,
        "quiet": True,
    }
    assert parse_ps(["ps", "--format", "json"])["fmt"] == "json"  # type: ignore[index]
    assert parse_ps(["ps", "--format", "{{.ID}}"])["fmt"] == "{{.ID}}"  # type: ignore[index]
    assert parse_ps(["ps", "-f", "name=a", "--filter=label=b"])["filters"] == ["name=a", "label=b"]  # type: ignore[index]
    assert parse_ps(["ps", "-n", "2", "--no-trunc"])["last"] == 2  # type: ignore[index]
    assert parse_ps(["--root", "/r", "ps"])["root"] == "/r"  # type: ignore[index]
    for driver in STORAGE_DRIVERS:  # each driver the fast path knows, none it does not
        assert parse_ps(["--root=/r", "--storage-driver", driver, "ps", "-q"])["storage_driver"] == driver  # type: ignore[index]
    assert parse_ps(["--storage-driver", "zfs", "ps"]) is None
    for other in (["ps", "-n", "x"], ["ps", "--sort", "nope"], ["images"], ["ps", "-h"], ["ps", "x"]):
        assert parse_ps(other) is None


def test_tls_verify_takes_podmans_value_form_for_registry_commands_only() -> None:
    assert _bool_flags(["pull", "--tls-verify=false", "x"]) == ["pull", "--no-tls-verify", "x"]
    pushed = ["--root", "/r", "push", "--tls-verify", "x"]
    assert _bool_flags(["--root", "/r", "push", "--tls-verify=TRUE", "x"]) == pushed
    assert _bool_flags(["login", "--tls-verify=0", "r"]) == ["login", "--no-tls-verify", "r"]
    assert _bool_flags(["commit", "--pause=false", "web"]) == ["commit", "--no-pause", "web"]
    assert _bool_flags(["commit", "--tls-verify=false", "web"]) == ["commit", "--tls-verify=false", "web"]
    command = ["run", "img", "skopeo", "copy", "--tls-verify=false", "a", "b"]
    assert _bool_flags(command) == command  # a container's command is its own
    proc = sdc("pull", "--tls-verify=perhaps", "x")
    assert proc.returncode == 125 and proc.stderr == (
        "sdc: error: invalid --tls-verify=perhaps (hint: give --tls-verify=true or --tls-verify=false)\n"
    )


def test_every_package_of_the_source_is_installed() -> None:
    """pyproject.toml lists sdcontainer's packages one by one: a new one left out installs nothing
    of it (the .deb's `sdc run` on a network failed so, with sdcontainer.network missing)."""
    import tomllib

    source = Path(__file__).resolve().parents[2]
    listed = set(tomllib.loads((source / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(source).parts) for p in (source / "sdcontainer").rglob("__init__.py")}
    assert found == listed


def test_without_systemd_nothing_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host whose PID 1 is not systemd: run and create say so in one line before the store's
    pool (or anything else) is made."""
    from sdcontainer.api import run as run_cases
    from sdcontainer.api.context import Context
    from sdcontainer.errors import SystemdError
    from sdcontainer.paths import Paths
    from sdcontainer.spec import build_run_spec

    monkeypatch.setattr(run_cases, "SYSTEMD_BOOTED", str(tmp_path / "not-booted"))
    ctx = Context(Paths(tmp_path / "store"))
    spec = build_run_spec(image="bb", command=["true"])
    for use in (run_cases.run_foreground, run_cases.run_detached, run_cases.create_only):
        with pytest.raises(SystemdError, match="PID 1 is not systemd"):
            use(ctx, spec)
    assert not (tmp_path / "store").exists()
