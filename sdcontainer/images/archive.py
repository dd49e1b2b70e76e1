"""Images from tarballs: a root filesystem (`sdc import`), and image archives (`sdc load`):
docker save's format and OCI image layouts in a tar (oci-archive)."""

from __future__ import annotations

import contextlib
import json
import os
import tarfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from sdcontainer.digests import Digest, parse_list
from sdcontainer.errors import SdcError, UsageError
from sdcontainer.images import Image, normalize_reference, store_image, tag_image
from sdcontainer.layers import TAR_ERRORS
from sdcontainer.paths import Paths
from sdcontainer.record import record

if TYPE_CHECKING:
    from sdcontainer.storage.driver import Driver

# Go's names for the machines sdc runs on (image-spec config.md: architecture)
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


def config_bytes(config: dict[str, Any]) -> bytes:
    """A config sdc makes, as bytes: the same config, the same bytes, the same image ID."""
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def rootfs_config(diff_id: Digest, runtime: dict[str, Any], *, comment: str = "") -> dict[str, Any]:
    """The OCI image config of an imported root filesystem: no `created`, so that the same
    tarball imported twice is the same image."""
    machine = os.uname().machine
    return {
        "architecture": ARCHITECTURES.get(machine, machine),
        "os": "linux",
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": [str(diff_id)]},
        "history": [{"created_by": "sdc import", **({"comment": comment} if comment else {})}],
    }


IMPORTED_RUNTIME: dict[str, Any] = {"Env": [], "Cmd": None, "WorkingDir": ""}


def import_rootfs(
    paths: Paths,
    driver: Driver,
    stream: BinaryIO,
    ref: str,
    *,
    runtime: dict[str, Any] | None = None,
    max_size: int | None = None,
    comment: str = "",
) -> Image:
    """A rootfs tarball becomes a one-layer image named ref (like `docker import`).

    Call within records.adding, without the store's lock. Nothing is left behind when the
    archive is bad, too big, or does not fit: the layer is committed once every check has
    passed, and discarded again if anything after that fails."""
    from sdcontainer.images import store
    from sdcontainer.layers import DEFAULT_MAX_SIZE
    from sdcontainer.storage.driver import check_root_filesystem

    ref = normalize_reference(ref)
    with contextlib.ExitStack() as undo:
        layer, digests, new = store.add_layer(paths, driver, None, stream, max_size=max_size or DEFAULT_MAX_SIZE,
                                              check=check_root_filesystem)  # fmt: skip
        if new:
            undo.callback(store.discard, paths, driver, [layer])
        config = rootfs_config(digests.diff_id, runtime or IMPORTED_RUNTIME, comment=comment)
        image = publish(paths, driver, config_bytes(config), (layer,), names=[ref])
        undo.pop_all()
    return image


def publish(paths: Paths, driver: Driver, config: bytes, layers: tuple[Digest, ...], *, names: list[str],
            repo_digests: tuple[str, ...] = ()) -> Image:  # fmt: skip
    """The image of layers made (its init layer) and recorded, with its names, in one hold of the
    store's lock; its layers checked to be there still (none is removed while a command adds)."""
    from sdcontainer import records
    from sdcontainer.errors import StorageError

    with records.locked(paths):
        missing = [layer for layer in layers if not driver.has_layer(layer)]
        if missing:
            raise StorageError(f"layer {missing[0].short}... went from the store while the image was stored",
                               hint="try again")  # fmt: skip
        driver.make_init_layer(layers[-1])
        image = store_image(paths, config, layers=layers, repo_digests=repo_digests)
        for name in names:
            tag_image(paths, image, name)
    return image


# --- image archives: docker save's and OCI image layouts in a tar (`sdc load`) ------------------

JSON_MAX = 16 << 20  # a manifest, index or config larger than this is not one
# What one archive may make sdc read and hold: JSON in all (configs, manifests, indexes, read again
# for each image naming them), and images (an index may name a nested one many times over).
ARCHIVE_JSON_MAX, ARCHIVE_IMAGES_MAX = 64 << 20, 256


