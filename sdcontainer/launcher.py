"""The launcher: builds a container from an OCI bundle and execs its command as PID 1.

It runs on every container start, so it imports only the standard library
and sdcontainer.linux. It reads top to bottom in the order of the syscalls.
It fails closed: any error before the exec ends the launch with a message,
never running the command unconfined.

    python -I -S .../launcher.py --notify BUNDLE                     # a detached container's service
    python -I -S .../launcher.py --foreground FD [--interactive]  # by sdc: spawn_foreground
    python -I -S .../launcher.py --exited [--net-down] BUNDLE   # a detached container's ExecStopPost
    python -I -S .../launcher.py --net-up|--net-down BUNDLE  # its network, around its run (netns.py)
    python -I -S .../launcher.py --pod-up|--pod-down POD_DIR  # a pod's namespaces (podns.py)

The interpreter running the launcher is never writable through the mount it
was exec'ed from (CVE-2019-5736, see spawn_foreground): for a service systemd
makes it read-only (the unit's ReadOnlyPaths=), in the foreground
spawn_foreground does.

--notify: PID 1 is cloned as systemd's own child; systemd is told it is the
unit's main process (sd_notify MAINPID=) before it execs and READY=1 after,
and the launcher exits: no launcher stays resident (but for a terminal's
keeper, or the relay of a container's own notifications: keep_relays).

--foreground: sdc starts the launcher early, so that the interpreter's
start-up overlaps sdc's own work, and writes the bundle's path and a newline
on FD once the launcher is in the container's scope (so the limits hold
before anything runs). The launcher stays as PID 1's parent, relays its
stdio (pipes, or its terminal with -t: never the caller's own, see
leave_session) and signals, records how PID 1 ended in the bundle's
state.json and exits with its status.

--exited: after a detached container's PID 1 is gone, systemd runs the
launcher again (ExecStopPost) to record how it ended in the bundle's
state.json; a --rm container's ExecStopPost is sdc's own cleanup instead,
which removes it.
"""

from __future__ import annotations

# CPython's C modules, not the stdlib wrappers around them: json, socket and signal import re,
# enum and selectors, which took half of the launcher's start-up (~25 of ~55 ms here), paid on
# every container start. _json's scanner is what json.loads itself runs.
import _json
import _socket as socket
import errno
import os
import select
import struct
import sys
import time
import warnings  # noqa: F401 - os.execvpe imports it lazily, and after pivot_root the stdlib is out of reach
from fcntl import F_DUPFD_CLOEXEC, fcntl, ioctl

from sdcontainer.phases import mark

TYPE_CHECKING = False
if TYPE_CHECKING:  # _signal has no stubs of its own: signal's describe the same functions
    import signal
    from collections.abc import Callable
    from typing import NoReturn
else:
    import _signal as signal

if __name__ == "__main__" and not __package__:
    # Run as a file with -I -S: find our package beside this file, not through site.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sdcontainer import journal, linux, protocol  # noqa: E402 - after the path set-up above
from sdcontainer.files import hold_exit, lock_record, open_private, write_atomically  # noqa: E402

CGROUP_ROOT = protocol.CGROUP_ROOT
CONTROLLERS_READ_ONLY = protocol.CGROUP_CONTROLLERS_READ_ONLY
NAMESPACES = {
    "mount": linux.CLONE_NEWNS, "uts": linux.CLONE_NEWUTS, "ipc": linux.CLONE_NEWIPC,
    "network": linux.CLONE_NEWNET, "cgroup": linux.CLONE_NEWCGROUP, "pid": linux.CLONE_NEWPID,
    "user": linux.CLONE_NEWUSER,
}  # fmt: skip
# Made by clone itself, so that the user namespace owns the pid namespace (mounting /proc needs it)
CLONED = linux.CLONE_NEWPID | linux.CLONE_NEWUSER
MOUNT_FLAGS = {
    "ro": linux.MS_RDONLY, "nosuid": linux.MS_NOSUID, "nodev": linux.MS_NODEV, "noexec": linux.MS_NOEXEC,
    "bind": linux.MS_BIND, "rbind": linux.MS_BIND | linux.MS_REC,
}  # fmt: skip
IGNORED_OPTIONS = {"rw", "strictatime", "relatime"}
# Signals a foreground container gets from whoever signals sdc or the launcher.
RELAYED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
)
EXIT_SETUP, EXIT_NOEXEC, EXIT_NOTFOUND = 125, 126, 127
READY_TO_EXEC, GO = b"R", b"G"
ENTRY = "launcher_entry.py"  # the file units run: it imports us, from our cached bytecode
OOM_WARNING = "container %s: the kernel's OOM killer killed a process (memory limit reached)"


class LaunchError(Exception):
    def __init__(self, message: str, code: int = EXIT_SETUP) -> None:
        super().__init__(message)
        self.code = code


# --- in the container: PID 1 of the new namespaces, before exec ---------------


def contain(config: dict, seccomp: bytes | None, sync: socket.socket, ns_flags: int, userns: bool,  # type: ignore[type-arg]
            stdio: list[int] | None) -> None:  # fmt: skip
    root = os.path.realpath(config["root"]["path"])  # relative to the bundle, our working directory
    mounts = config.get("mounts", [])
    preload_limits(config["process"])
    try:
        _write_text("/proc/self/oom_score_adj", "0")  # not the launcher's (spare_from_the_oom_killer)
    except OSError:
        pass  # not changed: it was 0 already
    # the launcher maps our ids, then sends our root and idmapped volumes (send_root)
    trees = receive_fds(sync, 1 + len(idmapped(mounts))) if userns else []
    linux.unshare(ns_flags)  # here, not in the launcher: it stays in the host's namespaces
    linux.mount("none", "/", None, linux.MS_REC | linux.MS_PRIVATE)  # nothing propagates to the host
    if trees:
        linux.move_mount(trees[0], root)  # the root, idmapped: the image's root-owned files are our root's
        os.close(trees[0])
        # a clone joins its source's peer group: shared, which pivot_root refuses
        linux.mount("none", root, None, linux.MS_REC | linux.MS_PRIVATE)
        root, mounts = enter_userns(root, mounts, trees[1:])
    else:
        mount_root(root, config["root"].get("mount"))
    write_own_files(root, config.get(protocol.OWN_FILES, []))  # read by start(), in the bundle
    read_only = config["root"].get("readonly", False)
    if read_only:
        keep_writable(root, config.get(protocol.OWN_FILES, []))
    mount_all(root, mounts)
    if userns:  # no mknod in a user namespace: the host's nodes, bound in while they are in reach
        bind_devices(root, config["linux"].get("devices", []))
    os.chdir(root)
    linux.pivot_root(".", ".")  # stack the old root under the new one ...
    linux.umount(".", linux.MNT_DETACH)  # ... and drop it: the host's / is gone
    os.chdir("/")
    # From here every path resolves inside the container's root: its symlinks lead nowhere else.
    make_devices([] if userns else config["linux"].get("devices", []))
    for path in config["linux"].get("maskedPaths", []):
        mask(path)
    for path in config["linux"].get("readonlyPaths", []):
        make_readonly(path)
    if ns_flags & linux.CLONE_NEWUTS:  # (a pod's, joined: named by its pod, podns.py)
        socket.sethostname(config.get("hostname", ""))
    if machine_id := config.get("annotations", {}).get(protocol.MACHINE_ID):
        set_machine_id(machine_id)
    if ns_flags & linux.CLONE_NEWNET:  # one we made (a network's own: netns.py brings its loopback up)
        linux.bring_up_loopback()
    set_cpu_affinity(config["linux"].get("resources", {}))
    process = config["process"]
    cwd = process.get("cwd", "/")
    make_workdir(cwd)
    if read_only:  # (the mount points made, and the working directory: the root's own mount alone)
        seal_root()
    # A terminal of its own (-t, and systemd's console): opened as its user, whose the slave is
    # then; the master goes to the launcher, which relays it to the caller's terminal
    # (relay_console) or the journal (keep_relays). root's is its /dev/console too, as runc's
    # and nspawn's are: where systemd, and a container's init, write what the console shows.
    console = None
    if process.get("terminal") and process.get("user", {}).get("uid", 0) == 0:
        console = open_console(as_dev_console=True)
    elif not process.get("terminal"):
        leave_session(stdio)
    linux.join_session_keyring()  # the caller's (its keys) stays behind, as runc's does
    set_process_limits(process)
    drop_privileges(process)
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise LaunchError(f"cannot change to working directory {cwd}: {exc.strerror}") from exc
    close_fds(sync.fileno(), *([console] if console is not None else []),
              *range(3, 3 + int(config.get(PASSED_FDS, 0))))  # fmt: skip
    if process.get("terminal") and console is None:
        console = open_console()
    signal.pthread_sigmask(signal.SIG_SETMASK, [])  # the command starts with no signal blocked
    if seccomp is not None:  # last: after no_new_privs, which lets an unprivileged process load it
        linux.load_seccomp_filter(seccomp)
    if console is None:
        sync.send(READY_TO_EXEC)
    else:
        sync.sendmsg([READY_TO_EXEC], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", console))])
        os.close(console)
    if sync.recv(16) != GO:  # the launcher gave up
        raise LaunchError("the launcher went away before the exec")
    exec_command(process["args"], process.get("env", []))


def is_idmapped(m: dict) -> bool:  # type: ignore[type-arg]
    """A bind mount seen through the container's map (`-v ...:idmap`)."""
    return m.get("type", "bind") == "bind" and "idmap" in m.get("options", [])


def idmapped(mounts: list) -> list:  # type: ignore[type-arg]
    """The mounts the launcher makes and sends to a user-namespaced PID 1 (send_root): idmapped
    volumes, and a sysfs it cannot mount itself (mark_sysfs_sent)."""
    return [m for m in mounts if is_idmapped(m) or m.get(SENT)]


SENT = "sdc.sent"  # a mount entry the launcher makes (start): one more fd to PID 1


def mark_sysfs_sent(config: dict, joined_network: bool) -> None:  # type: ignore[type-arg]
    """A sysfs is mountable only by a root of the user namespace that owns the network namespace
    it shows: PID 1 of a user namespace that joined a network namespace made before (a network's)
    cannot mount one (EPERM). The launcher, the host's root and in that network namespace already,
    makes it detached and sends it over, as it does an idmapped volume (crun binds the host's /sys
    instead, whose network part is the host's)."""
    userns = any(ns["type"] == "user" for ns in config["linux"].get("namespaces", []))
    if userns and joined_network:
        for m in config.get("mounts", []):
            if m.get("type") == "sysfs":
                m[SENT] = True


def set_machine_id(machine_id: str) -> None:
    """A container that runs systemd: its machine ID (from its own ID, as container_uuid) in its
    /etc/machine-id, where the image has none, once: systemd then boots the machine it was, not
    a first boot (whose transient ID needs a mount it may not make, and whose wizard would
    wait on the console). In the container's root already: no symlink leads the write out."""
    try:
        with open("/etc/machine-id", "rb") as f:
            if f.read(64).strip() not in (b"", b"uninitialized"):
                return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        fd = os.open("/etc/machine-id", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o444)
    except OSError:
        return  # a read-only root: systemd makes a transient one
    try:
        os.write(fd, machine_id.encode() + b"\n")
    finally:
        os.close(fd)


def open_console(*, as_dev_console: bool = False) -> int:
    """A pseudo-terminal of the container's own devpts: the slave our controlling terminal and
    stdio, in a session of its own, and bound on /dev/console if asked; the master returned."""
    master, slave = linux.open_pty("/dev/pts/ptmx")
    if as_dev_console:
        os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        linux.mount(f"/proc/self/fd/{slave}", "/dev/console", None, linux.MS_BIND)
    os.setsid()
    ioctl(slave, linux.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    return master


def enter_userns(root: str, mounts: list, trees: list[int]) -> tuple[str, list]:  # type: ignore[type-arg]
    """Become the user namespace's root, keeping our way to the host's paths we still need.

    Until now we are the host's root, which the namespace does not map: we could reach the
    store's root-only directories as their owner, but nothing we made in the namespace's own
    file systems could have an owner (EOVERFLOW). As its root we can make them, and the store
    is out of reach: so the root and the sources of bind mounts are opened first, and used
    through /proc/self/fd from here on; an idmapped volume is the launcher's tree, moved in."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    opened = []
    sent = iter(trees)  # one for each idmapped volume, in config order
    for m in mounts:
        if is_idmapped(m) or m.get(SENT):
            tree = next(sent)
            m = {**m, "tree": tree, "source": f"/proc/self/fd/{tree}"}
        elif m.get("type", "bind") == "bind":
            source = os.open(m["source"], os.O_PATH | os.O_CLOEXEC)
            m = {**m, "source": f"/proc/self/fd/{source}"}
        opened.append(m)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    return f"/proc/self/fd/{root_fd}", opened


def leave_session(stdio: list[int] | None) -> None:
    """A session of our own, without a controlling terminal: nothing of the caller's terminal
    reaches the container's processes (no /dev/tty to open, no TIOCSTI to type into the caller's
    shell with), and its stdio the fds of stdio ([stdin, stdout, stderr]: the pipes the launcher
    relays, or the host's /dev/null, opened before we entered the container, where a path of the
    container's could lead anywhere, the caller's own fds through /proc/self/fd included). None:
    a detached container's, which systemd gave it (/dev/null, the journal's stream)."""
    if stdio is not None:
        # Above 2 first: should our own stdio have been closed, one of these may be one of 0-2.
        high = [fcntl(fd, F_DUPFD_CLOEXEC, 3) for fd in stdio]
        for target, fd in enumerate(high):
            os.dup2(fd, target)  # without O_CLOEXEC: the command's
            os.close(fd)
    os.setsid()


def read_own_files(config: dict) -> None:  # type: ignore[type-arg]
    """The bundle's files of OWN_FILES, read while the bundle is our working directory: their
    contents replace their names in config (the child is a copy of us: it has them)."""
    files = []
    for path, name in config.get(protocol.OWN_FILES, []):
        with open(name, "rb") as f:
            files.append([path, f.read(protocol.OWN_FILES_MAX)])
    config[protocol.OWN_FILES] = files


def write_own_files(root: str, files: list, proc: int | None = None) -> None:  # type: ignore[type-arg]
    """/etc/hostname, hosts and resolv.conf (read_own_files), written into the container's own
    layer at each start, as the container resolves their paths (a link of its own leads nowhere
    outside): its own file is written in place, and what is not a file there (a link, a FIFO, a
    device node the container made) is removed first, never opened; nothing of ours is mounted
    over them. proc: an fd of the host's /proc (where root's /proc is not ours: api.networks)."""
    if not files:
        return
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    own_proc = proc is None
    if proc is None:
        proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for path, data in files:
            directory, _, name = path.rpartition("/")
            try:  # /etc made where the container's own link of it points, inside its root, if missing
                parent = linux.make_in_root(root_fd, directory or "/", directory=True)
            except OSError as exc:
                raise LaunchError(f"cannot write {path}: {exc.strerror}") from exc
            try:
                _write_in(parent, name, data, path, proc)
            finally:
                os.close(parent)
    finally:
        os.close(root_fd)
        if own_proc:
            os.close(proc)


def _write_in(parent: int, name: str, data: bytes, path: str, proc: int) -> None:
    """name in the directory parent written with data: a regular file there is held first by an
    O_PATH fd (which opens nothing: no device's driver, no FIFO) and, once fstat says it is one,
    opened for writing through that fd (/proc/self/fd/N: the very inode, whatever is renamed
    there meanwhile); anything else there is removed and a file made in its place (O_EXCL)."""
    for _attempt in range(3):
        try:
            held = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except FileNotFoundError:
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                             dir_fd=parent)  # fmt: skip
            except FileExistsError:
                continue  # (made meanwhile: look again)
            except OSError as exc:
                raise LaunchError(f"cannot write {path}: {exc.strerror}") from exc
            break
        except OSError as exc:
            raise LaunchError(f"cannot write {path}: {exc.strerror}") from exc
        try:
            st = os.fstat(held)
            kind = st.st_mode & 0o170000
            if kind == 0o040000:
                raise LaunchError(f"cannot write {path}: the container made it a directory")
            if kind != 0o100000 or st.st_nlink > 1:  # (another name's inode is not this file's to write)
                os.unlink(name, dir_fd=parent)  # (unlink follows nothing; what was there is not ours to open)
                continue
            fd = os.open(f"self/fd/{held}", os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, dir_fd=proc)
        except OSError as exc:
            raise LaunchError(f"cannot write {path}: {exc.strerror}") from exc
        finally:
            os.close(held)
        break
    else:
        raise LaunchError(f"cannot write {path}: the container keeps changing it")
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def keep_writable(root: str, files: list) -> None:  # type: ignore[type-arg]
    """--read-only: each file of OWN_FILES a mount of its own, which stays writable when the root
    is sealed (seal_root): `network connect` rewrites them in a running container. Each is bound
    onto itself as write_own_files left it, a regular file of the container's layer (nothing is
    mounted in the root yet: no path can reach a mount of the host's, or /proc's)."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for path, _ in files:
            fd = linux.open_in_root(root_fd, path, os.O_PATH | os.O_NOFOLLOW)
            try:
                if os.fstat(fd).st_mode & 0o170000 == 0o100000:  # S_IFREG
                    linux.mount(f"/proc/self/fd/{fd}", f"/proc/self/fd/{fd}", None, linux.MS_BIND)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


