"""The `sdc` executable: the cheapest commands without typer, everything else through it.

Importing click and typer costs ~60 ms, three times Python's own start-up;
`sdc --version` and `sdc ps` (the commands scripts and prompts run most)
and the cleanup systemd runs after every detached container need neither.
Their plain forms are handled here; any other form, and every other
command, goes to the typer CLI, which defines them all. The tests run
both paths on the same arguments (SDC_NO_FAST_PATH=1 forces typer).
"""

from __future__ import annotations

import os
import sys

_PS_FLAGS = {"-a": "all", "--all": "all", "-q": "quiet", "--quiet": "quiet", "-aq": "both", "-qa": "both"}


def parse_ps(argv: list[str]) -> dict[str, object] | None:
    """[--root DIR] ps [-a] [-q] [--format table|json], or None for anything else."""
    opts: dict[str, object] = {"root": os.environ.get("SDC_ROOT") or None, "all": False, "quiet": False, "fmt": "table"}
    args = list(argv)
    if args[:1] == ["--root"] and len(args) > 1:
        opts["root"], args = args[1], args[2:]
    elif args and args[0].startswith("--root="):
        opts["root"], args = args[0].split("=", 1)[1], args[1:]
    if args[:1] != ["ps"]:
        return None
    rest = iter(args[1:])
    for arg in rest:
        if arg in _PS_FLAGS:
            for key in ("all", "quiet") if _PS_FLAGS[arg] == "both" else (_PS_FLAGS[arg],):
                opts[key] = True
        elif arg == "--format":
            opts["fmt"] = next(rest, None)
        elif arg.startswith("--format="):
            opts["fmt"] = arg.split("=", 1)[1]
        else:
            return None
    return opts if opts["fmt"] in ("table", "json") else None


def fast_ps(opts: dict[str, object]) -> int:
    from pathlib import Path

    from sdcontainer import render
    from sdcontainer.api import Sdc, require_root
    from sdcontainer.errors import SdcError
    from sdcontainer.paths import Paths, default_root

    try:
        require_root()
        sdc = Sdc(Paths(Path(str(opts["root"])).absolute() if opts["root"] else default_root()))
        try:
            out = render.format_ps(
                sdc.status(), all_=bool(opts["all"]), quiet=bool(opts["quiet"]), fmt=str(opts["fmt"])
            )
        finally:
            sdc.close()
    except SdcError as exc:
        sys.stderr.write(render.error_line(exc.message, exc.hint))
        return exc.exit_code
    sys.stdout.write(out)
    return 0


def fast_cleanup(root: str, name: str) -> int:
    """The ExecStopPost of every detached container: it holds the unit in "deactivating"
    until it is done, so `sdc stop` and `sdc rm -f` wait for it."""
    import logging
    from pathlib import Path

    from sdcontainer import render
    from sdcontainer.api import Sdc
    from sdcontainer.errors import SdcError
    from sdcontainer.paths import Paths

    logging.basicConfig(level=logging.WARNING, format="sdc: %(message)s")
    try:
        Sdc(Paths(Path(root))).cleanup(name, dict(os.environ))
    except SdcError as exc:
        sys.stderr.write(render.error_line(exc.message, exc.hint))
        return exc.exit_code
    return 0


def main() -> None:
    argv = sys.argv[1:]
    if len(argv) == 4 and argv[0] == "--root" and argv[2] == "_cleanup":
        sys.exit(fast_cleanup(argv[1], argv[3]))
    if not os.environ.get("SDC_NO_FAST_PATH") and not os.environ.get("SDC_DEBUG"):
        if argv in (["--version"], ["-v"]):
            from sdcontainer import __version__

            sys.stdout.write(f"sdc version {__version__}\n")
            return
        ps = parse_ps(argv)
        if ps is not None:
            sys.exit(fast_ps(ps))
    from sdcontainer.cli import main as typer_main

    typer_main()


if __name__ == "__main__":
    main()
