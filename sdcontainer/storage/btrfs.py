"""btrfs subvolumes and snapshots through ioctls (ioctl_btrfs(2) / linux/btrfs.h).

A snapshot shares every extent with its source, so creating a container costs
the same for a 5 MB image and a 5 GB one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
from collections.abc import Iterator
from fcntl import ioctl
from pathlib import Path

from sdcontainer import linux
from sdcontainer.digests import Digest
from sdcontainer.errors import StorageError, StoreFull
from sdcontainer.storage.driver import Driver, remove_tree

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from sdcontainer.storage.changes import Change


def _iow(nr: int, size: int) -> int:
    return (1 << 30) | (size << 16) | (0x94 << 8) | nr


def _iowr(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (0x94 << 8) | nr


_VOL_ARGS_SIZE = 4096  # struct btrfs_ioctl_vol_args{,_v2}, btrfs_ioctl_search_args, btrfs_ioctl_ino_lookup_args
BTRFS_IOC_SUBVOL_CREATE = _iow(14, _VOL_ARGS_SIZE)
BTRFS_IOC_SNAP_DESTROY = _iow(15, _VOL_ARGS_SIZE)
BTRFS_IOC_TREE_SEARCH = _iowr(17, _VOL_ARGS_SIZE)
BTRFS_IOC_INO_LOOKUP = _iowr(18, _VOL_ARGS_SIZE)
BTRFS_IOC_SNAP_CREATE_V2 = _iow(23, _VOL_ARGS_SIZE)
BTRFS_IOC_SNAP_DESTROY_V2 = _iow(63, _VOL_ARGS_SIZE)
BTRFS_IOC_SEND = _iow(38, 72)  # struct btrfs_ioctl_send_args
BTRFS_SEND_FLAG_NO_FILE_DATA = 1
BTRFS_SUBVOL_RDONLY = 1 << 1
BTRFS_SUBVOL_SPEC_BY_ID = 1 << 4
BTRFS_FIRST_FREE_OBJECTID = 256  # the inode number of every subvolume's root
BTRFS_ROOT_TREE_OBJECTID = 1
BTRFS_ROOT_REF_KEY = 156  # in the root tree: (parent id, ROOT_REF, child id) for each nested subvolume
_U64_MAX = 2**64 - 1
BTRFS_EMPTY_SUBVOL_DIR_OBJECTID = 2  # what a snapshot shows where a nested subvolume was


def _vol_args(name: str) -> bytes:
    return struct.pack("q4088s", 0, name.encode())


def _snap_args(source_fd: int, name: str, flags: int) -> bytes:
    # fd, transid, flags, 32 bytes of union (size, qgroup_inherit), name[4040]
    return struct.pack("qQQ32x4040s", source_fd, 0, flags, name.encode())


def _in_parent(path: Path, what: str, request: int, args: bytes) -> None:
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ioctl(fd, request, bytearray(args))  # a mutable buffer: fcntl caps immutable ones at 1 KiB
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreFull(f"the store is full: btrfs cannot {what} {path.name}",
                            hint="free space with `sdc rm`, `sdc rmi` and `sdc image prune`") from exc  # fmt: skip
        raise StorageError(f"btrfs: cannot {what} {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def create_subvolume(path: Path) -> None:
    _in_parent(path, "create subvolume", BTRFS_IOC_SUBVOL_CREATE, _vol_args(path.name))


def snapshot(source: Path, dest: Path, *, readonly: bool = False) -> None:
    src = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        args = _snap_args(src, dest.name, BTRFS_SUBVOL_RDONLY if readonly else 0)
        _in_parent(dest, "snapshot into", BTRFS_IOC_SNAP_CREATE_V2, args)
    finally:
        os.close(src)


def delete_subvolume(path: Path) -> None:
    """Delete a subvolume, and first every subvolume nested in it, at any depth: a container can
    make one in its own root (that needs no capability), which a plain delete refuses (ENOTEMPTY)."""
    try:
        _in_parent(path, "delete subvolume", BTRFS_IOC_SNAP_DESTROY, _vol_args(path.name))
        return
    except StorageError as exc:
        if not isinstance(exc.__cause__, OSError) or exc.__cause__.errno != errno.ENOTEMPTY:
            raise
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for nested in _nested_bottom_up(fd, _subvolume_id(fd)):
            _destroy_by_id(fd, nested)
    except OSError as exc:
        raise StorageError(f"btrfs: cannot delete the subvolumes nested in {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    _in_parent(path, "delete subvolume", BTRFS_IOC_SNAP_DESTROY, _vol_args(path.name))


def _subvolume_id(fd: int) -> int:
    """The id of the subvolume fd is in (BTRFS_IOC_INO_LOOKUP of its root, tree 0: fd's own)."""
    args = bytearray(struct.pack("QQ4080x", 0, BTRFS_FIRST_FREE_OBJECTID))
    ioctl(fd, BTRFS_IOC_INO_LOOKUP, args)
    return int(struct.unpack_from("Q", args)[0])


def _children(fd: int, parent: int) -> list[int]:
    """The ids of the subvolumes right inside subvolume parent: its ROOT_REF items in the root tree
    (BTRFS_IOC_TREE_SEARCH; struct btrfs_ioctl_search_key, then headers and items in the buffer)."""
    found: list[int] = []
    min_offset = 0
    while True:
        key = struct.pack(
            "7Q4I4Q", BTRFS_ROOT_TREE_OBJECTID, parent, parent, min_offset, _U64_MAX, 0, _U64_MAX,
            BTRFS_ROOT_REF_KEY, BTRFS_ROOT_REF_KEY, 4096, 0, 0, 0, 0, 0,
        )  # fmt: skip
        args = bytearray(key.ljust(_VOL_ARGS_SIZE, b"\0"))
        ioctl(fd, BTRFS_IOC_TREE_SEARCH, args)
        count = struct.unpack_from("I", args, 64)[0]  # nr_items, as the kernel filled it in
        if count == 0:
            return found
        pos = len(key)
        for _ in range(count):
            _transid, objectid, offset, kind, length = struct.unpack_from("3Q2I", args, pos)
            if objectid == parent and kind == BTRFS_ROOT_REF_KEY:
                found.append(offset)
            pos += 32 + length
        if offset == _U64_MAX:
            return found
        min_offset = offset + 1


def _nested_bottom_up(fd: int, top: int) -> list[int]:
    """Every subvolume nested in top, each before the one it is in."""
    order: list[int] = []
    for child in _children(fd, top):
        order += _nested_bottom_up(fd, child)
        order.append(child)
    return order


def _destroy_by_id(fd: int, subvolume: int) -> None:
    # struct btrfs_ioctl_vol_args_v2: fd, transid, flags, 32 bytes of union, then the id in name's place
    args = struct.pack("qQQ32xQ", 0, 0, BTRFS_SUBVOL_SPEC_BY_ID, subvolume).ljust(_VOL_ARGS_SIZE, b"\0")
    ioctl(fd, BTRFS_IOC_SNAP_DESTROY_V2, bytearray(args))


# The send stream (fs/btrfs/send.h, version 1): a header, then commands of TLV attributes.
_SEND_MAGIC = b"btrfs-stream\0"
_C_SUBVOL, _C_SNAPSHOT, _C_END = 1, 2, 21
_A_PATH, _A_PATH_TO = 15, 16


def sent_paths(parent: Path, snapshot: Path, scratch: Path) -> set[str]:
    """Every path the kernel names in a send stream from parent to snapshot (both read-only):
    what was made, written, renamed, linked, removed, or had its owner, mode, times or xattrs
    set, with no file data. btrfs compares the two trees and skips what they share, so this
    costs what changed. Names are relative to the root; some are send's temporary names
    (o<ino>-<gen>-<seq>), which are in neither tree. scratch: a directory on the same btrfs."""
    parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    snap_fd = os.open(snapshot, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    out = os.open(scratch, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        args = struct.pack("qQQQQI28x", out, 0, 0, _subvolume_id(parent_fd), BTRFS_SEND_FLAG_NO_FILE_DATA, 0)
        ioctl(snap_fd, BTRFS_IOC_SEND, bytearray(args))
        size = os.lseek(out, 0, os.SEEK_END)
        stream = os.pread(out, size, 0)
    except OSError as exc:
        raise StorageError(f"btrfs: cannot compare {snapshot} with {parent}: {exc.strerror}") from exc
    finally:
        for fd in (parent_fd, snap_fd, out):
            os.close(fd)
    return _parse_send(stream)


def _parse_send(stream: bytes) -> set[str]:
    if not stream.startswith(_SEND_MAGIC):
        raise StorageError("btrfs: the send stream has no header")
    paths: set[str] = set()
    pos = len(_SEND_MAGIC) + 4  # the magic, then the version (le32)
    while pos + 10 <= len(stream):
        length, command, _crc = struct.unpack_from("<IHI", stream, pos)
        body = stream[pos + 10 : pos + 10 + length]
        pos += 10 + length
        if command in (_C_SUBVOL, _C_SNAPSHOT, _C_END):  # their PATH names the subvolume, not a file
            continue
        at = 0
        while at + 4 <= len(body):
            kind, size = struct.unpack_from("<HH", body, at)
            if kind in (_A_PATH, _A_PATH_TO):
                paths.add(body[at + 4 : at + 4 + size].decode("utf-8", "surrogateescape"))
            at += 4 + size
    return paths


def is_btrfs(path: Path) -> bool:
    return linux.filesystem_type(str(path)) == linux.BTRFS_SUPER_MAGIC


class BtrfsDriver(Driver):
    """Layers are read-only subvolumes, each a snapshot of its parent; containers writable snapshots."""

    name = "btrfs"

    def _create_empty(self, path: Path) -> None:
        create_subvolume(path)

    def _clone(self, source: Path, dest: Path) -> None:
        snapshot(source, dest)

    def _publish(self, work: Path, dest: Path) -> None:
        # A read-only snapshot appears at dest sealed, in one ioctl (a read-only subvolume cannot
        # be renamed: EROFS); the writable original goes.
        snapshot(work, dest, readonly=True)
        self._destroy(work)

    def _withdraw(self, path: Path) -> None:
        self._destroy(path)  # one ioctl: the subvolume is gone from its directory at once

    def reclaim_space(self) -> None:
        """btrfs frees a deleted subvolume's extents later, in its cleaner thread: a store just
        filled stays full until then. Wait for it (btrfs-subvolume(8) sync), on this rare path."""
        from sdcontainer.run import run

        # Commit first: the cleaner runs after a commit, which would otherwise come within 30 s.
        run(["btrfs", "filesystem", "sync", str(self.area)])
        run(["btrfs", "subvolume", "sync", str(self.area)])

    @contextlib.contextmanager
    def _frozen(self, container_id: str) -> Iterator[Path]:
        """A read-only snapshot: the container's files at one instant, however it goes on writing."""
        view = self.tmp / os.urandom(8).hex()
        snapshot(self.container_path(container_id), view, readonly=True)
        try:
            yield view
        finally:
            self._destroy(view)

    def unseen_subvolumes(self, view: Path, found: list[Change]) -> list[str]:
        """A subvolume the container made (no capability needs it) is, in the snapshot that view
        is, an empty directory of inode 2 (BTRFS_EMPTY_SUBVOL_DIR_OBJECTID): a snapshot does not
        recurse into the subvolumes nested in it. Its files are in no diff and no commit."""
        unseen = []
        for _, path in found:
            with contextlib.suppress(OSError):
                st = os.lstat(view / path)
                if st.st_ino == BTRFS_EMPTY_SUBVOL_DIR_OBJECTID and stat.S_ISDIR(st.st_mode):
                    unseen.append("/" + path)
        return unseen

    def _changed_paths(self, layer_id: Digest, view: Path) -> set[str] | None:
        return sent_paths(self._existing(layer_id, init=True), view, self.tmp)

    def _destroy(self, path: Path) -> None:
        if path.stat().st_ino == BTRFS_FIRST_FREE_OBJECTID:
            delete_subvolume(path)
        else:  # a plain directory left by an interrupted run
            remove_tree(path)
