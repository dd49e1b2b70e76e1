"""The loopback btrfs pool: a file on the store's own file system, its space reserved.

A sparse pool file costs only what is written, until the file system under it fills: then the
loop device fails the pool's writes with EIO, btrfs aborts its transaction and forces itself
read-only, and every container breaks until a remount. So the pool's blocks are allocated when
the pool is made or grows (fallocate(2)), and it is mounted without `discard` (which would punch
them out again): a container that fills it gets ENOSPC from btrfs, and nothing else breaks.

Its size is what it was given (SDC_POOL_SIZE), or half the room on the file system under it, at
most START; reserve() of that file system is always left to the host. Each command that opens the
store grows the pool when its free space is short (below GROW_BELOW of its size, or MIN_FREE) and
stays so once what was deleted is freed (the driver's reclaim_space): it doubles, within the room
there is (the file's new blocks allocated, the loop device told its capacity, btrfs resized).
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from sdcontainer import linux
from sdcontainer.errors import StoreFull
from sdcontainer.log import get_logger
from sdcontainer.paths import Paths

log = get_logger(__name__)

START = 8 << 30  # a new pool's size at most, unless SDC_POOL_SIZE says
MIN_POOL = 256 << 20  # mkfs.btrfs makes nothing much smaller
GROW_BELOW, MIN_FREE = 0.25, 1 << 30
STEP_MIN = 64 << 20  # no growth by less
# nosuid, nodev: a setuid file or a device node of an image or a container is nothing on the
# host's side (the launcher lifts both on a container's own root mount, where they keep their
# meaning). nodiscard: a discard punches a hole in the pool's file, and its reservation with it.
POOL_OPTIONS = "loop,nodiscard,noatime,nosuid,nodev"
LOOP_SET_CAPACITY = 0x4C07  # <linux/loop.h>
PRIVATE = 0o700


def reserve(total: int) -> int:
    """What the pool leaves free of a file system of total bytes: 5%, at most 2 GiB."""
    return min(total // 20, 2 << 30)


def room(directory: Path) -> tuple[int, int]:
    """(bytes a pool may take of the file system under directory, that file system's size)."""
    st = os.statvfs(directory)
    total = st.f_blocks * st.f_frsize
    return max(0, st.f_bavail * st.f_frsize - reserve(total)), total


def first_size(directory: Path, requested: int | None) -> int:
    """A new pool's size: requested, or half the room under directory, at most START."""
    available, _ = room(directory)
    size = requested if requested is not None else max(MIN_POOL, min(START, available // 2))
    if size > available:
        raise StoreFull(f"no room for the store's btrfs pool: {size >> 20} MiB asked, {available >> 20} MiB free "
                        f"on the file system of {directory} (some is kept for the host)",
                        hint="free space there, set SDC_POOL_SIZE lower, or put --root on btrfs")  # fmt: skip
    return size


def allocate(path: Path, offset: int, length: int) -> None:
    """The blocks of path's bytes from offset, allocated now (posix_fallocate(3)): what the pool
    writes there later cannot fail for want of space below it."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.posix_fallocate(fd, offset, length)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreFull(f"no room for {length >> 20} MiB of the store's pool on the file system of {path.parent}",
                            hint="free space there, or set SDC_POOL_SIZE lower") from None  # fmt: skip
        raise
    finally:
        os.close(fd)


def make_pool(paths: Paths, size: int) -> None:
    """Create the pool's file, its blocks allocated, format it btrfs and mount it; undo all of it
    on failure."""
    log.info("creating a %d MiB btrfs pool at %s", size >> 20, paths.pool_image)
    paths.storage.mkdir(parents=True, exist_ok=True)
    try:
        with open(paths.pool_image, "xb") as f:
            f.truncate(size)
        allocate(paths.pool_image, 0, size)
        _run(["mkfs.btrfs", "-q", "-L", "sdc", str(paths.pool_image)])
        mount_pool(paths)
    except BaseException:
        with contextlib.suppress(OSError):
            if linux.is_mountpoint(str(paths.storage)):
                linux.umount(str(paths.storage))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.pool_image)
        raise


def mount_pool(paths: Paths) -> None:
    """Mount the pool (mount(8) sets the loop device up with autoclear: unmounting frees it). A pool
    an older sdc made sparse has its blocks allocated now, where there is room."""
    paths.storage.mkdir(mode=PRIVATE, parents=True, exist_ok=True)
    st = paths.pool_image.stat()
    if st.st_blocks * 512 < st.st_size:
        try:
            allocate(paths.pool_image, 0, st.st_size)
        except StoreFull:
            log.warning("the store's pool %s is sparse, and the file system under it has no room to reserve its "
                        "%d MiB: should that file system fill, the pool turns read-only", paths.pool_image,
                        st.st_size >> 20)  # fmt: skip
    _run(["mount", "-o", POOL_OPTIONS, str(paths.pool_image), str(paths.storage)])


def seal_pool_mount(paths: Paths) -> None:
    """A pool an older sdc mounted without nosuid and nodev: set them on the mount (mount(2): a
    bind remount changes only the mount's own flags)."""
    flags = linux.MS_REMOUNT | linux.MS_BIND | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOATIME
    linux.mount("none", str(paths.storage), None, flags)


def short(paths: Paths) -> bool:
    """Whether the pool's free space is short (one statvfs(2))."""
    st = os.statvfs(paths.storage)
    return st.f_bavail * st.f_frsize < min(GROW_BELOW * st.f_blocks * st.f_frsize, MIN_FREE)


def grow(paths: Paths) -> None:
    """Double the pool, within the room below it (or as much of it as there is). A growth an
    earlier command began (the file longer than the loop device or the file system) is finished
    first, and is all there is to do if that was enough: a failure half way never makes the next
    command allocate again."""
    device = _loop_device(paths)
    _take_the_files_size(paths, device)
    if not short(paths):
        return
    available, _ = room(paths.root)
    old = paths.pool_image.stat().st_size
    step = min(old, available)
    if step < STEP_MIN:
        return  # nowhere to grow: the pool is as large as the host lets it be
    log.info("growing the store's pool by %d MiB", step >> 20)
    allocate(paths.pool_image, old, step)
    _take_the_files_size(paths, device)


def _take_the_files_size(paths: Paths, device: str) -> None:
    """The loop device, then btrfs, as large as the pool's file (LOOP_SET_CAPACITY; btrfs resize)."""
    from fcntl import ioctl

    fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    try:
        ioctl(fd, LOOP_SET_CAPACITY, 0)
    finally:
        os.close(fd)
    _run(["btrfs", "filesystem", "resize", "max", str(paths.storage)])


def _loop_device(paths: Paths) -> str:
    """The loop device the pool is mounted from (/proc/self/mountinfo's source, the store's path
    as the kernel has it: its links resolved, its spaces escaped)."""
    device = linux.mount_source(str(paths.storage))
    if device is None or not device.startswith("/dev/loop"):
        raise StoreFull(f"the store's pool is not mounted at {paths.storage} from a loop device",
                        hint="run any sdc command to mount it")  # fmt: skip
    return device


def _run(argv: list[str]) -> None:
    # subprocess only when a pool is made, mounted or grown, not on every command that opens the store
    from sdcontainer.run import run

    run(argv)
