"""seccomp in containers (issue 9): Docker's default profile by default, a Docker JSON profile
with --security-opt seccomp=FILE, none with seccomp=unconfined. What the profile compiles to is
tests/unit/test_seccomp.py's; here, that each container really runs under the one it asked for."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, make_busybox_rootfs, store_state

# Each call here succeeds for an unprivileged process (or fails with another errno) where no
# filter stands in the way: an EPERM is the profile's doing, not the capabilities'.
PROBE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long ret) {
    printf("%s %s\n", name, ret < 0 ? strerrorname_np(errno) : "ok");
}

int main(void) {
    report("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
    report("add_key", syscall(SYS_add_key, "user", "sdc-probe", "x", 1, -2 /* process keyring */));
    report("personality", syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */));
    report("vsock", syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0));
    report("unshare-user", syscall(SYS_unshare, CLONE_NEWUSER));
    report("clone3", syscall(SYS_clone3, NULL, 0));
    report("getpid", syscall(SYS_getpid));
    return 0;
}
"""


@pytest.fixture(scope="module")
def probe_image(sdc: Sdc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("probe")
    root = work / "rootfs"
    make_busybox_rootfs(root)
    (work / "probe.c").write_text(PROBE)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "probe"), str(work / "probe.c")], check=True)
    with tarfile.open(work / "probe.tar", "w") as tar:
        tar.add(root, arcname=".")
    sdc.ok("import", str(work / "probe.tar"), "probe")
    yield "probe"
    sdc("rmi", "-f", "probe")


def probe(sdc: Sdc, image: str, *flags: str) -> dict[str, str]:
    out = sdc.ok("run", "--rm", *flags, image, "sh", "-c", "grep Seccomp: /proc/self/status; probe")
    return dict(line.replace(":\t", " ").split(" ", 1) for line in out.splitlines())


def test_the_default_profile_is_dockers(sdc: Sdc, probe_image: str) -> None:
    got = probe(sdc, probe_image)
    assert got == {"Seccomp": "2", "keyctl": "EPERM", "add_key": "EPERM", "personality": "EPERM", "vsock": "EPERM",
                   "unshare-user": "EPERM", "clone3": "ENOSYS", "getpid": "ok"}  # fmt: skip
    # and what a shell session does works under it
    script = "mkdir -p /tmp/a && echo x > /tmp/a/f && cat /tmp/a/f && ls /tmp/a && id -u && ps >/dev/null && echo fine"
    assert sdc.ok("run", "--rm", probe_image, "sh", "-c", script) == "x\nf\n0\nfine\n"


def test_unconfined_has_no_filter(sdc: Sdc, probe_image: str) -> None:
    got = probe(sdc, probe_image, "--security-opt", "seccomp=unconfined")
    assert got["Seccomp"] == "0" and got["getpid"] == "ok"
    assert not {k for k, v in got.items() if v in ("EPERM", "ENOSYS")}, got


def test_a_docker_profile_that_denies_mkdir(sdc: Sdc, probe_image: str, tmp_path: Path, name: str) -> None:
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }))  # fmt: skip
    proc = sdc("run", "--name", name, "--security-opt", f"seccomp={profile}", probe_image, "sh", "-c",
               "mkdir /tmp/x; echo made=$?; touch /tmp/y && echo touched")  # fmt: skip
    assert proc.stdout.splitlines()[-2:] == ["made=1", "touched"] and "Operation not permitted" in proc.stderr
    [info] = json.loads(sdc.ok("inspect", name))
    assert info["Security"]["Seccomp"] == str(profile) and info["Security"]["NoNewPrivileges"] is True
    # the profile was compiled at create: the container does not need the file any more
    moved = tmp_path / "moved.json"
    shutil.move(profile, moved)
    assert "Seccomp:\t0" not in sdc.ok("run", "--rm", "--security-opt", f"seccomp:{moved}", probe_image, "grep",
                                       "Seccomp:", "/proc/self/status")  # fmt: skip


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("seccomp=/nonexistent.json", "no seccomp profile /nonexistent.json"),
        ("seccomp=/etc/hostname", "cannot read the seccomp profile /etc/hostname"),
        ("apparmor=docker-default", "unsupported --security-opt 'apparmor=docker-default'"),
        ("no-new-privileges=false", "sdc always sets no-new-privileges"),
    ],
)
def test_a_bad_security_opt_leaves_nothing(sdc: Sdc, image: str, store: Path, option: str, message: str) -> None:
    before = store_state(store)
    proc = sdc("run", "-d", "--security-opt", option, image, "true")
    assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert store_state(store) == before
