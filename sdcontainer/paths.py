"""Where sdc keeps things. One root (default /var/lib/sdc, or $SDC_ROOT / --root)."""

from __future__ import annotations

import os
from pathlib import Path

from sdcontainer.record import record

DEFAULT_ROOT = Path("/var/lib/sdc")
STORAGE_DRIVERS = ("btrfs", "overlay", "vfs")


def default_root() -> Path:
    return absolute(os.environ.get("SDC_ROOT") or str(DEFAULT_ROOT), "$SDC_ROOT")


def root_of(given: str | None) -> Path:
    """The store's root: --root's, else default_root()."""
    if not given:
        return default_root()
    return absolute(given, "$SDC_ROOT" if given == os.environ.get("SDC_ROOT") else "--root")


def absolute(path: str, what: str) -> Path:
    """path made absolute against the working directory, which may be gone (a shell left in a
    directory since removed): then a relative path is a UsageError, an absolute one fine."""
    try:
        return Path(os.path.abspath(path))
    except FileNotFoundError:
        from sdcontainer.errors import UsageError

        raise UsageError(f"{what} {path!r} is relative, and the working directory is gone",
                         hint="give an absolute path, or cd to a directory that exists") from None  # fmt: skip


@record
class Paths:
    root: Path

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def work_lock(self) -> Path:
        """Shared by the commands that add layers outside the store's lock (records.adding),
        exclusive for those that remove layers or clear tmp/ (records.removing)."""
        return self.root / "work.lock"

    @property
    def storage_config(self) -> Path:
        return self.root / "storage.json"

    @property
    def pool_image(self) -> Path:
        """The loopback btrfs pool, used when the root is not on btrfs."""
        return self.root / "pool.raw"

    @property
    def storage(self) -> Path:
        """The area the storage driver owns (the pool's mount point, if any)."""
        return self.root / "storage"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def layers(self) -> Path:
        """Records of the layers in the store (images/store.py)."""
        return self.root / "layers"

    @property
    def tmp(self) -> Path:
        """Records being written (a layer's tar-split), renamed into place when complete."""
        return self.root / "tmp"

    @property
    def repositories(self) -> Path:
        return self.root / "repositories.json"

    @property
    def networks(self) -> Path:
        """The user's networks' records (network/__init__.py)."""
        return self.root / "networks"

    @property
    def volumes(self) -> Path:
        """The volumes' records (api/volumes.py); their files are the storage driver's."""
        return self.root / "volumes"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    def container(self, name: str) -> Path:
        return self.containers / name

    @property
    def foreign_units(self) -> Path:
        """An empty file for each unit not named by sdc that runs a container (a Quadlet file's),
        named by the unit: what a listing of sdc's units by their names' patterns must take in."""
        return self.root / "units"

    @property
    def exits(self) -> Path:
        """How removed containers ended, by ID, for a while (containers.EXIT_KEPT): `sdc wait` on
        a --rm container reads it there once the container is gone."""
        return self.root / "exits"
