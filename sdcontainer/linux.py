"""Thin ctypes wrappers for the Linux syscalls sdc needs.

Standard library only: the launcher imports this on every container start.
Every wrapper raises OSError with errno set, like the os module does.
"""

from __future__ import annotations

import _socket  # not socket.py, which imports enum and selectors: the launcher's start-up
import ctypes
import os
import struct
from fcntl import ioctl

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc costs the launcher's start-up a few ms
    from collections.abc import Iterable

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.signalfd.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

# clone(2) flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MNT_DETACH = 0x2

# prctl(2)
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

BTRFS_SUPER_MAGIC = 0x9123683E
OVERLAYFS_SUPER_MAGIC = 0x794C7630
CLONE_PARENT = 0x00008000
_SYS_CLONE = {"x86_64": 56, "aarch64": 220}
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437}
_SYS_CLOSE_RANGE = {"x86_64": 436, "aarch64": 436}
_SYS_MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442}
_SYS_OPEN_TREE = {"x86_64": 428, "aarch64": 428}
_SYS_MOVE_MOUNT = {"x86_64": 429, "aarch64": 429}
_SYS_PIDFD_OPEN = {"x86_64": 434, "aarch64": 434}
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
KEYCTL_JOIN_SESSION_KEYRING = 1
_SYS_FSOPEN = {"x86_64": 430, "aarch64": 430}
_SYS_FSCONFIG = {"x86_64": 431, "aarch64": 431}
_SYS_FSMOUNT = {"x86_64": 432, "aarch64": 432}
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FS_CLOEXEC = 0x1  # FSOPEN_CLOEXEC, FSMOUNT_CLOEXEC
OPEN_TREE_CLONE = 0x1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOUNT_ATTR_IDMAP = 0x100000
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
# mount_setattr(2): a mount's own flags
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def _check(ret: int, what: str) -> None:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _syscall_number(table: dict[str, int]) -> int:
    machine = os.uname().machine
    if machine not in table:
        raise OSError(0, f"unsupported architecture {machine}")
    return table[machine]