class ImageArchive(tarfile.TarFile):
    """An image archive, as `sdc load` reads it: its members' headers bounded as a layer's are
    (layers._Ends), as many as a layer may have, and ARCHIVE_JSON_MAX of JSON read from it in all."""

    json_left = ARCHIVE_JSON_MAX

    def next(self) -> tarfile.TarInfo | None:
        from sdcontainer.layers import MAX_ENTRIES

        member = super().next()
        if member is not None and len(self.__dict__["members"]) > MAX_ENTRIES:  # tarfile's list, every header
            raise UsageError(f"the archive has more than {MAX_ENTRIES:,} members", hint="it is not an image archive")
        return member


def open_archive(fileobj: BinaryIO) -> ImageArchive:
    """An uncompressed image archive to read in any order (a file, or a spool of a pipe's)."""
    from sdcontainer.layers import BoundedTarInfo

    try:
        return ImageArchive.open(fileobj=fileobj, mode="r:", tarinfo=BoundedTarInfo)
    except TAR_ERRORS as exc:
        raise UsageError(f"not an image archive: {exc}", hint="give a docker-archive or an oci-archive") from exc
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
)
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


@record
class Found:
    """One image an archive holds: its config's bytes, its layers' tarballs, the names it gives."""

    config: bytes
    layers: tuple[Callable[[], BinaryIO], ...]  # each opens one layer's (possibly compressed) tarball
    blob_digests: tuple[Digest | None, ...]  # what each layer's bytes must hash to, where the archive says
    names: tuple[str, ...]
    media_types: tuple[str | None, ...] = ()  # each layer's, where a manifest says


def load(paths: Paths, driver: Driver, archive: tarfile.TarFile, *, max_size: int) -> list[tuple[Image, list[str]]]:
    """Every image of a docker-archive or an oci-archive, with the names it gives them.

    Call within records.adding, without the store's lock. A layer already in the store is not
    read again; what one image of the archive added is discarded again if it fails."""
    try:
        found = _docker_archive(archive) if _member(archive, "manifest.json") else _oci_archive(archive)
    except (*TAR_ERRORS, OSError) as exc:  # a member cut short, a corrupt stream
        raise UsageError(f"the archive cannot be read: {exc}", hint="save or copy it again") from None
    if len(found) > ARCHIVE_IMAGES_MAX:
        raise UsageError(f"the archive holds {len(found)} images, more than {ARCHIVE_IMAGES_MAX}",
                         hint="save fewer images to one archive")  # fmt: skip
    return [store_found(paths, driver, image, max_size=max_size) for image in found]


class Retry(SdcError):
    """A layer's stream broke off (the network): the layer may be tried again from its start."""


def store_found(
    paths: Paths,
    driver: Driver,
    found: Found,
    *,
    max_size: int,
    repo_digests: tuple[str, ...] = (),
    on_layer: Callable[[int, bool], None] | None = None,
) -> tuple[Image, list[str]]:
    """Put an image into the store: each layer the store lacks applied on its parent's and
    checked (diff ID; bytes, where their digest is known), a layer whose stream broke off tried
    twice more, the root filesystem checked, the record written, the names given. Call within
    records.adding, without the store's lock; what it added is discarded if anything fails."""
    from sdcontainer.images import store
    from sdcontainer.storage.driver import check_root_filesystem

    diff_ids = config_diff_ids(found.config)
    if len(diff_ids) != len(found.layers) or not found.layers:
        raise UsageError("the image's config does not list its layers", hint="the archive is corrupt")
    layers: list[Digest] = []
    spent = 0  # of max_size, one budget for the image's layers (layers.extract_layer)
    added: list[Digest] = []
    with contextlib.ExitStack() as undo:
        undo.callback(store.discard, paths, driver, added)
        parent: Digest | None = None
        media_types = found.media_types or (None,) * len(found.layers)
        for index, (opener, diff_id, blob, media_type) in enumerate(
            zip(found.layers, diff_ids, found.blob_digests, media_types, strict=True)
        ):
            chain = store.chain_id(parent, diff_id)
            present = driver.has_layer(chain)
            if not present:
                for attempt in range(3):
                    try:
                        with opener() as stream:
                            chain, digests, _ = store.add_layer(paths, driver, parent, stream, max_size=max_size,
                                                                diff_id=diff_id, blob=blob, media_type=media_type,
                                                                spent=spent)  # fmt: skip
                        spent = digests.cost
                        break
                    except Retry:
                        if attempt == 2:
                            raise
                added.append(chain)
            if on_layer is not None:
                on_layer(index, present)
            layers.append(chain)
            parent = chain
        with driver.layer_view(layers[-1]) as tree:
            check_root_filesystem(tree)
        names = [n for n in (_name(candidate) for candidate in found.names) if n]
        image = publish(paths, driver, found.config, tuple(layers), names=names, repo_digests=repo_digests)
        undo.pop_all()
    return image, names


