"""What every storage driver does, on top of four primitives it implements.

Layout of the driver's area:
    layers/sha256-<hex>        a read-only layer (by its chain ID): its parent plus the layer's changes
    layers/sha256-<hex>-init   the layer plus the init layer's placeholders (made once)
    containers/<id>    a container's writable root filesystem
    volumes/<name>     a volume's files (a subvolume of its own on btrfs; api/volumes.py)
    tmp/               layers being written; renamed into place when complete
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path

from sdcontainer.digests import Digest, InvalidDigest
from sdcontainer.errors import NotFound, StorageError, StoreFull, UsageError

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import BinaryIO

    from sdcontainer.storage.changes import Change

# <linux/fs.h>: inode flags that make unlink(2) fail even for root
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS = 0x80086601, 0x40086602
FS_IMMUTABLE_FL, FS_APPEND_FL = 0x10, 0x20


def remove_tree(path: Path) -> None:
    """rm -rf that nothing in the tree can stop: an immutable or append-only file, or a directory
    so marked, has the flag cleared (ioctl_iflags(2)) and is removed on a second try."""
    import shutil

    def unblock(func: object, failed: str, exc_info: object) -> None:
        del exc_info
        for candidate in (failed, os.path.dirname(failed)):
            _clear_flags(candidate)
        func(failed)  # type: ignore[operator]  # the same os.unlink/os.rmdir again, now allowed

    shutil.rmtree(path, onerror=unblock)


def _clear_flags(path: str) -> None:
    """(A regular file or directory only, opened through an O_PATH fd once fstat says it is one:
    a device node or FIFO a container left there is never opened, no driver's open runs.)"""
    import stat

    try:
        held = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # gone: nothing to clear
    try:
        mode = os.fstat(held).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return
        fd = os.open(f"/proc/self/fd/{held}", os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return
    finally:
        os.close(held)
    try:
        flags = bytearray(4)
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags)
        value = int.from_bytes(flags, "little")
        if value & (FS_IMMUTABLE_FL | FS_APPEND_FL):
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, (value & ~(FS_IMMUTABLE_FL | FS_APPEND_FL)).to_bytes(4, "little"))
    except OSError:
        pass  # a file system without these flags: nothing was set
    finally:
        os.close(fd)