def mount(source: str, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None) -> None:
    ret = _libc.mount(
        source.encode(), target.encode(), fstype.encode() if fstype else None, flags, data.encode() if data else None
    )
    _check(ret, f"mount {source} on {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def pidfd_open(pid: int) -> int:
    """An fd of process pid (pidfd_open(2)): it names that process, never one that reuses its PID."""
    ret = _libc.syscall(_syscall_number(_SYS_PIDFD_OPEN), pid, 0)
    _check(ret, f"pidfd_open {pid}")
    return int(ret)


def setns(fd: int, flags: int) -> None:
    """Enter the namespaces flags names of the process pidfd fd is of, all at once (setns(2), 5.8+)."""
    _check(_libc.setns(fd, flags), "setns")


def clone(flags: int) -> int:
    """fork(2) with clone(2) flags: 0 in the child, the child's PID in the parent.

    No new stack and no CLONE_VM, so the child runs on a copy of ours, as
    after fork; the caller must be single-threaded. SIGCHLD goes to the parent
    (with CLONE_PARENT, to our parent)."""
    sigchld = 17
    ret = _libc.syscall(_syscall_number(_SYS_CLONE), ctypes.c_ulong(flags | sigchld), None, None, None, None)
    _check(ret, "clone")
    return int(ret)


def pivot_root(new_root: str, put_old: str) -> None:
    ret = _libc.syscall(_syscall_number(_SYS_PIVOT_ROOT), new_root.encode(), put_old.encode())
    _check(ret, "pivot_root")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> None:
    _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def join_session_keyring() -> None:
    """A new anonymous session keyring (keyctl(2) KEYCTL_JOIN_SESSION_KEYRING with no name), so
    that the caller's, and its keys, are not ours; where keyrings are not built into the kernel,
    there is none to leave."""
    ret = _libc.syscall(_syscall_number(_SYS_KEYCTL), KEYCTL_JOIN_SESSION_KEYRING, None, 0, 0, 0)
    if ret < 0 and ctypes.get_errno() not in (38,):  # ENOSYS: no keyrings at all
        _check(ret, "keyctl(JOIN_SESSION_KEYRING)")


def last_cap() -> int:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


def drop_bounding_caps(keep: frozenset[int]) -> None:
    """Remove every capability not in keep from the bounding set (needs CAP_SETPCAP)."""
    for cap in range(last_cap() + 1):
        if cap not in keep:
            prctl(PR_CAPBSET_DROP, cap)


def set_caps(caps: frozenset[int]) -> None:
    """Set effective, permitted and inheritable sets to caps (capset(2), version 3)."""
    mask = sum(1 << c for c in caps)
    header = struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0)
    low, high = mask & 0xFFFFFFFF, mask >> 32
    data = struct.pack("6I", low, low, low, high, high, high)
    hbuf = ctypes.create_string_buffer(header, len(header))
    dbuf = ctypes.create_string_buffer(data, len(data))
    _check(_libc.syscall(_syscall_number(_SYS_CAPSET), hbuf, dbuf), "capset")
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def close_from(first: int) -> None:
    """Close every fd from first up, however high (close_range(2), Linux 5.9+; before it, each fd
    /proc/self/fd lists)."""
    ret = _libc.syscall(_syscall_number(_SYS_CLOSE_RANGE), ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF), 0)
    if ret == 0:
        return
    if ctypes.get_errno() != 38:  # ENOSYS
        _check(ret, "close_range")
    for name in os.listdir("/proc/self/fd"):
        if int(name) >= first:
            try:
                os.close(int(name))
            except OSError:
                pass  # the fd of the listing itself, closed already


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def open_in_root(root_fd: int, path: str, flags: int) -> int:
    """Open path as the container would, with root_fd as its /: openat2(2) RESOLVE_IN_ROOT resolves
    every symlink and `..` inside it, so no path an image or a container made can lead out."""
    how = _OpenHow(flags | os.O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    ret = _libc.syscall(_syscall_number(_SYS_OPENAT2), root_fd, path.encode("utf-8", "surrogateescape"),
                        ctypes.byref(how), ctypes.sizeof(how))  # fmt: skip
    _check(ret, f"open {path} in the container's root")
    return int(ret)


def open_beneath(dir_fd: int, path: str, flags: int) -> int:
    """Open path below dir_fd in one openat2(2) that follows no symlink, magic link or `..` out
    of it (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): ELOOP where a component is a symlink, ENOENT,
    ENOTDIR as os.open raises them; ENOSYS before Linux 5.6, EAGAIN on a rename racing it."""
    how = _OpenHow(flags | os.O_CLOEXEC, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
    ret = _libc.syscall(_syscall_number(_SYS_OPENAT2), dir_fd, path.encode("utf-8", "surrogateescape"),
                        ctypes.byref(how), ctypes.sizeof(how))  # fmt: skip
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(ret)


MAX_SYMLINKS = 40  # as the kernel's path walk allows


def make_in_root(root_fd: int, path: str, *, directory: bool, owner: tuple[int, int] | None = None) -> int:
    """An O_PATH fd of path as the container will see it, with root_fd as its /, and what is
    missing of it made on the way: directories (0755), its last component a directory or, when
    not directory, an empty file (0644); what is made owned by owner where given.

    The walk is ours, a component at a time from fds, opening none through a symlink (O_NOFOLLOW):
    a symlink's target is put in its place in the rest of the path, an absolute one restarting
    from the root, and `..` stops at the root; what a dangling symlink names is made where it
    points, inside the root (as runc does). No symlink of the tree's can lead the walk, or what
    it makes, outside the root."""
    rest = [p for p in path.split("/") if p not in ("", ".")]
    stack = [os.dup(root_fd)]  # the fds of the path walked so far, the root's first
    links = 0
    try:
        while rest:
            name = rest.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
            except FileNotFoundError:
                if rest or directory:
                    os.mkdir(name, 0o755, dir_fd=stack[-1])
                else:
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                    os.close(os.open(name, flags, 0o644, dir_fd=stack[-1]))
                if owner is not None:
                    os.chown(name, *owner, dir_fd=stack[-1], follow_symlinks=False)
                st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
            if (st.st_mode & 0o170000) == 0o120000:  # S_IFLNK
                links += 1
                if links > MAX_SYMLINKS:
                    raise OSError(40, f"{path}: too many levels of symbolic links")  # ELOOP
                target = os.readlink(name, dir_fd=stack[-1])
                rest[:0] = [p for p in target.split("/") if p not in ("", ".")]
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                continue
            stack.append(os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1]))
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


class _MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]


