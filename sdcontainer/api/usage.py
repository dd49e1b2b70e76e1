"""What the store's images, containers and volumes take: `sdc system df` and `ps --size`.

Sizes are apparent sizes (the bytes of the files, as Docker's are), each inode counted once:
- an image's, the sum of its layers' (recorded when each was extracted); images share layers, so
  the images' total counts each layer once, and an image's unique size is its layers no other
  image has;
- a container's, what its writable layer holds: the added and changed files against its image
  (what `sdc diff` finds; a changed file counts whole, as a copy-up would make it);
- a volume's, its files, walked by directory fd, never through a symlink the container made.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sdcontainer import records
from sdcontainer.errors import SdcError
from sdcontainer.record import record

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.containers import Container
    from sdcontainer.digests import Digest
    from sdcontainer.images import Image


@record
class Usage:
    """One line of `system df`: a kind of thing, how many, how many in use, their size, and what
    removing those not in use would free (render.usage_row shows it)."""

    kind: str
    total: int
    active: int
    size: int
    reclaimable: int


def container_size(ctx: Context, container: Container, image: Image | None = None) -> int | None:
    """The bytes container's writable layer holds (module doc); None where it cannot be told now
    (removed meanwhile, its image gone)."""
    from sdcontainer import images
    from sdcontainer.storage.changes import Kind, Tree

    driver = ctx.driver()
    try:
        with records.adding(ctx.paths):  # the view lives in the driver's tmp/, which is not cleared meanwhile
            image = image or images.find_image(ctx.paths, container.image_id)
            with driver.container_changes(container.id, image.top_layer) as (view, found):
                tree = Tree(view)
                try:
                    seen: set[tuple[int, int]] = set()
                    total = 0
                    for kind, path in found:
                        st = tree.lstat(path) if kind is not Kind.DELETED else None
                        if st is None or stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                            continue
                        seen.add((st.st_dev, st.st_ino))
                        total += st.st_size
                    return total
                finally:
                    tree.close()
    except (SdcError, OSError, RecursionError):
        return None


def sizer(ctx: Context) -> Callable[[Container], tuple[int | None, int | None]]:
    """`ps --size`'s: a container's writable layer's size, and that with its image's (Docker's
    virtual size); None where it cannot be told (container_size)."""
    from sdcontainer import images

    found: dict[str, Image | None] = {}

    def sizes(container: Container) -> tuple[int | None, int | None]:
        if container.image_id not in found:
            try:
                found[container.image_id] = images.find_image(ctx.paths, container.image_id)
            except SdcError:
                found[container.image_id] = None
        image = found[container.image_id]
        if image is None:
            return None, None
        rw = container_size(ctx, container, image)
        return rw, None if rw is None else rw + image.size

    return sizes


def tree_size(path: os.PathLike[str] | str) -> int:
    """The apparent size of the files under path, each inode once, walked by directory fd
    (os.fwalk: a directory swapped for a symlink meanwhile is not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    try:
        for _, dirnames, filenames, dirfd in os.fwalk(path, follow_symlinks=False):
            for name in (*dirnames, *filenames):  # (a symlink to a directory is among dirnames, not walked)
                try:
                    st = os.lstat(name, dir_fd=dirfd)
                except OSError:
                    continue
                if not stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_size
    except (OSError, RecursionError):  # (nested too deep for os.fwalk: what was counted)
        pass
    return total


def disk_usage(ctx: Context) -> dict[str, Any]:
    """Images, containers and volumes: each one's size (for -v) and a Usage of each kind."""
    from sdcontainer.api import containers as lifecycle
    from sdcontainer.api import volumes
    from sdcontainer.images import list_images
    from sdcontainer.images.store import layer_size

    listed = lifecycle.status(ctx)
    images = list_images(ctx.paths)
    by_id = {str(image.id): image for image, _ in images}
    used = {s.container.image_id for s in listed}
    layer_bytes = {layer: layer_size(ctx.paths, layer) for image, _ in images for layer in image.layers}
    holders: dict[Digest, int] = {}
    for image, _ in images:
        for layer in set(image.layers):
            holders[layer] = holders.get(layer, 0) + 1
    in_use = {layer for image, _ in images if str(image.id) in used for layer in image.layers}
    image_rows: list[dict[str, Any]] = []
    for image, names in images:
        unique = sum(layer_bytes[layer] for layer in set(image.layers) if holders[layer] == 1)
        total = sum(layer_bytes[layer] for layer in set(image.layers))
        image_rows.append({"image": image, "names": names, "size": total, "shared": total - unique,
                           "unique": unique,
                           "containers": sum(1 for s in listed if s.container.image_id == str(image.id))})  # fmt: skip
    container_rows: list[dict[str, Any]] = [
        {"status": s, "size": container_size(ctx, s.container, by_id.get(s.container.image_id))} for s in listed]
    users = volumes.users(ctx.paths)
    driver = ctx.driver()
    volume_rows: list[dict[str, Any]] = [
        {"name": name, "links": len(users.get(name, [])), "size": tree_size(driver.volume_path(name))}
        for name in volumes.names(ctx.paths)]
    running = [r for r in container_rows if r["status"].state in ("running", "paused", "restarting")]
    return {
        "Images": image_rows,
        "Containers": container_rows,
        "Volumes": volume_rows,
        "Usage": [
            Usage("Images", len(images), sum(1 for r in image_rows if r["containers"]), sum(layer_bytes.values()),
                  sum(n for layer, n in layer_bytes.items() if layer not in in_use)),
            Usage("Containers", len(listed), len(running), sum(r["size"] or 0 for r in container_rows),
                  sum(r["size"] or 0 for r in container_rows if r not in running)),
            Usage("Local Volumes", len(volume_rows), sum(1 for r in volume_rows if r["links"]),
                  sum(r["size"] for r in volume_rows), sum(r["size"] for r in volume_rows if not r["links"])),
        ],
    }  # fmt: skip
