"""sdc's metadata on disk: atomic JSON files and the store lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sdcontainer import jsonscan
from sdcontainer.errors import StorageError
from sdcontainer.files import StoreLock, write_atomically
from sdcontainer.paths import Paths

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Any


def write_json(path: Path, data: Any) -> None:
    """Write whole or not at all (files.write_atomically); the directory must exist."""
    try:
        write_atomically(os.fspath(path), (jsonscan.dumps(data) + "\n").encode())
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
            raise
        raise StorageError(f"cannot write {path}: {exc.strerror}", hint="free space on its file system") from exc


def read_json(path: Path) -> Any:
    try:
        with open(path) as f:
            return jsonscan.loads(f.read())
    except ValueError as exc:  # (json.JSONDecodeError is one, and so is UnicodeDecodeError)
        raise StorageError(f"corrupt metadata file {path}: {exc}", hint="remove or repair the file") from exc


# The locks of the store, always taken in this order, never the other way round:
#   1. the work lock (paths.work_lock): shared by each command that adds layers while the store
#      is not locked (a pull's downloads and extractions, a load, an import, a commit); exclusive
#      for a command that removes layers (rmi, prune) or clears tmp/ (Context.driver, which only
#      tries: it never waits for it);
#   2. the store's lock (paths.lock): every change to the store's records and layers, each held
#      for a moment (a layer committed, a record written, a container's files made), never
#      across network I/O, a long extraction, or a wait on systemd;
#   3. a container's record lock (files.lock_record): its container.json and state.json, which
#      the launcher writes when the container ends (it takes this lock alone).
# A container's claim (containers.take_name_lock) is never waited for: it is taken or refused.
_held: dict[str, int] = {}  # the locks this process holds (path -> depth): the store's is reentrant


@contextlib.contextmanager
def locked(paths: Paths) -> Iterator[None]:
    """Serialise changes to the store between concurrent sdc commands (flock(2)); reentrant
    within a command (a layer's commit inside an image's load).

    Never held while waiting on systemd: a unit's ExecStopPost runs sdc too."""
    key = os.fspath(paths.lock)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)  # root's only: see storage.make_private
    with StoreLock(key):
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]


def is_locked(paths: Paths) -> bool:
    """This process holds the store's lock."""
    return os.fspath(paths.lock) in _held


@contextlib.contextmanager
def adding(paths: Paths) -> Iterator[None]:
    """Held while a command adds layers outside the store's lock: no layer it builds on or has
    made is removed meanwhile (rmi and prune wait), and nothing of its in tmp/ is cleared.
    Take it before the store's lock, never with it held."""
    with _work_lock(paths, fcntl.LOCK_SH):
        yield


@contextlib.contextmanager
def removing(paths: Paths) -> Iterator[None]:
    """Held while a command removes layers: it waits for the commands adding some (adding) to end."""
    with _work_lock(paths, fcntl.LOCK_EX):
        yield


def removes(paths: Paths) -> bool:
    """This process holds the work lock exclusive (removing)."""
    held = _work.get(os.fspath(paths.work_lock))
    return held is not None and held[1] == fcntl.LOCK_EX


@contextlib.contextmanager
def quiet(paths: Paths) -> Iterator[bool]:
    """Whether no other command adds layers (then tmp/ holds only what interrupted ones left),
    the work lock held exclusive meanwhile if it was free; never waited for."""
    key = os.fspath(paths.work_lock)
    if key in _work:
        yield _work[key][1] == fcntl.LOCK_EX
        return
    fd = os.open(key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        _work[key] = (fd, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            del _work[key]
    finally:
        os.close(fd)


@contextlib.contextmanager
def alone(paths: Paths) -> Iterator[bool]:
    """Within adding: whether this command is the only one adding layers now, its lock made
    exclusive meanwhile (so that it may remove the layers it added and no one else uses: a
    failed pull's). Outside the store's lock, as adding."""
    key = os.fspath(paths.work_lock)
    fd, mode = _work[key]
    if mode == fcntl.LOCK_EX:
        yield True
        return
    if is_locked(paths):
        raise AssertionError("the work lock is taken before the store's lock, never with it held")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        got = True
    except BlockingIOError:
        got = False  # (Linux has dropped our shared lock: a failed conversion does)
    try:
        yield got
    finally:
        fcntl.flock(fd, fcntl.LOCK_SH)


_work: dict[str, tuple[int, int]] = {}  # the work lock this process holds: (its fd, LOCK_SH or LOCK_EX)


@contextlib.contextmanager
def _work_lock(paths: Paths, mode: int) -> Iterator[None]:
    key = os.fspath(paths.work_lock)
    if key in _work:
        if mode == fcntl.LOCK_EX and _work[key][1] != mode:
            raise AssertionError("removing layers within adding some")
        yield  # adding within removing: the exclusive lock covers it
        return
    if is_locked(paths):
        raise AssertionError("the work lock is taken before the store's lock, never with it held")
    paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            from sdcontainer.log import get_logger

            doing = "adding layers" if mode == fcntl.LOCK_EX else "removing layers"
            get_logger(__name__).warning("waiting for another sdc, which is %s", doing)
            fcntl.flock(fd, mode)
        _work[key] = (fd, mode)
        try:
            yield
        finally:
            del _work[key]
    finally:
        os.close(fd)
