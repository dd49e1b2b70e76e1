"""Containers are machines (issue 8): machinectl lists a running container with its leader (PID 1),
`machinectl terminate` stops it as `sdc stop` would, and it is gone from machined when it ends."""

from __future__ import annotations

import json
import subprocess
import time

from tests.integration.conftest import Sdc, unit_property


def machinectl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["machinectl", *args], capture_output=True, text=True)


def test_a_container_is_a_machine_until_it_ends(sdc: Sdc, image: str, name: str) -> None:
    container = f"{name}_m"  # an underscore (as generated names have) becomes '-' for machined
    machine = f"{name}-m"
    try:
        sdc.ok("run", "-d", "--name", container, image, "sleep", "1000")
        pid = unit_property(f"sdc-{container}.service", "MainPID")
        listed = machinectl("list", "--no-legend", "--no-pager").stdout
        assert machine in listed, listed
        shown = machinectl("show", machine, "-p", "Leader", "-p", "Class", "-p", "Service", "-p", "Unit").stdout
        assert f"Leader={pid}\n" in shown and "Class=container\n" in shown and "Service=sdc\n" in shown, shown
        assert f"Unit=sdc-{container}.service" in shown
        assert machinectl("terminate", machine).returncode == 0
        deadline = time.monotonic() + 15
        while machine in machinectl("list", "--no-legend", "--no-pager").stdout:
            assert time.monotonic() < deadline, "still a machine"
            time.sleep(0.1)
        rows = json.loads(sdc.ok("ps", "-a", "--format", "json"))
        assert [r["State"] for r in rows if r["Name"] == container] == ["exited"]
    finally:
        sdc("rm", "-f", container)


def test_a_foreground_container_too(sdc: Sdc, image: str, name: str) -> None:
    out = sdc.ok("run", "--rm", "--name", name, image, "sh", "-c", "sleep 0.2; echo done")
    assert out == "done\n"
    proc = subprocess.Popen(sdc.argv("run", "--rm", "--name", name, image, "sleep", "1000"), env=sdc.env())
    try:
        deadline = time.monotonic() + 15
        while name not in machinectl("list", "--no-legend", "--no-pager").stdout:
            assert time.monotonic() < deadline and proc.poll() is None, "never a machine"
            time.sleep(0.1)
        assert f"Unit=sdc-{name}.scope" in machinectl("show", name, "-p", "Unit").stdout
    finally:
        sdc("kill", name)
        proc.wait(timeout=30)


def test_a_restarting_container_is_the_machine_of_its_new_run(sdc: Sdc, image: str, name: str) -> None:
    """systemd keeps a restarting unit active between its runs, and machined its machine: each run
    takes that machine back for its own PID 1 (the old leader is dead), without a word."""
    unit = f"sdc-{name}.service"
    try:
        sdc.ok("run", "-d", "--name", name, "--restart", "always", image, "sh", "-c", "sleep 1; exit 3")
        deadline = time.monotonic() + 20
        while int(unit_property(unit, "NRestarts")) < 2 or unit_property(unit, "SubState") != "running":
            assert time.monotonic() < deadline, "no second restart"
            time.sleep(0.1)
        pid = unit_property(unit, "MainPID")
        assert machinectl("show", name, "-p", "Leader").stdout == f"Leader={pid}\n"
        log = subprocess.run(["journalctl", "-u", unit, "-o", "cat", "--no-pager"], capture_output=True, text=True)
        assert "not a machine" not in log.stdout, log.stdout
    finally:
        sdc("rm", "-f", name)