def seal_root() -> None:
    """--read-only: the container's root (our /) read-only, the mounts on it as they are."""
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        linux.mount_setattr(fd, linux.MOUNT_ATTR_RDONLY, recursive=False)
    finally:
        os.close(fd)


def mount_root(root: str, mount: dict | None) -> None:  # type: ignore[type-arg]
    """The container's root, a mount point of its own (pivot_root(2) needs one): its directory
    bound onto itself, or the overlay the driver described (storage/overlay.py), mounted here in
    the container's namespace so that the host never holds it."""
    if mount is None:
        linux.mount(root, root, None, linux.MS_BIND | linux.MS_REC)
        # The store is mounted nosuid,nodev on the host's side; in the container its files mean
        # what they say (a bind remount sets the mount's own flags only: mount(2)).
        linux.mount(root, root, None, linux.MS_BIND | linux.MS_REMOUNT)
        return
    options = f"lowerdir={':'.join(mount['lowerdir'])},upperdir={mount['upperdir']},workdir={mount['workdir']}"
    here = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        os.chdir(mount["cwd"])  # the lower directories are named relative to it, to fit one page
        linux.mount(mount["type"], root, mount["type"], 0, ",".join([options, *mount["options"]]))
    except OSError as exc:
        raise LaunchError(f"cannot mount the container's root: {exc.strerror}") from exc
    finally:
        os.fchdir(here)
        os.close(here)


def mount_all(root: str, mounts: list) -> None:  # type: ignore[type-arg]
    """The config's mounts, a parent's before its children's, each onto its destination as
    resolved inside the root (linux.make_in_root): a symlink in the tree, an image's or one a
    container left in its own layer, cannot aim a mount, or the making of its mount point, at
    the host. Done before pivot_root, where the sources of bind mounts are still in reach."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in sorted(mounts, key=lambda m: (m["destination"].rstrip("/").count("/"), m["destination"])):
            mount_into(root_fd, m)
    finally:
        os.close(root_fd)


def mount_into(root_fd: int, m: dict) -> None:  # type: ignore[type-arg]
    """One OCI mount entry, onto its mount point through /proc/self/fd: the fd's own place."""
    flags, data = 0, []
    for opt in m.get("options", []):
        if opt in MOUNT_FLAGS:
            flags |= MOUNT_FLAGS[opt]
        elif opt not in IGNORED_OPTIONS:
            data.append(opt)
    kind = m.get("type", "bind")
    source = m.get("source", kind)
    try:
        target = linux.make_in_root(root_fd, m["destination"], directory=kind != "bind" or os.path.isdir(source))
    except OSError as exc:
        raise LaunchError(f"cannot make mount point {m['destination']}: {exc.strerror}") from exc
    try:
        if "tree" in m:  # an idmapped volume: the launcher's clone, private (as every mount here)
            linux.move_mount(m["tree"], target)
            os.close(m["tree"])
            mounted = linux.open_in_root(root_fd, m["destination"], os.O_PATH)
            try:
                linux.mount("none", f"/proc/self/fd/{mounted}", None, linux.MS_REC | linux.MS_PRIVATE)
            finally:
                os.close(mounted)
        elif kind == "bind":
            linux.mount(source, f"/proc/self/fd/{target}", None, linux.MS_BIND | (flags & linux.MS_REC))
        elif kind == "cgroup":
            mount_cgroups(root_fd, m, target, flags)
        else:
            linux.mount(source, f"/proc/self/fd/{target}", kind, flags, ",".join(data) or None)
    finally:
        os.close(target)
    attrs = mount_attrs(flags)
    if (kind == "bind" or "tree" in m) and attrs:  # mount(2) takes no flags with MS_BIND, nor move_mount
        mounted = linux.open_in_root(root_fd, m["destination"], os.O_PATH)
        try:
            linux.mount_setattr(mounted, attrs, recursive=bool(flags & linux.MS_REC))
        finally:
            os.close(mounted)


def mount_cgroups(root_fd: int, m: dict, target: int, flags: int) -> None:  # type: ignore[type-arg]
    """OCI's "cgroup" mount: the hierarchies the launcher found the container to have a cgroup of
    its own in (own_cgroup_hierarchies), mounted in its cgroup namespace, each showing that cgroup
    as its root; on a v1 or hybrid host on a read-only tmpfs, as the host has them."""
    hierarchies = m.get("hierarchies", [])
    if [h[0] for h in hierarchies] == [""]:  # cgroup v2 alone, at the top
        _, fstype, data = hierarchies[0]
        linux.mount("cgroup", f"/proc/self/fd/{target}", fstype, flags, data or None)
        pin_tree_bounds(f"/proc/self/fd/{target}", flags)
        return
    linux.mount("tmpfs", f"/proc/self/fd/{target}", "tmpfs", flags & ~linux.MS_RDONLY, "mode=755")
    top = linux.open_in_root(root_fd, m["destination"], os.O_PATH | os.O_DIRECTORY)
    try:
        for name, fstype, data in hierarchies:
            if fstype == "symlink":  # cpu -> cpu,cpuacct
                os.symlink(data, name, dir_fd=top)
                continue
            os.mkdir(name, 0o755, dir_fd=top)
            # systemd's: its own hierarchy writable, v1's controllers not (its container interface)
            fixed = CONTROLLERS_READ_ONLY in m.get("options", ()) and _is_controller(fstype, data)
            linux.mount("cgroup", f"/proc/self/fd/{top}/{name}", fstype, flags | (linux.MS_RDONLY if fixed else 0),
                        data or None)  # fmt: skip
            if fstype == "cgroup2":
                pin_tree_bounds(f"/proc/self/fd/{top}/{name}", flags)
        linux.mount_setattr(top, linux.MOUNT_ATTR_RDONLY, recursive=False)  # the hierarchies' places: fixed
    finally:
        os.close(top)


CPUSET_V1 = f"{CGROUP_ROOT}/cpuset"


def join_cpuset_v1(cpus: str) -> bool:
    """--cpuset-cpus on a v1 or hybrid host, whose cpuset hierarchy systemd leaves alone
    (AllowedCPUs= is cgroup v2's): a cpuset cgroup at the unit's own path, with those CPUs, joined
    before the container's PID 1 is cloned, so that the kernel holds the container to them (an
    affinity alone, a process may widen) and it reads them in its own cpuset.cpus. A directory
    missing above it is made with its parent's CPUs and memory nodes, as the kernel requires;
    nothing of systemd's is changed. Removed when the run ends (leave_cpuset_v1)."""
    unit, ours = _cpuset_v1_paths() if cpus else (None, None)
    if unit is None or ours == unit:
        return False
    made = CPUSET_V1
    for part in unit.strip("/").split("/"):
        parent, made = made, f"{made}/{part}"
        try:
            os.mkdir(made, 0o755)
        except FileExistsError:
            continue
        for knob in ("cpuset.cpus", "cpuset.mems"):
            _write_text(f"{made}/{knob}", _read_text(f"{parent}/{knob}"))
    _write_text(f"{made}/cpuset.cpus", cpus)
    _write_text(f"{made}/cgroup.procs", "0")
    return True


def leave_cpuset_v1(unit_path: str | None = None) -> None:
    """The run's cpuset cgroup (join_cpuset_v1), once its processes are gone; its parents stay.
    unit_path: the unit's path in systemd's hierarchy, where we have left it (launch's home)."""
    unit, ours = _cpuset_v1_paths()
    if unit is None:
        return
    if unit_path is not None:
        if unit_path == "/" or ".." in unit_path.split("/"):
            return
        unit = unit_path
    try:
        if ours == unit:  # a run that failed before PID 1 took our place there
            _write_text(f"{CPUSET_V1}/cgroup.procs", "0")
        os.rmdir(CPUSET_V1 + unit)
    except OSError:
        pass  # none was made (no --cpuset-cpus), or an exec'ed process is still ending


