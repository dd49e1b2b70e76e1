"""Capabilities and --privileged (issue 9): what a container's root holds is what was asked,
read back from inside (/proc/self/status) and from systemd."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.integration.conftest import Sdc, unit_property

CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN = 10, 21
STATUS = "grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status"


def status(sdc: Sdc, image: str, *flags: str, script: str = "") -> dict[str, str]:
    out = sdc.ok("run", "--rm", *flags, image, "sh", "-c", f"{STATUS}; {script}")
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        fields[key if sep else line] = value.strip() if sep else ""
    return fields


def test_cap_drop_all_then_add_one_is_exactly_that(sdc: Sdc, image: str) -> None:
    got = status(sdc, image, "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE")
    assert int(got["CapEff"], 16) == int(got["CapBnd"], 16) == 1 << CAP_NET_BIND_SERVICE
    assert got["Seccomp"] == "2" and got["NoNewPrivs"] == "1"


def bounding_set(status: str) -> int:
    [line] = [line for line in Path(status).read_text().splitlines() if line.startswith("CapBnd:")]
    return int(line.split()[1], 16)


def test_sys_admin_added_lets_mount_through_the_profile_too(sdc: Sdc, image: str) -> None:
    mount = "mkdir -p /mnt; mount -t tmpfs t /mnt && echo mounted || echo refused"
    assert "refused" in status(sdc, image, script=mount)  # neither the capability nor the profile allow it
    got = status(sdc, image, "--cap-add", "SYS_ADMIN", script=mount)
    assert "mounted" in got and int(got["CapEff"], 16) & 1 << CAP_SYS_ADMIN and got["Seccomp"] == "2"


def test_cap_add_all_is_every_capability_the_host_grants_with_the_profile_on(sdc: Sdc, image: str) -> None:
    """Issue 22, item 15: the profile's cache key once spelled every name (ENAMETOOLONG). Docker's
    --cap-add ALL: every capability, still under seccomp."""
    grantable = bounding_set("/proc/self/status") & bounding_set("/proc/1/status")
    got = status(sdc, image, "--cap-add", "ALL")
    assert int(got["CapEff"], 16) == int(got["CapBnd"], 16) == grantable
    assert got["Seccomp"] == "2"
    assert status(sdc, image, "--cap-add", "ALL", "--cap-drop", "NET_RAW")["CapEff"] != got["CapEff"]


def test_privileged_is_the_hosts_root_and_inspect_says_so(sdc: Sdc, image: str, name: str) -> None:
    grantable = bounding_set("/proc/self/status") & bounding_set("/proc/1/status")  # all a host can give
    script = ("mkdir -p /mnt; mount -t tmpfs t /mnt && echo mounted; test -c /dev/loop-control && echo loop-control; "
              "grep -c ' /proc/sys .* ro,' /proc/self/mountinfo; grep ' /sys ' /proc/self/mountinfo | grep -c ' ro,'; "
              "exec sleep 1000")  # fmt: skip
    sdc.ok("run", "-d", "--privileged", "--name", name, image, "sh", "-c", f"{STATUS}; {script}")
    [info] = json.loads(sdc.ok("inspect", name))
    lines: list[str] = []
    for _ in range(100):
        lines = sdc.ok("logs", name).splitlines()
        if len(lines) >= 8:
            break
        time.sleep(0.1)
    got = dict(line.split(":\t") for line in lines if ":\t" in line)
    assert int(got["CapEff"], 16) == grantable and got["Seccomp"] == "0" and got["NoNewPrivs"] == "0"
    assert lines[-4:] == ["mounted", "loop-control", "0", "0"]  # /proc/sys and /sys are not read-only
    assert unit_property(f"sdc-{name}.service", "DevicePolicy") == "auto"
    assert info["Security"]["Privileged"] is True and info["Security"]["Seccomp"] == "unconfined"
    assert info["Security"]["Devices"] == "all" and info["Security"]["NoNewPrivileges"] is False


def test_a_container_that_is_not_privileged_says_what_confines_it(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, "--cap-drop", "MKNOD", image, "sleep", "1000")
    security = json.loads(sdc.ok("inspect", name))[0]["Security"]
    assert security["Privileged"] is False and security["Seccomp"] == "default" and security["NoNewPrivileges"]
    assert "CAP_MKNOD" not in security["Capabilities"] and "CAP_CHOWN" in security["Capabilities"]
    assert unit_property(f"sdc-{name}.service", "DevicePolicy") == "closed"