def config_diff_ids(config: bytes) -> tuple[Digest, ...]:
    """The diff IDs an image's config lists (rootfs.diff_ids), each parsed: a config is outside
    input, and a diff ID names the store's layer for a base layer (store.chain_id)."""
    parsed = _json(config, "the image's config")
    rootfs = parsed.get("rootfs") if isinstance(parsed, dict) else None
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise UsageError("the image's config does not list its layers", hint="the archive is corrupt")
    return parse_list(rootfs["diff_ids"], what="the config's diff ID")


def _docker_archive(archive: tarfile.TarFile) -> list[Found]:
    """docker save's format: manifest.json lists each image's config and layer tarballs."""
    manifest = _json(_read(archive, "manifest.json"), "manifest.json")
    if not isinstance(manifest, list):
        raise UsageError("manifest.json is not a list of images", hint="the archive is corrupt")
    found = []
    for entry in manifest[: ARCHIVE_IMAGES_MAX + 1]:  # load refuses more
        if not isinstance(entry, dict) or not isinstance(entry.get("Layers"), list):
            raise UsageError("manifest.json holds an entry that is not an image", hint="the archive is corrupt")
        layers = tuple(_opener(archive, str(name)) for name in entry["Layers"])
        names = tuple(map(str, entry.get("RepoTags") or ()))
        config = _read(archive, str(entry.get("Config")))
        found.append(Found(config=config, layers=layers, blob_digests=(None,) * len(layers), names=names))
    return found


def _oci_archive(archive: tarfile.TarFile) -> list[Found]:
    """An OCI image layout in a tar: index.json points at manifests, blobs/ holds everything."""
    if not _member(archive, "oci-layout") or not _member(archive, "index.json"):
        raise UsageError("not an image archive: no manifest.json, nor an OCI layout's index.json",
                         hint="give a docker-archive (docker save) or an oci-archive")  # fmt: skip
    index = _json(_read(archive, "index.json"), "index.json")
    found = []
    for descriptor in _manifests(archive, index):
        manifest = _json(_blob(archive, descriptor), "a manifest")
        config = manifest.get("config")
        layer_list = manifest.get("layers")
        if not isinstance(config, dict) or not isinstance(layer_list, list):
            raise UsageError("an OCI manifest without a config or layers", hint="the archive is corrupt")
        for layer in layer_list:
            if not isinstance(layer, dict) or layer.get("mediaType") not in LAYER_TYPES:
                kind = layer.get("mediaType") if isinstance(layer, dict) else layer
                raise UsageError(f"a layer of an unknown kind: {kind}", hint="sdc reads tar, gzip and zstd layers")
        annotations = descriptor.get("annotations") or {}
        names = tuple(str(annotations[key]) for key in NAME_ANNOTATIONS if key in annotations)
        found.append(Found(config=_blob(archive, config), layers=tuple(_blob_opener(archive, d) for d in layer_list),
                           blob_digests=tuple(_digest(d) for d in layer_list), names=names[:1],
                           media_types=tuple(str(d["mediaType"]) for d in layer_list)))  # fmt: skip
    return found