def _cpuset_v1_paths() -> tuple[str | None, str | None]:
    """The unit's path (in systemd's own hierarchy) and our cpuset cgroup's, on a host with a v1
    cpuset hierarchy; (None, None) elsewhere."""
    if not os.path.exists(f"{CPUSET_V1}/cpuset.cpus"):
        return None, None
    paths = own_cgroups()
    unit = paths.get(SYSTEMDS)
    if not unit or unit == "/" or ".." in unit.split("/"):
        return None, None
    return unit, next((path for key, path in paths.items() if "cpuset" in key), None)


SYSTEMDS = frozenset({"name=systemd"})  # systemd's own v1 hierarchy
UNIFIED: frozenset[str] = frozenset()  # cgroup v2's


def own_cgroups(pid: int | None = None) -> dict[frozenset[str], str]:
    """Our cgroup in each hierarchy (/proc/self/cgroup; pid's with pid), by what the hierarchy
    has: its controllers, or name=systemd; cgroup v2's has nothing (UNIFIED)."""
    paths = {}
    for line in _read_text(f"/proc/{pid or 'self'}/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        paths[frozenset(filter(None, controllers.split(",")))] = path
    return paths


def cgroup_mounts() -> list[tuple[str, frozenset[str]]]:
    """The host's cgroup hierarchies: (mount point, what own_cgroups keys it by)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, _, sb = line.partition(" - ")
            fstype, _source, options = sb.split()[:3]
            point = fields.split()[4]
            if fstype == "cgroup2":
                found.append((point, UNIFIED))
            elif fstype == "cgroup":
                kept = [o for o in options.split(",") if o not in ("rw", "ro") and not o.startswith("release_agent=")]
                found.append((point, frozenset(o for o in kept if o in _V1_KEYS or o.startswith("name="))))
    return found


_V1_KEYS = frozenset({"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio", "blkio",
                      "perf_event", "hugetlb", "pids", "rdma", "misc"})  # fmt: skip


def move_to(cgroups: dict[frozenset[str], str]) -> None:
    """Into the cgroups given (own_cgroups' form) in each hierarchy that has them."""
    for point, key in cgroup_mounts():
        path = cgroups.get(key)
        if path is not None and path.startswith("/") and ".." not in path.split("/"):
            try:
                _write_text(f"{point}{path.rstrip('/')}/cgroup.procs", "0")
            except OSError:
                pass  # a hierarchy whose cgroup is gone (or not ours to leave): we stay there


UNLIMITED_V1 = 1 << 62  # a v1 memory limit at least this is none (PAGE_COUNTER_MAX pages)


class OomWatch:
    """The OOM killer's work in the cgroup we are in when armed (the container's scope), told as
    it happens: cgroup v2's memory.events (a change wakes poll(2) with POLLPRI; its `oom` and
    `oom_kill` counts) or v1's memory.oom_control (an eventfd registered with
    cgroup.event_control). We leave the scope then (launch): its cgroup is removed once the
    container has ended, often before our last look, so what a wake-up says is taken then.

    v1 signals the eventfd when an OOM begins, before the kill is counted, and once more when
    the cgroup is removed, after its files stop reading: a signal while the file reads is an
    OOM (as runc and containerd take it). A launcher that a busy host runs late finds the file
    gone: then only a second signal tells an OOM from the removal's own, and the removal's may
    not have come yet. A witness tells when it has: an eventfd on a usage threshold no cgroup
    reaches, signalled by the removal alone, registered before the OOM's. The kernel removes the
    events newest first, each signalled by a work item of the same worker pool, in order (none
    of them sleeps before its signal but the witness's).

    A threshold's registration waits for an RCU grace period (synchronize_rcu: 10-15 ms here, a
    sixth of a `run --rm`), so a witness is registered only for a cgroup with a memory limit of
    its own, whose OOMs are the ones a user asks about. Without one, a launcher that finds the
    file gone after one signal takes it for the removal's: an OOM that an ancestor's limit, or a
    limit `sdc update` set after the start, caused in it goes unreported then, never a removal
    reported as an OOM."""

    WITNESS_WAIT = 2.0  # seconds: the removal's work items run at once, on the CPU that removed it

    def __init__(self) -> None:
        self.readable: list[int] = []  # v1's eventfds, signalled by an OOM (and by the removal)
        self.exceptional: list[int] = []  # v2's memory.events
        self.counters: list[int] = []  # files whose oom and oom_kill lines count
        self.controls: dict[int, int] = {}  # v1: eventfd -> its memory.oom_control
        self.witnesses: dict[int, int] = {}  # v1: eventfd -> its witness's, signalled by the removal alone
        self.signals: dict[int, int] = {}  # v1: eventfd -> the signals it had
        self.start = 0
        self.killed = False

    def arm(self) -> None:
        for key, path in own_cgroups().items():
            if key == UNIFIED:
                for top in (CGROUP_ROOT, f"{CGROUP_ROOT}/unified"):
                    if os.path.exists(f"{top}{path}/memory.events"):
                        fd = os.open(f"{top}{path}/memory.events", os.O_RDONLY | os.O_CLOEXEC)
                        self.counters.append(fd)
                        self.exceptional.append(fd)
            elif "memory" in key and os.path.exists(f"{CGROUP_ROOT}/memory{path}/memory.oom_control"):
                cgroup = f"{CGROUP_ROOT}/memory{path}"
                witness = None
                if self._limited(cgroup):
                    witness, usage = self._register(cgroup, "memory.usage_in_bytes", " -1")  # first: removed last
                    os.close(usage)
                event, control = self._register(cgroup, "memory.oom_control")
                self.counters.append(control)
                self.readable.append(event)
                self.controls[event] = control
                if witness is not None:
                    self.witnesses[event] = witness
                self.signals[event] = 0
        self.start = self._count()

    @staticmethod
    def _limited(cgroup: str) -> bool:
        """Whether the v1 memory cgroup has a limit of its own (memory, or memory and swap)."""
        for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
            try:
                if int(_read_text(f"{cgroup}/{name}")) < UNLIMITED_V1:
                    return True
            except (OSError, ValueError):
                pass  # no swap accounting: no memsw files
        return False

    @staticmethod
    def _register(cgroup: str, name: str, arguments: str = "") -> tuple[int, int]:
        """An eventfd for cgroup's file name (cgroup v1's cgroup.event_control), and the file's fd."""
        fd = os.open(f"{cgroup}/{name}", os.O_RDONLY | os.O_CLOEXEC)
        event = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            _write_text(f"{cgroup}/cgroup.event_control", f"{event} {fd}{arguments}")
        except OSError:
            close_all([fd, event])
            raise
        return event, fd

    def _count(self) -> int:
        """The OOMs and OOM kills so far (the highest count of any of our files)."""
        total = 0
        for fd in self.counters:
            text = self._read(fd)
            counts = dict(line.partition(" ")[::2] for line in (text or "").splitlines())
            total = max(total, sum(int(counts[key]) for key in ("oom", "oom_kill") if counts.get(key, "").isdigit()))
        return total

    @staticmethod
    def _read(fd: int) -> str | None:
        try:
            return os.pread(fd, 4096, 0).decode()
        except OSError:
            return None  # the cgroup is gone

    @staticmethod
    def _take(event: int) -> int:
        try:
            return os.eventfd_read(event)
        except BlockingIOError:
            return 0  # not signalled

    def check(self) -> None:
        """After one of our fds woke up (or at the end): whether there were OOMs since arm."""
        for event in self.readable:
            self.signals[event] += self._take(event)
            if self.killed or not self.signals[event]:
                continue
            if self._read(self.controls[event]) is not None:
                self.killed = True  # the cgroup is there: not the removal's signal
                continue
            witness = self.witnesses.get(event)
            if witness is None:
                self.killed = self.signals[event] > 1  # one: the removal's, as far as we can know
            elif select.select([witness], [], [], self.WITNESS_WAIT)[0]:
                self.signals[event] += self._take(event)  # its removal's signal came before the witness's
                self.killed = self.signals[event] > 1
        self.killed = self.killed or self._count() > self.start

    def close(self) -> None:
        close_all([*self.readable, *self.counters, *self.witnesses.values()])


def _read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write_text(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


DELEGATED = frozenset({"cgroup.procs", "cgroup.threads", "cgroup.subtree_control"})  # cgroups(7)


def pin_tree_bounds(hierarchy: str, flags: int) -> None:
    """A writable cgroup v2 hierarchy (a container that runs systemd): the files of its root but
    those a delegate may write (DELEGATED) read-only, as binds of themselves: the bounds of its
    subtree (bound_cgroup_tree), the unit's limits (memory.max, pids.max...). The kernel refuses
    the container's writes there where the hierarchy is mounted nsdelegate (systemd's way); this
    holds where it is not, too."""
    if flags & linux.MS_RDONLY:
        return
    for entry in os.scandir(hierarchy):
        if entry.name in DELEGATED or not entry.is_file(follow_symlinks=False):
            continue
        if not entry.stat(follow_symlinks=False).st_mode & 0o222:  # read-only already (cgroup.events...)
            continue
        path = f"{hierarchy}/{entry.name}"
        linux.mount(path, path, None, linux.MS_BIND)
        linux.mount(path, path, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)


def _is_controller(fstype: str, options: str) -> bool:
    """A cgroup v1 hierarchy of controllers, not systemd's own (name=systemd) nor v2's."""
    return fstype == "cgroup" and not any(o.startswith("name=") for o in options.split(","))


def own_cgroup_hierarchies() -> list[list[str]]:
    """The host's cgroup hierarchies, as [name under /sys/fs/cgroup, type, mount options], in which
    we, in the container's unit, have the unit's cgroup, and the links between them (cpu ->
    cpu,cpuacct) as [name, "symlink", target]. The container's cgroup namespace is rooted where
    we are: in a v1 controller systemd gives the unit no cgroup of (it uses no such setting), its
    root would be the host's, with every other unit's cgroup under it; such a hierarchy is left out."""
    paths = own_cgroups()
    ours = paths.get(SYSTEMDS, paths.get(UNIFIED))
    found: list[list[str]] = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, _, sb = line.partition(" - ")
            fstype, _source, options = sb.split()[:3]
            point = fields.split()[4]
            name = point[len(CGROUP_ROOT) + 1:] if point.startswith(CGROUP_ROOT + "/") else None
            if fstype not in ("cgroup", "cgroup2") or (point != CGROUP_ROOT and (not name or "/" in name)):
                continue
            opts = [o for o in options.split(",") if o not in ("rw", "ro") and not o.startswith("release_agent=")]
            key = frozenset() if fstype == "cgroup2" else next((k for k in paths if k and k <= set(opts)), None)
            if key is not None and paths.get(key) == ours and name not in {h[0] for h in found}:
                found.append([name or "", fstype, ",".join(opts)])
    mounted = {h[0] for h in found}
    if "" not in mounted:
        for entry in os.scandir(CGROUP_ROOT):
            if entry.is_symlink() and (link := os.readlink(entry.path)) in mounted:
                found.append([entry.name, "symlink", link])
    return found


def mount_attrs(flags: int) -> int:
    """MS_* flags as mount_setattr(2) spells them."""
    pairs = ((linux.MS_RDONLY, linux.MOUNT_ATTR_RDONLY), (linux.MS_NOSUID, linux.MOUNT_ATTR_NOSUID),
             (linux.MS_NODEV, linux.MOUNT_ATTR_NODEV), (linux.MS_NOEXEC, linux.MOUNT_ATTR_NOEXEC))  # fmt: skip
    return sum(attr for flag, attr in pairs if flags & flag)


def _device_path(dev: dict) -> str:  # type: ignore[type-arg]
    """A device's path in the container, which must be under its /dev."""
    path = str(dev["path"])
    if not path.startswith("/dev/") or "/../" in path or path.endswith("/.."):
        raise LaunchError(f"a device outside /dev: {path}")
    return path


def bind_devices(root: str, devices: list) -> None:  # type: ignore[type-arg]
    """The config's device nodes as bind mounts of the host's (hostPath, sdc's own key), each
    onto a file made inside the root (linux.make_in_root: no symlink leads it out)."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for dev in devices:
            path = _device_path(dev)
            target = linux.make_in_root(root_fd, path, directory=False)
            try:
                linux.mount(dev.get("hostPath", path), f"/proc/self/fd/{target}", None, linux.MS_BIND)
            finally:
                os.close(target)
    finally:
        os.close(root_fd)


def make_devices(devices: list) -> None:  # type: ignore[type-arg]
    """The device nodes of the config, and /dev's usual links: in the container's root already."""
    for dev in devices:
        path = _device_path(dev)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)  # /dev/net/tun, --privileged's
        kind = 0o020000 if dev.get("type", "c") == "c" else 0o060000  # S_IFCHR / S_IFBLK
        os.mknod(path, kind | 0o600, os.makedev(dev["major"], dev["minor"]))
        os.chown(path, dev.get("uid", 0), dev.get("gid", 0))
        os.chmod(path, dev.get("fileMode", 0o666))
    for link, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ):
        if not os.path.lexists(f"/dev/{link}"):
            os.symlink(target, f"/dev/{link}")


def mask(path: str) -> None:
    """Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory."""
    if os.path.isdir(path):
        linux.mount("tmpfs", path, "tmpfs", linux.MS_RDONLY, "size=0")
    elif os.path.exists(path):
        linux.mount("/dev/null", path, None, linux.MS_BIND)


def make_readonly(path: str) -> None:
    """Read-only (and nosuid, nodev, noexec), with every mount below it: a remount reaches only
    the one mount, mount_setattr(2) with AT_RECURSIVE all of them."""
    if os.path.exists(path):
        linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            attrs = linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NOSUID | linux.MOUNT_ATTR_NODEV | linux.MOUNT_ATTR_NOEXEC
            linux.mount_setattr(fd, attrs, recursive=True)
        finally:
            os.close(fd)


def set_cpu_affinity(resources: dict) -> None:  # type: ignore[type-arg]
    """The CPUs of --cpuset-cpus ("0-2,5"), for PID 1 and all it starts (sched_setaffinity(2)): a
    scope cannot take CPUAffinity= from systemd, which sets it only on processes it starts."""
    text = resources.get("cpu", {}).get("cpus", "")
    if not text:
        return
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    os.sched_setaffinity(0, cpus)


def make_workdir(cwd: str) -> None:
    """The working directory, made (root's, 0755) when the image lacks it, as Docker does. We are
    in the container's root already: nothing here resolves outside it."""
    try:
        os.makedirs(cwd, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise LaunchError(f"cannot make working directory {cwd}: {exc.strerror}") from exc


# setrlimit(2)'s resources on Linux, by the OCI config's names (Python's resource lacks some: LOCKS)
RLIMITS = {"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
           "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
           "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14,
           "RLIMIT_RTTIME": 15}  # fmt: skip


def preload_limits(process: dict) -> None:  # type: ignore[type-arg]
    """resource imported while the stdlib is in reach (not after pivot_root or setns), and only
    for a container with --ulimit: every other start pays nothing for it."""
    if process.get("rlimits"):
        import resource  # noqa: F401 - in sys.modules now, for set_process_limits


def set_process_limits(process: dict) -> None:  # type: ignore[type-arg]
    """--ulimit's rlimits and --oom-score-adj, set while we still may raise them (CAP_SYS_RESOURCE)."""
    limits = process.get("rlimits", [])
    if limits:
        import resource  # (preload_limits imported it: no file is read here)

        for limit in limits:
            number = RLIMITS.get(str(limit.get("type")))
            if number is None:
                raise LaunchError(f"unknown rlimit {limit.get('type')!r}")
            soft, hard = (resource.RLIM_INFINITY if v >= 2**63 else v for v in (limit["soft"], limit["hard"]))
            try:
                resource.setrlimit(number, (soft, hard))
            except (ValueError, OSError) as exc:
                raise LaunchError(f"cannot set {limit['type']} to {soft}:{hard}: {exc}") from exc
    if "oomScoreAdj" in process:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(int(process["oomScoreAdj"])))
        except OSError as exc:
            raise LaunchError(f"cannot set the OOM score adjustment: {exc.strerror}") from exc


def passed_fds(config: dict, environ: dict[str, str] | os._Environ[str]) -> None:  # type: ignore[type-arg]
    """sdc's fds from 3 on that PID 1 gets (protocol.PRESERVE_FDS), kept by contain's close_fds;
    socket activation's told to it as systemd tells a service: LISTEN_FDS, LISTEN_PID=1 (its PID
    in its own namespace), LISTEN_FDNAMES."""
    count = environ.get(protocol.PRESERVE_FDS, "")
    if not count.isdigit() or not 0 < int(count) <= 1000:
        return
    config[PASSED_FDS] = int(count)
    listen = environ.get(protocol.LISTEN_FDS, "0")
    if listen.isdigit() and int(listen) > 0:
        names = environ.get(protocol.LISTEN_FDNAMES, "")
        process = config["process"]
        process["env"] = [e for e in process.get("env", []) if e.split("=")[0] not in LISTEN_VARS] + [
            f"LISTEN_FDS={int(listen)}", "LISTEN_PID=1", *([f"LISTEN_FDNAMES={names}"] if names else [])]


PASSED_FDS = "sdc.passedFds"  # (in the config as read, never in the bundle's file)
LISTEN_VARS = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


def drop_privileges(process: dict) -> None:  # type: ignore[type-arg]
    """Bounding set first (needs CAP_SETPCAP), then ids, then the remaining sets (capabilities(7))."""
    caps = process.get("capabilities", {})
    try:
        keep = frozenset(protocol.CAPABILITIES[c] for c in caps.get("bounding", []))
        effective = frozenset(protocol.CAPABILITIES[c] for c in caps.get("effective", []))
    except KeyError as exc:
        raise LaunchError(f"unknown capability {exc.args[0]}") from exc
    linux.drop_bounding_caps(keep)
    user = process.get("user", {})
    os.setgroups(user.get("additionalGids", []))
    os.setgid(user.get("gid", 0))
    os.setuid(user.get("uid", 0))  # to non-zero: the kernel clears every capability set
    if user.get("uid", 0) == 0:
        linux.set_caps(effective & keep)
    if process.get("noNewPrivileges", True):
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)


def close_fds(*keep: int) -> None:
    """Every fd but stdio and those kept: nothing of the host's reaches the command, however high."""
    low = 3
    for fd in sorted(k for k in keep if k >= low):
        os.closerange(low, fd)
        low = fd + 1
    linux.close_from(low)


def exec_command(args: list[str], env: list[str]) -> None:
    if not args:
        raise LaunchError("no command given", EXIT_NOTFOUND)
    environ = {key: value for key, _, value in (e.partition("=") for e in env)}
    # Python ignores these two, and exec keeps what is ignored: the command gets the defaults
    # (a writer to a closed pipe ends, as under a shell), not ours.
    for signo in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signo, signal.SIG_DFL)
    try:
        os.execvpe(args[0], args, environ)
    except FileNotFoundError:
        raise LaunchError(f"{args[0]}: executable file not found in $PATH", EXIT_NOTFOUND) from None
    except PermissionError:
        raise LaunchError(f"{args[0]}: permission denied", EXIT_NOEXEC) from None
    except OSError as exc:
        raise LaunchError(f"{args[0]}: {exc.strerror}", EXIT_NOEXEC) from None


def child(config: dict, seccomp: bytes | None, sync: socket.socket, ns_flags: int, userns: bool,  # type: ignore[type-arg]
          stdio: list[int] | None) -> None:  # fmt: skip
    """Never returns: exec the command, or report why not on sync and exit."""
    try:
        contain(config, seccomp, sync, ns_flags, userns, stdio)
        raise LaunchError("exec returned")
    except LaunchError as exc:
        message, code = str(exc), exc.code
    except OSError as exc:
        message, code = str(exc), EXIT_SETUP
    except BaseException as exc:  # noqa: BLE001 - anything at all must end the launch, closed
        message, code = f"{type(exc).__name__}: {exc}", EXIT_SETUP
    try:
        sync.send(f"E{code} {message}".encode())
        sync.recv(1)  # exit only once the launcher has recorded why (see _fail): then the unit fails
    finally:
        os._exit(code)  # the launcher gone already (it failed first, and said why): just go


# --- in the unit, outside the container ----------------------------------------


def start(config: dict, bundle: str, *, detach: bool, interactive: bool = False,  # type: ignore[type-arg]
          before_go: Callable[[], None] | None = None) -> tuple[int, int | None, list[int] | None, int]:  # fmt: skip
    """Fork the container's PID 1 into new namespaces and let it exec once systemd knows it.

    The child sets the container up and waits; then, for a service, systemd
    is told it is the main process (MAINPID=), so that its exit status is the
    unit's even if the command ends at once; then it may exec. CLONE_PARENT
    makes it systemd's own child, as any service's main process is, so
    systemd reaps it and the launcher can exit. In the foreground it stays
    our child, for `relay_stdio` (or relay_console); returned: its PID, its terminal's master
    if it has one, and else our ends of its stdio's pipes (stdio_pipes), and detached, a pidfd
    of it (opened before it may exec, and so end and be reaped by systemd, and its PID reused)."""
    flags = 0
    for ns in config["linux"].get("namespaces", []):
        if "path" in ns:  # one made before (a network's, by --net-up): PID 1 is born in it
            join_namespace(str(ns["path"]), NAMESPACES[ns["type"]])
        else:
            flags |= NAMESPACES[ns["type"]]
    mark_sysfs_sent(config, joined_network=any("path" in ns and ns["type"] == "network"
                                               for ns in config["linux"].get("namespaces", [])))  # fmt: skip
    seccomp = read_seccomp_program(config)  # here: the bundle is out of reach once in the container
    read_own_files(config)
    if config.get("annotations", {}).get(protocol.MACHINE_ID):  # systemd runs it: its cgroup is its to manage
        bound_cgroup_tree()
    cpuset = join_cpuset_v1(config["linux"].get("resources", {}).get("cpu", {}).get("cpus", ""))
    for m in config.get("mounts", []):
        if m.get("type") == "cgroup":  # here, in the host's cgroup namespace (the child has its own)
            m["hierarchies"] = own_cgroup_hierarchies()
    relayed = not detach and not config["process"].get("terminal")
    their_stdio, our_stdio = stdio_pipes(interactive=interactive) if relayed else (None, None)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    userns = bool(flags & linux.CLONE_NEWUSER)
    pid = linux.clone((flags & CLONED) | (linux.CLONE_PARENT if detach else 0))
    if pid == 0:
        ours.close()
        child(config, seccomp, theirs, flags & ~CLONED, userns, their_stdio)
    theirs.close()
    close_all(their_stdio)
    console, pidfd = None, -1
    try:
        if userns:
            send_root(ours, pid, config)
        message, console = receive_ready(ours)
        if console is not None:  # its size before PID 1 may ask (`stty size`: 0x0 is an error to it)
            initial_window_size(console, from_caller=not detach)
        if cpuset:  # PID 1 is in it, and its cgroup namespace rooted there: we need not be
            _write_text(f"{CPUSET_V1}/cgroup.procs", "0")
        if message != READY_TO_EXEC:
            _fail(ours, bundle, message, pid, detach)
        if detach:
            notify(f"MAINPID={pid}")
        # Before the go, so that READY=1 follows the exec at once (a command that ends at once
        # must not end before it: systemd would call that a protocol error), and a machine once
        # `sdc run -d` returns.
        register_machine(bundle, config, pid)
        # Before the go: by the time the command can say anything, its PID is there for `sdc kill`.
        _record(bundle, protocol.PID, str(pid))
        pidfd = linux.pidfd_open(pid) if detach else -1
        if before_go is not None:
            before_go()
        ours.send(GO)
        if report := ours.recv(4096):  # EOF: the exec closed the child's end (SOCK_CLOEXEC)
            _fail(ours, bundle, report, pid, detach)
        mark("launcher: PID 1 exec'ed")
    except BaseException:
        close_all([*([console] if console is not None else []), *(our_stdio or []), pidfd])
        raise
    finally:
        ours.close()
    return pid, console, our_stdio, pidfd


def join_namespace(path: str, flag: int) -> None:
    """Enter the namespace at path ourselves, before PID 1 is cloned: it is born in it, and keeps
    it whatever namespaces it makes next (a user namespace's root has no power over it). The path
    is our parent's (systemd's, or the foreground's sdc): we run in a mount namespace of our own
    (the unit's ReadOnlyPaths=, spawn_foreground's) made before the namespace's bind mount, which
    a host whose / is private propagates to none; /proc/PPID/root walks our parent's."""
    try:
        fd = os.open(f"/proc/{os.getppid()}/root{path}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT and path.startswith(protocol.NETNS_DIR):  # not up: --network container:'s
            raise LaunchError(f"its network namespace {path} is not there: the container whose network "
                              "it shares (--network container:NAME) is not running") from None  # fmt: skip
        raise LaunchError(f"cannot open the namespace {path}: {exc.strerror}") from None
    try:
        linux.setns(fd, flag)
    finally:
        os.close(fd)


def stdio_pipes(*, interactive: bool) -> tuple[list[int], list[int]]:
    """The stdio of a foreground container without a terminal, as Docker's and Podman's are:
    (the container's, ours), each [stdin, stdout, stderr], pipes that we relay; without -i its
    stdin is the host's /dev/null, and ours -1. Never our own stdio: those are the caller's files
    and terminal."""
    theirs, ours = [-1], [-1]
    if interactive:
        theirs[0], ours[0] = os.pipe2(os.O_CLOEXEC)
    else:
        theirs[0] = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    for _ in ("stdout", "stderr"):
        r, w = os.pipe2(os.O_CLOEXEC)
        theirs.append(w)
        ours.append(r)
    return theirs, ours


def close_all(fds: list[int] | None) -> None:
    for fd in set(fds or ()):
        if fd >= 0:
            os.close(fd)


def payload_notifies(config: dict) -> bool:  # type: ignore[type-arg]
    """--sdnotify=container: the payload says READY=1 itself, on the unit's notify socket."""
    return bool(config.get("annotations", {}).get(protocol.SDNOTIFY) == "container")


NOTIFY_RELAY = "notify.sock"  # in the bundle: the socket the container's notify socket is
# What a container may tell systemd (sd_notify(3)), each line whole, or by its name and a value of
# digits; STATUS= any text. Everything else (MAINPID= first, FDSTORE=, NOTIFYACCESS=...) is dropped.
NOTIFY_LINES = frozenset({b"READY=1", b"STOPPING=1", b"RELOADING=1", b"WATCHDOG=1", b"WATCHDOG=trigger"})
NOTIFY_NUMBERS = (b"ERRNO=", b"MONOTONIC_USEC=", b"EXTEND_TIMEOUT_USEC=")
NOTIFY_MAX = 4096  # systemd reads no more of a message (NOTIFY_BUFFER_MAX is larger; this is plenty)


def make_notify_socket(config: dict) -> socket.socket:  # type: ignore[type-arg]
    """--sdnotify=container (and a detached systemd): a socket of our own, bound into the container
    at NOTIFY_PATH and named by NOTIFY_SOCKET in its environment, whose messages NotifyRelay
    passes on to the unit's. Never the unit's own socket: systemd takes MAINPID= from any process
    of a NotifyAccess=all unit, and a container's root that named a host process its main PID
    would have systemd kill that process on stop. Called in the bundle, our working directory."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        raise LaunchError("--sdnotify=container needs the unit's notify socket: NOTIFY_SOCKET is not set")
    with contextlib_suppress(FileNotFoundError):
        os.unlink(NOTIFY_RELAY)  # an earlier run's
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        sock.bind(NOTIFY_RELAY)  # relative: a bundle's path may not fit sun_path's 108 bytes
        os.chmod(NOTIFY_RELAY, 0o666)  # any of the container's users may notify (its root: another uid)
    except OSError:
        sock.close()
        raise
    source = os.path.join(os.getcwd(), NOTIFY_RELAY)
    socket_mount = {"destination": protocol.NOTIFY_PATH, "type": "bind", "source": source, "options": ["bind"]}
    config["mounts"] = [*config.get("mounts", []), socket_mount]
    config["process"]["env"] = [*config["process"].get("env", []), f"NOTIFY_SOCKET={protocol.NOTIFY_PATH}"]
    return sock


class contextlib_suppress:  # noqa: N801 - contextlib.suppress, without importing contextlib
    def __init__(self, *kinds: type[BaseException]) -> None:
        self.kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, self.kinds)


def filter_notification(data: bytes, *, ready: bool = False) -> bytes:
    """The lines of a container's sd_notify message that systemd may hear (NOTIFY_LINES, and
    NOTIFY_NUMBERS with digits; EXTEND_TIMEOUT_USEC= only until READY=1 has passed (ready): in
    a later state it would put off, for ever, the SIGKILL that a stop by systemd ends with)."""
    # systemd splits a message at \r as well as \n (strv_split_newlines): so do we, or a line
    # "STATUS=x\rMAINPID=1" would pass here whole and reach it as two.
    kept = []
    for line in data.replace(b"\r", b"\n").split(b"\n"):
        name, sep, value = line.partition(b"=")
        if b"\0" in line:
            continue
        if line in NOTIFY_LINES or (name == b"STATUS" and sep):
            kept.append(line)
        elif line.startswith(NOTIFY_NUMBERS) and value.isdigit() and len(value) < 20:
            if not (ready and name == b"EXTEND_TIMEOUT_USEC"):
                kept.append(line)
    return b"\n".join(kept)


class NotifyRelay:
    """The container's notifications (make_notify_socket), passed on to the unit's socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.ready = sock, False

    def relay_one(self) -> None:
        """One datagram, filtered, to systemd. A barrier (BARRIER=1 with an fd,
        sd_notify_barrier(3)) is kept: the fd is closed once systemd has read what came before
        it; any other fd passed is closed at once, never forwarded. A datagram cut short (larger
        than NOTIFY_MAX) is dropped whole, as systemd drops it."""
        try:
            data, ancillary, flags, _ = self.sock.recvmsg(NOTIFY_MAX, socket.CMSG_SPACE(4 * 16), socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        fds: list[int] = []
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) // 4 * 4])
        try:
            if flags & socket.MSG_TRUNC:
                return
            passed = filter_notification(data, ready=self.ready)
            barrier = bool(fds) and b"BARRIER=1" in data.replace(b"\r", b"\n").split(b"\n")
            if passed or barrier:
                try:
                    notify(passed)  # with a barrier of ours: systemd has read it once this returns
                except (LaunchError, OSError) as exc:
                    print(f"sdc: cannot pass a notification on to systemd: {exc}", file=sys.stderr, flush=True)
            self.ready = self.ready or b"READY=1" in passed.split(b"\n")
        finally:
            _close_passed(fds)


def _close_passed(fds: list[int]) -> None:
    """Close fds a container passed: a socket's SO_LINGER reset first, or its close could wait
    for as long as the container likes (a TCP socket with unsent data, lingering)."""
    for fd in fds:
        try:
            if (os.fstat(fd).st_mode & 0o170000) == 0o140000:  # S_IFSOCK
                sock = socket.socket(fileno=fd)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 0, 0))
                except OSError:
                    pass
                sock.close()
                continue
        except OSError:
            pass
        try:
            os.close(fd)
        except OSError:
            pass


