"""stop, kill, rm and what they leave; bad input and what it leaves (nothing)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, sdc_units, store_state, systemctl, unit_property


def timed(fn: object, *args: str) -> float:
    start = time.monotonic()
    fn(*args)  # type: ignore[operator]
    return time.monotonic() - start


def test_stop_kills_a_pid1_that_ignores_sigterm_after_the_timeout(sdc: Sdc, image: str, name: str) -> None:
    # A bare sleep as PID 1 has no SIGTERM handler, so the kernel ignores the signal for it.
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    took = timed(sdc.ok, "stop", name)
    assert 9 < took < 20, f"stop took {took:.1f}s; the default timeout is 10 s, then SIGKILL"
    assert unit_property(f"sdc-{name}.service", "LoadState") == "not-found"
    assert "Exited (137)" in sdc.ok("ps", "-a")


def test_stop_t0_is_immediate_and_systemctl_stop_honours_the_timeout(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, "--stop-timeout", "2", image, "sleep", "1000")
    took = timed(lambda: systemctl("stop", f"sdc-{name}.service"))
    # PID 1 (sleep) ignores SIGTERM: systemd waits the 2 s, then SIGKILL; not at once, nor 10 s.
    assert 1.9 < took < 6, f"systemctl stop took {took:.1f}s, not the container's 2 s stop timeout"
    sdc.ok("rm", name)
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    assert timed(sdc.ok, "stop", "-t", "0", name) < 3


def test_stop_lets_a_container_exit_cleanly(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok(
        "run", "-d", "--name", name, image, "sh", "-c", "trap 'echo bye; exit 5' TERM; while true; do sleep 0.1; done"
    )
    assert timed(sdc.ok, "stop", name) < 5
    assert "Exited (5)" in sdc.ok("ps", "-a")
    assert "bye" in sdc.ok("logs", name)


def test_kill_sends_a_signal(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok(
        "run",
        "-d",
        "--name",
        name,
        image,
        "sh",
        "-c",
        "trap 'echo got-hup' HUP; echo ready; while true; do sleep 0.1; done",
    )
    deadline = time.monotonic() + 10
    while "ready" not in sdc.ok("logs", name) and time.monotonic() < deadline:
        time.sleep(0.1)
    sdc.ok("kill", "-s", "HUP", name)
    while "got-hup" not in sdc.ok("logs", name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "got-hup" in sdc.ok("logs", name)
    proc = sdc("kill", "-s", "NOSUCHSIG", name)
    assert proc.returncode != 0 and "invalid signal" in proc.stderr


def test_rm_refuses_a_running_container_without_force(sdc: Sdc, image: str, name: str, store: Path) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    proc = sdc("rm", name)
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "is running" in proc.stderr and "rm -f" in proc.stderr
    assert unit_property(f"sdc-{name}.service", "ActiveState") == "active"
    sdc.ok("rm", "-f", name)
    assert f"sdc-{name}.service" not in sdc_units()
    assert not (store / "containers" / name).exists()


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.startswith("sdc: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "hint:" in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


UNSAFE = {
    "dotdot": tar_bytes((member("../evil"), b"x")),
    "absolute": tar_bytes((member("/tmp/evil"), b"x")),
    "symlinked-parent": tar_bytes((member("escape", tarfile.SYMTYPE, "/tmp"), b""), (member("escape/evil"), b"x")),
    "hardlink-out": tar_bytes((member("evil", tarfile.LNKTYPE, "../../../etc/passwd"), b"")),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_archives_are_refused_and_leave_nothing(sdc: Sdc, image: str, store: Path, case: str) -> None:
    before = store_state(store)
    proc = sdc("import", "-", "evil", input=UNSAFE[case])
    one_line_error(proc)
    assert not Path("/tmp/evil").exists()
    assert store_state(store) == before


def test_bad_input_is_refused_and_leaves_nothing(
    sdc: Sdc, image: str, store: Path, tmp_path: Path, busybox_tar: Path
) -> None:
    sdc.ok("run", "-d", "--name", "taken", image, "sleep", "1000")
    try:
        before = store_state(store)
        one_line_error(sdc("run", "--rm", "no-such-image", "true"), "no such image")
        one_line_error(sdc("run", "--rm", "--name", "taken", image, "true"), "already in use")
        one_line_error(sdc("run", "--rm", "--name", "bad/name", image, "true"), "invalid container name")
        one_line_error(sdc("run", "--rm", "-m", "lots", image, "true"), "invalid size")
        one_line_error(sdc("run", "--rm", "--cpus", "-1", image, "true"), "--cpus")
        one_line_error(sdc("run", "--rm", "--pids-limit", "many", image, "true"), "pids-limit")
        one_line_error(sdc("run", "-d", image, "no-such-command"), "not found")
        one_line_error(sdc("run", "--rm", image), "no command")
        one_line_error(sdc("stop", "no-such-container"), "no such container")
        one_line_error(sdc("import", "-", "corrupt", input=os.urandom(4096)), "not a valid tar archive")
        half = busybox_tar.read_bytes()[: busybox_tar.stat().st_size // 2]
        one_line_error(sdc("import", "-", "truncated", input=half), "tar")
        one_line_error(sdc("import", str(tmp_path / "missing.tar"), "x"), "cannot read")
        one_line_error(sdc("import", "-", "Bad:Name!", input=b""), "invalid image reference")
        assert store_state(store) == before
    finally:
        sdc.ok("rm", "-f", "taken")


def test_a_command_that_is_not_there_exits_127_in_the_foreground(sdc: Sdc, image: str, store: Path) -> None:
    before = store_state(store)
    proc = sdc("run", "--rm", image, "no-such-command")
    assert proc.returncode == 127
    assert "no-such-command: executable file not found" in proc.stderr
    assert store_state(store) == before


@pytest.mark.parametrize("bus", ["dbus-next", "pystemd"])
def test_no_systemd_on_the_bus(sdc: Sdc, image: str, store: Path, bus: str) -> None:
    before = store_state(store)
    env = sdc.env(DBUS_SYSTEM_BUS_ADDRESS="unix:path=/run/no-such-bus", SDC_BUS=bus)
    proc = sdc("run", "-d", image, "true", env=env)
    one_line_error(proc, "cannot reach systemd", "PID 1 is systemd")
    assert store_state(store) == before


def test_not_root(sdc: Sdc, image: str) -> None:
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "sdcontainer", "ps"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=sdc.env())
    one_line_error(proc, "needs root")
