"""The layer store: each layer a read-only subvolume (or directory), keyed by its chain ID.

A layer's subvolume is a snapshot of its parent's with the layer's changes applied (the OCI
changeset rules: layers.py), so the one for the top of an image is the whole root filesystem,
and images that share a base share its subvolumes. A chain ID names a layer together with
everything under it (image-spec config.md): the base's is its diff ID, each next one
sha256(parent's chain ID + " " + its diff ID). Every ID here is a Digest (digests.py), parsed
where it came in: only a Digest names a file of the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sdcontainer.digests import Digest, InvalidDigest
from sdcontainer.errors import UsageError
from sdcontainer.paths import Paths
from sdcontainer.record import record
from sdcontainer.records import read_json, write_json

if TYPE_CHECKING:
    from sdcontainer.layers import Digests
    from sdcontainer.storage.driver import Driver


def chain_id(parent: Digest | None, diff_id: Digest) -> Digest:
    if parent is None:
        return diff_id
    return Digest("sha256", hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest())


def add_layer(
    paths: Paths,
    driver: Driver,
    parent: Digest | None,
    stream: BinaryIO,
    *,
    max_size: int,
    diff_id: Digest | None = None,
    blob: Digest | None = None,
    media_type: str | None = None,
    check: Callable[[Path], None] | None = None,
    spent: int = 0,
) -> tuple[Digest, Digests, bool]:
    """Apply a layer tarball on a snapshot of parent's layer and record it: its chain ID, its
    digests, and whether the store lacked it. With the diff ID it must have, and the digest its
    bytes must have, a mismatch is an error and nothing is kept: the layer is committed only once
    both are checked, and check (given the layer's root) has passed. The layer's tar-split is kept
    beside its record, so that `save` and `push` give the same tar again. Call within
    records.adding, without the store's lock: that is taken for the commit alone. On a later
    failure the caller discards a new layer (discard)."""
    from sdcontainer import records
    from sdcontainer.layers import extract_layer

    paths.layers.mkdir(mode=0o700, exist_ok=True)
    paths.tmp.mkdir(mode=0o700, exist_ok=True)
    partial = paths.tmp / f"{os.urandom(8).hex()}.tar-split.gz"
    with contextlib.ExitStack() as undo:
        split = undo.enter_context(open(partial, "xb"))
        undo.callback(partial.unlink, missing_ok=True)
        with driver.make_layer(parent) as work:
            digests = extract_layer(stream, work, max_size=max_size, split=split, spent=spent)
            if blob is not None and digests.blob != blob:
                raise UsageError(f"a layer's bytes are not those its manifest names ({blob.short}...)",
                                 hint="the image is corrupt, or was tampered with on the way")  # fmt: skip
            if diff_id is not None and digests.diff_id != diff_id:
                raise UsageError(
                    f"a layer's content is not what its image says (diff ID {digests.diff_id.short}..., expected "
                    f"{diff_id.short}...)",
                    hint="the image is corrupt or was tampered with",
                )
            if check is not None:
                check(work)
            chain = chain_id(parent, digests.diff_id)
            split.flush()
            os.fsync(split.fileno())
            split.close()
            with records.locked(paths):
                new = not driver.has_layer(chain)  # (another command may have added it meanwhile)
                # The record and the tar-split first, the layer last: a layer the store shows always
                # has both (a kill between leaves a record of no layer, which the next add rewrites).
                if not split_path(paths, chain).exists():
                    os.rename(partial, split_path(paths, chain))
                blobs = {str(digests.blob): media_type} if media_type and digests.blob != digests.diff_id else {}
                record_layer(paths, chain, diff_id=digests.diff_id, size=digests.size, blobs=blobs)
                driver.commit_layer(work, chain)
    return chain, digests, new


def discard(paths: Paths, driver: Driver, chains: list[Digest]) -> None:
    """The layers a failed command added (add_layer's new ones), removed where no image needs them
    and no other command is adding layers (one may build on them); else left to `image prune`."""
    from sdcontainer import records
    from sdcontainer.errors import SdcError
    from sdcontainer.images import list_images

    if not chains:
        return
    with records.alone(paths) as alone:
        if not alone:
            return
        with records.locked(paths):
            try:
                wanted = {layer for image, _ in list_images(paths, strict=True) for layer in image.layers}
            except SdcError:
                return  # a damaged record may need them
            for chain in chains:
                if chain not in wanted:
                    driver.remove_layer(chain)
                    forget_layer(paths, chain)


def _record(paths: Paths, chain: Digest) -> Path:
    return paths.layers / f"{chain.hex}.json"


def split_path(paths: Paths, chain: Digest) -> Path:
    """The layer's tar-split (layers.TarSplit), where it was made from a tarball."""
    return paths.layers / f"{chain.hex}.tar-split.gz"


def record_layer(paths: Paths, chain: Digest, *, diff_id: Digest, size: int,
                 blobs: dict[str, str] | None = None) -> None:  # fmt: skip
    """What the store knows of a layer beside its subvolume: its diff ID, its files' size, and the
    compressed blobs known to hold it (digest -> media type), which `push` need not upload again."""
    paths.layers.mkdir(mode=0o700, exist_ok=True)
    record = _record(paths, chain)
    known = read_json(record).get("blobs", {}) if record.exists() else {}
    write_json(record, {"diff_id": str(diff_id), "size": size, "blobs": {**known, **(blobs or {})}})


def read_layer(paths: Paths, chain: Digest) -> dict[str, Any]:
    record = _record(paths, chain)
    return read_json(record) if record.exists() else {}


def known_blobs(paths: Paths, chain: Digest) -> dict[Digest, str]:
    """The compressed blobs known to hold the layer (digest -> media type), as its record says:
    a key that is not a digest (a record edited on disk) is left out."""
    found = {}
    for key, media_type in dict(read_layer(paths, chain).get("blobs") or {}).items():
        try:
            found[Digest.parse(key, what="a layer record's blob")] = str(media_type)
        except InvalidDigest:
            continue
    return found


def layer_size(paths: Paths, chain: Digest) -> int:
    return int(read_layer(paths, chain).get("size", 0))


def unreferenced_layers(paths: Paths, driver: Driver) -> list[Digest]:
    """The layers in the store that no image lists. Call with the store locked: a pull or load
    adds its layers before its image, under the lock."""
    from sdcontainer.images import list_images

    wanted = {layer for image, _ in list_images(paths, strict=True) for layer in image.layers}
    found = []
    for entry in os.listdir(driver.layers):
        chain = driver.layer_of(entry)
        if chain is not None and chain not in wanted:
            found.append(chain)
    return found


def stray_records(paths: Paths, driver: Driver) -> list[Digest]:
    """The layers with a record or a tar-split and no layer: what a kill between writing them and
    committing the layer leaves (add_layer)."""
    chains = set()
    for entry in os.listdir(paths.layers) if paths.layers.exists() else ():
        hexa = entry.removesuffix(".json").removesuffix(".tar-split.gz")
        if hexa != entry:
            try:
                chains.add(Digest.from_hex(hexa))
            except InvalidDigest:
                continue  # not a name the store gives: left alone
    return sorted((chain for chain in chains if not driver.has_layer(chain)), key=str)


def forget_layer(paths: Paths, chain: Digest) -> None:
    _record(paths, chain).unlink(missing_ok=True)
    split_path(paths, chain).unlink(missing_ok=True)


@record
class LayerTar:
    """A stored layer as the tarball it was made from."""

    diff_id: Digest
    size: int
    chunks: Callable[[], Iterator[bytes]]  # its bytes, checked against diff_id as they end


def layer_tar(paths: Paths, driver: Driver, chain: Digest, diff_id: Digest) -> LayerTar:
    """The tarball of a layer again, byte for byte (its tar-split and its files): the same diff ID."""
    from sdcontainer.layers import rebuild_tar, tar_size

    path = split_path(paths, chain)
    try:
        with open(path, "rb") as f:
            size = tar_size(f)
    except FileNotFoundError:
        raise UsageError(
            f"the store has no record of the tarball of layer {diff_id.short}...",
            hint="an older sdc stored it: remove the image and pull or load it again",
        ) from None
    root = driver.layer_files(chain)

    def chunks() -> Iterator[bytes]:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in rebuild_tar(f, root):
                digest.update(chunk)
                yield chunk
        if Digest("sha256", digest.hexdigest()) != diff_id:
            raise UsageError(
                f"layer {diff_id.short}... does not make the same tarball again",
                hint="its archive wrote one path twice; the image cannot be saved or pushed as it came",
            )

    return LayerTar(diff_id=diff_id, size=size, chunks=chunks)
