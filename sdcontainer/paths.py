"""Where sdc keeps things. One root (default /var/lib/sdc, or $SDC_ROOT / --root)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/var/lib/sdc")
STORAGE_DRIVERS = ("btrfs", "overlay", "vfs")


def default_root() -> Path:
    return Path(os.environ.get("SDC_ROOT") or DEFAULT_ROOT)


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def lock(self) -> Path:
        return self.root / "lock"

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
    def containers(self) -> Path:
        return self.root / "containers"

    def container(self, name: str) -> Path:
        return self.containers / name

    @property
    def exits(self) -> Path:
        """How removed containers ended, by ID, for a while (containers.EXIT_KEPT): `sdc wait` on
        a --rm container reads it there once the container is gone."""
        return self.root / "exits"
