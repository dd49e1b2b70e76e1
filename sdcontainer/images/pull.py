"""Pulling an image from a registry: manifest (an index resolved to a platform), config, layers.

Each layer streams from the network through decompression and both digests into a snapshot of
its parent, in one pass: a layer's subvolume needs its parent's, so layers are applied in order,
one at a time, while the next ones download side by side (images/fetch.py). A layer the store
has is not fetched. Nothing is used before it is checked: the manifest against the digest it was
asked by, the config against its descriptor, each layer's bytes and content before it is committed.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from sdcontainer.digests import Digest
from sdcontainer.errors import UsageError
from sdcontainer.images import Image, reference, store
from sdcontainer.images.archive import ARCHITECTURES, LAYER_TYPES, Found, config_diff_ids, store_found
from sdcontainer.images.fetch import Fetcher, Progress
from sdcontainer.images.registry import Registry, RegistryError
from sdcontainer.paths import Paths

if TYPE_CHECKING:
    from sdcontainer.storage.driver import Driver

INDEXES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


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
) -> tuple[Image, Digest]:
    """The image ref names, in the store; and the digest of the manifest (or index) pulled."""
    wanted = Digest.parse(ref.digest, what="the reference's digest") if ref.digest else None
    media, body, digest = registry.manifest(ref.path, wanted or ref.tag or "latest")
    if wanted is not None and digest != wanted:
        raise RegistryError(f"{ref.domain} served a manifest whose digest is not {wanted.short}...",
                            hint="the registry, or something on the way, changed it")  # fmt: skip
    manifest = _json(body, "the manifest")
    if media in INDEXES or "manifests" in manifest:
        chosen = choose(manifest, platform or host_platform(), ref)
        media, body, chosen_digest = registry.manifest(ref.path, chosen)
        if chosen_digest != chosen:
            raise RegistryError(f"{ref.domain} served a manifest whose digest is not {chosen.short}...",
                                hint="the registry, or something on the way, changed it")  # fmt: skip
        manifest = _json(body, "the platform's manifest")
    config, layers = _parts(manifest)
    config_bytes = registry.small_blob(ref.path, config)
    for layer in layers:
        progress.layer(str(layer["digest"]), int(layer["size"]))

    def finished(index: int, present: bool) -> None:
        progress.finished(str(layers[index]["digest"]), "Already exists" if present else "Pull complete")

    blobs = sum(int(layer["size"]) for layer in layers)
    if blobs > max_size:  # before a byte is fetched: their contents are more still
        raise UsageError(f"the image's layers are {blobs >> 20} MiB compressed, more than the limit of "
                         f"{max_size >> 20} MiB", hint="raise the limit with --max-size (or $SDC_MAX_IMAGE_SIZE) "
                         "if the image is what you expect")  # fmt: skip
    # Downloads ahead spool on the store's own file system (the pool's, where there is one): the
    # host's /var holds nothing a registry sends.
    with Fetcher(registry, ref.path, layers, driver.tmp, progress) as fetcher:
        fetcher.start(_missing(driver, config_bytes, len(layers)))
        found = Found(
            config=config_bytes,
            layers=tuple(fetcher.opener(index) for index in range(len(layers))),
            blob_digests=tuple(Digest.parse(layer["digest"]) for layer in layers),  # checked by _parts
            names=(str(ref),) if ref.tag and not ref.digest else (),
            media_types=tuple(str(layer["mediaType"]) for layer in layers),
        )
        repo_digests = (f"{ref.repository}@{digest}",)
        image, _ = store_found(paths, driver, found, max_size=max_size, repo_digests=repo_digests, on_layer=finished)
    return image, digest


def _missing(driver: Driver, config: bytes, count: int) -> list[int]:
    """The layers (by index) the store lacks; none where the config does not list them (store_found
    then says what is wrong with it)."""
    try:
        diff_ids = config_diff_ids(config)
    except UsageError:
        return []
    missing, chain = [], None
    for index, diff_id in enumerate(diff_ids if len(diff_ids) == count else ()):
        chain = store.chain_id(chain, diff_id)
        if not driver.has_layer(chain):
            missing.append(index)
    return missing


def choose(index: dict[str, Any], platform: str, ref: reference.Reference) -> Digest:
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
        if "digest" in entry:
            return Digest.parse(entry["digest"], what="a manifest's digest in the index")
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
            raise UsageError(f"a layer of a kind sdc does not read: {str(kind)[:80]}",
                             hint="sdc reads tar, gzip and zstd")  # fmt: skip
    for descriptor in (config, *layers):  # parsed here: each names a URL, then a file of the store
        Digest.parse(descriptor.get("digest"), what="a digest in the manifest")
        size = descriptor.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise UsageError(f"a descriptor in the manifest with a bad size: {str(size)[:40]}",
                             hint="the registry served a corrupt manifest")  # fmt: skip
    return config, layers


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise UsageError(f"{what} is not JSON", hint="the registry served something else") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} is not a JSON object", hint="the registry served something else")
    return value
