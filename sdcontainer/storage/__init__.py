"""Choosing and opening the storage driver.

btrfs when the root is on btrfs; otherwise, when the kernel has btrfs, a
loopback btrfs pool of sdc's own (as systemd-machined does for
/var/lib/machines), its space reserved, created and mounted on first use,
mounted again after a reboot and grown as it fills (storage/pool.py); the
copying `vfs` driver as the last resort. The choice is recorded
in storage.json so that a store never changes driver under its layers.
"""

from __future__ import annotations

import os
from pathlib import Path

from sdcontainer import linux
from sdcontainer.errors import StorageError, UsageError
from sdcontainer.log import get_logger
from sdcontainer.paths import STORAGE_DRIVERS, Paths
from sdcontainer.records import read_json, write_json
from sdcontainer.storage import pool
from sdcontainer.storage.btrfs import BtrfsDriver, is_btrfs
from sdcontainer.storage.driver import Driver
from sdcontainer.storage.pool import POOL_OPTIONS, mount_pool, seal_pool_mount

__all__ = ["POOL_OPTIONS", "open_driver"]

log = get_logger(__name__)

DRIVERS = STORAGE_DRIVERS


def kernel_has_btrfs() -> bool:
    with open("/proc/filesystems") as f:
        if any(line.split()[-1] == "btrfs" for line in f if line.strip()):
            return True
    return Path(f"/lib/modules/{os.uname().release}/kernel/fs/btrfs").exists()


def _pool_possible() -> bool:
    import shutil  # once per store, when it is first set up

    return kernel_has_btrfs() and shutil.which("mkfs.btrfs") is not None


def _choose(paths: Paths, requested: str | None) -> dict[str, object]:
    if requested is not None and requested not in DRIVERS:
        raise UsageError(f"unknown storage driver {requested!r}", hint="use btrfs, overlay or vfs")
    if requested == "vfs":
        return {"driver": "vfs", "pool": False}
    paths.root.mkdir(mode=PRIVATE, parents=True, exist_ok=True)
    if requested == "overlay":
        if linux.filesystem_type(str(paths.root)) != linux.OVERLAYFS_SUPER_MAGIC:
            return {"driver": "overlay", "pool": False}
        if not _pool_possible():  # overlayfs cannot take its upper directories on overlayfs
            raise StorageError(f"{paths.root} is on overlayfs, which cannot hold an overlay store, and no btrfs "
                               "pool can be made here", hint="use another --root, or install btrfs-progs")  # fmt: skip
        return {"driver": "overlay", "pool": True}
    if is_btrfs(paths.root):
        return {"driver": "btrfs", "pool": False}
    if _pool_possible():
        return {"driver": "btrfs", "pool": True}
    if requested == "btrfs":
        raise StorageError(
            f"{paths.root} is not on btrfs and no btrfs pool can be made here",
            hint="install btrfs-progs, or use --storage-driver vfs",
        )
    log.warning("btrfs is not available: using the vfs driver, which copies every image")
    return {"driver": "vfs", "pool": False}


def _driver(name: str, storage: Path) -> Driver:
    if name == "vfs":
        from sdcontainer.storage.vfs import VfsDriver  # copies with cp(1): the last resort, loaded as such

        return VfsDriver(storage)
    if name == "overlay":
        from sdcontainer.storage.overlay import OverlayDriver

        return OverlayDriver(storage)
    return BtrfsDriver(storage)


PRIVATE = 0o700  # the store: root's only, as Docker's (no host user may reach a layer or a container)


def make_private(paths: Paths) -> None:
    """The store's root and its driver's area mode 0700, on every command that opens the store:
    a store an older sdc made 0755 is closed too."""
    for path in (paths.root, paths.storage):
        if os.stat(path).st_mode & 0o7777 != PRIVATE:
            os.chmod(path, PRIVATE)


def _pool_size() -> int | None:
    """SDC_POOL_SIZE: a new pool's size (64g, 512m...), else pool.first_size's choice."""
    text = os.environ.get("SDC_POOL_SIZE")
    if not text:
        return None
    from sdcontainer.text import parse_size

    return parse_size(text, flag="SDC_POOL_SIZE")


def open_driver(paths: Paths, requested: str | None = None, *, create: bool = True) -> Driver:
    """The store's driver, ready to use: the pool mounted and the layout made.

    With create=False a store that was never set up is not set up now (read-only commands)."""
    config = read_json(paths.storage_config) if paths.storage_config.exists() else None
    if config is None:
        if not create:
            return _driver(requested or "btrfs", paths.storage)
        config = _choose(paths, requested)
        if config["pool"]:
            from sdcontainer.storage.pool import first_size, make_pool

            make_pool(paths, first_size(paths.root, _pool_size()))
        write_json(paths.storage_config, config)
    elif requested is not None and requested != config["driver"]:
        raise UsageError(
            f"the store at {paths.root} uses the {config['driver']} driver, not {requested}",
            hint="use another --root for another driver",
        )
    if config["pool"]:
        options = linux.mount_options(str(paths.storage))
        if options is None:
            if not paths.pool_image.exists():
                raise StorageError(
                    f"the btrfs pool {paths.pool_image} is missing",
                    hint=f"restore it, or remove {paths.storage_config}",
                )
            mount_pool(paths)
        elif not {"nosuid", "nodev"} <= options:
            seal_pool_mount(paths)
    driver = _driver(str(config["driver"]), paths.storage)
    driver.prepare()
    make_private(paths)
    if config["pool"] and pool.short(paths):
        driver.reclaim_space()  # what a last command deleted may not be free yet (btrfs' cleaner)
        if pool.short(paths):
            pool.grow(paths)
    return driver
