"""A real reboot (issue 8): enabled containers come back when a machine boots again.

The machine is a test host of its own (tests/testhost.py) booted inside this one, to
multi-user.target, with its disk kept in a directory outside it (--state): it is powered off
and a new one boots over the same disk, with nothing of the first one's kernel state (mounts,
loop devices, cgroups, /run). The loopback pool is mounted at boot by the mount unit sdc wrote,
and the enabled container's unit starts it over its kept layer.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdcontainer import persist
from tests.integration.conftest import make_busybox_rootfs, tar_directory

CHECKOUT = Path(__file__).resolve().parents[2]
STORE = "/var/lib/sdc-reboot"


class Machine:
    """A disk (a directory here) that test hosts boot from, one after another, with sdc installed
    as sdc (the command run by `sdc` in a boot's script): this checkout's (a pip install) or the
    Debian package's /usr/bin/sdc."""

    def __init__(self, disk: Path, share: Path, driver: str, sdc: str) -> None:
        self.disk, self.share, self.driver, self.sdc = disk, share, driver, sdc

    def boot(self, script: str) -> str:
        """Boot to multi-user.target, run script (sh) with `sdc` on its store, power off: its output."""
        body = f'set -e\nsdc() {{ SDC_ROOT={STORE} SDC_STORAGE_DRIVER={self.driver} {self.sdc} "$@"; }}\n{script}'
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
def test_an_enabled_container_of_a_pip_install_runs_again_after_a_reboot(driver: str, tmp_path: Path) -> None:
    """sdc run from its checkout, as `pip install` leaves it: no package put sdc@.service in a
    unit path, so the first --enable writes one of sdc's own (marked as such), and the last
    container's removal takes it back."""
    with machine(tmp_path, driver, f"{sys.executable} -m sdcontainer") as m:
        boot_three_times(m, template="/etc/systemd/system/sdc@.service")


@pytest.mark.drivers("btrfs")
def test_an_enabled_container_of_the_debian_package_runs_again_after_a_reboot(tmp_path: Path) -> None:
    """The .deb (./dev test builds it: SDC_DEB) installed on the machine's disk: its own template
    in /usr/lib/systemd/system is the one used, none written to /etc; purging it leaves no unit."""
    deb = os.environ.get("SDC_DEB")
    if not deb or not Path(deb).exists():
        pytest.fail("no package to test: ./dev test builds it and sets SDC_DEB")
    with machine(tmp_path, "btrfs", "/usr/bin/sdc") as m:
        shutil.copy(deb, m.share / "sdc.deb")
        m.boot(f"dpkg -i {m.share / 'sdc.deb'} >/dev/null")
        boot_three_times(m, template="/usr/lib/systemd/system/sdc@.service")
        units = m.boot("dpkg --purge sdc >/dev/null; ls /etc/systemd/system /usr/lib/systemd/system")
        assert not [u for u in units.split() if u.startswith(("sdc", "machine-sdc"))], units


@contextlib.contextmanager
def machine(tmp_path: Path, driver: str, sdc: str) -> Iterator[Machine]:
    share = tmp_path / "share"
    make_busybox_rootfs(share / "rootfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    # A file system of its own: overlayfs takes no upper directory on the file system of its lower (/).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "sdc-reboot-disk", str(disk)], check=True)
    try:
        yield Machine(disk, share, driver, sdc)
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def boot_three_times(machine: Machine, template: str) -> None:
    """Three boots: enable, see it come back (from template), disable and remove."""
    tar = tar_directory(machine.share / "rootfs", machine.share / "busybox.tar")
    machine.boot(f"""
sdc import {tar} bb
sdc run -d --name db --enable --restart always -m 64m bb sh -c 'echo up >> /boots; exec sleep 100000'
sdc run -d --name plain --restart always bb sleep 100000
sdc create --name made --enable bb sh -c 'echo ran >> /made; cat /made'
""")
    # A new machine over the same disk: db and made started at boot, plain (not enabled) did not.
    active, memory, boots, made, listing, unit = machine.boot("""
systemctl is-active sdc@db.service || true; echo ---
systemctl show -p MemoryMax --value sdc@db.service; echo ---
sdc exec db cat /boots; echo ---
sdc wait made >/dev/null; sdc logs made; echo ---
sdc ps -a --format json; echo ---
unit=$(systemctl show -p FragmentPath --value sdc@db.service); echo "$unit"; head -1 "$unit"
sdc disable db >/dev/null
""").split("---\n")
    path, first_line = unit.splitlines()
    assert path.removeprefix("/usr") == template.removeprefix("/usr")  # /lib is /usr/lib
    assert first_line.startswith(persist.TEMPLATE_HEADER) == template.startswith("/etc/"), first_line
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
    assert not [u for u in units.split() if u.startswith("sdc@") or u.endswith(".mount")], units  # the template too


@pytest.mark.drivers("btrfs")
def test_a_quadlet_container_wanted_by_multi_user_starts_at_boot(driver: str, tmp_path: Path) -> None:
    """Issue 27: a .container file with WantedBy=multi-user.target, on a store that is a loopback
    pool (its mount unit generated beside the service): the next boot runs it, over its volume."""
    with machine(tmp_path, driver, f"{sys.executable} -m sdcontainer") as m:
        tar = tar_directory(m.share / "rootfs", m.share / "busybox.tar")
        m.boot(f"""
sdc import {tar} bb
sdc quadlet --install-generator >/dev/null
mkdir -p /etc/sdc/systemd
printf '%s\\n' '[Container]' 'GlobalArgs=--root {STORE}' 'Image=bb' 'Network=none' 'Volume=boots:/data' \\
    "Exec=sh -c 'echo up >> /data/boots; exec sleep 100000'" '[Install]' 'WantedBy=multi-user.target' \\
    > /etc/sdc/systemd/web.container
""")
        active, boots, listing = m.boot("""
systemctl is-active web.service || true; echo ---
sdc exec systemd-web cat /data/boots; echo ---
sdc ps --format json
""").split("---\n")
        assert active.strip() == "active"
        assert boots == "up\n"
        assert ps(listing)["systemd-web"]["Unit"] == "web.service"
