"""Removal nothing in a container can block (issue 12): nested btrfs subvolumes, made from the host's
side or from inside, and a vfs tree of immutable and append-only entries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, make_busybox_rootfs, sdc_units, store_state

# A tool a container's image can carry: BTRFS_IOC_SUBVOL_CREATE needs no capability, only write
# access to the directory.
MKSUBVOL_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

int main(int argc, char **argv) {  /* mksubvol DIR NAME */
    struct btrfs_ioctl_vol_args args;
    int fd;
    if (argc != 3) return 2;
    memset(&args, 0, sizeof args);
    strncpy(args.name, argv[2], BTRFS_PATH_NAME_MAX);
    fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (fd < 0 || ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0) {
        printf("mksubvol: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
"""


def subvolumes_under(path: Path) -> list[str]:
    out = subprocess.run(["btrfs", "subvolume", "list", str(path)], capture_output=True, text=True).stdout
    return [line.split(" path ", 1)[1] for line in out.splitlines() if " path " in line]


def rootfs_of(sdc: Sdc, name: str) -> Path:
    return Path(json.loads(sdc.ok("inspect", name))[0]["Storage"]["RootFs"])


def assert_all_gone(sdc: Sdc, store: Path, name: str, before: dict[str, object]) -> None:
    assert store_state(store) == before
    assert not any(u.startswith(f"sdc-{name}.") for u in sdc_units())
    assert name not in sdc.ok("ps", "-a")
    assert not any("containers/" in s for s in subvolumes_under(store / "storage"))


@pytest.mark.drivers("btrfs")  # a subvolume is btrfs's: on overlay, a container's root is not one
def test_subvolumes_nested_in_a_running_container_do_not_block_rm(sdc: Sdc, image: str, store: Path, name: str) -> None:
    before = store_state(store)
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    root = rootfs_of(sdc, name)
    for argv in (["create", f"{root}/tmp/inner"], ["create", f"{root}/tmp/inner/deeper"],
                 ["snapshot", "-r", f"{root}/tmp/inner", f"{root}/tmp/frozen"]):  # fmt: skip
        subprocess.run(["btrfs", "subvolume", *argv], check=True, capture_output=True)
    assert len([s for s in subvolumes_under(store / "storage") if s.startswith("containers/")]) >= 3
    sdc.ok("rm", "-f", name)
    assert_all_gone(sdc, store, name, before)


@pytest.fixture(scope="module")
def subvol_image(sdc: Sdc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("subvol")
    root = work / "rootfs"
    make_busybox_rootfs(root)
    (root / "tmp").mkdir()
    (work / "mksubvol.c").write_text(MKSUBVOL_C)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "mksubvol"), str(work / "mksubvol.c")],
                   check=True)  # fmt: skip
    with tarfile.open(work / "subvol.tar", "w") as tar:
        tar.add(root, arcname=".")
    sdc.ok("import", str(work / "subvol.tar"), "subvol")
    yield "subvol"
    sdc("rmi", "-f", "subvol")


@pytest.mark.drivers("btrfs")
@pytest.mark.parametrize("mode", ["foreground", "detached"])
def test_subvolumes_a_container_makes_itself_do_not_block_rm(
    sdc: Sdc, subvol_image: str, store: Path, name: str, mode: str
) -> None:
    before = store_state(store)
    script = "mksubvol /tmp a && mksubvol /tmp/a b && mksubvol /tmp/a/b c && echo made"
    if mode == "detached":
        sdc.ok("run", "-d", "--name", name, subvol_image, "sh", "-c", f"{script}; exec sleep 1000")
        assert sdc.ok("logs", name) in ("", "made\n")
    else:
        assert sdc.ok("run", "--name", name, subvol_image, "sh", "-c", script) == "made\n"
    root = rootfs_of(sdc, name)
    for _ in range(100):
        if (root / "tmp/a/b/c").is_dir():
            break
        time.sleep(0.05)
    assert (root / "tmp/a/b/c").stat().st_ino == 256  # a subvolume's root, three levels down
    sdc.ok("rm", "-f", name)
    assert_all_gone(sdc, store, name, before)


@pytest.fixture
def vfs_store(busybox_tar: Path) -> Iterator[Sdc]:
    root = Path(f"/var/lib/sdc-vfs-{os.getpid()}")
    sdc = Sdc(root)
    sdc.ok("--storage-driver", "vfs", "import", str(busybox_tar), "bb")
    yield sdc
    subprocess.run(["chattr", "-R", "-i", "-a", str(root)], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def test_immutable_and_append_only_entries_do_not_block_rm_on_vfs(vfs_store: Sdc, name: str) -> None:
    sdc = vfs_store
    before = store_state(sdc.root)
    sdc.ok("run", "-d", "--name", name, "bb", "sh", "-c", "mkdir -p /srv/logs && echo x > /srv/logs/a; sleep 1000")
    root = rootfs_of(sdc, name)
    for _ in range(100):
        if (root / "srv/logs/a").exists():
            break
        time.sleep(0.05)
    # Container root cannot set these (no CAP_LINUX_IMMUTABLE); a privileged one, or the host, can.
    subprocess.run(["chattr", "+i", str(root / "bin" / "busybox")], check=True)
    subprocess.run(["chattr", "+a", str(root / "srv" / "logs")], check=True)
    subprocess.run(["chattr", "+i", str(root / "etc")], check=True)
    sdc.ok("rm", "-f", name)
    assert store_state(sdc.root) == before
    assert not root.exists()


def test_rm_removes_what_is_there_and_says_what_is_not(sdc: Sdc, image: str, name: str) -> None:
    """Docker's `rm a b c` (issue 25): the containers that are there go; the names that are not
    are one line at the end, and the exit status says so."""
    sdc.ok("create", "--name", name, image, "true")
    sdc.ok("create", "--name", f"{name}-2", image, "true")
    proc = sdc("rm", name, "nosuch-a", f"{name}-2", "nosuch-b")
    assert proc.returncode != 0 and proc.stdout == f"{name}\n{name}-2\n", proc
    assert proc.stderr == ("sdc: error: no such container: nosuch-a, nosuch-b "
                           "(hint: `sdc ps -a` lists the containers here)\n")
    assert name not in sdc.ok("ps", "-a") and f"{name}-2" not in sdc.ok("ps", "-a")
