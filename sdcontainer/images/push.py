"""Pushing an image to a registry (OCI distribution spec: pushing blobs, then the manifest).

Each layer goes as a gzip blob of the very tarball it was made from (store.layer_tar), so its
diff ID, and the image's config and ID, stay what they are. A layer the registry already holds
is not sent again: the store remembers the compressed blobs known to hold each layer (those it
was pulled as, those it was pushed as), and asks the registry for them first (HEAD), or mounts
one from another repository of the same registry the image came from. What is sent is
compressed and hashed as it streams (a chunked PATCH, then the PUT that names its digest), with
no copy on disk. The manifest is an OCI image manifest.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from sdcontainer.digests import Digest
from sdcontainer.errors import NotFound
from sdcontainer.images import Image, config_path, store
from sdcontainer.images.reference import Reference
from sdcontainer.images.registry import Registry, RegistryError
from sdcontainer.paths import Paths
from sdcontainer.text import is_decimal

if TYPE_CHECKING:
    from sdcontainer.storage.driver import Driver

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
# the same bytes under their OCI name: an OCI manifest names its layers so
AS_OCI = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip": OCI_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
}
GZIP_LEVEL = 6  # zlib's default, as docker's and podman's pushes


class Progress(Protocol):
    def layer(self, digest: str, status: str) -> None: ...


def _exists(registry: Registry, repository: str, digest: str) -> int | None:
    """The size of a blob the repository holds, or None."""
    try:
        response = registry.request("HEAD", f"/v2/{repository}/blobs/{digest}", repository, push=True)
    except NotFound:
        return None
    registry.discard(response)
    length = response.getheader("Content-Length")
    return int(length) if length and is_decimal(length) else None


def _mount(registry: Registry, repository: str, digest: str, source: str) -> bool:
    """Ask the registry to link a blob of another of its repositories into this one."""
    query = urllib.parse.urlencode({"mount": digest, "from": source})
    try:
        response = registry.request("POST", f"/v2/{repository}/blobs/uploads/?{query}", repository, push=True,
                                    headers={"Content-Length": "0"}, body=b"")  # fmt: skip
    except (NotFound, RegistryError):
        return False
    registry.discard(response)
    if response.status == 201:
        return True
    _cancel(registry, repository, response.getheader("Location"))  # 202: an upload was opened instead
    return False


def _cancel(registry: Registry, repository: str, location: str | None) -> None:
    if location:
        try:
            registry.discard(registry.request("DELETE", location, repository, push=True))
        except (NotFound, RegistryError):
            pass


def _start_upload(registry: Registry, repository: str) -> str:
    response = registry.request("POST", f"/v2/{repository}/blobs/uploads/", repository, push=True,
                                headers={"Content-Length": "0"}, body=b"")  # fmt: skip
    registry.discard(response)
    location = response.getheader("Location")
    if not location:
        raise RegistryError(f"{registry.domain} opened an upload without a Location", hint="is it a registry?")
    return location


def _finish_upload(registry: Registry, repository: str, location: str, digest: str, last: bytes = b"") -> None:
    separator = "&" if "?" in location else "?"
    url = f"{location}{separator}{urllib.parse.urlencode({'digest': digest})}"
    response = registry.request("PUT", url, repository, push=True, body=last,
                                headers={"Content-Type": "application/octet-stream",
                                         "Content-Length": str(len(last))})  # fmt: skip
    registry.discard(response)


def upload_bytes(registry: Registry, repository: str, data: bytes) -> str:
    """A small blob (a config), in one PUT; its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if _exists(registry, repository, digest) is None:
        _finish_upload(registry, repository, _start_upload(registry, repository), digest, data)
    return digest


class _Compressed:
    """The gzip of a stream of chunks, as chunks, with its digest and size as it goes."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.sha256 = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip, mtime 0
        for chunk in self.chunks:
            if out := compressor.compress(chunk):
                yield self._count(out)
        yield self._count(compressor.flush())

    def _count(self, data: bytes) -> bytes:
        self.sha256.update(data)
        self.size += len(data)
        return data


def upload_layer(registry: Registry, repository: str, layer: store.LayerTar) -> tuple[str, int]:
    """A layer, gzip'd as it streams; its blob's digest and size."""
    location = _start_upload(registry, repository)
    body = _Compressed(layer.chunks())
    try:
        response = registry.request("PATCH", location, repository, push=True, body=iter(body),
                                    headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    except BaseException:
        _cancel(registry, repository, location)
        raise
    registry.discard(response)
    digest = "sha256:" + body.sha256.hexdigest()
    _finish_upload(registry, repository, response.getheader("Location") or location, digest)
    return digest, body.size


def _layer_descriptor(
    paths: Paths, driver: Driver, registry: Registry, ref: Reference, image: Image, chain: Digest, diff_id: Digest,
    progress: Progress,
) -> dict[str, Any]:  # fmt: skip
    sources = [d.split("@")[0] for d in image.repo_digests if d.startswith(f"{ref.domain}/")]
    for known, media_type in store.known_blobs(paths, chain).items():
        digest = str(known)
        size = _exists(registry, ref.path, digest)
        if size is None:
            for source in sources:
                source_path = source.removeprefix(f"{ref.domain}/")
                if source_path != ref.path and _mount(registry, ref.path, digest, source_path):
                    size = _exists(registry, ref.path, digest)
                    progress.layer(str(diff_id), f"Mounted from {source_path}")
                    break
        else:
            progress.layer(str(diff_id), "Layer already exists")
        if size is not None:
            return {"mediaType": AS_OCI.get(media_type, media_type), "digest": digest, "size": size}
    progress.layer(str(diff_id), "Pushing")
    digest, size = upload_layer(registry, ref.path, store.layer_tar(paths, driver, chain, diff_id))
    store.record_layer(paths, chain, diff_id=diff_id, size=store.layer_size(paths, chain), blobs={digest: OCI_GZIP})
    progress.layer(str(diff_id), "Pushed")  # one ID a layer, as Docker shows: its diff ID
    return {"mediaType": OCI_GZIP, "digest": digest, "size": size}


def push(paths: Paths, driver: Driver, registry: Registry, image: Image, ref: Reference, progress: Progress) -> str:
    """Push image as ref (a tag); the digest of the manifest the registry now holds."""
    layers = [_layer_descriptor(paths, driver, registry, ref, image, chain, diff_id, progress)
              for chain, diff_id in zip(image.layers, image.diff_ids, strict=True)]  # fmt: skip
    config = config_path(paths, image.id).read_bytes()
    upload_bytes(registry, ref.path, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": str(image.id), "size": len(config)},
        "layers": layers,
    }, separators=(",", ":")).encode()  # fmt: skip
    response = registry.request("PUT", f"/v2/{ref.path}/manifests/{ref.tag or 'latest'}", ref.path, push=True,
                                body=manifest, headers={"Content-Type": OCI_MANIFEST})  # fmt: skip
    registry.discard(response)
    return "sha256:" + hashlib.sha256(manifest).hexdigest()
