"""--sdnotify=container (issue 8): the unit's notify socket is the payload's, and the unit turns active,
and `sdc run -d` returns, when the payload says READY=1, not when its PID 1 has exec'ed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, store_state, unit_property


def test_the_unit_is_active_when_the_payload_says_so(sdc: Sdc, image: str, name: str, notify_tool: Path) -> None:
    script = 'sleep 2; notify "STATUS=warmed up"; notify READY=1; exec sleep 1000'
    started = time.monotonic()
    sdc.ok("run", "-d", "--sdnotify=container", "--name", name, "-v", f"{notify_tool}:/usr/bin/notify:ro",
           image, "sh", "-c", script)  # fmt: skip
    took = time.monotonic() - started
    assert took >= 2.0, took
    unit = f"sdc-{name}.service"
    assert unit_property(unit, "ActiveState") == "active" and unit_property(unit, "StatusText") == "warmed up"
    assert "NOTIFY_SOCKET=/run/notify/notify.sock" in sdc.ok("exec", name, "cat", "/proc/1/environ").split("\0")


def test_by_default_the_unit_is_active_once_pid_1_has_execd(sdc: Sdc, image: str, name: str) -> None:
    started = time.monotonic()
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "sleep 2; exec sleep 1000")
    assert time.monotonic() - started < 2.0
    assert not [e for e in sdc.ok("exec", name, "cat", "/proc/1/environ").split("\0") if e.startswith("NOTIFY")]


def test_bad_sdnotify_is_one_line_and_leaves_nothing(sdc: Sdc, image: str, store: Path) -> None:
    before = store_state(store)
    for args, message in ((("-d", "--sdnotify", "maybe"), "invalid --sdnotify"),
                          (("--sdnotify", "container"), "--sdnotify=container needs -d")):  # fmt: skip
        proc = sdc("run", *args, image, "true")
        assert proc.returncode == 125 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert store_state(store) == before


@pytest.mark.parametrize("stop", ["stop", "rm"])
def test_a_container_cannot_make_systemd_kill_a_host_process(
    sdc: Sdc, image: str, name: str, notify_tool: Path, stop: str
) -> None:
    """Issue 21, item 3: systemd takes MAINPID= from any process of a NotifyAccess=all unit, and
    kills that process when the unit stops. The container's notify socket is sdc's relay, which
    drops MAINPID= (and a MAINPID= behind a \\r, where systemd splits lines too); what it passes,
    STATUS= and READY=1, still works."""
    victim = subprocess.Popen(["sleep", "1000"])  # a process of the host's, in no container
    try:
        script = (f'notify MAINPID={victim.pid}; notify "$(printf "STATUS=x\\rMAINPID={victim.pid}")"; '
                  f'notify "MAINPID={victim.pid}\nFDSTORE=1"; notify "STATUS=relayed"; notify READY=1; '
                  "exec sleep 1000")  # fmt: skip
        sdc.ok("run", "-d", "--sdnotify=container", "--name", name, "-v", f"{notify_tool}:/usr/bin/notify:ro",
               image, "sh", "-c", script)  # fmt: skip
        unit = f"sdc-{name}.service"
        assert unit_property(unit, "ActiveState") == "active" and unit_property(unit, "StatusText") == "relayed"
        main_pid = unit_property(unit, "MainPID")
        assert main_pid != str(victim.pid)
        # The container's PID 1: READY=1 comes before its shell's exec of sleep, which a busy host may
        # not have run yet when the unit is active; the main PID is the same process either way.
        deadline = time.monotonic() + 10
        while Path(f"/proc/{main_pid}/cmdline").read_bytes() != b"sleep\x001000\x00" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(f"/proc/{main_pid}/cmdline").read_bytes() == b"sleep\x001000\x00"
        assert unit_property(unit, "MainPID") == main_pid
        sdc.ok(*(["stop", "-t", "2"] if stop == "stop" else ["rm", "-f"]), name)
        time.sleep(0.5)
        assert victim.poll() is None, "systemd killed a host process the container named"
    finally:
        victim.kill()
        victim.wait()


def _comm(pid: int) -> str:
    """A process's name, "" once it has gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""


def test_the_relay_is_the_one_process_of_ours_and_goes_with_the_container(
    sdc: Sdc, image: str, name: str, notify_tool: Path
) -> None:
    sdc.ok("run", "-d", "--sdnotify=container", "--name", name, "-v", f"{notify_tool}:/usr/bin/notify:ro",
           image, "sh", "-c", "notify READY=1; exec sleep 1000")  # fmt: skip
    cgroup = unit_property(f"sdc-{name}.service", "ControlGroup")
    # The launcher that handed PID 1 to systemd may still be exiting as `run -d` returns (the
    # READY=1 it waits for is the payload's, through the relay): the relay is what stays.
    deadline = time.monotonic() + 5
    while True:
        pids = [int(p) for p in Path(f"/sys/fs/cgroup/systemd{cgroup}/cgroup.procs").read_text().split()]
        names = sorted(comm for p in pids if (comm := _comm(p)))
        if names == ["sdc-notify", "sleep"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert names == ["sdc-notify", "sleep"], names
    [relay] = [p for p in pids if Path(f"/proc/{p}/comm").read_text().strip() == "sdc-notify"]
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{relay}/status").read_text().splitlines())
    assert int(status["CapEff"], 16) == 0 and status["NoNewPrivs"] == "1"
    sdc.ok("stop", "-t", "1", name)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{relay}").exists():
        assert time.monotonic() < deadline, "sdc-notify outlived its container"
        time.sleep(0.05)


def test_a_payload_that_never_says_ready_is_a_failed_start(sdc: Sdc, image: str, store: Path, name: str) -> None:
    """Issue 22, item 4: `run -d --systemd=always img sleep 1000` (or --sdnotify=container, no
    READY=1) waited 90 s, then printed the ID and exited 0. The wait is said and bounded
    ($SDC_READY_TIMEOUT, systemd's 90 s by default), its end an error with the reason, and
    nothing is left; a payload that ends without READY=1 fails at once."""
    before = store_state(store)
    started = time.monotonic()
    proc = sdc("run", "-d", "--name", name, "--systemd=always", image, "sleep", "1000",
               env=sdc.env(SDC_READY_TIMEOUT="4"))  # fmt: skip
    took = time.monotonic() - started
    assert proc.returncode != 0 and proc.stdout == "", proc
    assert "waiting for" in proc.stderr and "to say READY=1 (at most 4 s)" in proc.stderr, proc.stderr
    assert "never said READY=1" in proc.stderr and 4 <= took < 30, (took, proc.stderr)
    assert store_state(store) == before
    proc = sdc("run", "-d", "--sdnotify=container", "--name", name, image, "true")
    assert proc.returncode != 0 and "never said READY=1" in proc.stderr and "waiting" not in proc.stderr, proc
    assert store_state(store) == before
