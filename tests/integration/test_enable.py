"""--enable, `sdc enable`/`disable` (issue 8): an enabled container is an instance of units/sdc@.service
with its own settings as a drop-in, wanted by multi-user.target, so it starts with the system;
`systemd-analyze verify` accepts every unit sdc ships and writes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.integration.conftest import Sdc, unit_property

SYSTEM = Path("/etc/systemd/system")
UNITS = Path(__file__).resolve().parents[2] / "units"


def systemctl(*args: str) -> str:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True).stdout.strip()


def wait_state(unit: str, *states: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while unit_property(unit, "ActiveState") not in states:
        assert time.monotonic() < deadline, f"{unit} never {states}"
        time.sleep(0.1)


def boot() -> None:
    """What a boot does for sdc's units: multi-user.target started, with what it wants."""
    subprocess.run(["systemctl", "start", "multi-user.target"], check=True)


def verify(unit: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify, with sdc's man pages (the units' Documentation=) where man finds them."""
    import os
    import sys

    pages = tmp_path / "man"
    subprocess.run([sys.executable, "-m", "sdcontainer", "_man", str(pages / "man1")], check=True, capture_output=True)
    return subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                          env={**os.environ, "MANPATH": str(pages)})  # fmt: skip


def test_an_enabled_container_starts_with_the_system(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    unit = f"sdc@{name}.service"
    sdc.ok("run", "-d", "--enable", "--restart", "always", "-m", "64m", "--name", name, image,
           "sh", "-c", "echo up >> /boots; exec sleep 1000")  # fmt: skip
    try:
        assert systemctl("is-enabled", unit) == "enabled" and systemctl("is-active", unit) == "active"
        assert unit_property(unit, "MemoryMax") == str(64 << 20) and unit_property(unit, "Restart") == "always"
        [row] = [r for r in json.loads(sdc.ok("ps", "--format", "json")) if r["Name"] == name]
        assert row["Unit"] == unit and row["Status"].startswith("Up")
        [info] = json.loads(sdc.ok("inspect", name))
        assert info["HostConfig"]["Enabled"] is True
        verified = verify(unit, tmp_path)
        assert verified.returncode == 0, verified.stderr
        sdc.ok("stop", "-t", "1", name)  # ends the restarting: a stop job (then SIGKILL: sleep is PID 1)
        wait_state(unit, "inactive", "failed")
        boot()
        wait_state(unit, "active")  # it came back, over the same layer
        assert sdc.ok("exec", name, "cat", "/boots") == "up\nup\n"
        sdc.ok("disable", name)
        assert systemctl("is-enabled", unit) == "disabled"
        sdc.ok("stop", "-t", "1", name)
        boot()
        time.sleep(1)
        assert unit_property(unit, "ActiveState") in ("inactive", "failed")
        sdc.ok("start", name)  # still its unit, started by hand
        assert sdc.ok("exec", name, "cat", "/boots") == "up\nup\nup\n"
        sdc.ok("enable", name)
        assert systemctl("is-enabled", unit) == "enabled"
    finally:
        sdc("rm", "-f", name)
    assert not (SYSTEM / f"{unit}.d").exists() and not (SYSTEM / "multi-user.target.wants" / unit).exists()


def test_enable_of_a_created_container_and_a_transient_one(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("create", "--enable", "--name", name, image, "sleep", "1000")
    unit = f"sdc@{name}.service"
    assert systemctl("is-enabled", unit) == "enabled"
    boot()
    wait_state(unit, "active")
    sdc.ok("rm", "-f", name)
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "echo up; exec sleep 1000")
    sdc.ok("enable", name)  # running as sdc-NAME.service: it goes on; its next start is the enabled unit
    assert systemctl("is-active", f"sdc-{name}.service") == "active"
    sdc.ok("restart", "-t", "1", name)
    assert systemctl("is-active", unit) == "active"
    assert [r["Unit"] for r in json.loads(sdc.ok("ps", "--format", "json")) if r["Name"] == name] == [unit]
    deadline = time.monotonic() + 10  # its logs: both runs, under either unit's name
    while sdc.ok("logs", name) != "up\nup\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sdc.ok("logs", name) == "up\nup\n"


def test_update_of_an_enabled_container_holds_at_its_next_boot(sdc: Sdc, image: str, name: str) -> None:
    """Its drop-in is rewritten with the new limits: what systemd starts it with at the next boot."""
    sdc.ok("create", "--enable", "--name", name, "-m", "64m", image, "sleep", "1000")
    unit = f"sdc@{name}.service"
    sdc.ok("update", "-m", "96m", "--pids-limit", "70", name)
    assert (SYSTEM / f"{unit}.d" / "50-sdc.conf").read_text().count("MemoryMax=") == 1
    boot()
    wait_state(unit, "active")
    assert systemctl("show", "-p", "MemoryMax", "--value", unit) == str(96 << 20)
    assert systemctl("show", "-p", "TasksMax", "--value", unit) == "70"
    sdc.ok("rm", "-f", name)


def test_the_shipped_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    for unit in UNITS.iterdir():
        target = unit.name.replace("@.", "@verify.")  # a template is verified as an instance
        (tmp_path / target).write_text(unit.read_text())
        if "@" in unit.name:
            (tmp_path / unit.name).write_text(unit.read_text())
        proc = verify(str(tmp_path / target), tmp_path)
        assert proc.returncode == 0 and not proc.stderr, proc.stderr
