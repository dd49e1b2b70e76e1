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


def only_root_may_enter(path: str) -> bool:
    """Whether no host user but root reaches what is under path: a directory on the way to it
    (path itself included, its symlinks resolved) is root's and lets neither its group nor
    others search it. (With an ACL, the group bits are its mask: no named entry searches either.)"""
    current = os.path.realpath(path)
    while True:
        st = os.stat(current)
        if (st.st_mode & 0o170000) == 0o040000 and st.st_uid == 0 and not st.st_mode & 0o011:
            return True
        if current == "/":
            return False
        current = os.path.dirname(current)
