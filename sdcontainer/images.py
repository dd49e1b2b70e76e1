"""Images: content-addressed records of layers plus a config, and the names that point at them.

images/<hex>.json      {"id", "layers": [...], "config": {...}, "created", "size"}
repositories.json      {"name:tag": "sha256:<hex>"}
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sdcontainer.errors import NotFound, UsageError
from sdcontainer.paths import Paths
from sdcontainer.records import read_json, write_json

if TYPE_CHECKING:
    from sdcontainer.storage.driver import Driver

_REF_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?$")


@dataclass(frozen=True, kw_only=True)
class Image:
    id: str
    layers: tuple[str, ...]
    config: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0
    size: int = 0

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]

    @property
    def top_layer(self) -> str:
        return self.layers[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "layers": list(self.layers),
            "config": self.config,
            "created": self.created,
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Image:
        return cls(
            id=data["id"],
            layers=tuple(data["layers"]),
            config=data.get("config", {}),
            created=data.get("created", 0.0),
            size=data.get("size", 0),
        )


def normalize_reference(ref: str) -> str:
    """NAME[:TAG] with Docker's default tag."""
    if not _REF_RE.match(ref):
        raise UsageError(
            f"invalid image name {ref!r}",
            hint="use lowercase letters, digits and . _ - /, with an optional :tag",
        )
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else f"{ref}:latest"


def _record_path(paths: Paths, image_id: str) -> Path:
    return paths.images / f"{image_id.removeprefix('sha256:')}.json"


def read_repositories(paths: Paths) -> dict[str, str]:
    return dict(read_json(paths.repositories)) if paths.repositories.exists() else {}


def list_images(paths: Paths) -> list[tuple[Image, list[str]]]:
    """Every image with its names, newest first."""
    repos = read_repositories(paths)
    images = []
    for record in paths.images.glob("*.json") if paths.images.exists() else []:
        image = Image.from_json(read_json(record))
        images.append((image, sorted(ref for ref, iid in repos.items() if iid == image.id)))
    return sorted(images, key=lambda entry: -entry[0].created)


def find_image(paths: Paths, ref: str) -> Image:
    """An image by name[:tag] first, then by full id or unique id prefix (as Docker resolves)."""
    image_id = read_repositories(paths).get(normalize_reference(ref)) if _REF_RE.match(ref) else None
    if image_id is None and (hexish := re.fullmatch(r"(?:sha256:)?([0-9a-f]{4,64})", ref)):
        matches = list(paths.images.glob(f"{hexish.group(1)}*.json")) if paths.images.exists() else []
        if len(matches) > 1:
            raise UsageError(f"image id prefix {ref!r} is ambiguous", hint="give more of the id")
        image_id = "sha256:" + matches[0].stem if matches else None
    if image_id is None or not _record_path(paths, image_id).exists():
        raise NotFound(
            f"no such image: {ref}", hint="`sdc images` lists the images here; `sdc import FILE NAME` adds one"
        )
    return Image.from_json(read_json(_record_path(paths, image_id)))


def import_rootfs(
    paths: Paths,
    driver: Driver,
    stream: BinaryIO,
    ref: str,
    *,
    config: dict[str, Any] | None = None,
    max_size: int | None = None,
) -> Image:
    """A rootfs tarball becomes a one-layer image named ref (like `docker import`).

    Call with the store locked. Nothing is left behind when the archive is bad, too big,
    or does not fit: the layer is committed once every check has passed, and removed
    again if anything after that fails."""
    import hashlib

    from sdcontainer.layers import DEFAULT_MAX_SIZE, extract_layer  # tar and compression: only when importing
    from sdcontainer.storage.driver import check_root_filesystem

    ref = normalize_reference(ref)
    with driver.make_layer(None) as work:
        layer_id, size = extract_layer(stream, work, max_size=max_size or DEFAULT_MAX_SIZE)
        check_root_filesystem(work)
        new = not driver.has_layer(layer_id)
        driver.commit_layer(work, layer_id)
    try:
        driver.make_init_layer(layer_id)
        image_config = config or {"Env": [], "Cmd": None, "WorkingDir": ""}
        body = {"layers": [layer_id], "config": image_config}
        image_id = "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        image = Image(id=image_id, layers=(layer_id,), config=image_config, created=time.time(), size=size)
        paths.images.mkdir(parents=True, exist_ok=True)
        if not _record_path(paths, image_id).exists():
            write_json(_record_path(paths, image_id), image.to_json())
        tag_image(paths, image, ref)
    except BaseException:
        if new:
            driver.remove_layer(layer_id)
        raise
    return image


def tag_image(paths: Paths, image: Image, ref: str) -> None:
    repos = read_repositories(paths)
    repos[normalize_reference(ref)] = image.id
    write_json(paths.repositories, repos)


def untag_image(paths: Paths, ref: str) -> None:
    repos = read_repositories(paths)
    repos.pop(normalize_reference(ref), None)
    write_json(paths.repositories, repos)


def delete_image(paths: Paths, driver: Driver, image: Image) -> None:
    """Drop every name of the image, its record, and the layers no other image uses."""
    repos = {ref: iid for ref, iid in read_repositories(paths).items() if iid != image.id}
    write_json(paths.repositories, repos)
    _record_path(paths, image.id).unlink(missing_ok=True)
    in_use = {layer for other, _ in list_images(paths) for layer in other.layers}
    for layer in image.layers:
        if layer not in in_use:
            driver.remove_layer(layer)
