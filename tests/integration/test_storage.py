"""btrfs storage: snapshots cost nothing, the pool makes and mounts itself, extraction keeps what it must."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, layer_files, make_busybox_rootfs, rootfs_of, tar_directory


def btrfs_used(mountpoint: Path) -> int:
    subprocess.run(["btrfs", "filesystem", "sync", str(mountpoint)], check=True, capture_output=True)
    out = subprocess.run(["btrfs", "filesystem", "usage", "-b", str(mountpoint)], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return int(re.search(r"^\s*Used:\s+(\d+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]


def test_twenty_containers_of_a_300mb_image_cost_under_5mb(sdc: Sdc, store: Path, tmp_path: Path) -> None:
    make_busybox_rootfs(tmp_path / "rootfs")
    big = tar_directory(tmp_path / "rootfs", tmp_path / "big.tar", extra={f"data/blob{i}": 100 << 20 for i in range(3)})
    sdc.ok("import", str(big), "big")
    names = [f"big-{i}" for i in range(20)]
    try:
        before = btrfs_used(store / "storage")
        for name in names:
            sdc.ok("run", "-d", "--name", name, "big", "sleep", "1000")
        after = btrfs_used(store / "storage")
        grown = after - before
        assert grown < 5 << 20, f"20 containers grew the store by {grown / (1 << 20):.1f} MB"
        assert os.path.getsize(rootfs_of(sdc, names[0]) / "data" / "blob0") == 100 << 20
    finally:
        sdc("rm", "-f", *names)
        sdc.ok("rmi", "big")


@pytest.fixture
def fresh_root() -> Iterator[Path]:
    root = Path(f"/var/lib/sdc-fresh-{secrets.token_hex(3)}")
    yield root
    storage = root / "storage"
    if subprocess.run(["mountpoint", "-q", str(storage)]).returncode == 0:
        subprocess.run(["umount", str(storage)], check=True)
    shutil.rmtree(root, ignore_errors=True)


def loop_devices_of(path: Path) -> str:
    return subprocess.run(["losetup", "-j", str(path)], capture_output=True, text=True).stdout.strip()


def test_a_loopback_pool_is_made_on_first_use_and_mounted_again(fresh_root: Path, busybox_tar: Path) -> None:
    sdc = Sdc(fresh_root)
    assert fresh_root.parent.stat().st_dev == Path("/").stat().st_dev  # not on btrfs here
    sdc.ok("import", str(busybox_tar), "bb")
    pool = fresh_root / "pool.raw"
    assert pool.exists() and pool.stat().st_blocks * 512 >= pool.stat().st_size  # reserved (storage/pool.py)
    assert json.loads((fresh_root / "storage.json").read_text()) == {"driver": "btrfs", "pool": True}
    assert subprocess.run(["findmnt", "-n", "-o", "FSTYPE", str(fresh_root / "storage")], capture_output=True,
                          text=True).stdout.strip() == "btrfs"  # fmt: skip
    # As after a reboot: unmounted, and the loop device freed with it.
    subprocess.run(["umount", str(fresh_root / "storage")], check=True)
    assert loop_devices_of(pool) == ""
    assert sdc.ok("run", "--rm", "bb", "echo", "again") == "again\n"
    assert loop_devices_of(pool) != ""
    options = mount_options(fresh_root / "storage")
    assert options >= {"nosuid", "nodev"} and not [o for o in options if o.startswith("discard")], options
    assert [(p.stat().st_mode & 0o777) for p in (fresh_root, fresh_root / "storage")] == [0o700, 0o700]


def mount_options(path: Path) -> set[str]:
    out = subprocess.run(["findmnt", "-n", "-o", "OPTIONS", str(path)], capture_output=True, text=True).stdout
    return set(out.strip().split(","))


def test_a_store_an_older_sdc_left_open_is_closed_by_the_next_command(fresh_root: Path, busybox_tar: Path) -> None:
    """Before 0700 and nosuid,nodev: a store a host user could reach, on a pool that honoured setuid."""
    sdc = Sdc(fresh_root)
    sdc.ok("import", str(busybox_tar), "bb")
    storage = fresh_root / "storage"
    subprocess.run(["umount", str(storage)], check=True)
    subprocess.run(["mount", "-o", "loop,discard,noatime", str(fresh_root / "pool.raw"), str(storage)], check=True)
    fresh_root.chmod(0o755)
    storage.chmod(0o755)
    assert not mount_options(storage) & {"nosuid", "nodev"}
    assert sdc.ok("run", "--rm", "bb", "echo", "closed") == "closed\n"
    assert mount_options(storage) >= {"nosuid", "nodev"}
    assert [(p.stat().st_mode & 0o777) for p in (fresh_root, storage)] == [0o700, 0o700]


def test_vfs_driver_is_the_last_resort(fresh_root: Path, busybox_tar: Path) -> None:
    sdc = Sdc(fresh_root)
    sdc.ok("--storage-driver", "vfs", "import", str(busybox_tar), "bb")
    assert json.loads((fresh_root / "storage.json").read_text()) == {"driver": "vfs", "pool": False}
    assert not (fresh_root / "pool.raw").exists()
    assert sdc.ok("run", "--rm", "bb", "echo", "copied") == "copied\n"
    proc = sdc("--storage-driver", "btrfs", "run", "--rm", "bb", "true")
    assert proc.returncode != 0 and "uses the vfs driver" in proc.stderr


def test_extraction_keeps_owners_modes_links_devices_and_xattrs(sdc: Sdc, store: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: object) -> None:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data)
            for key, value in attrs.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("bin", tarfile.DIRTYPE, mode=0o755)
        add("bin/su", data=b"#!/bin/sh\n", mode=0o4755, uid=0, gid=0)
        add("home", tarfile.DIRTYPE, mode=0o755)
        add("home/alice", tarfile.DIRTYPE, mode=0o700, uid=1000, gid=1000)
        add("home/alice/notes", data=b"hi", mode=0o640, uid=1000, gid=100,
            pax_headers={"SCHILY.xattr.user.origin": "test"}, mtime=1_000_000)  # fmt: skip
        add("home/alice/link", tarfile.SYMTYPE, linkname="notes", uid=1000, gid=100)
        add("home/alice/hard", tarfile.LNKTYPE, linkname="home/alice/notes")
        add("dev", tarfile.DIRTYPE, mode=0o755)
        add("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
    image_id = sdc.ok("import", "-", "attrs", input=buf.getvalue()).strip()
    try:
        record = json.loads((store / "images" / f"{image_id.removeprefix('sha256:')}.json").read_text())
        layer = layer_files(sdc, record["layers"][0])
        su = (layer / "bin/su").stat()
        assert stat.S_IMODE(su.st_mode) == 0o4755  # setuid survives the chown
        alice = (layer / "home/alice").stat()
        assert (alice.st_uid, alice.st_gid, stat.S_IMODE(alice.st_mode)) == (1000, 1000, 0o700)
        notes = (layer / "home/alice/notes").stat()
        assert (notes.st_uid, notes.st_gid, stat.S_IMODE(notes.st_mode), notes.st_mtime) == (1000, 100, 0o640, 1e6)
        assert os.getxattr(layer / "home/alice/notes", "user.origin") == b"test"
        assert os.readlink(layer / "home/alice/link") == "notes"
        assert os.lstat(layer / "home/alice/link").st_uid == 1000
        assert (layer / "home/alice/hard").stat().st_ino == notes.st_ino
        null = (layer / "dev/null").stat()
        assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
        if sdc.driver == "btrfs":
            with pytest.raises(OSError):  # layers are read-only subvolumes
                (layer / "new-file").write_text("x")
    finally:
        sdc.ok("rmi", "attrs")


def test_concurrent_commands_do_not_corrupt_the_store(sdc: Sdc, image: str, busybox_tar: Path) -> None:
    names = [f"conc-{i}" for i in range(8)]
    try:
        with ThreadPoolExecutor(8) as pool:
            runs = list(pool.map(lambda n: sdc("run", "-d", "--name", n, image, "sleep", "1000"), names))
            imports = list(pool.map(lambda i: sdc("import", str(busybox_tar), f"copy{i}"), range(4)))
        assert [p.returncode for p in runs + imports] == [0] * 12, [p.stderr for p in runs + imports]
        running = {c["Name"] for c in json.loads(sdc.ok("ps", "--format", "json"))}
        assert set(names) <= running
        listed = sdc.ok("images")
        assert all(f"copy{i} " in listed for i in range(4))
    finally:
        sdc("rm", "-f", *names)
        sdc("rmi", *[f"copy{i}" for i in range(4)])
