"""A real reboot (issue 8): enabled containers come back when a machine boots again.

The machine is a test host of its own (tests/testhost.py) booted inside this one, to
multi-user.target, with its disk kept in a directory outside it (--state): it is powered off
and a new one boots over the same disk, with nothing of the first one's kernel state (mounts,
loop devices, cgroups, /run). The loopback pool is mounted at boot by the mount unit sdc wrote,
and the enabled container's unit starts it over its kept layer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import make_busybox_rootfs, tar_directory

CHECKOUT = Path(__file__).resolve().parents[2]
STORE = "/var/lib/sdc-reboot"


class Machine:
    """A disk (a directory here) that test hosts boot from, one after another."""

    def __init__(self, disk: Path, share: Path, driver: str) -> None:
        self.disk, self.share, self.driver = disk, share, driver

    def boot(self, script: str) -> str:
        """Boot to multi-user.target, run script (sh) with `sdc` on its store, power off: its output."""
        sdc = f"{sys.executable} -m sdcontainer"
        body = f"set -e\nsdc() {{ SDC_ROOT={STORE} SDC_STORAGE_DRIVER={self.driver} {sdc} \"$@\"; }}\n{script}"
        proc = subprocess.run(
            [sys.executable, str(CHECKOUT / "tests" / "testhost.py"), f"--state={self.disk}", f"--bind={self.share}",
             "--target=multi-user.target", "--", "sh", "-c", body],
            capture_output=True, text=True, timeout=240, cwd=CHECKOUT,
        )  # fmt: skip
        assert proc.returncode == 0, f"boot failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout


def ps(out: str) -> dict[str, dict[str, str]]:
    return {row["Name"]: row for row in json.loads(out)}


@pytest.mark.drivers("btrfs", "overlay")
def test_an_enabled_container_runs_again_after_a_reboot(driver: str, tmp_path: Path) -> None:
    share = tmp_path / "share"
    make_busybox_rootfs(share / "rootfs")
    tar = tar_directory(share / "rootfs", share / "busybox.tar")
    disk = tmp_path / "disk"
    disk.mkdir()
    # A file system of its own: overlayfs takes no upper directory on the file system of its lower (/).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "sdc-reboot-disk", str(disk)], check=True)
    try:
        boot_three_times(Machine(disk, share, driver), tar)
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def boot_three_times(machine: Machine, tar: Path) -> None:
    machine.boot(f"""
sdc import {tar} bb
sdc run -d --name db --enable --restart always -m 64m bb sh -c 'echo up >> /boots; exec sleep 100000'
sdc run -d --name plain --restart always bb sleep 100000
sdc create --name made --enable bb sh -c 'echo ran >> /made; cat /made'
""")
    # A new machine over the same disk: db and made started at boot, plain (not enabled) did not.
    active, memory, boots, made, listing = machine.boot("""
systemctl is-active sdc@db.service || true; echo ---
systemctl show -p MemoryMax --value sdc@db.service; echo ---
sdc exec db cat /boots; echo ---
sdc wait made >/dev/null; sdc logs made; echo ---
sdc ps -a --format json
sdc disable db >/dev/null
""").split("---\n")
    assert active.strip() == "active"
    assert memory.strip() == str(64 << 20)
    assert boots == "up\nup\n"  # the layer the first run wrote to, again
    rows = ps(listing)
    assert rows["db"]["Status"].startswith("Up") and rows["db"]["Unit"] == "sdc@db.service"
    assert rows["plain"]["Status"].startswith("Exited"), rows["plain"]
    assert rows["made"]["Status"].startswith("Exited (0)"), rows["made"]
    assert made == "ran\n"  # it ran at boot, once

    # Disabled: the next boot leaves it stopped; removing everything leaves no unit file behind.
    active, listing, units = machine.boot("""
systemctl is-active sdc@db.service || true; echo ---
sdc ps -a --format json; echo ---
sdc rm -f db plain made
ls /etc/systemd/system /etc/systemd/system/multi-user.target.wants
""").split("---\n")
    assert active.strip() in ("inactive", "failed")
    assert ps(listing)["db"]["Status"].startswith(("Exited", "Created")), listing
    assert not [u for u in units.split() if u.startswith("sdc@") and u != "sdc@.service" or u.endswith(".mount")]
