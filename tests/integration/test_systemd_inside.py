"""systemd as a container's PID 1 (issue 11): a Debian with systemd boots in a container, runs its
services in its own cgroup subtree under the container's unit, is a machine whose journal the host
reads, and halts on `sdc stop` with status 0."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration import debian
from tests.integration.conftest import Sdc, host_path, unit_property

# The v2 hierarchy as a container sees it: on its own, or a hybrid host's beside v1's.
V2 = "/sys/fs/cgroup/unified" if Path("/sys/fs/cgroup/unified").is_dir() else "/sys/fs/cgroup"
HELLO = (b"[Unit]\nDescription=hello\n[Service]\nExecStart=/bin/sh -c 'echo hello-service; exec sleep infinity'\n"
         b"ExecStopPost=/bin/sh -c 'echo $SERVICE_RESULT > /var/lib/hello-stopped'\n")


@pytest.fixture(scope="session")
def systemd_image(sdc: Sdc, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Debian minbase with systemd, systemd-sysv and dbus, from the test host's own packages
    (no mirror: no test sends a packet out), and a service of its own that multi-user.target wants."""
    work = tmp_path_factory.mktemp("systemd-image")
    files = {"etc/systemd/system/hello.service": HELLO,
             "etc/systemd/system/multi-user.target.d/hello.conf": b"[Unit]\nWants=hello.service\n"}  # fmt: skip
    tar = debian.minbase_tar(work / "debian-systemd.tar", extra=("systemd", "systemd-sysv", "dbus", "libpam-systemd"),
                              files=files)  # fmt: skip
    sdc.ok("import", str(tar), "debian-systemd")
    return "debian-systemd"


def cgroup_dir(unit: str) -> Path:
    """The unit's cgroup in systemd's own hierarchy (v1's name=systemd, or v2's)."""
    path = unit_property(unit, "ControlGroup")
    legacy = Path("/sys/fs/cgroup/systemd")
    return (legacy if legacy.is_dir() else Path("/sys/fs/cgroup")) / path.lstrip("/")


def test_a_debian_boots_runs_its_services_and_halts(sdc: Sdc, systemd_image: str, name: str) -> None:
    cid = sdc.ok("run", "-d", "--name", name, systemd_image, "/sbin/init").strip()
    unit = f"sdc-{name}.service"
    assert unit_property(unit, "Delegate") == "yes" and unit_property(unit, "KillSignal") == "37"  # SIGRTMIN+3
    state = sdc("exec", name, "systemctl", "is-system-running", "--wait", timeout=60)
    failed = sdc.ok("exec", name, "systemctl", "--failed", "--no-legend")
    assert state.stdout.strip() == "running", failed
    assert sdc.ok("exec", name, "systemctl", "is-active", "hello.service").strip() == "active"
    # systemd's container interface
    environ = sdc.ok("exec", name, "cat", "/proc/1/environ").split("\0")
    uuid = f"{cid[:8]}-{cid[8:12]}-{cid[12:16]}-{cid[16:20]}-{cid[20:32]}"
    assert "container=sdc" in environ and f"container_uuid={uuid}" in environ
    assert sdc.ok("exec", name, "cat", "/etc/machine-id").strip() == cid[:32]
    assert sdc.ok("exec", name, "cat", "/run/host/container-manager") == "sdc\n"
    assert "ID=debian" in sdc.ok("exec", name, "cat", "/run/host/os-release")
    mounts = dict(line.split() for line in sdc.ok("exec", name, "findmnt", "-rn", "-o", "TARGET,FSTYPE").splitlines())
    assert mounts["/run"] == mounts["/run/lock"] == mounts["/tmp"] == "tmpfs" and "/run/host" in mounts
    # Its services are in its own cgroup subtree, under the container's unit, as the host sees it.
    cgroup = cgroup_dir(unit)
    assert (cgroup / "init.scope").is_dir()
    hello = (cgroup / "system.slice" / "hello.service" / "cgroup.procs").read_text().split()
    assert hello and all(Path(f"/proc/{pid}/comm").read_text().strip() == "sleep" for pid in hello)
    # Beside it, sdc-console, in a cgroup v2 child of its own: none of ours in the subtree's root.
    v2 = Path("/sys/fs/cgroup/unified" if Path("/sys/fs/cgroup/unified").is_dir() else "/sys/fs/cgroup")
    v2_root = v2 / unit_property(unit, "ControlGroup").lstrip("/")
    [keeper] = (v2_root / "sdc-console" / "cgroup.procs").read_text().split()
    assert Path(f"/proc/{keeper}/comm").read_text() == "sdc-console\n"
    assert (v2_root / "cgroup.procs").read_text() == ""
    tree = subprocess.run(["systemd-cgls", "--no-pager", "-u", unit], capture_output=True, text=True).stdout
    assert "hello.service" in tree and "init.scope" in tree, tree
    # The console reaches `sdc logs`; the container's own journal, journalctl -M.
    assert "Reached target" in sdc.ok("logs", name)
    machine = name.replace("_", "-")
    journal = subprocess.run(["journalctl", "-M", machine, "--no-pager", "-u", "hello.service"],
                             capture_output=True, text=True)  # fmt: skip
    assert "hello-service" in journal.stdout, journal.stderr
    started = time.monotonic()
    sdc.ok("stop", name)
    assert time.monotonic() - started < 10
    [row] = [r for r in json.loads(sdc.ok("ps", "-a", "--format", "json")) if r["Name"] == name]
    assert row["Status"].startswith("Exited (0)"), row
    # Its units stopped (hello's ExecStopPost wrote in its layer), then itself, as its console said.
    # journald takes a stream's last lines in its own time, so `sdc logs` may lag a moment. (Lines
    # just before the console getty's end are not asserted: its TTYVHangup= hangs the console up,
    # and the kernel drops what a pty's master has not read yet.)
    assert host_path(sdc, name, "var/lib/hello-stopped").read_text() == "success\n"
    deadline = time.monotonic() + 5
    while "Exiting container" not in (console := re.sub(r"\x1b\[[0-9;]*m", "", sdc.ok("logs", name))):
        assert time.monotonic() < deadline, console[-2000:]
        time.sleep(0.1)
    assert "Halting system" in console
    sdc.ok("start", name)
    assert sdc("exec", name, "systemctl", "is-system-running", "--wait", timeout=60).stdout.strip() == "running"
    assert sdc.ok("exec", name, "cat", "/etc/machine-id").strip() == cid[:32]  # the same machine


