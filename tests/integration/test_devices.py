"""--device and --device-cgroup-rule (issue 9): a host node made in the container and allowed as
asked, a rule for nodes made inside; the kernel's view (devices.list) and systemd's agree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.integration.conftest import Sdc, store_state

LOOP_CONTROL = os.stat("/dev/loop-control").st_rdev  # char 10:237
NUMBERS = f"{os.major(LOOP_CONTROL)}:{os.minor(LOOP_CONTROL)}"
PROBE = "( : < /dev/lc ) && echo read; ( : >> /dev/lc ) && echo written"


def devices_list(unit: str) -> set[str]:
    listed = Path(f"/sys/fs/cgroup/devices/machine.slice/machine-sdc.slice/{unit}/devices.list")
    return set(listed.read_text().split("\n")) - {""}


def test_a_device_is_there_and_opens_only_as_asked(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, "--device", "/dev/loop-control:/dev/lc:r", image,
           "sh", "-c", f"test -c /dev/lc && echo node; {PROBE}; exec sleep 1000")  # fmt: skip
    unit = f"sdc-{name}.service"
    allow = subprocess.run(["systemctl", "show", unit, "-p", "DeviceAllow", "--value"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert f"/dev/char/{NUMBERS} r" in allow
    assert f"c {NUMBERS} r" in devices_list(unit)
    assert f"c {NUMBERS} rw" not in devices_list(unit)
    sdc.ok("stop", "-t", "0", name)
    logs = sdc.ok("logs", name).splitlines()  # the journal's, stdout and stderr in one
    assert logs[:2] == ["node", "read"] and logs[2:] == ["sh: can't create /dev/lc: Operation not permitted"]


def test_a_rule_lets_a_node_made_inside_open(sdc: Sdc, image: str) -> None:
    make = f"mknod /dev/lc c {NUMBERS.replace(':', ' ')} && {PROBE}"
    refused = sdc("run", "--rm", image, "sh", "-c", make)
    assert refused.stdout == "" and refused.stderr.count("Operation not permitted") == 2
    allowed = sdc("run", "--rm", "--device-cgroup-rule", f"c {NUMBERS} rw", image, "sh", "-c", make)
    assert allowed.stdout == "read\nwritten\n", allowed.stderr
    whole_major = sdc("run", "--rm", "--device-cgroup-rule", f"c {os.major(LOOP_CONTROL)}:* r", image,
                      "sh", "-c", make)  # fmt: skip
    assert whole_major.stdout == "read\n" and "Operation not permitted" in whole_major.stderr


def test_bad_devices_leave_nothing(sdc: Sdc, image: str, store: Path) -> None:
    before = store_state(store)
    for flags, error in ((["--device", "/etc/passwd"], "/etc/passwd is not a device node"),
                         (["--device", "/dev/null:/etc/null"], "must be a node of its own under /dev"),
                         (["--device-cgroup-rule", "c *:1 r"], "no form for one minor of every major")):  # fmt: skip
        proc = sdc("run", "-d", *flags, image, "true")
        assert proc.returncode == 125 and error in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert store_state(store) == before
