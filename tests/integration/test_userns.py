"""--userns=auto (issue 9): PID 1's ids are a range of the host's of the container's own; inside, it
is root and the image's files are root's (an idmapped mount of the root); ranges are disjoint and
freed on rm; without sdc's lines in /etc/subuid it is a one-line error that leaves nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, rootfs_of, store_state, unit_property

BASE, COUNT = 1_000_000, 3 * 65536
SUBID_FILES = (Path("/etc/subuid"), Path("/etc/subgid"))


@pytest.fixture
def subids() -> Iterator[None]:
    """sdc's lines in the test host's /etc/subuid and /etc/subgid (its own overlay of the VM's)."""
    before = {path: path.read_text() if path.exists() else None for path in SUBID_FILES}
    for path in SUBID_FILES:
        path.write_text((before[path] or "") + f"sdc:{BASE}:{COUNT}\n")
    yield
    for path, text in before.items():
        if text is None:
            path.unlink()
        else:
            path.write_text(text)


def host_ids(name: str) -> tuple[int, int]:
    """PID 1's real uid and gid as the host sees them."""
    pid = unit_property(f"sdc-{name}.service", "MainPID")
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(status["Uid"].split()[0]), int(status["Gid"].split()[0])


SCRIPT = ("id -u; id -g; stat -c %u:%g /bin/busybox; cat /proc/self/uid_map | tr -s ' '; echo x > /dev/null && "
          "echo null-ok; echo written > /new && stat -c %u /new; echo '10.0.0.1 db' >> /etc/hosts && "
          "stat -c %u:%g /etc/hosts; exec sleep 1000")  # fmt: skip


@pytest.mark.drivers("btrfs")
def test_root_inside_is_a_range_of_its_own_outside(sdc: Sdc, image: str, name: str, subids: None) -> None:
    sdc.ok("run", "-d", "--userns=auto", "--name", name, image, "sh", "-c", SCRIPT)
    second = f"{name}-2"
    try:
        sdc.ok("run", "-d", "--userns", "auto", "--name", second, image, "sleep", "1000")
        first_ids, second_ids = host_ids(name), host_ids(second)
        assert first_ids[0] in (BASE, BASE + 65536, BASE + 2 * 65536) and first_ids[1] >= BASE
        assert abs(first_ids[0] - second_ids[0]) >= 65536 and abs(first_ids[1] - second_ids[1]) >= 65536
        lines = []
        for _ in range(100):
            lines = sdc.ok("logs", name).splitlines()
            if len(lines) >= 7:
                break
        assert lines == ["0", "0", "0:0", f" 0 {first_ids[0]} 65536", "null-ok", "0", "0:0"]
        [info] = json.loads(sdc.ok("inspect", name))
        assert info["Security"]["UsernsMode"] == "auto" and info["Security"]["UidMap"] == [[0, first_ids[0], 65536]]
        assert info["Security"]["GidMap"] == [[0, first_ids[1], 65536]]
        through = Path(f"/proc/{unit_property(f'sdc-{name}.service', 'MainPID')}/root/new")
        assert through.stat().st_uid == first_ids[0]  # what it wrote, through its idmapped root: its range's
        assert (rootfs_of(sdc, name) / "new").stat().st_uid == 0  # on disk: as the image's files are
        # sdc exec enters its user namespace too: root there, its range outside
        assert sdc.ok("exec", name, "sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '") == (
            f"0\n 0 {first_ids[0]} 65536\n")
        sdc.ok("commit", name, f"{name}-image")  # its changes are a layer like any other's
        assert sdc.ok("run", "--rm", f"{name}-image", "stat", "-c", "%u:%g", "/new") == "0:0\n"
        sdc.ok("rmi", f"{name}-image")
        freed = host_ids(name)[0]
        sdc.ok("rm", "-f", name)
        third = f"{name}-3"
        sdc.ok("run", "-d", "--userns=auto", "--name", third, image, "sleep", "1000")
        assert host_ids(third)[0] == freed  # rm freed its range
        sdc.ok("rm", "-f", third)
    finally:
        sdc("rm", "-f", second)


@pytest.mark.drivers("btrfs")
def test_a_foreground_container_too(sdc: Sdc, image: str, subids: None) -> None:
    proc = sdc("run", "--rm", "--userns=auto", image, "sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '")
    assert proc.returncode == 0 and proc.stdout.splitlines()[0] == "0", proc.stderr
    assert int(proc.stdout.split()[2]) >= BASE


def test_without_sdcs_ids_or_on_overlay_it_is_one_line_and_leaves_nothing(
    sdc: Sdc, image: str, store: Path, driver: str
) -> None:
    before = store_state(store)
    proc = sdc("run", "-d", "--userns=auto", image, "true")
    expected = "needs the btrfs or vfs driver" if driver == "overlay" else "--userns=auto: no ids for sdc"
    assert proc.returncode == 125 and expected in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert sdc("run", "--rm", "--userns=auto", "--privileged", image, "true").stderr.count("\n") == 1
    assert store_state(store) == before
