"""Pulling an image from a registry: manifest (an index resolved to a platform), config, layers.

Each layer streams from the network through decompression and both digests into a snapshot of
its parent, in one pass, with no copy of the blob anywhere: a layer's subvolume needs its
parent's, so layers are applied in order, one at a time. A layer the store has is not fetched.
Nothing is used before it is checked: the manifest against the digest it was asked by, the
config against its descriptor, each layer's bytes and content before it is committed.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from sdcontainer.errors import UsageError
from sdcontainer.images import Image, reference
from sdcontainer.images.archive import ARCHITECTURES, LAYER_TYPES, Found, Retry, store_found
from sdcontainer.images.registry import Registry, RegistryError
from sdcontainer.paths import Paths

if TYPE_CHECKING:
    from sdcontainer.storage.driver import Driver

INDEXES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


class Progress(Protocol):
    """What a pull tells its caller as it goes."""

    def layer(self, digest: str, size: int) -> None: ...  # starts fetching a layer of size bytes

    def advance(self, done: int) -> None: ...  # bytes of it read so far

    def finished(self, digest: str, status: str) -> None: ...  # "Pull complete", "Already exists"


def host_platform() -> str:
    machine = os.uname().machine
    return f"linux/{ARCHITECTURES.get(machine, machine)}"


def pull(
    paths: Paths,
    driver: Driver,
    registry: Registry,
    ref: reference.Reference,
    *,
    platform: str | None,
    max_size: int,
    progress: Progress,
) -> tuple[Image, str]:
    """The image ref names, in the store; and the digest of the manifest (or index) pulled."""
    media, body, digest = registry.manifest(ref.path, ref.digest or ref.tag or "latest")
    if ref.digest and digest != ref.digest:
        raise RegistryError(f"{ref.domain} served a manifest whose digest is not {ref.digest[:19]}...",
                            hint="the registry, or something on the way, changed it")  # fmt: skip
    manifest = _json(body, "the manifest")
    if media in INDEXES or "manifests" in manifest:
        chosen = choose(manifest, platform or host_platform(), ref)
        media, body, chosen_digest = registry.manifest(ref.path, chosen)
        if chosen_digest != chosen:
            raise RegistryError(f"{ref.domain} served a manifest whose digest is not {chosen[:19]}...",
                                hint="the registry, or something on the way, changed it")  # fmt: skip
        manifest = _json(body, "the platform's manifest")
    config, layers = _parts(manifest)
    found = Found(
        config=registry.small_blob(ref.path, config),
        layers=tuple(_opener(registry, ref.path, layer, progress) for layer in layers),
        blob_digests=tuple(str(layer["digest"]) for layer in layers),
        names=(str(ref),) if ref.tag and not ref.digest else (),
        media_types=tuple(str(layer["mediaType"]) for layer in layers),
    )

    def finished(index: int, present: bool) -> None:
        progress.finished(str(layers[index]["digest"]), "Already exists" if present else "Pull complete")

    repo_digests = (f"{ref.repository}@{digest}",)
    image, _ = store_found(paths, driver, found, max_size=max_size, repo_digests=repo_digests, on_layer=finished)
    return image, digest


def choose(index: dict[str, Any], platform: str, ref: reference.Reference) -> str:
    """The digest of the manifest of an index for platform (OS/ARCH[/VARIANT])."""
    want = platform.split("/")
    if len(want) not in (2, 3):
        raise UsageError(f"invalid --platform {platform!r}", hint="give OS/ARCH[/VARIANT], like linux/arm64")
    manifests = index.get("manifests")
    if not isinstance(manifests, list):
        raise RegistryError("an index without manifests", hint="the registry served a corrupt index")
    for entry in manifests:
        p = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(p, dict) or [p.get("os"), p.get("architecture")] != want[:2]:
            continue
        if len(want) == 3 and p.get("variant") != want[2]:
            continue
        if isinstance(entry.get("digest"), str):
            return str(entry["digest"])
    offered = sorted({"/".join(filter(None, (e.get("platform", {}).get(k) for k in ("os", "architecture", "variant"))))
                      for e in manifests if isinstance(e, dict)})  # fmt: skip
    raise UsageError(f"{ref.familiar} has no image for {platform}", hint=f"it has: {', '.join(offered) or 'none'}")


def _parts(manifest: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    config, layers = manifest.get("config"), manifest.get("layers")
    if manifest.get("schemaVersion") == 1 or not isinstance(config, dict) or not isinstance(layers, list):
        raise UsageError("the registry served a manifest sdc does not read (Docker's schema 1?)",
                         hint="push the image again with a current tool")  # fmt: skip
    for layer in layers:
        if not isinstance(layer, dict) or layer.get("mediaType") not in LAYER_TYPES:
            kind = layer.get("mediaType") if isinstance(layer, dict) else layer
            raise UsageError(f"a layer of a kind sdc does not read: {kind}", hint="sdc reads tar, gzip and zstd")
    return config, layers


def _opener(registry: Registry, repository: str, layer: dict[str, Any], progress: Progress) -> Callable[[], BinaryIO]:
    def open_blob() -> BinaryIO:
        progress.layer(str(layer["digest"]), int(layer.get("size") or 0))
        return _Streamed(registry.blob(repository, str(layer["digest"])), progress)  # type: ignore[return-value]

    return open_blob


class _Streamed:
    """A blob's response, read by the layer's extraction: a break in it may be retried, and each
    read reports progress."""

    def __init__(self, response: http.client.HTTPResponse, progress: Progress) -> None:
        self.response, self.progress, self.done = response, progress, 0

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.response.read(size)
        except (OSError, http.client.HTTPException) as exc:
            raise Retry(f"the download broke off: {exc}", hint="try again") from exc
        self.done += len(data)
        self.progress.advance(self.done)
        return data

    def __enter__(self) -> _Streamed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.response.close()


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise UsageError(f"{what} is not JSON", hint="the registry served something else") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} is not a JSON object", hint="the registry served something else")
    return value
