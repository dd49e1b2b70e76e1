"""auto-update's pure parts: rebase (what came from the old image left for the new one) and the
images an update at work holds from `image prune`."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sdcontainer.api import autoupdate
from sdcontainer.containerspec import ContainerSpec

OLD = {"Entrypoint": ["/entry"], "Cmd": ["serve"], "WorkingDir": "/srv", "User": "app", "StopSignal": "SIGQUIT",
       "Labels": {"from": "image"}, "ExposedPorts": {"80/tcp": {}, "53/udp": {}}}  # fmt: skip


def _spec(**fields: object) -> ContainerSpec:
    base: dict[str, object] = {"name": "web", "image": "reg/app:1", "command": ("serve",), "entrypoint": ("/entry",),
                               "workdir": "/srv", "user": "app", "stop_signal": "SIGQUIT",
                               "labels": ("from=image", "io.containers.autoupdate=registry", "mine=1")}  # fmt: skip
    return ContainerSpec(**{**base, **fields})  # type: ignore[arg-type]


def test_what_came_from_the_old_image_is_left_for_the_new_one() -> None:
    spec = autoupdate.rebase(_spec(), OLD)
    assert (spec.entrypoint, spec.command, spec.workdir, spec.user, spec.stop_signal) == (None, (), "", "", "")
    assert spec.labels == ("io.containers.autoupdate=registry", "mine=1")
    assert spec.pull == "never" and spec.detach


def test_what_the_flags_set_stays() -> None:
    spec = autoupdate.rebase(_spec(command=("other",), user="root:0", workdir="/x"), OLD)
    assert (spec.entrypoint, spec.command, spec.user, spec.workdir) == (None, ("other",), "root:0", "/x")


def test_publish_all_leaves_the_old_images_ports_for_the_new_ones() -> None:
    spec = autoupdate.rebase(_spec(publish_all=True, publish=("8080:80", "53/udp")), OLD)
    assert spec.publish == ("8080:80",)  # (80 was -p's: -P added 53/udp alone)
    spec = autoupdate.rebase(_spec(publish_all=True, publish=("53/udp", "80/tcp")), OLD)
    assert spec.publish == ()
    spec = autoupdate.rebase(_spec(publish=("53/udp",)), OLD)  # (no -P: the user's)
    assert spec.publish == ("53/udp",)


def test_an_update_at_work_holds_its_images_from_prune(tmp_path: Path) -> None:
    assert autoupdate.held_images(tmp_path) == set()
    fd = os.open(tmp_path / autoupdate.LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        autoupdate._hold(fd, ["sha256:" + "a" * 64])
        assert autoupdate.held_images(tmp_path) == set()  # (written, but no update holds the lock)
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert autoupdate.held_images(tmp_path) == {"sha256:" + "a" * 64}
        autoupdate._hold(fd, ["sha256:" + "b" * 64])
        assert autoupdate.held_images(tmp_path) == {"sha256:" + "b" * 64}
    finally:
        os.close(fd)
    assert autoupdate.held_images(tmp_path) == set()
