"""The overlay driver (issue 7, scope item 3): containers of one image read the same lower files,
so the page cache of a file one container read is not charged again to the next; on btrfs
snapshots each container's copy is a file of its own, cached and charged again. (That diff,
commit, save and the umoci comparison pass on overlay is test_commit's, run on every driver.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, new_store

BIG = 32 << 20


@pytest.fixture(scope="module", params=["overlay", "btrfs"])
def driven(request: pytest.FixtureRequest, busybox_tar: Path) -> Iterator[Sdc]:
    with new_store() as root:
        sdc = Sdc(root)
        sdc.ok("--storage-driver", request.param, "import", str(busybox_tar), "bb")
        sdc.ok("run", "--name", "maker", "bb", "sh", "-c", f"head -c {BIG} /dev/urandom > /big")
        sdc.ok("commit", "maker", "big")
        sdc.ok("rm", "maker")
        yield sdc


def cache_of(sdc: Sdc, name: str) -> int:
    """Bytes of page cache charged to the container's memory cgroup (v1 `cache`, v2 `file`)."""
    group = json.loads(sdc.ok("inspect", name))[0]["State"]["ControlGroup"]
    for stat in (Path("/sys/fs/cgroup/memory") / group.lstrip("/") / "memory.stat",
                 Path("/sys/fs/cgroup") / group.lstrip("/") / "memory.stat"):  # fmt: skip
        if stat.exists():
            fields = dict(line.split() for line in stat.read_text().splitlines())
            return int(fields.get("cache", fields.get("file", 0)))
    raise AssertionError(f"no memory.stat for {group}")


def read_big(sdc: Sdc, name: str) -> int:
    sdc.ok("run", "-d", "--name", name, "big", "sh", "-c", "cat /big > /dev/null; touch /done; exec sleep 1000")
    deadline = time.monotonic() + 30
    while "A /done" not in sdc.ok("diff", name):
        assert time.monotonic() < deadline, f"{name} never read the file"
        time.sleep(0.1)
    storage = json.loads(sdc.ok("inspect", name))[0]["Storage"]
    if storage["Driver"] == "overlay":  # the changes, readable on the host
        assert (Path(storage["UpperDir"]) / "done").exists(), storage
    return cache_of(sdc, name)


def test_the_second_container_of_an_image_reads_the_firsts_page_cache_on_overlay(driven: Sdc) -> None:
    Path("/proc/sys/vm/drop_caches").write_text("1\n")  # nobody has the file cached yet
    try:
        first, second = read_big(driven, "first"), read_big(driven, "second")
    finally:
        driven("rm", "-f", "first")
        driven("rm", "-f", "second")
    assert first >= BIG * 3 // 4, f"the first reader was charged {first >> 20} MiB: the measure does not work"
    overlay = (driven.root / "storage" / "l").exists()
    if overlay:
        assert second < BIG // 4, f"the second container paid again: {second >> 20} MiB"
    else:  # the contrast: a snapshot's file is cached on its own
        assert second >= BIG * 3 // 4, f"btrfs shared the cache ({second >> 20} MiB): the test shows nothing"
