"""sdc exec: a command in a running container, run by the launcher (`--exec`, see
launcher.exec_in): it joins the container's unit (its cgroups), enters PID 1's namespaces
through a pidfd, and becomes the container's process (user, capabilities, no_new_privs, seccomp)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

from sdcontainer import cgroups, protocol, records
from sdcontainer.api.containers import find, live_units
from sdcontainer.api.context import Context
from sdcontainer.errors import Conflict, UsageError
from sdcontainer.spec import check_user, resolve_env


def exec_in(
    ctx: Context,
    ref: str,
    command: Sequence[str],
    *,
    env: Sequence[str] = (),
    workdir: str = "",
    user: str = "",
    detach: bool = False,
    tty: bool = False,
    interactive: bool = False,
) -> int:
    """Run command in container ref; its exit status (0 at once with detach). tty: on a terminal of
    its own, relayed to ours (not with detach); else its stdio are pipes the helper relays, its
    stdin ours if interactive, else /dev/null."""
    from sdcontainer import linux
    from sdcontainer.api.run import account_in

    if not command:
        raise UsageError("no command given", hint=f"sdc exec {ref} COMMAND [ARG...]")
    if workdir and not workdir.startswith("/"):
        raise UsageError(f"--workdir {workdir!r} is not absolute", hint="give an absolute path, like /srv")
    container = find(ctx, ref)
    not_running = Conflict(f"container {container.name} is not running", hint="`sdc ps -a` shows its state")
    if container.unit not in live_units(ctx):
        raise not_running
    bundle = Path(container.bundle)
    try:
        pid = int((bundle / protocol.PID).read_text())
        pidfd = linux.pidfd_open(pid)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        raise not_running from None
    try:
        # The pidfd names one process for good: it must be this container's PID 1, not a reused PID.
        if not cgroups.in_unit(pid, container.unit):
            raise not_running
        config = records.read_json(bundle / protocol.CONFIG)
        process: dict[str, object] = {"args": list(command), "env": _merged_env(config["process"]["env"], env)}
        if workdir:
            process["cwd"] = workdir
        if tty and not detach:
            process["terminal"] = True
            process["env"] = _merged_env(process["env"], ["TERM=xterm"])  # type: ignore[arg-type]
        if user:
            account = account_in(Path(f"/proc/{pid}/root"), check_user(user))
            process["user"] = {"uid": account.uid, "gid": account.gid, "additionalGids": list(account.groups)}
        request = {"bundle": str(bundle), "pidfd": pidfd, "process": process, "detach": detach,
                   "interactive": interactive}  # fmt: skip
        with contextlib.ExitStack() as restore:
            if process.get("terminal") and os.isatty(0):  # the helper sets it raw: as it was after
                import termios

                restore.callback(termios.tcsetattr, 0, termios.TCSADRAIN, termios.tcgetattr(0))
            return _run_helper(request, pid, pidfd)
    finally:
        os.close(pidfd)


def _merged_env(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    """The container's environment with -e's NAME=VALUE (NAME alone: the caller's) over it."""
    merged = {e.partition("=")[0]: e for e in base}
    for entry in resolve_env(extra, os.environ):
        merged[entry.partition("=")[0]] = entry
    return list(merged.values())


def _run_helper(request: dict[str, object], pid: int, pidfd: int) -> int:
    """Spawn the launcher's exec helper, lead it through the protocol (launcher.exec_in), and
    relay signals to it until the command ends."""
    from sdcontainer import launcher as _launcher

    cgroups.prime_migration()  # while the helper starts: our move of it (cgroups.join) waits less
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {*_launcher.RELAYED, signal.SIGCHLD})
    try:
        os.set_inheritable(pidfd, True)
        try:
            helper = _launcher.spawn_exec(theirs.fileno())
        finally:
            theirs.close()
            os.set_inheritable(pidfd, False)
        try:
            ours.send(json.dumps(request).encode())
            if ours.recv(16) != _launcher.ATTACH:
                return _helper_status(helper)  # it said why on stderr
            cgroups.join(pid, helper)  # the container's unit's, not our session's
            ours.send(_launcher.GO)
            entered = ours.recv(64)
            if not entered.startswith(_launcher.ENTERED):
                return _helper_status(helper)
            ours.send(_launcher.GO)
        except BaseException:
            os.kill(helper, signal.SIGKILL)
            os.waitpid(helper, 0)
            raise
        finally:
            ours.close()
        return _launcher.relay_signals(helper)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _helper_status(helper: int) -> int:
    _, status = os.waitpid(helper, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
