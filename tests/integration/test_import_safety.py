"""Hostile archives against `sdc import` on a real btrfs pool (issue 13): each refused in one line,
nothing written outside the layer, no layer or tmp subvolume left behind."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Filler, Sdc, make_busybox_rootfs, store_state
from tests.integration.test_storage import btrfs_used


def member(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode = kind, size, 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def archive(*members: tuple[tarfile.TarInfo, Any], rootfs: Path | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        if rootfs is not None:
            tar.add(rootfs, arcname=".")
        for info, data in members:
            tar.addfile(info, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "rootfs"
    make_busybox_rootfs(root)
    return root


def refused(sdc: Sdc, store: Path, data: bytes, *args: str) -> str:
    """Import data; expect a one-line error and the store exactly as before. The error line."""
    before = store_state(store)
    proc = sdc("import", *args, "-", "hostile", input=data)
    assert proc.returncode == 125, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("sdc: error: "), proc.stderr
    assert store_state(store) == before
    assert "hostile:latest" not in sdc.ok("images")
    return proc.stderr


def test_a_whiteout_of_dot_dot_touches_nothing_outside_the_layer(sdc: Sdc, image: str, store: Path) -> None:
    """`.wh...` at an archive's root deleted the layer's parent, storage/tmp (tests/unit/test_layers.py
    shows a marker beside the layer surviving); refused() holds every layer and container unchanged."""
    for name in (".wh...", ".wh..", ".wh.", "etc/.wh..."):
        assert "whiteout" in refused(sdc, store, archive((member(name), None)))
        assert (store / "storage" / "tmp").is_dir()


@pytest.mark.parametrize("link", ["etc", "proc", "dev", "sys"])
def test_an_image_whose_system_directory_is_a_symlink_leaves_no_layer(
    sdc: Sdc, image: str, store: Path, link: str, tmp_path: Path
) -> None:
    root = tmp_path / "rootfs"
    make_busybox_rootfs(root)
    if (root / link).exists():
        (root / link / "passwd").unlink(missing_ok=True)
        (root / link).rmdir()
    (root / link).symlink_to("/tmp")
    assert f"/{link} is not a directory" in refused(sdc, store, archive(rootfs=root))


def test_truncated_archives_are_not_shorter_images(sdc: Sdc, image: str, store: Path, rootfs: Path) -> None:
    whole = archive((member("a", size=5), io.BytesIO(b"hello")), rootfs=rootfs)
    body = whole[: len(whole) - whole[::-1].find(b"hello"[::-1])]  # up to the last member's data
    cut_at_header = body + b"\0" * (512 - len(body) % 512)  # the member padded, then nothing
    for data in (cut_at_header, cut_at_header + b"ustar" * 50, whole[: len(whole) // 2]):
        assert "truncated or corrupt" in refused(sdc, store, data) or "not a valid" in refused(sdc, store, data)


@pytest.mark.parametrize(
    "name",
    ["/".join(["d"] * 400) + "/f", "x" * 5000, "d/" + "y" * 300, ".wh.x/inside"],
    ids=["deep", "5000-characters", "long-component", "under-a-whiteout"],
)
def test_odd_paths_are_one_line_errors(sdc: Sdc, image: str, store: Path, name: str) -> None:
    refused(sdc, store, archive((member(name, size=1), io.BytesIO(b"z"))))


def test_the_size_limit_counts_sparse_and_compressed_bytes_at_their_size(
    sdc: Sdc, image: str, store: Path, rootfs: Path, tmp_path: Path
) -> None:
    # A file of 8 GiB that is one hole, archived sparse by GNU tar: a few KiB.
    sparse = tmp_path / "sparse"
    sparse.mkdir()
    with open(sparse / "hole", "wb") as f:
        f.truncate(8 << 30)
        f.seek(4 << 30)
        f.write(b"middle")
    data = subprocess.run(["tar", "-c", "-S", "-C", str(sparse), "hole"], capture_output=True, check=True).stdout
    assert len(data) < 64 << 10
    assert "larger than the limit of 4096 MiB" in refused(sdc, store, data, "--max-size", "4g")
    env_limited = sdc("import", "-", "hostile", input=data, env=sdc.env(SDC_MAX_IMAGE_SIZE="1g"))
    assert env_limited.returncode == 125 and "limit of 1024 MiB" in env_limited.stderr

    # Under the limit it is imported, and written as what it is: a hole, not 8 GiB of blocks.
    used = btrfs_used(store / "storage")
    with_root = subprocess.run(["tar", "-c", "-S", "-C", str(rootfs), ".", "-C", str(sparse), "hole"],
                               capture_output=True, check=True).stdout  # fmt: skip
    sdc.ok("import", "-", "sparse", input=with_root)
    try:
        assert btrfs_used(store / "storage") - used < 32 << 20
        read = "ls -l /hole; dd if=/hole bs=1048576 skip=4096 count=1 2>/dev/null | head -c 6"
        out = sdc.ok("run", "--rm", "sparse", "sh", "-c", read)
        assert str(8 << 30) in out and out.endswith("middle")
    finally:
        sdc.ok("rmi", "sparse")


@pytest.fixture
def small_store() -> Iterator[Sdc]:
    """A store of its own on a 256 MiB pool."""
    root = Path(f"/var/lib/sdc-small-{os.getpid()}")
    sdc = Sdc(root)
    yield sdc
    storage = root / "storage"
    if subprocess.run(["mountpoint", "-q", str(storage)]).returncode == 0:
        subprocess.run(["umount", str(storage)], check=True)
    subprocess.run(["rm", "-rf", str(root)], check=True)


def test_a_full_pool_is_a_one_line_error_and_the_store_stays_usable(
    small_store: Sdc, rootfs: Path, busybox_tar: Path
) -> None:
    sdc = small_store
    env = sdc.env(SDC_POOL_SIZE=str(256 << 20))
    sdc.ok("import", str(busybox_tar), "bb", env=env)
    big = archive((member("data", size=400 << 20), Filler(400 << 20)), rootfs=rootfs)
    before = store_state(sdc.root)
    proc = sdc("import", "-", "big", input=big)
    assert proc.returncode == 125 and proc.stderr.count("\n") == 1, proc.stderr
    assert "the store is full" in proc.stderr
    assert store_state(sdc.root) == before
    # Space the failed import took is the store's again.
    assert sdc.ok("run", "--rm", "bb", "echo", "still usable") == "still usable\n"
    sdc.ok("import", "-", "again", input=busybox_tar.read_bytes() + b"\0" * 4096)


def test_an_import_killed_half_way_leaves_nothing_the_next_command_keeps(
    sdc: Sdc, image: str, store: Path, rootfs: Path
) -> None:
    buf = io.BytesIO()
    tar = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
    tar.add(rootfs, arcname=".")
    tar.addfile(member("data", size=64 << 20))  # its header; an eighth of its data follows, then nothing
    before = store_state(store)
    proc = subprocess.Popen(sdc.argv("import", "-", "killed"), stdin=subprocess.PIPE, env=sdc.env())
    assert proc.stdin is not None
    proc.stdin.write(buf.getvalue() + b"\1" * (8 << 20))
    proc.stdin.flush()
    deadline = time.monotonic() + 20
    while not os.listdir(store / "storage" / "tmp"):
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    assert os.listdir(store / "storage" / "tmp")  # what kill -9 leaves
    sdc.ok("run", "--rm", image, "true")  # the next command that opens the store collects it
    assert store_state(store) == before
