"""The overlay driver: the aufs of the study, as the kernel has it today.

A layer is a directory of its own changes (`diff/`, in overlayfs' own form: a deleted entry is a
whiteout, a 0/0 character device), with the short names of the layers under it (`lower`). A
container's root is an overlay of its own `upper/` over its image's init layer and layers; the
launcher mounts it inside the container's mount namespace, so the host never holds a mount of
a container and nothing is left to unmount when it ends. Containers of one image read the same
lower files, so they share one page cache of them (btrfs snapshots do not).

A layer is applied through an overlay too: its parent's layers below, an empty upper above, the
extraction writing into the merged tree (where every path check sees what a container would).
What overlayfs leaves in the upper is the layer's diff, whiteouts and all. sdc mounts these
short-lived views under tmp/ on the host; one a killed command left is unmounted with the rest
of tmp/ by the next command (collect_garbage).

Layout of the driver's area, beside the base driver's:
    layers/<id>/diff        the layer's changes
    layers/<id>/lower       the short names of the layers under it, top first
    l/<short>               a symlink to layers/<id>/diff: overlayfs takes its lower directories
                            in one page of mount options, and short names fit ~200 of them
    containers/<id>/upper   the container's changes (work/ beside it, merged/ its mount point)
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sdcontainer import linux
from sdcontainer.digests import Digest
from sdcontainer.errors import StorageError
from sdcontainer.storage.driver import INIT_FILES, Driver, remove_tree

if TYPE_CHECKING:
    from sdcontainer.storage.changes import Change

# The upper directory is read as a plain diff (commit, diff): no redirects, no metacopy, no index.
OPTIONS = "redirect_dir=off,metacopy=off,index=off"
PAGE = 4096  # mount(2) takes one page of options
MAX_LAYERS = 125  # what fits in a page with short names: Docker's limit too


SHORT = 26  # hex digits of a short name


def short_name(layer_id: Digest, *, init: bool = False) -> str:
    """A layer's name in l/ (a link to its diff/), short for mount(2)'s one page of options."""
    import hashlib  # making a layer, not running a container: each layer keeps its own in `link`

    return hashlib.sha256(f"{layer_id}{'-init' if init else ''}".encode()).hexdigest()[:SHORT]


class OverlayDriver(Driver):
    name = "overlay"

    def __init__(self, area: Path) -> None:
        super().__init__(area)
        self.links = area / "l"

    def prepare(self) -> None:
        super().prepare()
        self.links.mkdir(exist_ok=True)

    # --- layers -------------------------------------------------------------
    def lowers(self, layer_id: Digest, *, init: bool = False) -> list[str]:
        """The short names of layer_id and every layer under it, top first."""
        home = self._existing(layer_id, init=init)
        below = _short_names(home / "lower")
        try:
            own = _short_names(home / "link")
        except FileNotFoundError:
            own = [short_name(layer_id, init=init)]
        return [*own, *below]

    def options(self, lowers: list[str], upper: Path | None = None, work: Path | None = None) -> str:
        paths = (None, None) if upper is None or work is None else (str(upper), str(work))
        return mount_options(_checked(lowers), *paths)

    @contextlib.contextmanager
    def _mounted(self, target: Path, options: str, *, readonly: bool = False) -> Iterator[Path]:
        """An overlay at target, its lower directories named relative to l/, until the block ends."""
        here = os.open(".", os.O_PATH | os.O_CLOEXEC)
        try:
            os.chdir(self.links)
            linux.mount("overlay", str(target), "overlay", linux.MS_RDONLY if readonly else 0, options)
        except OSError as exc:
            raise StorageError(f"cannot mount an overlay at {target}: {exc.strerror}") from exc
        finally:
            os.fchdir(here)
            os.close(here)
        try:
            yield target
        finally:
            if linux.is_mountpoint(str(target)):  # commit_layer may have unmounted and moved it
                linux.umount(str(target), linux.MNT_DETACH)

    @contextlib.contextmanager
    def make_layer(self, parent: Digest | None) -> Iterator[Path]:
        work = self.tmp / os.urandom(8).hex()
        for d in ("diff", "work", "merged"):
            (work / d).mkdir(parents=True, mode=0o755)
        (work / "lower").write_text(":".join(self.lowers(parent)) if parent else "")
        try:
            if parent is None:  # nothing under it: the extraction writes the diff itself
                yield work / "diff"
            else:
                with self._mounted(work / "merged", self.options(self.lowers(parent), work / "diff", work / "work")):
                    yield work / "merged"
        except BaseException:
            self._destroy(work)
            raise

    def commit_layer(self, work: Path, layer_id: Digest, *, init: bool = False) -> Path:
        dest = self.layer_path(layer_id, init=init)
        layer = work.parent
        if linux.is_mountpoint(str(work)):
            linux.umount(str(work))
        if dest.exists():
            self._destroy(layer)
            return dest
        for d in ("work", "merged"):
            remove_tree(layer / d)
        name = short_name(layer_id, init=init)
        (layer / "link").write_text(name)
        link = self.links / name
        with contextlib.suppress(FileNotFoundError):
            link.unlink()  # one a kill left, or of a layer removed before
        link.symlink_to(Path("..") / "layers" / dest.name / "diff")
        os.rename(layer, dest)  # the layer appears whole, in one step
        return dest

    def _withdraw(self, path: Path) -> None:
        layer = self.layer_of(path.name.removesuffix("-init"))
        if layer is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.links / short_name(layer, init=path.name.endswith("-init"))).unlink()
        super()._withdraw(path)

    @contextlib.contextmanager
    def layer_view(self, layer_id: Digest, *, init: bool = False) -> Iterator[Path]:
        lowers = self.lowers(layer_id, init=init)
        if len(lowers) == 1:  # a bottom layer is its whole tree (and overlayfs wants two lowers)
            yield self._existing(layer_id, init=init) / "diff"
            return
        view = self.tmp / os.urandom(8).hex()
        view.mkdir()
        try:
            with self._mounted(view, self.options(lowers), readonly=True):
                yield view
        finally:
            view.rmdir()

    def layer_files(self, layer_id: Digest) -> Path:
        return self._existing(layer_id) / "diff"

    # --- containers ---------------------------------------------------------
    def container_path(self, container_id: str) -> Path:
        return self.containers / container_id / "merged"

    def make_container_fs(self, container_id: str, layer_id: Digest, owner: tuple[int, int] | None = None) -> Path:
        home = self.containers / container_id
        if home.exists():
            raise StorageError(f"container filesystem {home} exists already")
        self.make_init_layer(layer_id)
        work = self.tmp / os.urandom(8).hex()
        for d in ("upper", "work", "merged"):
            (work / d).mkdir(parents=True, mode=0o755)
        if owner is not None:  # the root directory of the merged tree is the upper's: its root's
            os.chown(work / "upper", *owner)
        (work / "lower").write_text(":".join(self.lowers(layer_id, init=True)))
        os.rename(work, home)
        return home / "merged"

    @contextlib.contextmanager
    def container_files(self, container_id: str) -> Iterator[Path]:
        """Its overlay mounted at merged/ (the launcher mounts its own, inside the container's
        mount namespace, as it runs): what is written there goes to its upper."""
        home = self.containers / container_id
        with self._mounted(home / "merged", self.options(_short_names(home / "lower"), home / "upper", home / "work")):
            yield home / "merged"

    def root_mount(self, container_id: str) -> dict[str, object] | None:
        home = self.containers / container_id
        return {
            "type": "overlay",
            "cwd": str(self.links),
            "lowerdir": _checked(_short_names(home / "lower")),
            "upperdir": str(home / "upper"),
            "workdir": str(home / "work"),
            "options": OPTIONS.split(","),
        }

    @contextlib.contextmanager
    def _frozen(self, container_id: str) -> Iterator[Path]:
        """The container's files, read-only: its upper as the top lower directory.

        The upper of a container in a user namespace holds its files under the host's ids of its
        range (the launcher's overlay, launcher.overlay_tree, writes them as the host sees them):
        read through the reverse of its map, they are the container's own ids again, the ones its
        image's layers and a commit of it have."""
        home = self.containers / container_id
        view = self.tmp / os.urandom(8).hex()
        view.mkdir()
        upper = home / "upper"
        with contextlib.ExitStack() as stack:
            st = upper.stat()
            if st.st_uid or st.st_gid:  # owned by its root: the base of its range
                shifted = linux.clone_tree(str(upper))
                stack.callback(os.close, shifted)
                from sdcontainer.userns import SIZE

                reverse = linux.make_userns(f"{st.st_uid} 0 {SIZE}\n", f"{st.st_gid} 0 {SIZE}\n")
                try:
                    linux.mount_setattr(shifted, linux.MOUNT_ATTR_IDMAP, recursive=False, userns_fd=reverse)
                finally:
                    os.close(reverse)
                upper = Path(f"/proc/self/fd/{shifted}")
            lowers = [str(upper), *_short_names(home / "lower")]
            try:
                with self._mounted(view, self.options(lowers), readonly=True):
                    yield view
            finally:
                view.rmdir()

    @contextlib.contextmanager
    def container_changes(self, container_id: str, layer_id: Digest) -> Iterator[tuple[Path, list[Change]]]:
        """What the container changed: the paths in its upper (what it wrote, copied up or whited
        out), classified against its image's init layer as the other drivers' are."""
        from sdcontainer.storage.changes import Tree, changes

        upper = self.containers / container_id / "upper"
        with self._frozen(container_id) as view, self.layer_view(layer_id, init=True) as base:
            candidates, opaque = _upper_paths(upper)
            old = Tree(base)
            try:
                for directory in opaque:  # what the image had under it is hidden now
                    candidates.extend(old.walk(directory))
            finally:
                old.close()
            found = changes(base, view, candidates)
            yield view, [c for c in found if c[1] not in INIT_FILES and not _copied_up_for_ours(upper, base, view, c)]

    def remove_container_fs(self, container_id: str) -> None:
        home = self.containers / container_id
        if home.exists():
            super()._withdraw(home)

    def collect_garbage(self) -> None:
        for entry in os.listdir(self.tmp):  # views and layers a killed command left mounted
            for mounted in (self.tmp / entry, self.tmp / entry / "merged"):
                if linux.is_mountpoint(str(mounted)):
                    linux.umount(str(mounted), linux.MNT_DETACH)
        super().collect_garbage()

    # --- the base driver's primitives ----------------------------------------
    def _create_empty(self, path: Path) -> None:
        path.mkdir(mode=0o755)

    def _clone(self, source: Path, dest: Path) -> None:
        raise AssertionError("the overlay driver stacks layers; it never copies one")

    def _publish(self, work: Path, dest: Path) -> None:
        os.rename(work, dest)

    def _destroy(self, path: Path) -> None:
        remove_tree(path)


def _short_names(record: Path) -> list[str]:
    """The short names a `lower` (or `link`) file lists, each as the store gives them: one edited
    on disk could add mount options with a ',' or name another directory with a '/'."""
    names = [name for name in record.read_text().split(":") if name]
    for name in names:
        if len(name) != SHORT or not set(name) <= set("0123456789abcdef"):
            raise StorageError(f"a layer's lower directories are not the store's: {name[:40]!r}",
                               hint="the store's records are corrupt: remove the image and pull it again")  # fmt: skip
    return names


def _checked(lowers: list[str]) -> list[str]:
    if len(lowers) > MAX_LAYERS:
        raise StorageError(f"the image has {len(lowers)} layers, more than overlayfs can stack ({MAX_LAYERS})",
                           hint="flatten the image, or use the btrfs driver")  # fmt: skip
    return lowers


def mount_options(lowers: list[str], upper: str | None = None, work: str | None = None) -> str:
    """An overlay's mount(2) options (one page at most: name the lower directories short)."""
    text = f"lowerdir={':'.join(lowers)}"
    if upper is not None and work is not None:
        text += f",upperdir={upper},workdir={work}"
    return f"{text},{OPTIONS}"


def _copied_up_for_ours(upper: Path, base: Path, view: Path, change: Change) -> bool:
    """A directory in the upper only because the launcher wrote sdc's own files in it (INIT_FILES,
    bundle.OWN_FILES: /etc), as it was otherwise: no change of the container's."""
    from sdcontainer.storage.changes import Kind, same

    kind, path = change
    ours = {f.rpartition("/")[2] for f in INIT_FILES if f.rpartition("/")[0] == path}
    if kind is not Kind.CHANGED or not ours or not stat.S_ISDIR(os.lstat(upper / path).st_mode):
        return False  # (a link the container made there is not followed on our side)
    if not set(os.listdir(upper / path)) <= ours:
        return False
    return same(os.lstat(base / path), os.lstat(view / path))


def _upper_paths(upper: Path) -> tuple[list[str], list[str]]:
    """The paths in an upper directory, relative to the root, and those of its opaque directories.
    Walked by directory fd (os.fwalk): a running container that swaps a directory for a symlink
    meanwhile leads the walk nowhere else."""
    paths: list[str] = []
    opaque: list[str] = []
    try:
        for top, dirs, files, dirfd in os.fwalk(upper, follow_symlinks=False):  # a symlink is listed, never followed
            rel = os.path.relpath(top, upper)
            prefix = "" if rel == "." else rel + "/"
            paths.extend(prefix + name for name in (*dirs, *files))
            if prefix:
                with contextlib.suppress(OSError):
                    if os.getxattr(dirfd, "trusted.overlay.opaque") == b"y":
                        opaque.append(rel)
    except RecursionError:
        raise StorageError("the container's files are nested too deep to compare",
                           hint="a tree of some thousand directories, one in the other, is more than sdc "
                                "walks") from None  # fmt: skip
    return paths, opaque
