"""Images: a config and a chain of layers, and the names that point at them.

images/<hex>.json      the record: {"id", "layers": [chain IDs], "config": {...}, "created", "size", ...}
images/<hex>.config    the config's bytes as they came: <hex> is their sha256, the image's ID
repositories.json      {"name:tag": "sha256:<hex>"}

store.py keeps the layers; archive.py makes images from tarballs and image archives.
"""

from __future__ import annotations

import time
from pathlib import Path

from sdcontainer.digests import Digest, InvalidDigest, parse_list
from sdcontainer.errors import NotFound, SdcError, StorageError, UsageError
from sdcontainer.files import write_atomically
from sdcontainer.log import get_logger
from sdcontainer.paths import Paths
from sdcontainer.record import field, record
from sdcontainer.records import read_json, write_json

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Any

    from sdcontainer.storage.driver import Driver

log = get_logger(__name__)


@record(kw_only=True)
class Image:
    id: Digest  # sha256 of its config's bytes, as Docker's image ID
    layers: tuple[Digest, ...]  # chain IDs, the base first: the store's layer subvolumes (store.py)
    config: dict[str, Any] = field(default_factory=dict)  # the OCI image config (image-spec config.md)
    created: float = 0.0
    size: int = 0  # the apparent size of the files of its layers
    repo_digests: tuple[str, ...] = ()  # name@digest of its manifest, where it was pulled from

    @property
    def short_id(self) -> str:
        return self.id.short

    @property
    def top_layer(self) -> Digest:
        return self.layers[-1]

    @property
    def runtime(self) -> dict[str, Any]:
        """How it wants to be run: the config's `config` (Env, Entrypoint, Cmd, WorkingDir, User,
        StopSignal...). Records of an sdc before OCI configs held just that, as their config."""
        if "rootfs" not in self.config:
            return self.config
        return dict(self.config.get("config") or {})

    @property
    def diff_ids(self) -> tuple[Digest, ...]:
        """Its config's, each parsed (a config stored by an sdc before digests were checked)."""
        rootfs = self.config.get("rootfs")
        return parse_list(rootfs.get("diff_ids", []) if isinstance(rootfs, dict) else [], what="the config's diff ID")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "layers": [str(layer) for layer in self.layers],
            "config": self.config,
            "created": self.created,
            "size": self.size,
            "repo_digests": list(self.repo_digests),
        }

    @classmethod
    def from_json(cls, data: object) -> Image:
        """A record read back, checked as anything from outside (a record edited on disk could
        name /etc as a layer): StorageError for what is no image record."""
        if not isinstance(data, dict):
            raise StorageError("an image record that is not one", hint=_DAMAGED)
        wrong = [key for key, kind in _RECORD_FIELDS.items() if key in data and not _is(data[key], kind)]
        if wrong:
            raise StorageError(f"an image record's {wrong[0]} is not a {_RECORD_FIELDS[wrong[0]]}", hint=_DAMAGED)
        if "id" not in data or "layers" not in data:
            raise StorageError("an image record without its ID or its layers", hint=_DAMAGED)
        return cls(
            id=Digest.parse(data["id"], what="an image record's ID"),
            layers=parse_list(data["layers"], what="an image record's layer"),
            config=data.get("config", {}),
            created=float(data.get("created", 0.0)),
            size=data.get("size", 0),
            repo_digests=tuple(data.get("repo_digests", ())),
        )


_DAMAGED = "an image record in the store's images/ is damaged: remove it, then pull or load the image again"
_RECORD_FIELDS = {"id": "str", "layers": "list of str", "config": "dict", "created": "number", "size": "int",
                  "repo_digests": "list of str"}  # fmt: skip


def _is(value: object, kind: str) -> bool:
    if kind == "list of str":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, {"str": str, "dict": dict}[kind])


def normalize_reference(ref: str) -> str:
    """The full form of a reference (images/reference.py): alpine -> docker.io/library/alpine:latest."""
    from sdcontainer.images import reference

    return reference.normalize(ref)