def initial_window_size(console: int, *, from_caller: bool) -> None:
    """A new terminal's size: the caller's terminal's (a foreground run from one), else Docker's
    24x80; relay_console follows the caller's changes from then on."""
    if from_caller and os.isatty(0):
        try:
            linux.copy_window_size(0, console)
            return
        except OSError:
            pass
    linux.set_window_size(console, 24, 80)


def receive_ready(sync: socket.socket) -> tuple[bytes, int | None]:
    """PID 1's word (READY_TO_EXEC, or why it failed), with its terminal's master when it has one."""
    message, ancillary, _, _ = sync.recvmsg(4096, socket.CMSG_SPACE(4))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and len(data) >= 4:
            return message, int(struct.unpack("i", data[:4])[0])
    return message, None


def send_root(sync: socket.socket, pid: int, config: dict) -> None:  # type: ignore[type-arg]
    """PID 1 is in its own user namespace: map its ids (config's uidMappings and gidMappings, a
    range of the host's), and hand it its root as an idmapped copy through those maps, so that
    the image's files, owned by the host's root on disk, are its root's (and what it writes is
    the host's root's on disk: the layers stay as every other container sees them)."""
    for name, key in (("uid_map", "uidMappings"), ("gid_map", "gidMappings")):
        text = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in config["linux"][key])
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    trees: list[int] = []
    try:
        mount = config["root"].get("mount")
        # The store's nosuid,nodev is the host's side: in the container its files mean what they say.
        store = linux.MOUNT_ATTR_NOSUID | linux.MOUNT_ATTR_NODEV
        root = os.path.realpath(config["root"]["path"])
        trees.append(overlay_tree(mount, userns) if mount else idmapped_tree(root, userns, clear=store))
        for m in idmapped(config.get("mounts", [])):  # a volume keeps its own flags
            if m.get(SENT):  # a sysfs of the network namespace we are in (mark_sysfs_sent)
                trees.append(linux.new_mount("sysfs", []))
                continue
            # Its root writes there as the host's root: only root may reach it (volumes.py), now too,
            # and what is cloned is what was checked (the fd, not the path again).
            source = m["source"]
            private = open_private(source)
            if private is None:
                raise LaunchError(f"other host users can reach the idmapped volume {source}, or change the way "
                                  "to it: make it root's, mode 0700, on a path of root's directories")  # fmt: skip
            try:
                trees.append(idmapped_tree(f"/proc/self/fd/{private}", userns, what=f"the volume {source}"))
            finally:
                os.close(private)
        sync.sendmsg([b"T"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(trees)}i", *trees))])
    finally:
        os.close(userns)
        for tree in trees:
            os.close(tree)


def idmapped_tree(path: str, userns: int, *, clear: int = 0, what: str = "the container's root") -> int:
    """A detached copy of the mounts at path, its files' owners seen through userns's maps, the
    mount flags clear cleared."""
    tree = linux.clone_tree(path)
    try:
        linux.mount_setattr(tree, linux.MOUNT_ATTR_IDMAP, recursive=True, userns_fd=userns, attr_clr=clear)
    except OSError as exc:
        os.close(tree)
        raise LaunchError(f"cannot idmap {what}: {exc.strerror} (idmapped mounts need Linux 5.12+ "
                          "and a filesystem that has them: btrfs, ext4, xfs, tmpfs)") from exc  # fmt: skip
    return tree


def overlay_tree(mount: dict, userns: int) -> int:  # type: ignore[type-arg]
    """The container's overlay root for a container in a user namespace, mounted detached here.

    overlayfs has no idmapped mounts of its own, and an idmapped upper directory would need the
    mounter's ids inside the map: so its lower directories (the image's layers, shared with every
    container) are idmapped, and its upper directory is plain, holding what the container writes
    under the host's ids of its range (as Podman's overlay does). sdc reads the upper through the
    reverse map (storage/overlay.py, _frozen), which turns them back into the container's own."""
    lowers: list[int] = []
    here = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        for name in mount["lowerdir"]:
            lowers.append(idmapped_tree(os.path.join(mount["cwd"], name), userns))
        # Named relative to /proc/self/fd ("7:8:9"), they fit fsconfig's 256 bytes for ~60 layers;
        # a taller image takes one at a time (lowerdir+, Linux 6.8+).
        joined = ":".join(map(str, lowers))
        layers = [("lowerdir", joined)] if len(joined) < 256 else [("lowerdir+", str(fd)) for fd in lowers]
        params: list[tuple[str, str | None]] = [*layers, ("upperdir", mount["upperdir"]), ("workdir", mount["workdir"])]
        for option in mount["options"]:  # key=value, or a flag
            key, sep, value = option.partition("=")
            params.append((key, value if sep else None))
        os.chdir("/proc/self/fd")
        return linux.new_mount("overlay", params)
    except OSError as exc:
        raise LaunchError(f"cannot mount the container's root: {exc.strerror} (overlayfs takes idmapped "
                          "lower directories from Linux 5.19)") from exc  # fmt: skip
    finally:
        os.fchdir(here)
        os.close(here)
        for fd in lowers:
            os.close(fd)


def receive_fds(sync: socket.socket, count: int) -> list[int]:
    """The fds send_root sends."""
    _, ancillary, _, _ = sync.recvmsg(1, socket.CMSG_SPACE(4 * count))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and len(data) >= 4 * count:
            return list(struct.unpack(f"{count}i", data[: 4 * count]))
    raise LaunchError("the launcher went away before it sent the container's root")


def read_seccomp_program(config: dict) -> bytes | None:  # type: ignore[type-arg]
    """The seccomp filter sdc built for the container, from the bundle (see bundle.SECCOMP_KEY)."""
    name = config["linux"].get("seccompProgram")
    if name is None:
        return None
    with open(name, "rb") as f:
        return f.read()


def _fail(sync: socket.socket, bundle: str, message: bytes, pid: int, detach: bool) -> NoReturn:
    """PID 1 could not get as far as its command: record why, and only then let it exit (it waits
    for our word). Its exit is what fails a service's start job: so once sdc sees the job failed,
    the bundle's records are final (`launch-error`: it never ran; `pid` alone: it ran)."""
    if message.startswith(b"E"):
        code_text, _, text = message[1:].decode(errors="replace").partition(" ")
        code = int(code_text)
    else:
        code, text = EXIT_SETUP, "the container's init died during set-up"
    _record(bundle, protocol.LAUNCH_ERROR, text)
    try:
        sync.send(GO)
    except OSError:
        pass  # it is gone already
    if not detach:
        os.waitpid(pid, 0)
    raise LaunchError(text, code)


def notify(state: str | bytes) -> None:
    """sd_notify(3), then a barrier so systemd has read it before we go on (sd_notify_barrier)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        raise LaunchError("--notify given but NOTIFY_SOCKET is not set: not run by systemd with Type=notify")
    if address.startswith("@"):
        address = "\0" + address[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(address)
        if state:
            sock.sendall(state.encode() if isinstance(state, str) else state)
        r, w = os.pipe2(os.O_CLOEXEC)
        sock.sendmsg([b"BARRIER=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", w))])
        os.close(w)
        select.select([r], [], [], 5.0)  # systemd closes its copy of w once it has processed us
        os.close(r)
    finally:
        sock.close()


def relay_signals(pid: int) -> int:
    """Pass the signals others send us on to pid until it exits; return its shell-style status.

    Call with RELAYED and SIGCHLD blocked (sigwaitinfo(2) then reads who sent
    what). Not passed on, because pid got them already: a signal from the
    kernel (si_code > 0, like the terminal's SIGINT to the whole foreground
    process group) and one from systemd (PID 1) stopping the whole scope."""
    watched = {*RELAYED, signal.SIGCHLD}
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        info = signal.sigwaitinfo(watched)
        if info.si_signo != signal.SIGCHLD and info.si_code <= 0 and info.si_pid != 1:
            try:
                os.kill(pid, info.si_signo)
            except ProcessLookupError:
                pass


DRAIN_QUIET, DRAIN_MAX = 0.1, 2.0  # seconds: what is left to read once the command has ended


def relay_stdio(pid: int, pipes: list[int], watch: OomWatch | None = None, *,
                copy: journal.JournalCopy | None = None, shown: frozenset[int] = frozenset((1, 2))) -> int:  # fmt: skip
    """relay_signals for a command without a terminal, run with its stdio on pipes (stdio_pipes:
    pipes are our ends, stdin's -1 without -i): our stdin into its, its stdout and stderr onto
    ours, and every signal we get on to it, the terminal's ^C included (it is in a session of its
    own now: the terminal signals us alone); not those from systemd (PID 1), which signals the
    whole unit itself. Returns its shell-style status once it has ended and its output is read:
    until its pipes close, or, where a process it left keeps them open, a pause in the output
    (DRAIN_QUIET), for DRAIN_MAX at most; that process writes to a closed pipe afterwards.
    shown: the streams (1, 2) that are ours (-a); the others go to the journal (copy) alone."""
    watched = {*RELAYED, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    signals = linux.signalfd(watched)
    stdin, outputs = pipes[0], {pipes[1]: 1, pipes[2]: 2}
    outputs.pop(-1, None)
    if stdin >= 0:
        os.set_blocking(stdin, False)
    pending, reading = b"", stdin >= 0 and _readable(0)
    if not reading:  # -i with our stdin closed: the container's ends at once
        stdin = _close(stdin)
    status: int | None = None
    ended = 0.0
    try:
        while status is None or outputs:
            readers = [signals, *outputs, *([0] if reading and not pending else []), *(watch.readable if watch else [])]
            timeout = None if status is None else min(DRAIN_QUIET, ended + DRAIN_MAX - time.monotonic())
            ready, writable, odd = select.select(readers, [stdin] if pending else [],
                                                 watch.exceptional if watch else [], timeout and max(timeout, 0))
            if watch is not None and (odd or set(ready) & set(watch.readable)):
                watch.check()
                ready = [fd for fd in ready if fd not in watch.readable]
            if status is not None and (not ready or time.monotonic() > ended + DRAIN_MAX):
                break
            for fd in ready:
                if fd in outputs and not _copy_out(fd, outputs[fd], copy, show=outputs[fd] in shown):
                    os.close(fd)
                    del outputs[fd]
            if 0 in ready:
                pending = _read_input()
                reading = bool(pending)
                if not pending:  # EOF: the container's stdin ends too
                    stdin = _close(stdin)
            if writable:
                left = _write_input(stdin, pending)
                if left is None:
                    left, reading, stdin = b"", False, _close(stdin)
                pending = left
            if signals in ready:
                received = linux.read_signals(signals)
                if status is None:  # once reaped, its PID may be another process's
                    _pass_signals(pid, received)
            if status is None:
                status = _reaped(pid)
                if status is not None:
                    ended, pending, reading, stdin = time.monotonic(), b"", False, _close(stdin)
        return status
    finally:
        os.close(signals)
        close_all([stdin, *outputs])


def _readable(fd: int) -> bool:
    """fd is open for reading (a caller may start us with stdin closed)."""
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _close(fd: int) -> int:
    if fd >= 0:
        os.close(fd)
    return -1


def _read_input() -> bytes:
    try:
        return os.read(0, 65536)
    except OSError:  # EIO: our terminal hung up; whatever else, it ends the input as EOF would
        return b""


def _write_input(fd: int, data: bytes) -> bytes | None:
    """What of data the container's stdin (non-blocking) took not; None once it closed its end."""
    try:
        return data[os.write(fd, data):]
    except BlockingIOError:
        return data
    except OSError:  # EPIPE: it reads no more
        return None


def _copy_out(fd: int, out: int, copy: journal.JournalCopy | None = None, *, show: bool = True) -> bool:
    """One read of fd's pipe, written to out (and the journal; not to out unless show); False at
    its end, or once out takes no more (a reader gone: the container's next write fails as under
    a shell, EPIPE or SIGPIPE)."""
    data = os.read(fd, 65536)
    if not data:
        return False
    if copy is not None:
        copy.write(out, data)
    if not show:
        return True
    try:
        _write_all(out, data)
    except OSError:
        return False
    return True


def _pass_signals(pid: int, signals: list[tuple[int, int, int]]) -> None:
    for signo, _code, sender in signals:
        if signo != signal.SIGCHLD and sender != 1:
            try:
                os.kill(pid, signo)
            except ProcessLookupError:
                pass


def _reaped(pid: int) -> int | None:
    done, raw = os.waitpid(pid, os.WNOHANG)
    if not done:
        return None
    return os.waitstatus_to_exitcode(raw) if os.WIFEXITED(raw) else 128 + os.WTERMSIG(raw)


def relay_console(pid: int, master: int, watch: OomWatch | None = None, *,
                  copy: journal.JournalCopy | None = None) -> int:  # fmt: skip
    """relay_signals for a container with a terminal of its own: the bytes between the caller's
    terminal and the container's, both ways, the caller's in raw mode (its ^C is a byte, which the
    container's terminal makes a SIGINT there) and its size passed on as it changes (SIGWINCH).
    The caller's mode is restored here, and by sdc too should we be killed (api.run._foreground).
    Without a terminal on our stdin (-t with input from a pipe) the input is not relayed."""
    import termios
    import tty

    watched = {*RELAYED, signal.SIGCHLD, signal.SIGWINCH}
    signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    signals = linux.signalfd(watched)
    terminal = os.isatty(0)
    saved = termios.tcgetattr(0) if terminal else None
    try:
        if terminal:
            linux.copy_window_size(0, master)
            tty.setraw(0, termios.TCSANOW)  # (TCSAFLUSH, its default, would drop what was typed ahead)
        return _pump(pid, master, signals, relay_input=terminal, watch=watch, copy=copy)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(signals)
        os.close(master)


def _pump(pid: int, master: int, signals: int, *, relay_input: bool, watch: OomWatch | None = None,
          copy: journal.JournalCopy | None = None) -> int:  # fmt: skip
    readers = [master, signals, *([0] if relay_input else [])]
    status: int | None = None
    while True:
        # Once PID 1 has ended (its namespace with it), what is left on the terminal is read out.
        ready, _, odd = select.select([*readers, *(watch.readable if watch else [])], [],
                                      watch.exceptional if watch else [], None if status is None else 0.2)
        if watch is not None and (odd or set(ready) & set(watch.readable)):
            watch.check()
            ready = [fd for fd in ready if fd not in watch.readable]
        if status is not None and not ready:
            return status
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: no slave is open any more
                data = b""
            if data:
                if copy is not None:
                    copy.write(1, data)
                _write_all(1, data)
            else:
                readers.remove(master)
        if 0 in ready:
            data = os.read(0, 65536)
            if data:
                _write_all(master, data)
            else:
                readers.remove(0)
        if signals in ready:
            for signo, code, sender in linux.read_signals(signals):
                if signo == signal.SIGWINCH:
                    linux.copy_window_size(0, master)
                elif status is None and signo != signal.SIGCHLD and code <= 0 and sender != 1:  # as relay_signals
                    try:
                        os.kill(pid, signo)
                    except ProcessLookupError:
                        pass
        if status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw) if os.WIFEXITED(raw) else 128 + os.WTERMSIG(raw)
        if status is not None and master not in readers:
            return status


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:  # a caller's non-blocking file: wait until it takes more
            select.select([], [fd], [])


