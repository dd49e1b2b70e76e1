"""Image archives out of the store (`sdc save`): an OCI image layout in a tar (oci-archive) or
docker save's format (docker-archive). Layers go in uncompressed, each the very tarball the layer
was made from (store.layer_tar), so an archive loads anywhere as the same image: the same config
bytes, the same diff IDs, the same image ID."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any, BinaryIO

from sdcontainer.digests import Digest
from sdcontainer.images import Image, config_path, familiar, store
from sdcontainer.images.archive import OCI_INDEX, OCI_MANIFEST
from sdcontainer.paths import Paths

if TYPE_CHECKING:
    from sdcontainer.storage.driver import Driver

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


class Format(StrEnum):
    OCI = "oci-archive"
    DOCKER = "docker-archive"


class _Chunks:
    """The bytes of an iterator of chunks, as the file tarfile copies a member from."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.left = chunks, b""

    def read(self, size: int = -1) -> bytes:
        while len(self.left) < size or size < 0:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.left += chunk
        data, self.left = (self.left, b"") if size < 0 else (self.left[:size], self.left[size:])
        return data


class _Writer:
    def __init__(self, out: BinaryIO) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
        self.written: set[str] = set()

    def add(self, name: str, size: int, source: Any) -> None:
        if name in self.written:  # a layer two images share, a config twice
            return
        self.written.add(name)
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, 0
        self.tar.addfile(info, source)
        if isinstance(source, _Chunks):
            source.read(1)  # the rest of the layer's chunks: its digest is checked as they end

    def add_bytes(self, name: str, data: bytes) -> None:
        self.add(name, len(data), io.BytesIO(data))

    def add_layer(self, name: str, layer: store.LayerTar) -> None:
        self.add(name, layer.size, _Chunks(layer.chunks()))

    def close(self) -> None:
        self.tar.close()


def _layers(paths: Paths, driver: Driver, image: Image) -> list[store.LayerTar]:
    return [store.layer_tar(paths, driver, chain, diff_id)
            for chain, diff_id in zip(image.layers, image.diff_ids, strict=True)]  # fmt: skip


def _config(paths: Paths, image: Image) -> bytes:
    return config_path(paths, image.id).read_bytes()


def save(paths: Paths, driver: Driver, images: list[tuple[Image, str | None]], out: BinaryIO, fmt: Format) -> None:
    """Write images (each with the full name to give it, or None) as one archive to out."""
    writer = _Writer(out)
    if fmt is Format.DOCKER:
        _docker_archive(paths, driver, images, writer)
    else:
        _oci_archive(paths, driver, images, writer)
    writer.close()


def _docker_archive(paths: Paths, driver: Driver, images: list[tuple[Image, str | None]], writer: _Writer) -> None:
    manifest = []
    for image, name in images:
        config_name = image.id.hex + ".json"
        writer.add_bytes(config_name, _config(paths, image))
        layer_names = []
        for layer in _layers(paths, driver, image):
            layer_names.append(f"{layer.diff_id.hex}/layer.tar")
            writer.add_layer(layer_names[-1], layer)
        tags = ["{}:{}".format(*familiar(name))] if name and "@" not in name else None
        manifest.append({"Config": config_name, "RepoTags": tags, "Layers": layer_names})
    writer.add_bytes("manifest.json", json.dumps(manifest).encode())


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def _blob_name(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def _oci_archive(paths: Paths, driver: Driver, images: list[tuple[Image, str | None]], writer: _Writer) -> None:
    writer.add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    manifests = []
    for image, name in images:
        config = _config(paths, image)
        writer.add_bytes(_blob_name(image.id), config)
        layers = _layers(paths, driver, image)
        for layer in layers:
            writer.add_layer(_blob_name(layer.diff_id), layer)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {**_descriptor(OCI_CONFIG, config), "digest": str(image.id)},
            "layers": [{"mediaType": OCI_LAYER, "digest": str(layer.diff_id), "size": layer.size} for layer in layers],
        }).encode()  # fmt: skip
        descriptor = _descriptor(OCI_MANIFEST, manifest)
        writer.add_bytes(_blob_name(Digest.of(manifest)), manifest)
        if name and "@" not in name:
            # containerd's annotation for the full name, the OCI one for the tag (as podman and skopeo write them)
            descriptor["annotations"] = {"io.containerd.image.name": name,
                                         "org.opencontainers.image.ref.name": familiar(name)[1]}  # fmt: skip
        manifests.append(descriptor)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    writer.add_bytes("index.json", json.dumps(index).encode())
