"""Reading the cgroup tree systemd keeps (cgroups(7)); os only, for the commands that run most."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator

from sdcontainer.errors import SdcError

ROOT = "/sys/fs/cgroup"
GONE = (errno.ENOENT, errno.ENODEV)  # a cgroup being removed answers ENODEV to reads of its files


def populated(cgroup: str) -> bool:
    """Whether any process is in cgroup (a path like /machine.slice/x.scope) or below it.

    On cgroup v2 (and the unified hierarchy of a hybrid host) cgroup.events says so; on v1,
    systemd's name=systemd hierarchy is walked. A cgroup that does not exist has none. Where
    neither hierarchy is mounted as expected, True: never take a live container for a dead one."""
    for unified in (ROOT, f"{ROOT}/unified"):
        try:
            with open(f"{unified}{cgroup}/cgroup.events") as f:
                return any(line.split() == ["populated", "1"] for line in f)
        except OSError as exc:
            if exc.errno not in GONE:
                raise
            if os.path.exists(f"{unified}/cgroup.controllers"):  # the hierarchy is there, the cgroup is not
                return False
    legacy = f"{ROOT}/systemd"
    if not os.path.exists(f"{legacy}/cgroup.procs"):
        return True
    for directory, _subdirs, _files in os.walk(f"{legacy}{cgroup}"):
        try:
            with open(f"{directory}/cgroup.procs") as f:
                if f.read(1):
                    return True
        except OSError as exc:
            if exc.errno not in GONE:
                raise
    return False


def unified(cgroup: str) -> str | None:
    """cgroup's directory in the cgroup v2 hierarchy: the host's whole tree, or a hybrid host's
    unified one (where systemd keeps every unit's cgroup too); None on a v1-only host."""
    for root in (ROOT, f"{ROOT}/unified"):
        if os.path.exists(f"{root}/cgroup.controllers"):
            return f"{root}{cgroup}"
    return None


@contextlib.contextmanager
def frozen(cgroup: str, *, timeout: float = 10.0) -> Iterator[None]:
    """Every process of cgroup stopped while the block runs, and let go after whatever happens.
    A cgroup that is gone (its container ended meanwhile) has nothing to stop."""
    freeze(cgroup, timeout=timeout, hint="commit with --pause=false")
    try:
        yield
    finally:
        thaw(cgroup)


def freeze(cgroup: str, *, timeout: float = 10.0, hint: str | None = None) -> None:
    """Stop every process of cgroup until thaw, and wait until they have all stopped: cgroup v2's
    freezer (cgroup.freeze), which a hybrid host's unified hierarchy has as well. A cgroup that is
    gone has nothing to stop."""
    import select

    path = _freezer(cgroup, hint)
    try:
        _write(f"{path}/cgroup.freeze", "1")
    except OSError as exc:
        if exc.errno not in GONE:
            raise
        return
    try:
        # cgroup.events says "frozen 1" once every process has stopped; a change to it wakes poll()
        with open(f"{path}/cgroup.events", "rb", buffering=0) as events:
            poller = select.poll()
            poller.register(events, select.POLLPRI)
            deadline = time.monotonic() + timeout
            while b"frozen 1" not in (os.pread(events.fileno(), 4096, 0)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SdcError(f"the processes of {cgroup} did not stop within {timeout:g} s",
                                   hint=hint or "one may be stuck in the kernel")  # fmt: skip
                poller.poll(left * 1000)
    except FileNotFoundError:
        return  # gone meanwhile
    except BaseException:
        thaw(cgroup)
        raise


def thaw(cgroup: str) -> None:
    """Let the processes of a frozen cgroup go on (nothing to do for one that is gone)."""
    path = unified(cgroup)
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            _write(f"{path}/cgroup.freeze", "0")


def is_frozen(cgroup: str) -> bool:
    """Whether cgroup is asked to be frozen (cgroup.freeze): a paused container's."""
    path = unified(cgroup)
    if path is None:
        return False
    try:
        with open(f"{path}/cgroup.freeze", "rb") as f:
            return f.read(1) == b"1"
    except OSError:
        return False


def _freezer(cgroup: str, hint: str | None) -> str:
    path = unified(cgroup)
    if path is None or (os.path.isdir(path) and not os.path.exists(f"{path}/cgroup.freeze")):
        raise SdcError("pausing a container needs the cgroup v2 freezer (Linux 5.2, a unified or hybrid hierarchy)",
                       hint=hint or "this host has cgroup v1 alone")  # fmt: skip
    return path


def prime_migration() -> None:
    """Pay now, in a thread beside the caller's work, the wait that the next move of a process
    between cgroups (systemd's, as it starts a unit) would make on a command's critical path.

    A move (a write to cgroup.procs) takes the kernel's cgroup_threadgroup_rwsem for writing, and
    the first writer after a quiet spell waits for an RCU grace period (rcu_sync_enter in
    kernel/rcu/sync.c): 7-15 ms measured on a busy 2-core machine, on every `run` that follows a
    pause. A move of this process into the cgroup it is in already changes nothing but pays that
    wait; the lock then stays in its fast state until a grace period after the last writer
    (rcu_sync_exit), and systemd's move of a new unit's process falls in that window. Best
    effort: where our cgroup cannot be written (no permission, v1 without name=systemd), the
    move is systemd's to wait for, as before."""
    import _thread

    _thread.start_new_thread(move_into_own_cgroup, ())


def move_into_own_cgroup() -> str:
    """prime_migration's move: the cgroup.procs file written, or "" where none could be."""
    with contextlib.suppress(OSError, ValueError, IndexError):  # (a thread's: nobody to tell)
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
        with open("/proc/self/cgroup") as f:
            memberships = f.read()
        for procs in cgroup_procs_files(mountinfo, systemds_hierarchies(memberships))[:1]:
            _write(procs, str(os.getpid()))
            return procs
    return ""


def systemds_hierarchies(memberships: str) -> str:
    """Of a process's /proc/PID/cgroup, the lines of the hierarchies systemd keeps every unit's
    cgroup in: v2's ("0::"), v1's name=systemd; no controller's (a move there is a real one)."""
    return "".join(line + "\n" for line in memberships.splitlines()
                   if line.startswith("0::") or line.split(":")[1:2] == ["name=systemd"])  # fmt: skip


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def join(source: int, pid: int) -> None:
    """Move pid into every cgroup process source is in (as runc joins an exec to a container's):
    systemd counts a unit's processes by its cgroup, so pid is then the unit's. systemd's own
    AttachProcessesToUnit takes only units with Delegate=yes (252: "Process migration not
    available on non-delegated units"), which a container's unit is not."""
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()
    with open(f"/proc/{source}/cgroup") as f:
        memberships = f.read()
    for procs in cgroup_procs_files(mountinfo, memberships):
        _write(procs, str(pid))


def leave_to_root(pid: int) -> None:
    """Move pid into the root cgroup of every hierarchy it is in: out of its unit, whose limits and
    accounting are then no longer its (a container's network set-up is sdc's work, not the
    container's: netns.main)."""
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()
    with open(f"/proc/{pid}/cgroup") as f:
        memberships = "".join(f"{line.rsplit(':', 1)[0]}:/\n" for line in f.read().splitlines() if line)
    for procs in cgroup_procs_files(mountinfo, memberships):
        _write(procs, str(pid))


def cgroup_procs_files(mountinfo: str, memberships: str) -> list[str]:
    """The cgroup.procs files of a process's cgroups (memberships: its /proc/PID/cgroup), by our
    mounts (mountinfo: /proc/self/mountinfo). Both name cgroups from our cgroup namespace's root:
    a cgroup above it shows as "/..", which no mount of ours reaches, and which we (and so what
    we move) are inside already: left out."""
    mounts: list[tuple[set[str], str, str]] = []  # (what the hierarchy is, its mount point, its root)
    for line in mountinfo.splitlines():
        fields = line.split()
        dash = fields.index("-")
        kind, options = fields[dash + 1], fields[dash + 3]
        if kind in ("cgroup", "cgroup2"):
            what = {"cgroup2"} if kind == "cgroup2" else set(options.split(",")) - {"rw", "ro"}
            mounts.append((what, _unescape(fields[4]), _unescape(fields[3])))
    found = []
    for hierarchy, controllers, path in (line.split(":", 2) for line in memberships.splitlines() if line):
        wanted = {"cgroup2"} if hierarchy == "0" else set(controllers.split(","))
        for what, point, root in mounts:
            if wanted <= what and (path + "/").startswith(root.rstrip("/") + "/"):
                inside = [p for p in path[len(root.rstrip("/")) :].split("/") if p not in ("", ".")]
                if ".." not in inside:
                    found.append("/".join([point, *inside, "cgroup.procs"]))
                break
    return found


def in_unit(pid: int, unit: str) -> bool:
    """Whether process pid is in unit's cgroup, or one below it (a container that runs systemd
    moves its PID 1 to init.scope there): its /proc/PID/cgroup, a hierarchy's line at a time."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return any(f"/{unit}/" in line.rstrip("\n") + "/" for line in f)
    except (FileNotFoundError, ProcessLookupError):
        return False


def _unescape(text: str) -> str:
    """A path as /proc/self/mountinfo writes it (octal escapes for space, tab, newline, backslash)."""
    return text.encode().decode("unicode_escape") if "\\" in text else text
