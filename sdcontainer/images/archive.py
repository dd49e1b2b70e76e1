"""Images from tarballs: a root filesystem (`sdc import`)."""

from __future__ import annotations

import contextlib
import json
import os
from typing import TYPE_CHECKING, Any, BinaryIO

from sdcontainer.images import Image, normalize_reference, store_image, tag_image
from sdcontainer.images.store import add_layer
from sdcontainer.paths import Paths

if TYPE_CHECKING:
    from sdcontainer.storage.driver import Driver

# Go's names for the machines sdc runs on (image-spec config.md: architecture)
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


def config_bytes(config: dict[str, Any]) -> bytes:
    """A config sdc makes, as bytes: the same config, the same bytes, the same image ID."""
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def rootfs_config(diff_id: str, runtime: dict[str, Any]) -> dict[str, Any]:
    """The OCI image config of an imported root filesystem: no `created`, so that the same
    tarball imported twice is the same image."""
    machine = os.uname().machine
    return {
        "architecture": ARCHITECTURES.get(machine, machine),
        "os": "linux",
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "sdc import"}],
    }


def import_rootfs(
    paths: Paths,
    driver: Driver,
    stream: BinaryIO,
    ref: str,
    *,
    runtime: dict[str, Any] | None = None,
    max_size: int | None = None,
) -> Image:
    """A rootfs tarball becomes a one-layer image named ref (like `docker import`).

    Call with the store locked. Nothing is left behind when the archive is bad, too big,
    or does not fit: the layer is committed once every check has passed, and removed
    again if anything after that fails."""
    from sdcontainer.layers import DEFAULT_MAX_SIZE
    from sdcontainer.storage.driver import check_root_filesystem

    ref = normalize_reference(ref)
    with contextlib.ExitStack() as undo:
        with driver.make_layer(None) as work:
            from sdcontainer.layers import extract_layer

            digests = extract_layer(stream, work, max_size=max_size or DEFAULT_MAX_SIZE)
            check_root_filesystem(work)
            layer = digests.diff_id  # a base layer's chain ID (store.chain_id)
            if not driver.has_layer(layer):
                undo.callback(driver.remove_layer, layer)
            driver.commit_layer(work, layer)
        driver.make_init_layer(layer)
        config = rootfs_config(digests.diff_id, runtime or {"Env": [], "Cmd": None, "WorkingDir": ""})
        image = store_image(paths, config_bytes(config), layers=(layer,), size=digests.size)
        tag_image(paths, image, ref)
        undo.pop_all()
    return image


__all__ = ["add_layer", "config_bytes", "import_rootfs", "rootfs_config"]
