"""What `sdc run` takes from the image (api.run.resolve_spec): docker run's rules, the flags winning."""

from __future__ import annotations

import pytest

from sdcontainer.api.run import resolve_spec
from sdcontainer.digests import Digest
from sdcontainer.errors import UsageError
from sdcontainer.images import Image
from sdcontainer.spec import build_run_spec

ZERO, ONE = Digest.from_hex("0" * 64), Digest.from_hex("1" * 64)
IMAGE = Image(id=ZERO, layers=(ONE,), config={
    "rootfs": {"type": "layers", "diff_ids": [str(ONE)]},
    "config": {"Entrypoint": ["/entry"], "Cmd": ["default", "args"], "WorkingDir": "/srv", "User": "app",
               "StopSignal": "SIGRTMIN+3"},
})  # fmt: skip


def resolved(*command: str, **flags: object) -> tuple[object, ...]:
    spec = resolve_spec(build_run_spec(image="x", command=list(command), **flags), IMAGE)
    return spec.argv, spec.workdir, spec.user, spec.stop_signal


def test_the_images_config_fills_in_what_the_flags_leave() -> None:
    assert resolved() == (("/entry", "default", "args"), "/srv", "app", "SIGRTMIN+3")


def test_flags_win() -> None:
    assert resolved("mine") == (("/entry", "mine"), "/srv", "app", "SIGRTMIN+3")  # args replace Cmd only
    assert resolved(workdir="/tmp", user="0:0", stop_signal="HUP")[1:] == ("/tmp", "0:0", "SIGHUP")
    # --entrypoint replaces the entrypoint, and with it the image's Cmd (as Docker).
    assert resolved(entrypoint="/bin/sh")[0] == ("/bin/sh",)
    assert resolved("-c", "x", entrypoint="/bin/sh")[0] == ("/bin/sh", "-c", "x")
    assert resolved("echo", "hi", entrypoint="")[0] == ("echo", "hi")


def test_nothing_to_run_is_an_error() -> None:
    with pytest.raises(UsageError, match="no command"):
        resolved(entrypoint="")
    bare = Image(id=ZERO, layers=(ONE,), config={"Env": []})  # an earlier sdc's record
    spec = resolve_spec(build_run_spec(image="x", command=["true"]), bare)
    assert (spec.argv, spec.workdir, spec.user, spec.stop_signal) == (("true",), "/", "root", "SIGTERM")
