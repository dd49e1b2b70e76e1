"""Images: import a rootfs tarball, list, remove."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from sdcontainer import containers, records
from sdcontainer.api.context import Context
from sdcontainer.errors import Conflict

# tar, hashing and the storage layer: only for the commands that need them
if TYPE_CHECKING:
    from sdcontainer.images import Image


def import_image(ctx: Context, stream: BinaryIO, ref: str, *, max_size: int | None = None) -> Image:
    """A rootfs tarball as image ref; max_size bounds the apparent size of its files."""
    from sdcontainer import images
    from sdcontainer.images import archive

    images.normalize_reference(ref)  # refuse a bad name before reading anything
    with records.locked(ctx.paths):
        return archive.import_rootfs(ctx.paths, ctx.driver(), stream, ref, max_size=max_size)


def list_images(ctx: Context) -> list[tuple[Image, list[str]]]:
    from sdcontainer import images

    return images.list_images(ctx.paths)


def remove_image(ctx: Context, ref: str, *, force: bool = False) -> str:
    """Untag ref; delete the image once no name and no container refers to it."""
    from sdcontainer import images

    with records.locked(ctx.paths):
        image = images.find_image(ctx.paths, ref)
        names = [r for r, iid in images.read_repositories(ctx.paths).items() if iid == image.id]
        name = images.as_reference(ref)
        if name in names and len(names) > 1:
            images.untag_image(ctx.paths, ref)
            return f"Untagged: {'{}:{}'.format(*images.familiar(name))}"
        users = [c.name for c in containers.list_containers(ctx.paths) if c.image_id == image.id]
        if users and not force:
            raise Conflict(
                f"image {ref} is used by container {users[0]}",
                hint=f"remove the container first (`sdc rm {users[0]}`), or use `sdc rmi -f`",
            )
        images.delete_image(ctx.paths, ctx.driver(), image)
        return f"Deleted: {image.id}"