def spare_from_the_oom_killer() -> str | None:
    """A launcher lives in its container's cgroup while it sets PID 1 up (detached, until PID 1
    has exec'ed and systemd has its READY=1): the OOM killer picks the largest process of a
    cgroup out of memory, and our Python is larger than many payloads, whose first moments run
    beside us. Spared where we may be (oom_score_adj -1000 needs CAP_SYS_RESOURCE); PID 1 sets
    its own back to 0 (contain). Returned: the score we had, to restore (None: unchanged)."""
    try:
        saved = _read_text("/proc/self/oom_score_adj").strip()
        _write_text("/proc/self/oom_score_adj", "-1000")
    except OSError:
        return None  # without CAP_SYS_RESOURCE: the window is the few milliseconds before we go
    return saved


def launch(bundle: str, *, detach: bool, interactive: bool = False, watch: OomWatch | None = None,
           home: dict[frozenset[str], str] | None = None) -> int:  # fmt: skip
    """Start the container of bundle; return the launcher's exit status.

    detach: hand PID 1 to systemd and return at once. Otherwise relay its stdio
    (our stdin only if interactive) and signals until PID 1 exits and return its status;
    with home, in the cgroups of home before PID 1 may exec (the container's limits are its
    payload's alone: our memory is not charged there, nor can the OOM killer choose us), its
    OOM kills in watch."""
    relay = None
    saved = spare_from_the_oom_killer()

    def leave_the_scope() -> None:
        """The foreground's last step before PID 1 may exec its payload: from then on, every OOM
        kill in the scope is counted and none can choose us."""
        if watch is not None:
            watch.arm()  # in the container's scope still: its memory cgroup
        if home is not None:
            move_to(home)
        if saved is not None:
            try:
                _write_text("/proc/self/oom_score_adj", saved)
            except OSError:
                pass  # a score raised needs no privilege: only a /proc gone fails here

    try:
        os.chdir(bundle)
        config = read_config(protocol.CONFIG)
        if not detach:
            passed_fds(config, os.environ)
        relay = make_notify_socket(config) if detach and payload_notifies(config) else None
        pid, console, stdio, pidfd = start(config, bundle, detach=detach, interactive=interactive,
                                           before_go=None if detach else leave_the_scope)  # fmt: skip
    except (LaunchError, OSError, ValueError, KeyError) as exc:
        if relay is not None:
            relay.close()
        code = exc.code if isinstance(exc, LaunchError) else EXIT_SETUP
        message = str(exc) if not isinstance(exc, KeyError) else f"config.json lacks {exc}"
        print(f"sdc: container failed to start: {message}", file=sys.stderr, flush=True)
        _record(bundle, protocol.LAUNCH_ERROR, message)
        return code
    announce(config, "start")
    if detach:
        if console is not None or relay is not None:
            aside = bool(config.get("annotations", {}).get(protocol.MACHINE_ID))
            listener = attach_listener() if console is not None else None
            keep_relays(pidfd, console=console, notify=relay, aside=aside, listener=listener)
        else:
            os.close(pidfd)
        if relay is None:  # else the payload says it, through the relay
            notify("READY=1")
        return 0
    copy = journal.JournalCopy.of(config)
    try:
        if console is not None:
            return relay_console(pid, console, watch, copy=copy)
        attached = config.get("annotations", {}).get(protocol.ATTACH)
        shown = frozenset((1, 2)) if not attached else frozenset(
            n for n, stream in ((1, "stdout"), (2, "stderr")) if stream in str(attached).split(","))
        return relay_stdio(pid, stdio or [-1, -1, -1], watch, copy=copy, shown=shown)
    finally:
        if copy is not None:
            copy.close()


