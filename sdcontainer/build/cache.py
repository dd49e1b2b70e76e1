"""The build cache: each step's image by the step's key (builder._key: its parent image, the
stage's config and variables, the instruction and what it reads), one small file of the store's
each, build-cache/KEY, holding the image's ID. An entry whose image is gone (`image prune`,
`rmi`) is no entry; `sdc build --no-cache` reads none (and writes its steps' anew)."""

from __future__ import annotations

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


def lookup(paths: Paths, key: str) -> Image | None:
    from sdcontainer import images

    try:
        with open(_path(paths, key), encoding="ascii") as f:
            image_id = f.read(100).strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", image_id):
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
