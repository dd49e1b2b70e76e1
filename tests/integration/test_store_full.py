"""A container that fills its disk gets ENOSPC, and nothing else breaks (issue 21, item 5).

The loopback pool was a sparse 64 GiB file whatever the room under it: once the file system under
it filled, the loop device failed btrfs' writes with EIO, btrfs aborted its transaction and forced
itself read-only, and no container could be made or removed until a remount. Now the pool's
blocks are reserved (storage/pool.py). Here the store is on a 400 MiB file system of its own."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc

SMALL = 400 << 20


def kernel_log() -> list[str]:
    return subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout.splitlines()


@pytest.fixture
def small_store(busybox_tar: Path, tmp_path: Path) -> Iterator[Sdc]:
    root = Path(f"/var/lib/sdc-full-{os.getpid()}")
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL}", "sdc-small", str(root)], check=True)
    sdc = Sdc(root, "btrfs")
    env = {k: v for k, v in sdc.env().items() if k != "SDC_POOL_SIZE"}  # the default size: half the room
    sdc.env = lambda **extra: {**env, **extra}  # type: ignore[method-assign]
    try:
        sdc.ok("import", str(busybox_tar), "bb")
        yield sdc
    finally:
        for cid in sdc("ps", "-aq").stdout.split():
            sdc("rm", "-f", cid)
        subprocess.run(["umount", "-l", str(root / "storage")])
        subprocess.run(["umount", "-l", str(root)], check=True)
        root.rmdir()


def test_a_container_filling_the_store_gets_enospc_and_the_store_goes_on(small_store: Sdc) -> None:
    sdc = small_store
    pool = sdc.root / "pool.raw"
    size = pool.stat().st_size
    assert 256 << 20 <= size < SMALL and pool.stat().st_blocks * 512 >= size  # reserved, with room left over
    seen = len(kernel_log())
    proc = sdc("run", "--name", "filler", "bb", "dd", "if=/dev/urandom", "of=/big", "bs=1M", "count=600")
    assert proc.returncode != 0 and "No space left on device" in proc.stderr, proc
    new = "\n".join(kernel_log()[seen:])
    assert "read-only" not in new and "Transaction aborted" not in new and "I/O error" not in new, new
    mounted = next(line.split()[3] for line in Path("/proc/self/mounts").read_text().splitlines()
                   if line.split()[1] == str(sdc.root / "storage"))  # fmt: skip
    assert "rw" in mounted.split(","), mounted
    # The next command grows the pool into the room left, the host's reserve kept (5%).
    sdc.ok("run", "--rm", "bb", "dd", "if=/dev/urandom", "of=/more", "bs=1M", "count=50")
    grown = pool.stat().st_size
    assert size < grown <= SMALL - SMALL // 20 and pool.stat().st_blocks * 512 >= grown
    proc = sdc("run", "--name", "filler2", "bb", "dd", "if=/dev/urandom", "of=/big", "bs=1M", "count=600")
    assert proc.returncode != 0 and "No space left on device" in proc.stderr, proc  # no room to grow into
    new = "\n".join(kernel_log()[seen:])
    assert "read-only" not in new and "Transaction aborted" not in new and "I/O error" not in new, new
    sdc.ok("rm", "filler", "filler2")  # without a remount
    assert sdc.ok("run", "--rm", "bb", "sh", "-c", "dd if=/dev/urandom of=/f bs=1M count=50 2>/dev/null && echo ok") \
        == "ok\n"  # fmt: skip
    assert pool.stat().st_size == grown