def as_reference(ref: str) -> str | None:
    """ref's full form, or None when it is no reference (an image ID, say)."""
    try:
        return normalize_reference(ref)
    except UsageError:
        return None


def familiar(name: str) -> tuple[str, str]:
    """A stored name as Docker shows it: (repository, tag), e.g. ("alpine", "3.20"). One that
    no longer reads as a reference (a Unicode tag, which sdc before 2026-12-06 took and
    distribution's grammar does not) is shown as it is, so that it can still be listed and
    removed."""
    from sdcontainer.images import reference

    try:
        parsed = reference.parse(name)
    except UsageError:
        repository, tag = reference.split_tag(name)
        return repository, tag or "<none>"
    return parsed.familiar_repository, parsed.tag or "<none>"


def _record_path(paths: Paths, image_id: Digest) -> Path:
    return paths.images / f"{image_id.hex}.json"


def config_path(paths: Paths, image_id: Digest) -> Path:
    """The image's config, its bytes as they came (their sha256 is its ID)."""
    return paths.images / f"{image_id.hex}.config"


def read_repositories(paths: Paths) -> dict[str, Digest]:
    """Name -> image ID. Names are kept in full; an earlier sdc kept short ones (bb:latest). A
    name whose ID is not a digest (the file edited on disk) is left out."""
    if not paths.repositories.exists():
        return {}
    found = {}
    for name, image_id in read_json(paths.repositories).items():
        try:
            found[as_reference(name) or name] = Digest.parse(image_id, what=f"the image ID of {name}")
        except InvalidDigest:
            continue
    return found


def write_repositories(paths: Paths, repos: dict[str, Digest]) -> None:
    write_json(paths.repositories, {name: str(image_id) for name, image_id in repos.items()})


def list_images(paths: Paths, *, strict: bool = False) -> list[tuple[Image, list[str]]]:
    """Every image with its names, newest first; a damaged record left out with a warning, or
    with strict (what decides which layers are needed: a damaged record may still need its
    layers, which a repair brings back) its StorageError."""
    repos = read_repositories(paths)
    images = []
    for stored in paths.images.glob("*.json") if paths.images.exists() else []:
        try:
            image = Image.from_json(read_json(stored))
        except FileNotFoundError:  # an rmi beside us
            continue
        except (SdcError, ValueError) as exc:
            if strict:
                raise
            log.warning("left out %s: %s", stored, exc)
            continue
        images.append((image, sorted(ref for ref, iid in repos.items() if iid == image.id)))
    return sorted(images, key=lambda entry: -entry[0].created)


def find_image(paths: Paths, ref: str) -> Image:
    """An image by its full ID (sha256:HEX) first, then by name[:tag], then by a unique prefix of
    its ID, as Docker resolves: a full ID is never taken for a name (an archive may tag an image
    `sha256:<another image's ID>`, which is a name as references go)."""
    from sdcontainer.images import reference

    try:
        full: Digest | None = Digest.parse(ref) if ref.startswith("sha256:") else Digest.from_hex(ref)
    except InvalidDigest:
        full = None
    if full is not None:  # an ID, never a name (reference.parse refuses one as a name)
        if not _record_path(paths, full).exists():
            raise NotFound(f"no such image: {ref}", hint="`sdc images --no-trunc` lists the images' IDs")
        return Image.from_json(read_json(_record_path(paths, full)))
    name = as_reference(ref)
    image_id = read_repositories(paths).get(name) if name else None
    if image_id is None and name and "@" in name:  # by digest: the image pulled by that manifest
        repository, _, digest = name.partition("@")
        wanted = f"{repository.rsplit(':', 1)[0] if ':' in repository.rsplit('/', 1)[-1] else repository}@{digest}"
        image_id = next((i.id for i, _ in list_images(paths) if wanted in i.repo_digests), None)
    prefix = ref.removeprefix("sha256:")
    if image_id is None and reference.is_hex(prefix, 4, 64):
        matches = list(paths.images.glob(f"{prefix}*.json")) if paths.images.exists() else []
        if len(matches) > 1:
            raise UsageError(f"image id prefix {ref!r} is ambiguous", hint="give more of the id")
        image_id = Digest.from_hex(matches[0].stem) if matches else None
    if image_id is None or not _record_path(paths, image_id).exists():
        raise NotFound(
            f"no such image: {ref}",
            hint="`sdc images` lists the images here; `sdc pull NAME` or `sdc import FILE NAME` adds one",
        )
    return Image.from_json(read_json(_record_path(paths, image_id)))


