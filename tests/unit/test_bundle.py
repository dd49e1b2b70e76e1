"""The container's runtime config: its environment, as Docker builds one, and what the launcher applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdcontainer import bundle
from sdcontainer.containerspec import ContainerSpec
from sdcontainer.errors import UsageError
from sdcontainer.spec import build_limits

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nbad:line\n"


def test_the_environment_docker_gives_a_container() -> None:
    env = bundle.build_env([], [], hostname="web", home="/root", tty=False)
    assert env == [f"PATH={bundle.DEFAULT_PATH}", "HOSTNAME=web", "HOME=/root", "container=sdc"]
    assert "TERM=xterm" in bundle.build_env([], [], hostname="web", home="/", tty=True)


def test_the_image_then_the_flags_override_a_name_in_its_place() -> None:
    env = bundle.build_env(["PATH=/image/bin", "HOME=/srv", "LANG=C"], ["LANG=C.UTF-8", "NEW=1"],
                           hostname="h", home="/root", tty=False)  # fmt: skip
    assert env == ["PATH=/image/bin", "HOSTNAME=h", "HOME=/srv", "container=sdc", "LANG=C.UTF-8", "NEW=1"]


GROUP = "root:x:0:\nwheel:x:10:app,other\nstaff:x:50:app\nnogroup:x:65534:\n"
PASSWD_APP = PASSWD + "app:x:1000:1000:App:/home/app:/bin/sh\n"


def test_accounts_resolve_as_runc_resolves_them() -> None:
    assert bundle.resolve_account("", PASSWD, GROUP) == bundle.Account(uid=0, gid=0, home="/root")
    assert bundle.resolve_account("nobody", PASSWD, GROUP) == bundle.Account(65534, 65534, (), "/nonexistent")
    assert bundle.resolve_account("app", PASSWD_APP, GROUP) == bundle.Account(1000, 1000, (10, 50), "/home/app")
    assert bundle.resolve_account("app:staff", PASSWD_APP, GROUP) == bundle.Account(1000, 50, (), "/home/app")
    # An id need not be in the files: group 0, home / (as Docker: -u 1000 on alpine is uid=1000 gid=0).
    assert bundle.resolve_account("4321", PASSWD, GROUP) == bundle.Account(4321, 0, (), "/")
    assert bundle.resolve_account("4321:7", "", "") == bundle.Account(4321, 7, (), "/")
    for user, says in (("bob", "no user 'bob'"), ("app:nope", "no group 'nope'")):
        with pytest.raises(UsageError, match=says):
            bundle.resolve_account(user, PASSWD_APP, GROUP)
    with pytest.raises(UsageError, match="not a number"):
        bundle.resolve_account("x", "x:x:NaN:0::/:/bin/sh\n", "")


def test_cpus_are_the_launchers_to_set() -> None:
    spec = ContainerSpec(name="web", image="bb", command=("true",), limits=build_limits(cpuset_cpus="0-1,3"))
    config = bundle.build_runtime_config(spec, image_config={}, container_dir=Path("/b"))
    assert config["linux"]["resources"] == {"cpu": {"cpus": "0,1,3"}}  # type: ignore[index]
    plain = ContainerSpec(name="web", image="bb", command=("true",))
    assert bundle.build_runtime_config(plain, image_config={}, container_dir=Path("/b"))["linux"]["resources"] == {}  # type: ignore[index]


def test_privileged_is_the_hosts_root_and_says_so(tmp_path: Path) -> None:
    from sdcontainer.protocol import CAPABILITIES
    from sdcontainer.spec import build_run_spec, capabilities

    plain = build_run_spec(image="bb", name="c")
    privileged = build_run_spec(image="bb", name="c", privileged=True)
    configs = [bundle.build_runtime_config(s, image_config={}, container_dir=tmp_path, caps=capabilities(s))
               for s in (plain, privileged)]  # fmt: skip
    for config, is_privileged in zip(configs, (False, True), strict=True):
        process, linux = config["process"], config["linux"]
        assert process["noNewPrivileges"] is not is_privileged  # type: ignore[index]
        assert (set(process["capabilities"]["bounding"]) == set(CAPABILITIES)) is is_privileged  # type: ignore[index]
        assert (linux["maskedPaths"] == linux["readonlyPaths"] == []) is is_privileged  # type: ignore[index]
        assert ("seccompProgram" in linux) is not is_privileged  # type: ignore[operator]
        sys_mount = next(m for m in config["mounts"] if m["destination"] == "/sys")  # type: ignore[attr-defined]
        assert ("rw" in sys_mount["options"]) is is_privileged
    paths = [d["path"] for d in configs[1]["linux"]["devices"]]  # type: ignore[index]
    assert len(paths) == len(set(paths))  # /dev/null and the like once
    assert not any(p.startswith(("/dev/pts/", "/dev/shm/")) or p == "/dev/console" for p in paths)
    null = next(d for d in configs[1]["linux"]["devices"] if d["path"] == "/dev/null")  # type: ignore[index]
    assert (null["type"], null["major"], null["minor"]) == ("c", 1, 3)