def _manifests(archive: tarfile.TarFile, index: Any, depth: int = 0) -> list[dict[str, Any]]:
    """The image manifests an index lists, an image index's for this machine's platform."""
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list) or depth > 4:
        raise UsageError("an OCI index without manifests", hint="the archive is corrupt")
    machine = os.uname().machine
    result: list[dict[str, Any]] = []
    for descriptor in index["manifests"]:
        if len(result) > ARCHIVE_IMAGES_MAX:  # load refuses more: no need to read on
            break
        kind = descriptor.get("mediaType") if isinstance(descriptor, dict) else None
        if kind in (OCI_MANIFEST, DOCKER_MANIFEST):
            platform = descriptor.get("platform") or {}
            if not platform or platform.get("architecture") == ARCHITECTURES.get(machine, machine):
                result.append(descriptor)
        elif kind in (OCI_INDEX, DOCKER_LIST):
            nested = _manifests(archive, _json(_blob(archive, descriptor), "an index"), depth + 1)
            result += [{**d, "annotations": {**(descriptor.get("annotations") or {}), **(d.get("annotations") or {})}}
                       for d in nested]  # fmt: skip
    if not result:
        raise UsageError(f"the archive holds no image for linux/{ARCHITECTURES.get(machine, machine)}",
                         hint="save the image for this machine's platform")  # fmt: skip
    return result


def _digest(descriptor: Any) -> Digest:
    return Digest.parse(descriptor.get("digest") if isinstance(descriptor, dict) else None,
                        what="a descriptor's digest")  # fmt: skip


def _blob_path(descriptor: Any) -> str:
    digest = _digest(descriptor)
    return f"blobs/{digest.algorithm}/{digest.hex}"


def _blob(archive: tarfile.TarFile, descriptor: dict[str, Any]) -> bytes:
    """A small blob (manifest, index, config), checked against its descriptor's digest and size."""
    digest = _digest(descriptor)
    data = _read(archive, _blob_path(descriptor))
    if not digest.matches(data) or len(data) != descriptor.get("size"):
        raise UsageError(f"blob {digest.short}... is not what its descriptor says",
                         hint="the archive is corrupt or was tampered with")  # fmt: skip
    return data


def _blob_opener(archive: tarfile.TarFile, descriptor: dict[str, Any]) -> Callable[[], BinaryIO]:
    return _opener(archive, _blob_path(descriptor))


def _opener(archive: tarfile.TarFile, name: str) -> Callable[[], BinaryIO]:
    def open_member() -> BinaryIO:
        member = _member(archive, name)
        stream = archive.extractfile(member) if member is not None else None
        if stream is None:
            raise UsageError(f"the archive lacks {name[:100]!r}", hint="the archive is incomplete")
        return stream  # type: ignore[return-value]  # an IO[bytes] that reads as a BinaryIO does

    if _member(archive, name) is None:
        raise UsageError(f"the archive lacks {name[:100]!r}", hint="the archive is incomplete")
    return open_member


def _member(archive: tarfile.TarFile, name: str) -> tarfile.TarInfo | None:
    try:
        return archive.getmember(name.removeprefix("./"))
    except KeyError:
        try:
            return archive.getmember("./" + name.removeprefix("./"))
        except KeyError:
            return None


def _read(archive: tarfile.TarFile, name: str) -> bytes:
    member = _member(archive, name)
    if member is not None and not member.isfile():  # a link: tarfile would follow it, anywhere in the archive
        raise UsageError(f"{name[:100]!r} in the archive is no file", hint="the archive is corrupt")
    stream = archive.extractfile(member) if member is not None else None
    if stream is None:
        raise UsageError(f"the archive lacks {name[:100]!r}", hint="the archive is incomplete")
    if (member.size if member.isfile() else 0) > JSON_MAX:  # type: ignore[union-attr]
        raise UsageError(f"{name[:100]!r} is too big to be what it says", hint="the archive is corrupt")
    with stream:
        data = stream.read(JSON_MAX + 1)[:JSON_MAX]
    if isinstance(archive, ImageArchive):
        archive.json_left -= len(data)
        if archive.json_left < 0:
            raise UsageError(f"the archive's manifests and configs are more than {ARCHIVE_JSON_MAX >> 20} MiB",
                             hint="the archive is corrupt, or was made to be")  # fmt: skip
    return data


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise UsageError(f"{what} is not JSON", hint="the archive is corrupt") from None


def _name(text: str) -> str | None:
    """An archive's name for an image, in full; None for one that names no repository (a tag)."""
    from sdcontainer.images import reference

    if "/" not in text and ":" not in text and "@" not in text:
        return None  # a bare ref.name of an OCI layout is a tag of nothing in particular
    try:
        return str(reference.parse(text))
    except UsageError:
        return None
