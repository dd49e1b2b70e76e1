"""The `sdc` executable: the commands that run most, without typer; everything else through it.

Importing click and typer costs more than Python's own start-up. `sdc run`
(once per container), `sdc ps`, `sdc --version` and the cleanup systemd
runs after a detached --rm container need neither: their forms are parsed
here, with the flags the typer commands declare (a test holds the two to
the same table and the same results). Anything else (help, an unknown or
malformed flag, another command) goes to the typer CLI, which defines
every command and gives every error message.
SDC_NO_FAST_PATH=1 forces typer.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself costs `sdc --version` a third of its time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

    from sdcontainer.api import Context

GLOBAL_OPTIONS = {"--root": "root", "--storage-driver": "storage_driver"}
PS_OPTIONS: dict[str, tuple[str, type]] = {
    "-a": ("all_", bool), "--all": ("all_", bool),
    "-q": ("quiet", bool), "--quiet": ("quiet", bool),
    "--format": ("fmt", str),
    "--no-trunc": ("no_trunc", bool), "--noheading": ("noheading", bool),
    "-n": ("last", int), "--last": ("last", int), "-l": ("latest", bool), "--latest": ("latest", bool),
    "-f": ("filters", list), "--filter": ("filters", list), "--sort": ("sort", str),
    "-s": ("size", bool), "--size": ("size", bool),
    "-p": ("pod", bool), "--pod": ("pod", bool),
}  # fmt: skip


class _NotPlain(Exception):
    """The arguments need typer: help, an unknown flag, a value of the wrong type..."""


def _split_globals(argv: list[str]) -> tuple[dict[str, str | None], list[str]]:
    opts: dict[str, str | None] = {
        "root": os.environ.get("SDC_ROOT") or None,
        "storage_driver": os.environ.get("SDC_STORAGE_DRIVER") or None,
    }
    args = list(argv)
    while args and args[0].split("=", 1)[0] in GLOBAL_OPTIONS:
        flag, eq, value = args[0].partition("=")
        if not eq:
            if len(args) < 2:
                raise _NotPlain
            value, args = args[1], args[1:]
        opts[GLOBAL_OPTIONS[flag]] = value
        args = args[1:]
    if opts["storage_driver"] not in (None, "btrfs", "overlay", "vfs"):  # paths.STORAGE_DRIVERS
        raise _NotPlain  # typer says what is wrong with it
    if opts["root"] == "":
        raise _NotPlain
    return opts, args


def _convert(kind: type, value: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise _NotPlain from None  # click says which flag and what it wants


def _parse_options(
    args: list[str], table: dict[str, tuple[str, type]], *, interspersed: bool
) -> tuple[dict[str, Any], list[str]]:
    """Options as click parses them (--opt=v, --opt v, -o v, -ov, -abc): values by parameter, positionals."""
    values: dict[str, Any] = {}
    positional: list[str] = []
    rest = iter(args)

    def take(flag: str, attached: str | None) -> None:
        param, kind = table[flag]
        if kind is bool:
            if attached is not None:
                raise _NotPlain
            values[param] = True
            return
        raw = attached if attached is not None else next(rest, None)
        if raw is None:
            raise _NotPlain
        if kind is list:
            values.setdefault(param, []).append(raw)
        else:
            values[param] = _convert(kind, raw)

    for arg in rest:
        if arg == "--":
            positional.extend(rest)
        elif arg.startswith("--"):
            flag, eq, value = arg.partition("=")
            if flag not in table:
                raise _NotPlain
            take(flag, value if eq else None)
        elif arg.startswith("-") and len(arg) > 1:
            for i, char in enumerate(arg[1:], start=1):
                if f"-{char}" not in table:
                    raise _NotPlain
                if table[f"-{char}"][1] is not bool:
                    take(f"-{char}", arg[i + 1 :] or None)
                    break
                take(f"-{char}", None)
        else:
            positional.append(arg)
            if not interspersed:
                positional.extend(rest)
    return values, positional


def _parse_command(
    argv: list[str], command: str, table: dict[str, tuple[str, type]], *, interspersed: bool
) -> tuple[dict[str, Any], dict[str, Any], list[str]] | None:
    """[globals] COMMAND [OPTIONS] [ARGS]: (global options, option values, positionals), or None."""
    try:
        opts, args = _split_globals(argv)
        if args[:1] != [command]:
            return None
        return (opts, *_parse_options(args[1:], table, interspersed=interspersed))
    except _NotPlain:
        return None


def parse_ps(argv: list[str]) -> dict[str, Any] | None:
    """[globals] ps [-a] [-q] [--format table|json], or None when typer must handle it."""
    parsed = _parse_command(argv, "ps", PS_OPTIONS, interspersed=True)
    if parsed is None or parsed[2] or parsed[1].get("sort", "created") not in PS_SORT or \
            not str(parsed[1].get("fmt", "table")).strip():  # fmt: skip
        return None  # typer says what is wrong
    return {**parsed[0], **PS_DEFAULTS, **parsed[1]}


PS_SORT = ("created", "runningfor", "names", "id", "image", "command", "status")  # render.PS_SORT
PS_DEFAULTS: dict[str, Any] = {"all_": False, "quiet": False, "fmt": "table", "no_trunc": False, "noheading": False,
                               "last": None, "latest": False, "filters": [], "sort": "created",
                               "size": False, "pod": False}  # fmt: skip


def run_options() -> dict[str, tuple[str, type]]:
    """sdc run's flags, as spec.RUN_FLAGS declares them: name -> (parameter, type)."""
    from sdcontainer.spec import RUN_FLAGS  # for `sdc run` only: `--version` and `ps` pay nothing for it

    return {name: (flag.param, flag.kind) for flag in RUN_FLAGS for name in flag.names}