def test_its_systemd_cannot_reach_beyond_its_own_cgroup(sdc: Sdc, systemd_image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, systemd_image, "/sbin/init")
    unit = f"sdc-{name}.service"
    sdc("exec", name, "systemctl", "is-system-running", "--wait", timeout=60)
    parent = cgroup_dir(unit).parent
    before = sorted(p.name for p in parent.iterdir() if p.is_dir())
    attempts = {
        "a cgroup beside its own": "mkdir /sys/fs/cgroup/escape",
        "a cgroup file system of its own": "mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg",
        "the host's tree through ..": f"ls {V2}/../../ | grep -q machine.slice",
        "a cgroup in its own subtree": f"mkdir {V2}/mine && rmdir {V2}/mine",
        **({"a change to a v1 controller": "echo 1 > /sys/fs/cgroup/memory/memory.limit_in_bytes",
            "a cgroup in systemd's v1 hierarchy": "cd /sys/fs/cgroup/systemd && mkdir mine && rmdir mine"}
           if V2 != "/sys/fs/cgroup" else {}),
    }
    results = {what: sdc("exec", name, "sh", "-c", script).returncode == 0 for what, script in attempts.items()}
    allowed = {"a cgroup in its own subtree", "a cgroup in systemd's v1 hierarchy"}
    assert results == {what: what in allowed for what in attempts}
    assert sorted(p.name for p in parent.iterdir() if p.is_dir()) == before


def test_the_mode_follows_the_command_or_the_flag(sdc: Sdc, systemd_image: str, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, "--systemd=false", systemd_image, "/sbin/init")
    unit = f"sdc-{name}.service"
    assert unit_property(unit, "Delegate") == "no" and unit_property(unit, "KillSignal") == "15"
    assert sdc("exec", name, "sh", "-c", f"mkdir {V2}/x").returncode != 0  # read-only
    sdc.ok("rm", "-f", name)
    # always: for a command that is not systemd's path but becomes systemd (a wrapper that execs it)
    sdc.ok("run", "-d", "--name", name, "--systemd=always", systemd_image, "sh", "-c", "exec /lib/systemd/systemd")
    assert unit_property(unit, "Delegate") == "yes"
    assert sdc.ok("exec", name, "systemctl", "is-system-running").strip() == "running"  # run -d waited for it
    sdc.ok("rm", "-f", name)
    bad = sdc("run", "--systemd=maybe", image, "true")
    assert bad.returncode == 125 and "invalid --systemd 'maybe'" in bad.stderr


def test_machinectl_shell_and_the_hosts_tools_reach_it(sdc: Sdc, systemd_image: str, name: str) -> None:
    """A registered machine running systemd: machinectl shell (a pty machined opens in the
    container's devpts, a login session of its systemd's), systemctl -M, systemd-run -M."""
    sdc.ok("run", "-d", "--name", name, systemd_image, "/sbin/init")
    machine = name.replace("_", "-")
    # The sleep: the shell's end hangs its pty up, and the kernel drops what machinectl has not read.
    shell = subprocess.run(["machinectl", "shell", machine, "/bin/sh", "-c", 'echo "$(hostname) as $(id -u)"; sleep 1'],
                           capture_output=True, text=True, timeout=30)  # fmt: skip
    assert shell.returncode == 0 and f"{name} as 0" in shell.stdout, (shell.stdout, shell.stderr)
    state = subprocess.run(["systemctl", "-M", machine, "is-system-running"], capture_output=True, text=True)
    assert state.stdout.strip() == "running", state.stderr
    ran = subprocess.run(["systemd-run", "-M", machine, "--wait", "--pipe", "-q", "cat", "/etc/machine-id"],
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    assert ran.returncode == 0 and ran.stdout.strip() == json.loads(sdc.ok("inspect", name))[0]["Id"][:32]


def test_machinectl_login_gives_a_getty(sdc: Sdc, systemd_image: str, name: str) -> None:
    """machinectl login: machined opens a pty in the container and its systemd runs a getty there."""
    from tests.integration.test_terminal import Session

    sdc.ok("run", "-d", "--name", name, systemd_image, "/sbin/init")
    session = Session(["machinectl", "login", name.replace("_", "-")], dict(os.environ))
    try:
        session.expect("login:", timeout=20)
    finally:
        session.send("\x1d\x1d\x1d")  # ^] three times: machinectl's way out
        session.wait()
        session.close()