def attach_listener() -> socket.socket | None:
    """The bundle's ATTACH socket (we are in the bundle), root's alone, where `sdc attach` reaches
    the terminal's holder (keep_relays); none where it cannot be made (the terminal is the
    journal's all the same)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        try:
            os.unlink(protocol.ATTACH)
        except FileNotFoundError:
            pass
        sock.bind(protocol.ATTACH)
        os.chmod(protocol.ATTACH, 0o600)
        sock.listen(8)
    except OSError:
        sock.close()
        return None
    return sock


def keep_relays(pidfd: int, *, console: int | None, notify: socket.socket | None, aside: bool = False,
                listener: socket.socket | None = None) -> None:  # fmt: skip
    """The one process a detached container may keep, in its unit, and only when it needs one:
    `sdc-console` holds its terminal (-d -t, and systemd's console) and copies what is written
    there to our stdout, the unit's journal stream; `sdc-notify` (or the console's holder) passes
    what the container says on its notify socket on to systemd, filtered (make_notify_socket).

    A terminal held: as under `docker run -dit`, the container's shell then waits on a terminal
    nobody types on instead of reading the end of /dev/null. The process runs with no
    capability, ignores the unit's SIGTERM (stopping is PID 1's to do) and ends once PID 1 has
    (pidfd), what is left on the terminal read out. aside: for a container that runs
    systemd, in a cgroup of its own below the unit's (cgroup v2's), so that the root of the
    container's delegated subtree holds no process of ours: cgroup v2 lets its systemd give
    controllers to its units only from a cgroup without processes of its own."""
    if console is not None:
        import termios

        attrs = termios.tcgetattr(console)
        attrs[1] &= ~termios.ONLCR  # the journal's lines end in \n, not \r\n
        termios.tcsetattr(console, termios.TCSANOW, attrs)
    if os.fork() != 0:
        close_all([pidfd, *([console] if console is not None else [])])
        for sock in (notify, listener):
            if sock is not None:
                sock.close()
        return
    try:
        os.setsid()
        name = "sdc-console" if console is not None else "sdc-notify"
        if aside:
            _move_aside(name)
        for signo in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signo, signal.SIG_IGN)
        os.chdir("/")
        close_fds(pidfd, *([console] if console is not None else []), *([notify.fileno()] if notify else []),
                  *([listener.fileno()] if listener else []))  # fmt: skip
        with open("/proc/self/comm", "w") as comm:  # as ps and systemctl status show it
            comm.write(name)
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
        linux.set_caps(frozenset())
        _relay_until_gone(pidfd, console, notify, 1, listener)
    finally:
        os._exit(0)


CGROUP_MAX_DEPTH, CGROUP_MAX_DESCENDANTS = 16, 1024  # a booted Debian makes ~60, 5 deep


def bound_cgroup_tree() -> None:
    """A container that runs systemd manages its unit's cgroup subtree (Delegate=yes): cgroup v2's
    cgroup.max.depth and cgroup.max.descendants of our cgroup bound what it makes there; it
    cannot raise them, as files of its cgroup namespace's root (nsdelegate: cgroups(7)). cgroup
    v1's hierarchies have no such bound: on a v1 or hybrid host the name=systemd one has none."""
    ours = own_cgroups().get(UNIFIED, "")
    for top in (CGROUP_ROOT, f"{CGROUP_ROOT}/unified"):
        if os.path.exists(f"{top}/cgroup.controllers") and ours.startswith("/") and ".." not in ours.split("/"):
            path = f"{top}{ours.rstrip('/')}"
            try:
                _write_text(f"{path}/cgroup.max.depth", str(CGROUP_MAX_DEPTH))
                _write_text(f"{path}/cgroup.max.descendants", str(CGROUP_MAX_DESCENDANTS))
            except OSError as exc:
                raise LaunchError(f"cannot bound the container's cgroup tree: {exc.strerror}") from exc
            return


