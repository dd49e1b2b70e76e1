"""--restart is systemd's Restart= (issue 8): systemd runs the launcher again over the kept layer,
never a loop of ours; `sdc stop` ends the restarting. And --init: a small PID 1 that reaps."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.integration.conftest import Sdc, store_state, unit_property


def wait_for(predicate, timeout: float = 20.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.1)


def test_on_failure_restarts_n_times_then_stays_failed(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    count = "n=$(( $(cat /count 2>/dev/null || echo 0) + 1 )); echo $n > /count; echo $n >> /runs/log; exit 1"
    sdc.ok("run", "-d", "--name", name, "--restart", "on-failure:3", "-v", f"{runs}:/runs", image, "sh", "-c", count)
    unit = f"sdc-{name}.service"
    wait_for(lambda: unit_property(unit, "ActiveState") == "failed", what="the unit to fail for good")
    assert (runs / "log").read_text() == "1\n2\n3\n4\n"  # the first run and 3 restarts (Docker's), on one layer
    # systemd counts the restart its start limit refused as well; inspect counts those that ran
    assert (unit_property(unit, "Result"), unit_property(unit, "NRestarts")) == ("exit-code", "4")
    [info] = json.loads(sdc.ok("inspect", name))
    assert info["RestartCount"] == 3 and info["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                                                 "MaximumRetryCount": 3}
    assert info["State"]["ExitCode"] == 1
    rows = json.loads(sdc.ok("ps", "-a", "--format", "json"))
    assert [r["Status"] for r in rows if r["Name"] == name][0].startswith("Exited (1)")
    assert sdc("start", "-a", name).returncode == 1 and (runs / "log").read_text().endswith("4\n5\n")


def test_always_restarts_until_stop(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, "--restart", "always", image, "sh", "-c", "sleep 0.3; exit 0")
    unit = f"sdc-{name}.service"
    wait_for(lambda: int(unit_property(unit, "NRestarts")) >= 2, what="two restarts")
    states = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(s.startswith("Restarting") for s in states):
        states |= {r["Status"] for r in json.loads(sdc.ok("ps", "--format", "json")) if r["Name"] == name}
    assert any(s.startswith("Restarting (0)") for s in states), states
    sdc.ok("stop", name)
    time.sleep(1.5)  # longer than a restart's delay
    rows = json.loads(sdc.ok("ps", "-a", "--format", "json"))
    assert [r["State"] for r in rows if r["Name"] == name] == ["exited"]


def test_a_networked_restarting_container_outlives_a_daemon_reload(sdc: Sdc, image: str, name: str) -> None:
    """What its unit runs around each start (its network's set-up, its health check's timer) is in
    the transient unit's file as systemd reads it back: after a daemon-reload (any package's
    install does one) a restart still has its network and its health check. (systemd 252 wrote the
    ExecStartPreEx= form into that file and ignored it on reload: "Unknown key".)"""
    sdc.ok("run", "-d", "--name", name, "--network", "bridge", "--restart", "always", "--health-cmd", "true",
           "--health-interval", "1h", image, "sh", "-c", "sleep 1; exit 3")  # fmt: skip
    unit = f"sdc-{name}.service"
    cid = sdc.ok("inspect", "-f", "{{.Id}}", name).strip()
    wait_for(lambda: unit_property(unit, "ActiveState") == "active", what="the start")
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    wait_for(lambda: int(unit_property(unit, "NRestarts")) >= 2, what="two restarts after the reload")
    wait_for(lambda: unit_property(unit, "SubState") == "running", what="running again")
    assert sdc.ok("exec", name, "cat", "/sys/class/net/eth0/operstate").strip() == "up"
    timer = f"sdc-health-{cid}.timer"
    wait_for(lambda: unit_property(timer, "ActiveState") == "active", what="its health check's timer again")
    log = subprocess.run(["journalctl", "-u", unit, "-o", "cat", "--no-pager"], capture_output=True, text=True).stdout
    assert "failed to start" not in log and "Unknown key" not in log, log
    sdc.ok("rm", "-f", name)


def test_bad_restart_policies_are_one_line_and_leave_nothing(sdc: Sdc, image: str, store: Path) -> None:
    before = store_state(store)
    for args, message in (
        (("-d", "--restart", "sometimes"), "invalid --restart"),
        (("-d", "--restart", "on-failure:x"), "invalid --restart"),
        (("-d", "--restart", "always:3"), "invalid --restart"),
        (("--restart", "always"), "--restart needs -d"),
        (("-d", "--rm", "--restart", "always"), "--rm"),
    ):
        proc = sdc("run", *args, image, "true")
        assert proc.returncode == 125 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert store_state(store) == before


def test_init_reaps_and_forwards_signals(sdc: Sdc, image: str, name: str) -> None:
    # sh forks two sleeps and exits: they are the init's children now, and the init reaps them.
    sdc.ok("run", "-d", "--init", "--name", name, image, "sh", "-c", "(sleep 0.2 &) ; (sleep 0.2 &); exec sleep 1000")
    assert sdc.ok("exec", name, "cat", "/proc/1/cmdline").split("\0")[0] == "/dev/init"
    time.sleep(0.6)
    # each process's state and name, from /proc/PID/stat: no zombie left
    states = sdc.ok("exec", name, "sh", "-c", "cat /proc/[0-9]*/stat | cut -d' ' -f2,3").splitlines()
    assert "(sleep) S" in states and not [s for s in states if s.endswith(" Z")], states
    started = time.monotonic()
    sdc.ok("stop", name)  # SIGTERM reaches sleep, which dies of it: no 10 s timeout
    assert time.monotonic() - started < 5
    assert sdc.ok("wait", name) == "143\n"
    assert sdc.ok("diff", name) == ""  # the init comes and goes with /dev: nothing in the layer
