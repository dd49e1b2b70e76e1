"""What a container changed in its root filesystem, against the layer it was made from.

A change is Docker's: A (added), C (changed), D (deleted), on a path relative to the root.
Which paths to look at comes from the driver: btrfs names them itself (a send stream between
the two subvolumes, storage/btrfs.py), so the cost follows the change, not the image; other
drivers compare the two trees whole. Either way each path is then classified by looking at it
in both trees, through directory fds and never through a symlink: the container wrote the tree,
and a symlink it made must not lead sdc anywhere else.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

from sdcontainer.errors import StorageError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Kind(StrEnum):
    ADDED = "A"
    CHANGED = "C"
    DELETED = "D"


Change = tuple[Kind, str]


class Tree:
    """A root filesystem looked at through an fd of its root, never following a symlink."""

    def __init__(self, root: Path) -> None:
        self.fd = os.open(root, _DIR)

    def close(self) -> None:
        os.close(self.fd)

    @contextlib.contextmanager
    def parent_of(self, path: str) -> Iterator[int | None]:
        """An fd of path's directory, or None where a component is missing, a symlink or no directory."""
        fd = os.dup(self.fd)
        try:
            for part in path.split("/")[:-1]:
                try:
                    nxt = os.open(part, _DIR, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        yield None
                        return
                    raise
                os.close(fd)
                fd = nxt
            yield fd
        finally:
            os.close(fd)

    def lstat(self, path: str) -> os.stat_result | None:
        with self.parent_of(path) as pfd:
            if pfd is None:
                return None
            try:
                return os.stat(path.rsplit("/", 1)[-1], dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                return None

    def walk(self, path: str) -> Iterator[str]:
        """Every path under directory path ("" for the root; not path itself)."""
        with self.parent_of(f"{path}/x" if path else "x") as dfd:
            if dfd is None:
                return
            prefix = f"{path}/" if path else ""
            try:
                for top, dirs, names, _ in os.fwalk(".", dir_fd=dfd, follow_symlinks=False):
                    rel = top[2:]  # after "./"
                    for name in dirs + names:
                        yield f"{prefix}{rel}/{name}" if rel else f"{prefix}{name}"
            except RecursionError:  # (os.fwalk recurses: a container can nest deeper than Python's stack)
                raise StorageError("the container's files are nested too deep to compare",
                                   hint="a tree of some thousand directories, one in the other, is more than sdc "
                                        "walks") from None  # fmt: skip


def _is_dir(st: os.stat_result | None) -> bool:
    return st is not None and stat.S_ISDIR(st.st_mode)


def same(a: os.stat_result, b: os.stat_result, *, exact: bool = False) -> bool:
    """Unchanged, as far as metadata tells (a copying driver keeps owners, modes and mtimes). A
    directory's size says nothing of its entries (its mtime does): overlayfs shows a directory
    copied up with its upper's, although nothing in it was added or removed. exact: its ctime
    too, which every change moves (xattrs, links, contents under an mtime set back) and nothing
    sets back: for two trees that share their unchanged files (snapshots, overlay's lowers)."""
    size = (a.st_size, b.st_size) if not stat.S_ISDIR(a.st_mode) else (0, 0)
    ctime = (a.st_ctime_ns, b.st_ctime_ns) if exact else (0, 0)
    return (a.st_mode, a.st_uid, a.st_gid, size[0], a.st_mtime_ns, a.st_rdev, ctime[0]) == (
        b.st_mode, b.st_uid, b.st_gid, size[1], b.st_mtime_ns, b.st_rdev, ctime[1])  # fmt: skip


def classify(old: Tree, new: Tree, candidates: Iterable[str], *, trusted: bool, exact: bool = False) -> list[Change]:
    """The changes among candidates (paths relative to the root) and, under a directory that is
    new, everything in it. With trusted, a candidate present in both trees changed (the driver
    saw it change); otherwise its metadata must differ."""
    changes: dict[str, Kind] = {}
    for path in sorted(set(candidates)):
        if not path or path in changes:
            continue
        before, after = old.lstat(path), new.lstat(path)
        if after is None:
            parent = path.rpartition("/")[0]
            # one whiteout for a directory gone with everything in it
            if before is not None and (not parent or _is_dir(new.lstat(parent))):
                changes[path] = Kind.DELETED
            continue
        if before is None or (_is_dir(after) and not _is_dir(before)):
            changes[path] = Kind.ADDED if before is None else Kind.CHANGED
            if _is_dir(after):
                changes.update((child, Kind.ADDED) for child in new.walk(path))
        elif trusted or not same(before, after, exact=exact):
            changes[path] = Kind.CHANGED
    return [(kind, path) for path, kind in sorted(changes.items())]


def walk_both(old: Tree, new: Tree) -> Iterator[str]:
    """Every path of both trees: what a driver that cannot tell what changed compares."""
    yield from new.walk("")
    yield from old.walk("")


def changes(old_root: Path, new_root: Path, candidates: Iterable[str] | None, *, exact: bool = False) -> list[Change]:
    """The changes from old_root to new_root, among candidates (None: compare the whole trees;
    exact: by ctime too, see same)."""
    old, new = Tree(old_root), Tree(new_root)
    try:
        if candidates is None:
            return classify(old, new, walk_both(old, new), trusted=False, exact=exact)
        return classify(old, new, candidates, trusted=True)
    finally:
        old.close()
        new.close()
