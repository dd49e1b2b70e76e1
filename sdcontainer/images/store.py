"""The layer store: each layer a read-only subvolume (or directory), keyed by its chain ID.

A layer's subvolume is a snapshot of its parent's with the layer's changes applied (the OCI
changeset rules: layers.py), so the one for the top of an image is the whole root filesystem,
and images that share a base share its subvolumes. A chain ID names a layer together with
everything under it (image-spec config.md): the base's is its diff ID, each next one
sha256(parent's chain ID + " " + its diff ID).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, BinaryIO

from sdcontainer.errors import UsageError

if TYPE_CHECKING:
    from sdcontainer.layers import Digests
    from sdcontainer.storage.driver import Driver


def chain_id(parent: str | None, diff_id: str) -> str:
    if parent is None:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def add_layer(
    driver: Driver, parent: str | None, stream: BinaryIO, *, max_size: int, diff_id: str | None = None
) -> tuple[str, Digests]:
    """Apply a layer tarball on a snapshot of parent's layer; its chain ID and digests. With the
    diff ID it must have, a mismatch is an error and nothing is kept. Call with the store locked."""
    from sdcontainer.layers import extract_layer

    with driver.make_layer(parent) as work:
        digests = extract_layer(stream, work, max_size=max_size)
        if diff_id is not None and digests.diff_id != diff_id:
            raise UsageError(
                f"a layer's content is not what its image says (diff ID {digests.diff_id[:19]}..., expected "
                f"{diff_id[:19]}...)",
                hint="the image is corrupt or was tampered with",
            )
        chain = chain_id(parent, digests.diff_id)
        driver.commit_layer(work, chain)
    return chain, digests