def check_root_filesystem(root: Path) -> None:
    """Refuse a tree the launcher could not make a container of: where it mounts (/proc, /sys,
    /dev) and binds files (/etc) must be directories, not symlinks; /tmp and /run may be links."""
    for d in INIT_DIRS:
        target = root / d
        mounted_on = d not in ("tmp", "run")
        if (target.is_symlink() and mounted_on) or (target.exists() and not target.is_dir()):
            raise UsageError(f"the image's /{d} is not a directory", hint="the image is not a usable root filesystem")
    for f in INIT_FILES:
        if (root / f).is_dir() and not (root / f).is_symlink():
            raise UsageError(f"the image's /{f} is a directory", hint="the image is not a usable root filesystem")


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
        self.volumes = area / "volumes"
        self.tmp = area / "tmp"

    def prepare(self) -> None:
        for d in (self.layers, self.containers, self.volumes, self.tmp):
            d.mkdir(parents=True, exist_ok=True)

    # --- primitives -------------------------------------------------------
    @abstractmethod
    def _create_empty(self, path: Path) -> None: ...

    @abstractmethod
    def _clone(self, source: Path, dest: Path) -> None:
        """A writable copy (or snapshot) of source at dest."""

    @abstractmethod
    def _publish(self, work: Path, dest: Path) -> None:
        """Make the finished layer at work the sealed layer at dest, in one step: a kill leaves
        dest whole or absent, never writable or half made."""

    @abstractmethod
    def _destroy(self, path: Path) -> None: ...

    def _withdraw(self, path: Path) -> None:
        """Remove a layer in one step as the store sees it: moved into tmp/ first, where a kill
        leaves it to the next command's collect_garbage. Drivers whose removal is atomic override."""
        aside = self.tmp / os.urandom(8).hex()
        os.rename(path, aside)
        self._destroy(aside)

    def reclaim_space(self) -> None:
        """Return the space of what was just destroyed before the next command needs it."""
        return  # a plain directory's space is free once it is removed: drivers that defer it override

    # --- layers -----------------------------------------------------------
    def layer_path(self, layer_id: Digest, *, init: bool = False) -> Path:
        """Where a layer is: named by a Digest alone (digests.py), never by a string from outside.
        init: the image's init layer made on it (make_init_layer)."""
        return self.layers / f"{layer_id.algorithm}-{layer_id.hex}{'-init' if init else ''}"

    @staticmethod
    def layer_of(name: str) -> Digest | None:
        """The layer a directory of layers/ is (layer_path's name), None for an init layer or a
        name the store does not give."""
        algorithm, _, encoded = name.partition("-")
        try:
            return Digest(algorithm, encoded)
        except InvalidDigest:
            return None

    def has_layer(self, layer_id: Digest) -> bool:
        return self.layer_path(layer_id).exists()

    @contextlib.contextmanager
    def make_layer(self, parent: Digest | None) -> Iterator[Path]:
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
        except BaseException as exc:
            self._destroy(work)
            if isinstance(exc, StoreFull):
                self.reclaim_space()
            raise

    def commit_layer(self, work: Path, layer_id: Digest, *, init: bool = False) -> Path:
        """Seal a layer made by make_layer and give it its content address."""
        dest = self.layer_path(layer_id, init=init)
        if dest.exists():  # the same content was stored before
            self._destroy(work)
            return dest
        self._publish(work, dest)
        return dest

    @contextlib.contextmanager
    def layer_view(self, layer_id: Digest, *, init: bool = False) -> Iterator[Path]:
        """The whole tree of a layer (its files and every lower layer's), read-only, to look at."""
        yield self._existing(layer_id, init=init)

    def layer_files(self, layer_id: Digest) -> Path:
        """Where the files the layer's own tarball wrote are found (layers.rebuild_tar)."""
        return self._existing(layer_id)

    def remove_layer(self, layer_id: Digest) -> None:
        for path in (self.layer_path(layer_id, init=True), self.layer_path(layer_id)):
            if path.exists():
                self._withdraw(path)

    def _existing(self, layer_id: Digest, *, init: bool = False) -> Path:
        path = self.layer_path(layer_id, init=init)
        if not path.exists():
            raise NotFound(f"layer {layer_id}{'-init' if init else ''} is missing from the store",
                           hint="pull or import the image again")  # fmt: skip
        return path

    def make_init_layer(self, layer_id: Digest) -> Path:
        """The image's top layer plus the init placeholders; made once per image, at import."""
        init = self.layer_path(layer_id, init=True)
        if init.exists():
            return init
        with self.make_layer(layer_id) as work:
            check_root_filesystem(work)
            try:
                for d in INIT_DIRS:
                    if not (work / d).is_symlink():
                        (work / d).mkdir(mode=0o755, exist_ok=True)
                for f in INIT_FILES:
                    target = work / f
                    if target.is_symlink():  # e.g. resolv.conf -> /run/...: a bind mount would follow it
                        target.unlink()
                    target.touch(mode=0o644)
            except OSError as exc:
                raise StorageError(f"cannot make the image's init layer: {exc.strerror}") from exc
            return self.commit_layer(work, layer_id, init=True)

    def collect_garbage(self) -> None:
        """Remove what an interrupted command left in tmp/. Call with the store locked: every
        command that writes there holds the lock until it has renamed or removed its work."""
        for entry in os.listdir(self.tmp):
            path = self.tmp / entry
            if path.is_dir() and not path.is_symlink():
                self._destroy(path)
            else:
                path.unlink()  # a spooled archive (api.images.load_images)

    def spool(self) -> BinaryIO:
        """A temporary file in tmp/ (on the store's own file system), open for writing and reading,
        gone from the directory at once: nothing is left of it when it is closed or sdc is killed."""
        fd = os.open(self.tmp, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        return os.fdopen(fd, "w+b")

    # --- containers ---------------------------------------------------------
    def container_path(self, container_id: str) -> Path:
        return self.containers / container_id

    def make_container_fs(self, container_id: str, layer_id: Digest, owner: tuple[int, int] | None = None) -> Path:
        """The container's writable files over layer_id's init layer. owner: the host's ids of its
        root, when it has a user namespace (this driver's files keep the image's ids: the launcher
        idmaps the whole root)."""
        del owner
        dest = self.container_path(container_id)
        if dest.exists():
            raise StorageError(f"container filesystem {dest} exists already")
        self._clone(self.make_init_layer(layer_id), dest)
        return dest

    @contextlib.contextmanager
    def container_files(self, container_id: str) -> Iterator[Path]:
        """The container's files, writable from here while the block runs (sdc build's COPY
        writes into them): this driver's are its directory itself."""
        yield self.container_path(container_id)

    def root_mount(self, container_id: str) -> dict[str, object] | None:
        """How the launcher mounts the container's root in its own mount namespace; None: the
        container's directory is its root as it is (bind-mounted)."""
        del container_id
        return None

    @contextlib.contextmanager
    def container_changes(self, container_id: str, layer_id: Digest) -> Iterator[tuple[Path, list[Change]]]:
        """What the container changed against the layer it was made from (the init layer of its
        image's top layer, layer_id): a view of its files to read them from, which stays as it
        is while in use, and the changes (storage/changes.py), the init layer's own files left out."""
        from sdcontainer.storage.changes import changes

        with self._frozen(container_id) as view:
            found = changes(self._existing(layer_id, init=True), view, self._changed_paths(layer_id, view))
            yield view, [c for c in found if c[1] not in INIT_FILES]

    def unseen_subvolumes(self, view: Path, found: list[Change]) -> list[str]:
        """The paths among the changes in view (container_changes) that hold files the view does
        not show: none but where the driver can nest file systems (btrfs)."""
        del view, found
        return []

    @contextlib.contextmanager
    def frozen_view(self, container_id: str) -> Iterator[Path]:
        """The container's files to read (`sdc cp` out of a stopped one, `export`): as _frozen."""
        with self._frozen(container_id) as view:
            yield view

    @contextlib.contextmanager
    def _frozen(self, container_id: str) -> Iterator[Path]:
        """The container's files to compare and read: a driver without snapshots reads them live."""
        yield self.container_path(container_id)

    def _changed_paths(self, layer_id: Digest, view: Path) -> Iterable[str] | None:
        """The paths that may have changed against layer_id's init layer, where the driver can
        tell; None: compare everything."""
        del layer_id, view
        return None

    # --- volumes ---------------------------------------------------------------
    def volume_path(self, name: str) -> Path:
        """Where a volume's files are: name checked by the caller (volumes.check_volume_name)."""
        return self.volumes / name

    def make_volume(self, name: str) -> Path:
        """An empty volume, root's, mode 0755 (as Docker's _data)."""
        path = self.volume_path(name)
        self.volumes.mkdir(exist_ok=True)
        self._create_empty(path)
        path.chmod(0o755)
        return path

    def remove_volume(self, name: str) -> None:
        """Gone in one step as the store sees it (moved into tmp/ first, as a layer is)."""
        path = self.volume_path(name)
        if path.exists() or path.is_symlink():
            self._withdraw(path)

    def remove_container_fs(self, container_id: str) -> None:
        path = self.container_path(container_id)
        if path.exists():
            self._destroy(path)
