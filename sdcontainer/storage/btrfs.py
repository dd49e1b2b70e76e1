"""btrfs subvolumes and snapshots through ioctls (ioctl_btrfs(2) / linux/btrfs.h).

A snapshot shares every extent with its source, so creating a container costs
the same for a 5 MB image and a 5 GB one.
"""

from __future__ import annotations

import os
import struct
from fcntl import ioctl
from pathlib import Path

from sdcontainer import linux
from sdcontainer.errors import StorageError
from sdcontainer.storage.driver import Driver


def _iow(nr: int, size: int) -> int:
    return (1 << 30) | (size << 16) | (0x94 << 8) | nr


_VOL_ARGS_SIZE = 4096  # struct btrfs_ioctl_vol_args{,_v2}
BTRFS_IOC_SUBVOL_CREATE = _iow(14, _VOL_ARGS_SIZE)
BTRFS_IOC_SNAP_DESTROY = _iow(15, _VOL_ARGS_SIZE)
BTRFS_IOC_SNAP_CREATE_V2 = _iow(23, _VOL_ARGS_SIZE)
BTRFS_IOC_SUBVOL_SETFLAGS = _iow(26, 8)
BTRFS_SUBVOL_RDONLY = 1 << 1
BTRFS_FIRST_FREE_OBJECTID = 256  # the inode number of every subvolume's root


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
    _in_parent(path, "delete subvolume", BTRFS_IOC_SNAP_DESTROY, _vol_args(path.name))


def set_readonly(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, struct.pack("Q", BTRFS_SUBVOL_RDONLY))
    except OSError as exc:
        raise StorageError(f"btrfs: cannot make {path} read-only: {exc.strerror}") from exc
    finally:
        os.close(fd)


def is_btrfs(path: Path) -> bool:
    return linux.filesystem_type(str(path)) == linux.BTRFS_SUPER_MAGIC


class BtrfsDriver(Driver):
    """Layers are read-only subvolumes, each a snapshot of its parent; containers writable snapshots."""

    name = "btrfs"

    def _create_empty(self, path: Path) -> None:
        create_subvolume(path)

    def _clone(self, source: Path, dest: Path) -> None:
        snapshot(source, dest)

    def _seal(self, path: Path) -> None:
        set_readonly(path)

    def reclaim_space(self) -> None:
        """btrfs frees a deleted subvolume's extents later, in its cleaner thread: a store just
        filled stays full until then. Wait for it (btrfs-subvolume(8) sync), on this rare path."""
        from sdcontainer.run import run

        # Commit first: the cleaner runs after a commit, which would otherwise come within 30 s.
        run(["btrfs", "filesystem", "sync", str(self.area)])
        run(["btrfs", "subvolume", "sync", str(self.area)])

    def _destroy(self, path: Path) -> None:
        if path.stat().st_ino == BTRFS_FIRST_FREE_OBJECTID:
            delete_subvolume(path)
        else:  # a plain directory left by an interrupted run
            import shutil

            shutil.rmtree(path)