def parse_run(argv: list[str]) -> dict[str, Any] | None:
    """[globals] run [OPTIONS] IMAGE [COMMAND...], or None when typer must handle it."""
    try:
        if _split_globals(argv)[1][:1] != ["run"]:
            return None
    except _NotPlain:
        return None
    parsed = _parse_command(argv, "run", run_options(), interspersed=False)
    if parsed is None or not parsed[2]:
        return None
    opts, values, (image, *command) = parsed
    return {**opts, "flags": {"image": image, "command": command, **values}}


def _with_context(opts: dict[str, Any], use: Callable[[Context], int]) -> int:
    """Open the store as the typer CLI does, run use(context), turn SdcError into its one line."""

    from sdcontainer import render
    from sdcontainer.api import Context
    from sdcontainer.errors import SdcError
    from sdcontainer.paths import Paths, root_of

    try:
        context = Context(Paths(root_of(opts.get("root"))), storage_driver=opts.get("storage_driver"))
        context.pull_progress = lambda: render.PullProgress(quiet=False)  # (imported only if it pulls)
        try:
            return use(context)
        finally:
            context.close()
    except SdcError as exc:
        return render.report(exc.message, exc.hint, exc.exit_code)


def fast_ps(opts: dict[str, Any]) -> int:
    from sdcontainer import render
    from sdcontainer.api import containers, require_root

    def ps(context: Context) -> int:
        require_root()
        listed = containers.status(context)
        flags = {k: opts[k] for k in PS_DEFAULTS}
        sys.stdout.write(render.format_ps(listed, **containers.ps_options(listed, **flags, ctx=context)))
        return 0

    return _with_context(opts, ps)


def fast_run(opts: dict[str, Any]) -> int:
    from sdcontainer.api import require_root, run
    from sdcontainer.spec import build_run_spec

    def run_it(context: Context) -> int:
        spec = build_run_spec(**opts["flags"])
        require_root()  # flags are checked before root is, as in the typer CLI
        if spec.detach:
            sys.stdout.write(run.run_detached(context, spec).id + "\n")
            return 0
        return run.run_foreground(context, spec)

    return _with_context(opts, run_it)


def fast_cleanup(root: str, name: str) -> int:
    """The ExecStopPost of a detached --rm container (the launcher records how the others
    ended): it holds the unit in "deactivating" until it is done, so `sdc stop` waits for it."""
    from sdcontainer.api import containers

    def cleanup(context: Context) -> int:
        containers.cleanup(context, name, dict(os.environ))
        return 0

    return _with_context({"root": root}, cleanup)


def unit_create(root: str, unit: str, args: list[str]) -> int:
    """A Quadlet unit's ExecStartPre (quadlet.generator): its container made, `sdc run`'s
    arguments as the generator wrote them."""
    from sdcontainer.api import run
    from sdcontainer.errors import UsageError
    from sdcontainer.spec import build_run_spec

    parsed = parse_run(["run", *args])

    def create(context: Context) -> int:
        if parsed is None:
            raise UsageError(f"{unit}: its command line is not one of `sdc run`'s",
                             hint="`systemctl daemon-reload` generates it again from its file")  # fmt: skip
        spec = build_run_spec(**parsed["flags"])
        run.create_for_unit(context, spec, unit, os.environ.get("INVOCATION_ID", ""))
        return 0

    return _with_context({"root": root}, create)


def unit_cleanup(root: str, unit: str) -> int:
    """A Quadlet unit's ExecStopPost (quadlet.generator): the container its run made removed."""
    from sdcontainer.api import containers

    def cleanup(context: Context) -> int:
        containers.unit_cleanup(context, unit, dict(os.environ))
        return 0

    return _with_context({"root": root}, cleanup)


def _exit(code: int) -> NoReturn:
    """Exit without the interpreter's teardown, which only frees memory the kernel is about
    to take back: ~15 ms of `sdc run` here. Output is flushed first; the fast paths hold no
    other state (the bus connection and the store's lock are closed by then)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)  # e.g. a closed pipe: let Python report it as it always does
    os._exit(code)


def main() -> None:
    from sdcontainer.phases import mark

    mark("sdc: main")
    argv = sys.argv[1:]
    if len(argv) == 4 and argv[0] == "--root" and argv[2] == "_cleanup":
        _exit(fast_cleanup(argv[1], argv[3]))
    if len(argv) > 4 and argv[0] == "--root" and argv[2] == "_unit-create":
        _exit(unit_create(argv[1], argv[3], argv[4:]))
    if len(argv) == 4 and argv[0] == "--root" and argv[2] == "_unit-cleanup":
        _exit(unit_cleanup(argv[1], argv[3]))
    if not os.environ.get("SDC_NO_FAST_PATH") and not os.environ.get("SDC_DEBUG"):
        if argv in (["--version"], ["-v"]):
            from sdcontainer import __version__

            sys.stdout.write(f"sdc version {__version__}\n")
            _exit(0)
        from sdcontainer.deferred import import_pathlib

        import_pathlib()  # before any module of ours imports it
        run = parse_run(argv)
        if run is not None:
            _exit(fast_run(run))
        ps = parse_ps(argv)
        if ps is not None:
            _exit(fast_ps(ps))
    from sdcontainer.cli import main as typer_main

    typer_main()


if __name__ == "__main__":
    main()