def mount_setattr(fd: int, attr_set: int, *, recursive: bool, userns_fd: int = 0, attr_clr: int = 0) -> None:
    """Set flags (MOUNT_ATTR_*) on the mount fd is at, and on every mount below it when recursive
    (mount_setattr(2), Linux 5.12+): unlike a MS_REMOUNT, that reaches the mounts under it.
    MOUNT_ATTR_IDMAP: the mount shows its files' owners through userns_fd's maps."""
    attr = _MountAttr(attr_set, attr_clr, 0, userns_fd)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    ret = _libc.syscall(_syscall_number(_SYS_MOUNT_SETATTR), fd, b"", flags, ctypes.byref(attr), ctypes.sizeof(attr))
    _check(ret, "mount_setattr")


def clone_tree(path: str) -> int:
    """A detached copy of the mounts at path and below (open_tree(2), OPEN_TREE_CLONE): an fd
    that move_mount attaches elsewhere, in another mount namespace too."""
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | AT_RECURSIVE
    ret = _libc.syscall(_syscall_number(_SYS_OPEN_TREE), AT_FDCWD, path.encode(), ctypes.c_uint(flags))
    _check(ret, f"open_tree {path}")
    return int(ret)


def move_mount(fd: int, target: str | int) -> None:
    """Attach the detached tree fd is at onto target, a path or an fd of the place (move_mount(2))."""
    if isinstance(target, int):
        to, path, flags = target, b"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH
    else:
        to, path, flags = AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH
    ret = _libc.syscall(_syscall_number(_SYS_MOVE_MOUNT), fd, b"", to, path, ctypes.c_uint(flags))
    _check(ret, f"move_mount onto {target}")


def new_mount(fstype: str, params: list[tuple[str, str | None]]) -> int:
    """A new file system, attached nowhere (fsopen, fsconfig, fsmount: Linux 5.2+): the fd of its
    mount, for move_mount. params: (key, value), or (flag, None). Each value is at most 256 bytes
    (fsconfig(2)); paths in them resolve against the working directory until it returns."""
    context = _libc.syscall(_syscall_number(_SYS_FSOPEN), fstype.encode(), FS_CLOEXEC)
    _check(context, f"fsopen {fstype}")
    try:
        for key, value in params:
            kind = FSCONFIG_SET_FLAG if value is None else FSCONFIG_SET_STRING
            ret = _libc.syscall(_syscall_number(_SYS_FSCONFIG), context, kind, key.encode(),
                                None if value is None else value.encode(), 0)  # fmt: skip
            _check(ret, f"{fstype} option {key}")
        _check(_libc.syscall(_syscall_number(_SYS_FSCONFIG), context, FSCONFIG_CMD_CREATE, None, None, 0),
               f"mount {fstype}")  # fmt: skip
        ret = _libc.syscall(_syscall_number(_SYS_FSMOUNT), context, FS_CLOEXEC, 0)
        _check(ret, f"fsmount {fstype}")
        return int(ret)
    finally:
        os.close(context)


def make_userns(uid_map: str, gid_map: str) -> int:
    """An fd of a new user namespace with these maps (uid_map(5) lines), held by nothing else: for
    idmapped mounts (mount_setattr). Made by a child that unshares and waits for its maps."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(ready_r)
            os.close(done_w)
            unshare(CLONE_NEWUSER)
            os.write(ready_w, b"u")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"u":
            raise OSError(1, "a user namespace: the child could not make one")
        for name, text in (("uid_map", uid_map), ("gid_map", gid_map)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441
TIOCSCTTY = 0x540E
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414


def open_pty(ptmx: str) -> tuple[int, int]:
    """A pseudo-terminal of the devpts ptmx belongs to: (master, slave), neither our controlling
    terminal. The slave is opened from the master (TIOCGPTPEER, Linux 4.13+), never by a path a
    container could have put something else at."""
    master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt(3)
        slave = ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
        if slave < 0:
            raise OSError(ctypes.get_errno(), "TIOCGPTPEER")
        return master, slave
    except BaseException:
        os.close(master)
        raise


def open_peer(master: int) -> int:
    """Another fd of master's slave (TIOCGPTPEER), not made a controlling terminal."""
    fd = ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "TIOCGPTPEER")
    return int(fd)


def set_window_size(fd: int, rows: int, columns: int) -> None:
    ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def copy_window_size(source: int, dest: int) -> None:
    """The terminal size of source, given to the terminal dest (its foreground group gets SIGWINCH)."""
    ioctl(dest, TIOCSWINSZ, ioctl(source, TIOCGWINSZ, b"\0" * 8))


