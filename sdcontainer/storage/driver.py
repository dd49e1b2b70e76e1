"""What every storage driver does, on top of four primitives it implements.

Layout of the driver's area:
    layers/<id>        a read-only layer: its parent plus the layer's changes
    layers/<id>-init   the layer plus the init layer's placeholders (made once)
    containers/<id>    a container's writable root filesystem
    tmp/               layers being written; renamed into place when complete
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from sdcontainer.errors import NotFound, StorageError

# Files the launcher bind-mounts per container (Docker's "init layer"): the
# placeholders live in a layer under the container's, so `commit` never sees them.
INIT_FILES = ("etc/hostname", "etc/hosts", "etc/resolv.conf")
INIT_DIRS = ("proc", "sys", "dev", "etc", "tmp", "run")


class Driver(ABC):
    name: str

    def __init__(self, area: Path) -> None:
        self.area = area
        self.layers = area / "layers"
        self.containers = area / "containers"
        self.tmp = area / "tmp"

    def prepare(self) -> None:
        for d in (self.layers, self.containers, self.tmp):
            d.mkdir(parents=True, exist_ok=True)

    # --- primitives -------------------------------------------------------
    @abstractmethod
    def _create_empty(self, path: Path) -> None: ...

    @abstractmethod
    def _clone(self, source: Path, dest: Path) -> None:
        """A writable copy (or snapshot) of source at dest."""

    @abstractmethod
    def _seal(self, path: Path) -> None:
        """Make a finished layer read-only."""

    @abstractmethod
    def _destroy(self, path: Path) -> None: ...

    # --- layers -----------------------------------------------------------
    def layer_path(self, layer_id: str) -> Path:
        return self.layers / layer_id.replace(":", "-")

    def has_layer(self, layer_id: str) -> bool:
        return self.layer_path(layer_id).exists()

    @contextlib.contextmanager
    def make_layer(self, parent: str | None) -> Iterator[Path]:
        """A writable directory for a new layer (parent's contents included).

        The caller writes the layer's changes, then calls `commit_layer`; on any
        exception the half-written layer is destroyed."""
        work = self.tmp / os.urandom(8).hex()
        if parent is None:
            self._create_empty(work)
        else:
            self._clone(self._existing(parent), work)
        try:
            yield work
        except BaseException:
            self._destroy(work)
            raise

    def commit_layer(self, work: Path, layer_id: str) -> Path:
        """Seal a layer made by make_layer and give it its content address."""
        dest = self.layer_path(layer_id)
        if dest.exists():  # the same content was stored before
            self._destroy(work)
            return dest
        # Rename first: a read-only subvolume cannot be moved (its ".." would change).
        os.rename(work, dest)
        try:
            self._seal(dest)
        except BaseException:
            self._destroy(dest)
            raise
        return dest

    def remove_layer(self, layer_id: str) -> None:
        for path in (self.layer_path(layer_id + "-init"), self.layer_path(layer_id)):
            if path.exists():
                self._destroy(path)

    def _existing(self, layer_id: str) -> Path:
        path = self.layer_path(layer_id)
        if not path.exists():
            raise NotFound(f"layer {layer_id} is missing from the store", hint="pull or import the image again")
        return path

    def make_init_layer(self, layer_id: str) -> Path:
        """The image's top layer plus the init placeholders; made once per image, at import."""
        init = self.layer_path(layer_id + "-init")
        if init.exists():
            return init
        with self.make_layer(layer_id) as work:
            for d in INIT_DIRS:
                target = work / d
                if target.is_symlink() or (target.exists() and not target.is_dir()):
                    raise StorageError(
                        f"the image's /{d} is not a directory", hint="the image is not a usable root filesystem"
                    )
                target.mkdir(mode=0o755, exist_ok=True)
            for f in INIT_FILES:
                target = work / f
                if target.is_symlink():  # e.g. resolv.conf -> /run/...: a bind mount would follow it
                    target.unlink()
                elif target.is_dir():
                    raise StorageError(
                        f"the image's /{f} is a directory", hint="the image is not a usable root filesystem"
                    )
                target.touch(mode=0o644)
            return self.commit_layer(work, layer_id + "-init")

    # --- containers ---------------------------------------------------------
    def container_path(self, container_id: str) -> Path:
        return self.containers / container_id

    def make_container_fs(self, container_id: str, layer_id: str) -> Path:
        dest = self.container_path(container_id)
        if dest.exists():
            raise StorageError(f"container filesystem {dest} exists already")
        self._clone(self.make_init_layer(layer_id), dest)
        return dest

    def remove_container_fs(self, container_id: str) -> None:
        path = self.container_path(container_id)
        if path.exists():
            self._destroy(path)