def _move_aside(name: str) -> None:
    """Into the child cgroup name of ours in cgroup v2's hierarchy (on a hybrid host, its unified
    one): made here, removed with the unit's cgroup tree by systemd."""
    ours = own_cgroups().get(UNIFIED, "")
    for top in (CGROUP_ROOT, f"{CGROUP_ROOT}/unified"):
        if os.path.exists(f"{top}/cgroup.controllers") and ours.startswith("/") and ".." not in ours.split("/"):
            path = f"{top}{ours.rstrip('/')}/{name}"
            try:
                os.makedirs(path, exist_ok=True)
                _write_text(f"{path}/cgroup.procs", "0")
            except OSError as exc:
                print(f"sdc: the console stays in the container's cgroup: {exc}", file=sys.stderr, flush=True)
            return


def _relay_until_gone(pidfd: int, console: int | None, notify: socket.socket | None, out: int,
                      listener: socket.socket | None = None) -> None:  # fmt: skip
    """What is written on the console's terminal, to out (and to each `sdc attach`), and the
    container's notifications, to systemd, until the process of pidfd has ended. We hold a slave
    of the terminal of our own: while no process of the container has it open (systemd opens its
    console only to print) the master's reads wait instead of failing. A hangup (a getty's
    vhangup) ends ours too: another is opened at once, as a hangup drops what the master has not
    read yet. An attached client sends b"i" and its input, or b"w" and a window size."""
    readers = [pidfd, *([console] if console is not None else []), *([notify.fileno()] if notify else []),
               *([listener.fileno()] if listener is not None else [])]  # fmt: skip
    relay = NotifyRelay(notify) if notify is not None else None
    clients: dict[int, socket.socket] = {}
    peer = -1
    if console is not None:
        os.set_blocking(console, False)
        peer = linux.open_peer(console)
    while True:
        ready, _, _ = select.select([*readers, *clients], [], [])
        if console in ready and not _read_out(console, out, clients):  # hung up
            os.close(peer)
            peer = linux.open_peer(console)
        if relay is not None and notify is not None and notify.fileno() in ready:
            relay.relay_one()
        if listener is not None and listener.fileno() in ready:
            try:
                fd, _ = listener._accept()  # type: ignore[attr-defined]  # (_socket's: no socket module here)
                client = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, 0, fd)
                client.setblocking(False)
                clients[fd] = client
            except OSError:
                pass
        for fd in [fd for fd in ready if fd in clients]:
            _from_client(clients, fd, console)
        if pidfd in ready:
            if console is not None:
                _read_out(console, out, clients)  # what is left
            for client in clients.values():
                client.close()
            return


def _from_client(clients: dict[int, socket.socket], fd: int, console: int | None) -> None:
    """An attached client's message: its input for the terminal, or its window's size; nothing
    (it went): it is dropped. Input the terminal takes no more of now is lost, never waited for."""
    try:
        message = clients[fd].recv(65536)
    except OSError:
        message = b""
    if not message:
        clients.pop(fd).close()
        return
    if console is None:
        return
    kind, data = message[:1], message[1:]
    try:
        if kind == b"i":
            os.write(console, data)
        elif kind == b"w" and len(data) == 4:
            rows, columns = struct.unpack("HH", data)
            linux.set_window_size(console, rows, columns)
    except OSError:
        pass


def _read_out(master: int, out: int, clients: dict[int, socket.socket] | None = None) -> bool:
    """What master has to read, to out and to each attached client (one that takes no more now
    is dropped); False if the terminal was hung up (EIO)."""
    while True:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        _write_all(out, data)
        for fd, client in list((clients or {}).items()):
            try:
                client.send(data)
            except OSError:
                client.close()
                del clients[fd]  # type: ignore[union-attr]


def register_machine(bundle: str, config: dict, pid: int) -> None:  # type: ignore[type-arg]
    """This run, as systemd-machined's machine (machined.py), PID 1 its leader, its unit the one we
    run in; a refusal is said, never fatal: the container runs all the same."""
    from sdcontainer import machined

    name = os.path.basename(os.path.normpath(bundle))
    try:
        with open(protocol.RECORD, "rb") as f:
            machine_id = bytes.fromhex(str(parse_json_object(f.read().decode(), what=protocol.RECORD)["id"])[:32])
    except (OSError, ValueError, KeyError, LaunchError):
        machine_id = bytes(16)  # machined makes one up
    why = machined.register(machined.machine_name(name), machine_id, pid, os.path.realpath(config["root"]["path"]))
    if why:
        print(f"sdc: container {name} is not a machine for machinectl: {why}", file=sys.stderr, flush=True)


def launch_foreground(sync_fd: int, *, interactive: bool = False) -> int:
    """The foreground launcher: wait in sdc's scope for the bundle, launch it, record its end."""
    # relay_signals reads them with sigwaitinfo: none may be lost before (sdc spawned us with
    # them blocked, and exec keeps the mask, so none was lost since).
    signal.pthread_sigmask(signal.SIG_BLOCK, {*RELAYED, signal.SIGCHLD})
    # sdc's cgroups, ours to return to: read from sdc, which stays there, not from ours, which
    # sdc may have had systemd move into the scope already when a busy host starts us slowly.
    try:
        home = own_cgroups(os.getppid())
    except OSError:  # sdc gone already: what is left of the run stays where we are
        home = own_cgroups()
    # What we import later, imported in sdc's cgroups still: what is allocated there stays
    # charged there (a move takes no charge along), not to the container's limit.
    from sdcontainer import machined  # noqa: F401

    mark("launcher: waiting for the bundle")
    try:
        bundle = receive_bundle(sync_fd)
    except (LaunchError, OSError) as exc:
        print(f"sdc: container failed to start: {exc}", file=sys.stderr, flush=True)
        return EXIT_SETUP
    mark("launcher: in the scope, bundle received")
    unit = own_cgroups().get(SYSTEMDS)  # the scope's, for the cpuset cgroup made at its path
    try:
        held = hold_exit(bundle)  # until its end is recorded: we leave the scope before that
    except OSError as exc:
        print(f"sdc: container failed to start: {exc}", file=sys.stderr, flush=True)
        return EXIT_SETUP
    watch = OomWatch()
    code = launch(bundle, detach=False, interactive=interactive, watch=watch, home=home)
    mark("launcher: PID 1 ended, output relayed")
    watch.check()
    watch.close()
    leave_cpuset_v1(unit)
    oom = watch.killed
    if oom:
        print("sdc: WARNING: " + OOM_WARNING % os.path.basename(os.path.normpath(bundle)), file=sys.stderr)
    result = "oom-kill" if oom else "success" if code == 0 else "exit-code"
    write_state(bundle, protocol.state(exit_code=code, finished=time.time(), result=result, oom_killed=oom))
    os.close(held)
    mark("launcher: end recorded")
    return code


def receive_bundle(fd: int) -> str:
    """The bundle path sdc writes on fd, with a newline, once we are in the container's scope."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            raise LaunchError("sdc gave up before the container's scope was ready")
        data += chunk
    os.close(fd)
    return data[:-1].decode()


def spawn_exec(sync_fd: int) -> int:
    """A fresh launcher for `sdc exec` (`--exec FD`), its interpreter read-only as spawn_foreground's."""
    return _spawn(["--exec", str(sync_fd)], sync_fd)


def spawn_foreground(sync_fd: int, *, interactive: bool = False) -> int:
    """Fork a fresh launcher (`--foreground`) whose interpreter is read-only where it runs; its PID.

    CVE-2019-5736: a container whose command is a script starting
    `#!/proc/self/exe` makes the kernel run, as its interpreter, the binary of
    the process that exec'ed it (here: the host's Python); the script can then
    reopen /proc/self/exe for writing once no process runs that binary. The
    kernel reopens it through the mount it was exec'ed from: exec'ing the
    interpreter through a read-only bind mount, made in a mount namespace of the
    launcher's own, turns that open into EROFS (open(2)). Forked from sdc, the
    launcher would run sdc's own, writable, interpreter: hence a fresh one. For a
    service, systemd makes the same mount before the exec (ReadOnlyPaths=)."""
    return _spawn(["--foreground", str(sync_fd), *(["--interactive"] if interactive else [])], sync_fd)


