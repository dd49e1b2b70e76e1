"""The layer store: each layer a read-only subvolume (or directory), keyed by its chain ID.

A layer's subvolume is a snapshot of its parent's with the layer's changes applied (the OCI
changeset rules: layers.py), so the one for the top of an image is the whole root filesystem,
and images that share a base share its subvolumes. A chain ID names a layer together with
everything under it (image-spec config.md): the base's is its diff ID, each next one
sha256(parent's chain ID + " " + its diff ID).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sdcontainer.errors import UsageError
from sdcontainer.paths import Paths
from sdcontainer.records import read_json, write_json

if TYPE_CHECKING:
    from sdcontainer.layers import Digests
    from sdcontainer.storage.driver import Driver


def chain_id(parent: str | None, diff_id: str) -> str:
    if parent is None:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def add_layer(
    driver: Driver,
    parent: str | None,
    stream: BinaryIO,
    *,
    max_size: int,
    diff_id: str | None = None,
    blob: str | None = None,
) -> tuple[str, Digests]:
    """Apply a layer tarball on a snapshot of parent's layer; its chain ID and digests. With the
    diff ID it must have, and the digest its bytes must have, a mismatch is an error and nothing
    is kept: the layer is committed only once both are checked. Call with the store locked."""
    from sdcontainer.layers import extract_layer

    with driver.make_layer(parent) as work:
        digests = extract_layer(stream, work, max_size=max_size)
        if blob is not None and digests.blob != blob:
            raise UsageError(f"a layer's bytes are not those its manifest names ({blob[:19]}...)",
                             hint="the image is corrupt, or was tampered with on the way")  # fmt: skip
        if diff_id is not None and digests.diff_id != diff_id:
            raise UsageError(
                f"a layer's content is not what its image says (diff ID {digests.diff_id[:19]}..., expected "
                f"{diff_id[:19]}...)",
                hint="the image is corrupt or was tampered with",
            )
        chain = chain_id(parent, digests.diff_id)
        driver.commit_layer(work, chain)
    return chain, digests


def _record(paths: Paths, chain: str) -> Path:
    return paths.layers / f"{chain.removeprefix('sha256:')}.json"


def record_layer(paths: Paths, chain: str, *, diff_id: str, size: int) -> None:
    """What the store knows of a layer beside its subvolume: its diff ID and its files' size."""
    paths.layers.mkdir(mode=0o700, exist_ok=True)
    write_json(_record(paths, chain), {"diff_id": diff_id, "size": size})


def layer_size(paths: Paths, chain: str) -> int:
    record = _record(paths, chain)
    return int(read_json(record).get("size", 0)) if record.exists() else 0


def forget_layer(paths: Paths, chain: str) -> None:
    _record(paths, chain).unlink(missing_ok=True)
