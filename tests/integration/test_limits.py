"""Limits are systemd's: what `systemctl show` reports, and what the kernel enforces."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.integration.conftest import Sdc, unit_property

CGROUP = Path("/sys/fs/cgroup")


def wait_inactive(unit: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while unit_property(unit, "ActiveState") not in ("inactive", "failed", "") and time.monotonic() < deadline:
        time.sleep(0.1)


def test_every_limit_flag_reaches_systemd(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok(
        "run", "-d", "--name", name, "-m", "64m", "--memory-swap", "96m", "-c", "512", "--cpus", "1.5",
        "--cpuset-cpus", "0", "--pids-limit", "50", "--blkio-weight", "300", image, "sleep", "1000",
    )  # fmt: skip
    unit = f"sdc-{name}.service"
    expected = {
        "MemoryMax": str(64 << 20),
        "MemorySwapMax": str(32 << 20),  # Docker's --memory-swap is the total
        "CPUWeight": "59",  # runc's mapping of 512 shares
        "CPUQuotaPerSecUSec": "1.500000s",
        "AllowedCPUs": "0",
        "CPUAffinity": "0",
        "TasksMax": "50",
        "IOWeight": "60",
        "TimeoutStopUSec": "10s",
        "KillMode": "mixed",
        "Slice": "machine-sdc.slice",
    }
    assert {key: unit_property(unit, key) for key in expected} == expected
    # And in force: cgroup v1 here (systemd maps MemoryMax/TasksMax/CPUWeight onto it), affinity for the CPUs.
    group = "machine.slice/machine-sdc.slice/" + unit
    assert (CGROUP / "memory" / group / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    assert (CGROUP / "pids" / group / "pids.max").read_text().strip() == "50"
    pid = unit_property(unit, "MainPID")
    status = Path(f"/proc/{pid}/status").read_text()
    assert "Cpus_allowed_list:\t0\n" in status


def test_memory_limit_is_enforced_by_the_oom_killer(sdc: Sdc, image: str, name: str) -> None:
    # dd fills its 120 MB buffer as it reads: over a 32 MB limit the kernel kills it.
    dd = ["dd", "if=/dev/zero", "of=/dev/null", "bs=120M", "count=1"]
    assert sdc("run", "--rm", "-m", "256m", image, *dd).returncode == 0  # the control: it fits in 256 MB
    sdc.ok("run", "-d", "--name", name, "-m", "32m", image, *dd)
    unit = f"sdc-{name}.service"
    deadline = time.monotonic() + 30
    journal = ""
    while time.monotonic() < deadline and "OOM killer" not in journal:
        journal = subprocess.run(["journalctl", "--no-pager", "-u", unit], capture_output=True, text=True).stdout
        time.sleep(0.2)
    assert "Main process exited, code=killed, status=9/KILL" in journal
    assert f"container {name}: the kernel's OOM killer killed a process" in journal
    [info] = json.loads(sdc.ok("inspect", name))
    assert info["State"]["OOMKilled"] is True
    deadline = time.monotonic() + 10
    while "Exited (137)" not in sdc.ok("ps", "-a") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Exited (137)" in sdc.ok("ps", "-a")


def test_pids_limit_contains_a_fork_bomb(sdc: Sdc, image: str, name: str) -> None:
    # Each shell keeps forking (a bomb that burns out between two samples under load would make
    # the peak a matter of timing): the cgroup stays at its limit while it is sampled.
    sdc.ok("run", "-d", "--name", name, "--pids-limit", "20", image, "sh", "-c",
           "echo bombing; bomb() { while :; do bomb & sleep 0.1; done; }; bomb & exec sleep 60")  # fmt: skip
    unit = f"sdc-{name}.service"
    events = CGROUP / "pids" / "machine.slice/machine-sdc.slice" / unit / "pids.events"
    most, refused = 0, 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        most = max(most, int(unit_property(unit, "TasksCurrent")))
        refused = int(events.read_text().split()[1])  # "max N": forks the limit refused
        time.sleep(0.1)
    assert 10 < most <= 20 and refused > 0  # the bomb went off, and the limit held it
    assert unit_property(unit, "ActiveState") == "active"
    sdc.ok("stop", "-t", "0", name)
    assert sdc.ok("run", "--rm", image, "echo", "still fine") == "still fine\n"


def test_invalid_cpuset_is_refused(sdc: Sdc, image: str, name: str) -> None:
    proc = sdc("run", "--rm", "--name", name, "--cpuset-cpus", "0-999", image, "true")
    assert proc.returncode != 0
    assert "does not have" in proc.stderr