def _spawn(args: list[str], sync_fd: int) -> int:
    exe = os.path.realpath(sys.executable)
    argv = [exe, "-I", "-S", os.path.join(os.path.dirname(os.path.abspath(__file__)), ENTRY), *args]
    pid = os.fork()
    if pid:
        return pid
    try:  # never returns into sdc's stack
        linux.unshare(linux.CLONE_NEWNS)
        # A slave, so that the mount below does not propagate back to the host's namespace.
        linux.mount("none", "/", None, linux.MS_REC | linux.MS_SLAVE)
        linux.mount(exe, exe, None, linux.MS_BIND)
        linux.mount(exe, exe, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
        os.set_inheritable(sync_fd, True)
        os.execv(exe, argv)
    except BaseException as exc:  # noqa: BLE001 - the child must end here, whatever happened
        print(f"sdc: cannot start the launcher: {exc}", file=sys.stderr, flush=True)
    finally:
        os._exit(EXIT_SETUP)


def read_config(path: str) -> dict:  # type: ignore[type-arg]
    """A JSON object from path, as json.load reads it, without importing json (see the imports)."""
    with open(path, encoding="utf-8") as f:
        return parse_json_object(f.read(), what=path)


def parse_json_object(text: str, *, what: str) -> dict:  # type: ignore[type-arg]
    from sdcontainer import jsonscan

    try:
        value = jsonscan.loads(text, constants=False)
    except ValueError:
        raise ValueError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not one JSON object")
    return value


# --- sdc exec: a command in a running container --------------------------------------

ATTACH, ENTERED = b"A", b"P"


def exec_in(sync_fd: int) -> int:
    """--exec FD: run a command in a running container, as `sdc exec` asks on FD (a SEQPACKET
    socket): {"bundle", "pidfd" (of its PID 1, inherited), "process" (args, env, cwd, user), "detach"}.

    The protocol: we say ATTACH once we hold the request, and sdc moves us into the container's
    unit (its cgroups: cgroups.join) and says GO; we enter PID 1's namespaces through its
    pidfd, all at once, and fork into its pid namespace; the child says ENTERED with its PID
    there and waits for GO, then takes the container's user, capabilities, no_new_privs and
    seccomp filter and execs. CVE-2019-5736: until its exec the child is the host's Python, in
    reach of the container's processes; it is not dumpable (set first, before we read anything,
    and kept through the setuid), so none of them can open its /proc/PID/exe, and its
    interpreter is a read-only mount besides (spawn); it holds no fd of the host's but sync."""
    linux.prctl(linux.PR_SET_DUMPABLE, 0)
    sync = socket.socket(fileno=sync_fd)
    try:
        request = parse_json_object(sync.recv(1 << 20).decode(), what="the exec request")
        os.chdir(request["bundle"])
        config = read_config(protocol.CONFIG)
        seccomp = read_seccomp_program(config)
        # PID 1's user, capabilities and the rest; a terminal only if exec asks for one (-t)
        process = {**config["process"], "terminal": False, **request["process"]}
        preload_limits(process)
        flags = 0
        for ns in config["linux"].get("namespaces", []):
            flags |= NAMESPACES[ns["type"]]
        pidfd = int(request["pidfd"])  # sdc's, of PID 1, checked to be in the container's unit
        terminal = bool(process.get("terminal")) and not request.get("detach")
        # Without a terminal, pipes we relay, or (exec -d, as Docker's) nothing but /dev/null: the
        # host's, opened here, before we are in the container, whose /dev/null may be a symlink
        # to /proc/self/fd/2, our caller's terminal, until the exec'ed command's stdio are set.
        interactive = bool(request.get("interactive"))
        their_stdio, our_stdio = (None, None) if terminal else stdio_pipes(interactive=interactive)
        if request.get("detach"):
            close_all([*(their_stdio or []), *(our_stdio or [])])
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            their_stdio, our_stdio = [null, null, null], None
        if terminal:  # now: once in the container's mount namespace, the stdlib is out of reach
            import termios  # noqa: F401
            import tty  # noqa: F401
        sync.send(ATTACH)
        if sync.recv(16) != GO:
            raise LaunchError("sdc went away before the command could start")
        linux.setns(pidfd, flags)  # the user namespace first, the pid namespace for our children
        os.close(pidfd)
        if flags & linux.CLONE_NEWUSER:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
    except (LaunchError, OSError, ValueError, KeyError) as exc:
        message = str(exc) if not isinstance(exc, KeyError) else f"the exec request lacks {exc}"
        print(f"sdc: cannot exec in the container: {message}", file=sys.stderr, flush=True)
        return EXIT_SETUP
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    detach = bool(request.get("detach"))
    # exec -d: the child's word on this pipe if its exec failed; its end closes at the exec (EOF)
    failed_r, failed_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        ours.close()
        close_all([*(our_stdio or []), failed_r])
        _exec_child(sync, process, seccomp, console=theirs if terminal else None, stdio=their_stdio,
                    failed=failed_w if detach else -1)  # fmt: skip
    theirs.close()
    close_all([*(their_stdio or []), failed_w])
    if detach:  # as Docker's exec -d: its output nowhere, but its exec's failure said, with 126/127
        return _exec_outcome(failed_r)
    os.close(failed_r)
    sync.close()
    try:
        _, master = receive_ready(ours) if terminal else (b"", None)  # none if the child failed first
    finally:
        ours.close()
    if master is not None:
        return relay_console(pid, master)
    return relay_stdio(pid, our_stdio or [-1, -1, -1])


def _exec_outcome(failed: int) -> int:
    """What a detached exec's child said before its exec (nothing: it exec'ed): 0, or its code."""
    said = b""
    while chunk := os.read(failed, 4096):
        said += chunk
    os.close(failed)
    if not said:
        return 0
    code_text, _, message = said.decode(errors="replace").partition(" ")
    print(f"sdc: cannot exec in the container: {message}", file=sys.stderr, flush=True)
    return int(code_text) if code_text.isdigit() else EXIT_SETUP


def _exec_child(sync: socket.socket, process: dict, seccomp: bytes | None, *,  # type: ignore[type-arg]
                console: socket.socket | None, stdio: list[int] | None, failed: int) -> NoReturn:  # fmt: skip
    """In the container's namespaces and cgroup: become its process and exec; never returns.
    console: where to send the master of a terminal of its own (exec -t), made here; else the
    process leaves our session (leave_session), its stdio the pipes of stdio, or /dev/null."""
    code = EXIT_SETUP
    try:
        cwd = process.get("cwd", "/")
        if console is None:
            leave_session(stdio)
        linux.join_session_keyring()
        set_process_limits(process)
        drop_privileges(process)
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise LaunchError(f"cannot change to working directory {cwd}: {exc.strerror}") from exc
        if console is not None:  # in the container's devpts, as its user (open_console)
            master = open_console()
            console.sendmsg([READY_TO_EXEC], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", master))])
            os.close(master)
            console.close()
        # Here, as little as the container's own processes, it is still the host's Python: the
        # moment CVE-2019-5736 needs (a test holds it here).
        sync.send(ENTERED + str(os.getpid()).encode())
        if sync.recv(16) != GO:
            raise LaunchError("sdc went away before the command could start")
        sync.close()
        close_fds(*([failed] if failed >= 0 else []))
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if seccomp is not None:
            linux.load_seccomp_filter(seccomp)
        exec_command(process["args"], process.get("env", []))
    except LaunchError as exc:
        message, code = str(exc), exc.code
    except BaseException as exc:  # noqa: BLE001 - the child ends here, whatever happened
        message = f"{type(exc).__name__}: {exc}"
    try:
        print(f"sdc: cannot exec in the container: {message}", file=sys.stderr, flush=True)
        if failed >= 0:  # exec -d: its helper waits for the word (its stderr is /dev/null)
            os.write(failed, f"{code} {message}".encode()[:4000])
    finally:
        os._exit(code)


# --- after the container: its unit's ExecStopPost ---------------------------------


def exit_status_from_environment(environ: dict[str, str]) -> int | None:
    """$EXIT_CODE/$EXIT_STATUS as systemd passes them to ExecStopPost (systemd.exec(5)), shell-style."""
    kind, status = environ.get("EXIT_CODE", ""), environ.get("EXIT_STATUS", "")
    if kind == "exited" and status.isdigit():
        return int(status)
    if kind in ("killed", "dumped") and status.isalnum():
        number = getattr(signal, status if status.startswith("SIG") else f"SIG{status}", None)
        if isinstance(number, int):
            return 128 + number
    return None


def exit_state(environ: dict[str, str]) -> dict[str, object]:
    """How a detached container ended, from what systemd tells its ExecStopPost."""
    # ExecStopPost runs in the container's cgroup: its OOM count is the container's
    # (systemd reports none on cgroup v1).
    return protocol.state(
        exit_code=exit_status_from_environment(environ),
        finished=time.time(),
        result=environ.get("SERVICE_RESULT", ""),
        oom_killed=environ.get("SERVICE_RESULT") == "oom-kill" or linux.own_cgroup_oom_kills() > 0,
    )


def record_exit(bundle: str, environ: dict[str, str]) -> int:
    """Record how a detached container ended, from what systemd tells its ExecStopPost."""
    leave_cpuset_v1()
    state = exit_state(environ)
    if state["oom_killed"]:
        print("sdc: WARNING: " + OOM_WARNING % os.path.basename(os.path.normpath(bundle)), file=sys.stderr)
    write_state(bundle, state)
    return 0


def write_state(bundle: str, state: dict[str, object]) -> None:
    """The bundle's state.json, under the container's record lock alone (never the store's: a pull
    may hold that, and systemd kills an ExecStopPost that waits too long), unless the container
    is gone already (sdc rm -f); and its end said in the journal (an oom, then a die)."""
    fd = lock_record(bundle, protocol.RECORD)
    if fd is None:
        return
    try:
        write_atomically(os.path.join(bundle, protocol.STATE), _json_object(state).encode())
    finally:
        os.close(fd)
    try:
        config = read_config(os.path.join(bundle, protocol.CONFIG))
    except (OSError, ValueError):
        return
    if state.get("oom_killed"):
        announce(config, "oom")
    code = state.get("exit_code")
    announce(config, "die", exitCode=str(code) if code is not None else "")


def announce(config: dict, action: str, **attributes: str) -> None:  # type: ignore[type-arg]
    """An event of the container of config (journal.event), which its annotations name."""
    annotations = config.get("annotations", {})
    container_id, name = annotations.get(protocol.CONTAINER_ID), annotations.get(protocol.CONTAINER_NAME)
    if container_id and name:
        journal.event(action, container_id, name, image=annotations.get(protocol.IMAGE, ""), **attributes)


def _json_object(fields: dict[str, object]) -> str:
    """A flat JSON object, as json.dumps writes one, for the types state.json holds."""
    parts = []
    for key, value in fields.items():
        if value is None or isinstance(value, bool):
            text = {None: "null", True: "true", False: "false"}[value]
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            text = _json.encode_basestring_ascii(str(value))
        parts.append(f"{_json.encode_basestring_ascii(key)}: {text}")
    return "{" + ", ".join(parts) + "}\n"


USAGE = ("usage: launcher.py --notify BUNDLE | --foreground FD [--interactive] | --exited [--net-down] BUNDLE"
         " | --exec FD | --net-up BUNDLE | --net-down BUNDLE | --pod-up POD_DIR | --pod-down POD_DIR")


def main(argv: list[str]) -> int:
    mark("launcher: main")
    mode, bundle, sync_fd, interactive, net_down = None, None, -1, False, False
    args = iter(argv)
    try:
        for arg in args:
            if arg == "--interactive":
                interactive = True
            elif arg == "--net-down" and mode == "exited":
                net_down = True  # (its network too: one process at the stop, not two)
            elif arg in ("--notify", "--exited", "--net-up", "--net-down", "--pod-up", "--pod-down"):
                mode = arg[2:]
            elif arg in ("--foreground", "--exec"):
                mode, sync_fd = arg[2:], int(next(args))
            elif arg == "--lock":  # the store's lock, which drop-ins an older sdc wrote still name: unused
                next(args)
            else:
                bundle = arg
    except (StopIteration, ValueError):
        mode = None
    if (mode is None or (bundle is not None) != (mode in ("notify", "exited", "net-up", "net-down", "pod-up",
                                                          "pod-down"))
            or (interactive and mode != "foreground")):  # fmt: skip
        print(USAGE, file=sys.stderr)
        return 2
    if mode == "exited":
        status = record_exit(str(bundle), dict(os.environ))
        if net_down:
            from sdcontainer import netns

            status = netns.main("net-down", str(bundle)) or status
        return status
    if mode in ("net-up", "net-down"):
        from sdcontainer import netns

        return netns.main(mode, str(bundle))
    if mode in ("pod-up", "pod-down"):
        from sdcontainer import podns

        return podns.main(mode, str(bundle))
    if mode == "foreground":
        return launch_foreground(sync_fd, interactive=interactive)
    if mode == "exec":
        return exec_in(sync_fd)
    return launch(str(bundle), detach=True)


def _record(bundle: str, name: str, text: str) -> None:
    """Leave a note in the bundle for sdc, whole or not at all (a launch error is in the journal too)."""
    try:
        write_atomically(os.path.join(bundle, name), (text + "\n").encode())
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            print(f"sdc: cannot record the error: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
