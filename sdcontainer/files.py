"""The two file primitives sdc and the launcher share: a file written whole or not at all,
and the store's lock. os and fcntl only: the launcher imports this on every container start."""

from __future__ import annotations

import fcntl
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType


def write_atomically(path: str, data: bytes) -> None:
    """A temp file beside path, fsync, rename(2): readers see the old file or the new one.

    The directory must exist: a record never brings back a removed container."""
    head, tail = os.path.split(path)
    # A name of our own rather than tempfile's: that module pulls shutil, random and more in.
    tmp = os.path.join(head, f".{tail}.{os.urandom(6).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    finally:
        os.close(fd)


GIVEN_MAX = 16 << 20  # a file a user names for sdc to read (an env file, a profile): more is no such file


def read_given(path: str, limit: int = GIVEN_MAX) -> bytes:
    """A file a user named, whole: a regular file, or a pipe (a shell's <(...), /dev/stdin from
    one). Anything else is refused before it is opened (opening /dev/ptmx makes a terminal,
    reading a tty waits on whoever types): OSError ENODEV; a file over limit bytes, EFBIG."""
    import errno
    import stat

    found = os.stat(path)
    mode = found.st_mode
    if stat.S_ISCHR(mode) and found.st_rdev == os.makedev(1, 3):  # /dev/null: nothing, as a script may mean
        return b""
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "it is a directory")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise OSError(errno.ENODEV, "it is no file, nor a pipe")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"it is larger than {limit >> 20} MiB")
    return data


def remove_partial_writes(directory: str, of: str | None = None) -> None:
    """The temp files of write_atomically that a kill left in directory (never renamed), of
    every file or of the one named `of`. Call with their writers excluded (the store's lock,
    for the store's records)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        stem, dot, suffix = name.rpartition(".")
        if not (name.startswith(".") and dot and len(suffix) == 12 and _is_hex(suffix) and len(stem) > 1):
            continue
        if of is None or stem == f".{of}":
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


RECORD_LOCK = "lock"  # in a container's directory: its record lock (lock_record)
EXIT_LOCK = "exit.lock"  # in a container's directory: held by a foreground launcher (hold_exit)


def lock_record(directory: str, record: str) -> int | None:
    """The lock of a container's records (directory/record and its state.json), held exclusive
    (flock(2)) until the fd returned is closed; None when the container is gone (removed, or its
    removal holds the lock: that removes the record first and this file last, and a lock
    acquired on a file unlinked meanwhile is no lock). Brief: never held across a wait. The file
    is made with the container (make_record_lock)."""
    path = os.path.join(directory, RECORD_LOCK)
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if not os.path.exists(os.path.join(directory, record)):
            return None  # gone, or being removed
        try:  # a container an older sdc made: its first lock
            fd = os.open(path, flags | os.O_CREAT, 0o600)
        except FileNotFoundError:
            return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # unlinked by its removal, which held it; or (an older container's) made as it went
        if os.fstat(fd).st_nlink == 0 or not os.path.exists(os.path.join(directory, record)):
            os.close(fd)
            return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_record_lock(directory: str) -> None:
    """A new container's record lock (lock_record), made before its first record."""
    os.close(os.open(os.path.join(directory, RECORD_LOCK), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def hold_exit(directory: str) -> int:
    """Held by a foreground container's launcher from before its PID 1 runs until its end is
    recorded (or the launcher is gone: the kernel drops a flock with its last fd). The launcher
    is not in the container's scope: the scope can be gone before the record is there, and a
    reader waits for it (await_exit)."""
    fd = os.open(os.path.join(directory, EXIT_LOCK), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def exit_pending(directory: str) -> bool:
    """A foreground launcher is at work in directory (hold_exit): its container runs, or its end
    is being recorded."""
    try:
        fd = os.open(os.path.join(directory, EXIT_LOCK), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def await_exit(directory: str, timeout: float | None) -> None:
    """Until the foreground launcher of the container in directory, if one is at work, has
    recorded how it ended (hold_exit); at most timeout seconds, if given (its launcher may be
    stuck writing to a caller who reads nothing)."""
    import time

    try:
        fd = os.open(os.path.join(directory, EXIT_LOCK), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.02)
    finally:
        os.close(fd)


class StoreLock:
    """Serialises changes to the store between sdc commands and the launcher (flock(2))."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> StoreLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        os.close(self.fd)


def open_private(path: str) -> int | None:
    """An O_PATH fd of path, where no host user but root can reach what is there, nor change the
    way to it; None elsewhere. Every directory from / to it is root's and writable by root alone
    (no one else can rename a directory of the way and put a link or another directory in its
    place), at least one of them searchable by root alone, and no component a symlink (the walk
    opens none); a file has no other name (one link) that might be reachable. (With an ACL, a
    directory's group bits are its mask: no named entry searches or writes either.)"""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    private = False
    try:
        for depth in range(len(parts) + 1):
            if depth:
                following = os.open(parts[depth - 1], os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = following
            st = os.fstat(fd)
            kind = st.st_mode & 0o170000
            if kind == 0o040000:
                if st.st_uid != 0 or st.st_mode & 0o022:
                    return None
                private = private or not st.st_mode & 0o011
            elif not (depth == len(parts) and kind == 0o100000 and st.st_nlink == 1):
                return None  # a symlink, or a file with other names, or on the way
        if not private:
            return None
        found, fd = fd, -1
        return found
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def only_root_may_enter(path: str) -> bool:
    """open_private, as a question."""
    fd = open_private(path)
    if fd is None:
        return False
    os.close(fd)
    return True
