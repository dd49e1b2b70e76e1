"""The one subprocess wrapper: argv lists, never a shell."""

from __future__ import annotations

import shlex
import shutil
import subprocess

from sdcontainer.errors import CommandFailed, SdcError
from sdcontainer.log import get_logger

log = get_logger(__name__)


def run(argv: list[str], *, input: bytes | None = None, check: bool = True,
        pass_fds: tuple[int, ...] = ()) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run argv, capture its output as text, raise CommandFailed on failure. pass_fds: open in
    the child too, at the same numbers."""
    log.debug("running %s", shlex.join(argv))
    if shutil.which(argv[0]) is None:
        raise SdcError(f"{argv[0]} is not installed", hint=f"install the package that provides {argv[0]}")
    proc = subprocess.run(
        argv,
        input=input.decode() if input is not None else None,
        capture_output=True,
        text=True,
        pass_fds=pass_fds,
    )
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr)
    return proc
