"""The container's runtime config: its environment, as Docker builds one, and what the launcher applies."""

from __future__ import annotations

from pathlib import Path

from sdcontainer import bundle
from sdcontainer.spec import ContainerSpec, build_limits

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nbad:line\n"


def test_the_environment_docker_gives_a_container() -> None:
    env = bundle.build_env([], [], hostname="web", home="/root", tty=False)
    assert env == [f"PATH={bundle.DEFAULT_PATH}", "HOSTNAME=web", "HOME=/root", "container=sdc"]
    assert "TERM=xterm" in bundle.build_env([], [], hostname="web", home="/", tty=True)


def test_the_image_then_the_flags_override_a_name_in_its_place() -> None:
    env = bundle.build_env(["PATH=/image/bin", "HOME=/srv", "LANG=C"], ["LANG=C.UTF-8", "NEW=1"],
                           hostname="h", home="/root", tty=False)  # fmt: skip
    assert env == ["PATH=/image/bin", "HOSTNAME=h", "HOME=/srv", "container=sdc", "LANG=C.UTF-8", "NEW=1"]


def test_home_comes_from_the_images_passwd() -> None:
    assert bundle.home_of(PASSWD, 0) == "/root"
    assert bundle.home_of(PASSWD, 65534) == "/nonexistent"
    assert bundle.home_of(PASSWD, 1000) == "/"  # no entry: runc's default user
    assert bundle.home_of("x:x:5:5::relative:/bin/sh\n", 5) == "/"


def test_cpus_are_the_launchers_to_set() -> None:
    spec = ContainerSpec(name="web", image="bb", command=("true",), limits=build_limits(cpuset_cpus="0-1,3"))
    config = bundle.build_runtime_config(spec, image_config={}, container_dir=Path("/b"), home="/root")
    assert config["linux"]["resources"] == {"cpu": {"cpus": "0,1,3"}}  # type: ignore[index]
    plain = ContainerSpec(name="web", image="bb", command=("true",))
    assert bundle.build_runtime_config(plain, image_config={}, container_dir=Path("/b"))["linux"]["resources"] == {}  # type: ignore[index]
