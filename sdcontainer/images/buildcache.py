"""The build cache: each step's image by the step's key (build/builder._key: its parent image,
the stage's config and variables, the instruction and what it reads), one small file of the
store's each, build-cache/KEY, holding the image's ID. An entry whose image is gone (`image prune
-a`, `rmi`) is no entry; `sdc build --no-cache` reads none (and writes its steps' anew). The
images of its entries, less the builds' results (build-results/HEX), are a build's intermediate
ones: `sdc images` shows them with -a alone,
`image prune` leaves them, `builder prune` (and `system prune`) removes them with the entries and
RUN --mount=type=cache's directories (build-mounts/)."""

from __future__ import annotations

import contextlib
import os
import re
from typing import TYPE_CHECKING

from sdcontainer.errors import SdcError

if TYPE_CHECKING:
    from sdcontainer.images import Image
    from sdcontainer.paths import Paths

KEY = re.compile(r"[0-9a-f]{64}")


def _path(paths: Paths, key: str) -> str:
    if not KEY.fullmatch(key):
        raise ValueError(f"a cache key is 64 hex digits, not {key!r}")
    return os.path.join(paths.root, "build-cache", key)


def _entries(paths: Paths) -> list[str]:
    try:
        return [name for name in os.listdir(os.path.join(paths.root, "build-cache")) if KEY.fullmatch(name)]
    except FileNotFoundError:
        return []


def _image_id(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            image_id = f.read(100).strip()
    except (OSError, UnicodeDecodeError):
        return None
    return image_id if re.fullmatch(r"sha256:[0-9a-f]{64}", image_id) else None


def cached_images(paths: Paths) -> set[str]:
    """The IDs of a build's intermediate images: those the cache's entries hold, less any build's
    result (an image of the user's, as Docker's dangling <none> one of an unnamed build)."""
    found = (_image_id(_path(paths, key)) for key in _entries(paths))
    try:
        results = {f"sha256:{name}" for name in os.listdir(os.path.join(paths.root, "build-results"))}
    except FileNotFoundError:
        results = set()
    return {i for i in found if i is not None} - results


def record_result(paths: Paths, image: Image) -> None:
    """image is a build's result, no intermediate one (build-results/HEX, an empty file)."""
    base = os.path.join(paths.root, "build-results")
    os.makedirs(base, mode=0o700, exist_ok=True)
    hexdigest = str(image.id).removeprefix("sha256:")
    if not KEY.fullmatch(hexdigest):
        raise ValueError(f"not an image ID: {image.id}")
    os.close(os.open(os.path.join(base, hexdigest), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))


def forget(paths: Paths) -> list[str]:
    """Every entry removed, and the cache mounts' directories: the IDs the entries held."""
    import shutil

    held = cached_images(paths)
    for key in _entries(paths):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_path(paths, key))
    shutil.rmtree(os.path.join(paths.root, "build-mounts"), ignore_errors=True)
    return sorted(held)


def lookup(paths: Paths, key: str) -> Image | None:
    from sdcontainer import images

    image_id = _image_id(_path(paths, key))
    if image_id is None:
        return None
    try:
        return images.find_image(paths, image_id)
    except SdcError:
        return None


def record(paths: Paths, key: str, image: Image) -> None:
    from sdcontainer.files import write_atomically

    path = _path(paths, key)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_atomically(path, f"{image.id}\n".encode())