def store_image(paths: Paths, config_bytes: bytes, *, layers: tuple[Digest, ...],
                repo_digests: tuple[str, ...] = ()) -> Image:  # fmt: skip
    """Record an image: its config's bytes as they came (their digest is its ID) and its layers.
    Call with the store locked, once its layers are in the store, each recorded (store.record_layer)."""
    from sdcontainer.images.store import layer_size

    size = sum(layer_size(paths, layer) for layer in layers)
    image_id = Digest.of(config_bytes)
    import json

    try:
        config = json.loads(config_bytes)
    except ValueError as exc:
        raise UsageError(f"the image's config is not JSON: {exc}", hint="the image is corrupt") from None
    if not isinstance(config, dict):
        raise UsageError("the image's config is not a JSON object", hint="the image is corrupt")
    from sdcontainer.images.config import check_image_config

    check_image_config(config)
    existing = _record_path(paths, image_id)
    if existing.exists():
        known = Image.from_json(read_json(existing))
        repo_digests = tuple(dict.fromkeys((*known.repo_digests, *repo_digests)))
    image = Image(id=image_id, layers=layers, config=config, created=time.time(), size=size,
                  repo_digests=repo_digests)  # fmt: skip
    paths.images.mkdir(parents=True, exist_ok=True)
    write_atomically(str(config_path(paths, image_id)), config_bytes)
    write_json(existing, image.to_json())
    return image


def remove_stray_configs(paths: Paths) -> None:
    """Configs with no record: a kill between writing one and its record (store_image), or
    between removing them (delete_image). Call with the store locked."""
    for config in paths.images.glob("*.config") if paths.images.exists() else []:
        if not config.with_suffix(".json").exists():
            config.unlink(missing_ok=True)


def add_repo_digest(paths: Paths, image: Image, repo_digest: str) -> None:
    """Note that repository@digest names the image (pushed there), for `pull` and `run` by digest."""
    record = _record_path(paths, image.id)
    if record.exists():
        data = read_json(record)
        data["repo_digests"] = list(dict.fromkeys([*data.get("repo_digests", []), repo_digest]))
        write_json(record, data)


def tag_image(paths: Paths, image: Image, ref: str) -> None:
    repos = read_repositories(paths)
    repos[normalize_reference(ref)] = image.id
    write_repositories(paths, repos)


def untag_image(paths: Paths, ref: str) -> None:
    repos = read_repositories(paths)
    repos.pop(ref if ref in repos else normalize_reference(ref), None)  # (a stored name as it is: familiar)
    write_repositories(paths, repos)


def delete_image(paths: Paths, driver: Driver, image: Image) -> int:
    """Drop every name of the image, its record, and the layers no other image uses: the apparent
    size of the files freed. The record goes before the layers: a kill between leaves layers no
    image names, which `image prune` removes (store.unreferenced_layers)."""
    from sdcontainer.images.store import forget_layer, layer_size

    repos = {ref: iid for ref, iid in read_repositories(paths).items() if iid != image.id}
    write_repositories(paths, repos)
    _record_path(paths, image.id).unlink(missing_ok=True)
    config_path(paths, image.id).unlink(missing_ok=True)
    in_use = {layer for other, _ in list_images(paths, strict=True) for layer in other.layers}
    freed = 0
    for layer in image.layers:
        if layer not in in_use:
            freed += layer_size(paths, layer)
            driver.remove_layer(layer)
            forget_layer(paths, layer)
    return freed