def signalfd(signals: Iterable[int]) -> int:
    """An fd to read the given (blocked) signals from, each as a signalfd_siginfo (signalfd(2))."""
    mask = ctypes.c_uint64(sum(1 << (s - 1) for s in signals))
    ret = _libc.signalfd(-1, ctypes.byref(mask), os.O_CLOEXEC | os.O_NONBLOCK)  # glibc passes the kernel 8 bytes
    _check(ret, "signalfd")
    return int(ret)


def read_signals(fd: int) -> list[tuple[int, int, int]]:
    """(signal, si_code, si_pid) of each signal waiting on a signalfd."""
    try:
        data = os.read(fd, 128 * 16)
    except BlockingIOError:
        return []
    found = []
    for offset in range(0, len(data), 128):
        signo, _, code, pid = struct.unpack_from("IiiI", data, offset)
        found.append((signo, code, pid))
    return found


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]  # struct sock_fprog


def load_seccomp_filter(program: bytes) -> None:
    """Install a classic BPF program (struct sock_filter[]) as this thread's seccomp filter
    (seccomp(2), PR_SET_SECCOMP); needs no_new_privs or CAP_SYS_ADMIN. It stays for good."""
    if not program or len(program) % 8:
        raise OSError(22, "seccomp: not a BPF program")
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))


class _Statfs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 112)]


def filesystem_type(path: str) -> int:
    buf = _Statfs()
    _check(_libc.statfs(path.encode(), ctypes.byref(buf)), f"statfs {path}")
    return int(buf.f_type) & 0xFFFFFFFF


def mount_options(path: str) -> set[str] | None:
    """The per-mount options (ro, nosuid, nodev...) of the mount whose root is path; None if
    path is not a mount point in this mount namespace (proc(5): /proc/self/mountinfo)."""
    real = os.path.realpath(path)
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4].replace("\\040", " ") == real:
                found = set(fields[5].split(","))  # the last one is on top
    return found


def mount_source(path: str) -> str | None:
    """The source (a device, for most) of the mount whose root is path, as mount_options finds it."""
    real = os.path.realpath(path)
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, _, rest = line.partition(" - ")
            if unescape_mountinfo(fields.split()[4]) == real:
                found = unescape_mountinfo(rest.split()[1])
    return found


def unescape_mountinfo(text: str) -> str:
    """A field of /proc/self/mountinfo as it was: the kernel writes space, tab, newline and
    backslash as octal escapes (\\040...)."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1 : i + 4].isdigit():
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def is_mountpoint(path: str) -> bool:
    """True when path is the root of a mount in this mount namespace."""
    return mount_options(path) is not None


def bring_up_loopback() -> None:
    """Set IFF_UP on lo in the current network namespace (netdevice(7))."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", ioctl(s.fileno(), siocgifflags, req))[1]
        ioctl(s.fileno(), siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))
    finally:
        s.close()


def set_mac_address(interface: str, mac: bytes) -> None:
    """The interface's MAC address set (SIOCSIFHWADDR, netdevice(7)): a bridge's so, it is its own
    for good (addr_assign_type 3, NET_ADDR_SET), not its lowest port's, which changes as ports come and go."""
    siocsifhwaddr, arphrd_ether = 0x8924, 1
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        ioctl(s.fileno(), siocsifhwaddr, struct.pack("16sH14s8x", interface.encode(), arphrd_ether, mac))
    finally:
        s.close()


def add_bridge_port(bridge: str, port: str) -> None:
    """port enslaved to bridge (SIOCBRADDIF, as brctl addif does)."""
    siocbraddif = 0x89A2
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        ioctl(s.fileno(), siocbraddif, struct.pack("16si20x", bridge.encode(), _socket.if_nametoindex(port)))
    finally:
        s.close()


def own_cgroup_oom_kills() -> int:
    """How many processes the OOM killer took in this process's memory cgroup.

    cgroup v2: memory.events; v1: memory.oom_control (cgroups(7), memory.txt)."""
    total = 0
    with open("/proc/self/cgroup") as f:
        entries = [line.rstrip("\n").split(":", 2) for line in f]
    for _num, controllers, path in entries:
        if controllers == "":
            candidates = [f"/sys/fs/cgroup{path}/memory.events", f"/sys/fs/cgroup/unified{path}/memory.events"]
        elif "memory" in controllers.split(","):
            candidates = [f"/sys/fs/cgroup/memory{path}/memory.oom_control"]
        else:
            continue
        for candidate in candidates:
            try:
                with open(candidate) as f:
                    for line in f:
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            total = max(total, int(value))
            except OSError:
                continue
    return total
