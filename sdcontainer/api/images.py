"""Images: import a rootfs tarball, list, remove."""

from __future__ import annotations

import contextlib
import errno
import os
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


def load_images(ctx: Context, source: BinaryIO, *, max_size: int | None = None) -> list[tuple[Image, list[str]]]:
    """The images of a docker-archive or an oci-archive, plain or compressed, from a file or a pipe,
    with the names the archive gives them."""
    import tarfile

    from sdcontainer.errors import StoreFull, UsageError
    from sdcontainer.images import archive
    from sdcontainer.layers import DEFAULT_MAX_SIZE, HashingReader, decompressed

    with records.locked(ctx.paths), contextlib.ExitStack() as stack:
        driver = ctx.driver()
        if _plain_file(source):
            seekable = source
        else:  # a pipe, or compressed: one pass into a file of the store's, which a kill leaves nothing of
            seekable = stack.enter_context(driver.spool())
            try:
                reader = decompressed(HashingReader(source))
                while chunk := reader.read(1 << 20):
                    seekable.write(chunk)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StoreFull("the store is full: the archive does not fit", hint="free space first") from exc
                raise UsageError(f"cannot read the archive: {exc}", hint="give a docker or OCI image archive") from exc
            except EOFError as exc:
                raise UsageError("the archive is cut short", hint="save or copy it again") from exc
            seekable.seek(0)
        try:
            tar = stack.enter_context(tarfile.open(fileobj=seekable, mode="r:"))
        except tarfile.TarError as exc:
            raise UsageError(f"not an image archive: {exc}", hint="give a docker-archive or an oci-archive") from exc
        return archive.load(ctx.paths, driver, tar, max_size=max_size or DEFAULT_MAX_SIZE)


def _plain_file(source: BinaryIO) -> bool:
    """A regular file (it can be read in any order), not compressed: read where it is."""
    import stat

    from sdcontainer.layers import BZIP2, GZIP, XZ, ZSTD

    try:
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            return False
        head = os.pread(source.fileno(), 6, 0)
    except (OSError, ValueError, AttributeError):
        return False
    return not head.startswith((GZIP, BZIP2, XZ, ZSTD))
