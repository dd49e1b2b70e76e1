"""Exit statuses and states never lost (issue 22, items 1-9), each as Docker behaves."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest

from tests.integration.conftest import Sdc


def foreground_sleep(sdc: Sdc, image: str, name: str) -> subprocess.Popen[bytes]:
    """A foreground `sdc run` of a sleep, returned once `exec` reaches it."""
    fg = subprocess.Popen(sdc.argv("run", "--name", name, image, "sleep", "1000"), env=sdc.env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 20
    while sdc("exec", name, "true").returncode != 0:
        if time.monotonic() > deadline or fg.poll() is not None:
            fg.kill()
            fg.wait()
            raise AssertionError(f"the foreground container never ran: {fg.returncode}")
        time.sleep(0.1)
    return fg


def test_wait_prints_a_removed_containers_status(sdc: Sdc, image: str, name: str) -> None:
    """Docker: `docker run -d --rm ... sh -c 'sleep 2; exit 5'; docker wait` prints 5, though the
    container is gone by the time wait reads it (sdc kept how it ended, by its ID)."""
    sdc.ok("run", "-d", "--rm", "--name", name, image, "sh", "-c", "sleep 1; exit 5")
    assert sdc.ok("wait", name) == "5\n"
    assert sdc("inspect", name).returncode != 0  # removed indeed
    # and a foreground --rm one, waited on from beside it
    fg = subprocess.Popen(sdc.argv("run", "--rm", "--name", name, image, "sh", "-c", "sleep 1; exit 7"),
                          env=sdc.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 20
    while sdc("inspect", name).returncode != 0:
        assert time.monotonic() < deadline and fg.poll() is None
        time.sleep(0.05)
    assert sdc.ok("wait", name) == "7\n" and fg.wait(timeout=30) == 7


def test_stop_of_one_container_named_twice_keeps_its_end(sdc: Sdc, image: str, name: str) -> None:
    """`stop -t 1 x x` (or a name and its ID prefix) stopped it twice, and the second SIGKILLed the
    ExecStopPost recording its end: ps said `Exited (?)`. Docker stops it once."""
    cid = sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "trap 'exit 3' TERM; sleep 1000 & wait").strip()
    time.sleep(0.3)
    assert sdc.ok("stop", "-t", "1", name, name, cid[:12]).split() == [name, name, cid[:12]]
    [info] = json.loads(sdc.ok("inspect", name))
    assert info["State"]["ExitCode"] == 3 and info["State"]["Status"] == "exited", info["State"]


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
def test_every_signal_is_the_commands_default_at_its_exec(sdc: Sdc, image: str, name: str, detach: bool) -> None:
    """Python ignores SIGPIPE and SIGXFSZ, and exec keeps what is ignored: PID 1 and exec'ed
    commands started with them ignored (`yes | head -1` said `yes: Broken pipe`). Docker: none."""
    script = "grep -E '^Sig(Ign|Blk)' /proc/self/status | tr -s '\\t' ' '"
    if detach:
        sdc.ok("run", "-d", "--name", name, image, "sh", "-c", f"{script}; exec sleep 1000")
        deadline = time.monotonic() + 10
        while "SigBlk" not in (out := sdc.ok("logs", name)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert out == "SigBlk: 0000000000000000\nSigIgn: 0000000000000000\n", out
        assert sdc.ok("exec", name, "sh", "-c", script) == out
        assert sdc.ok("exec", "-d", name, "sh", "-c", f"{script} > /exec-d") == ""
        deadline = time.monotonic() + 10
        while sdc("exec", name, "test", "-s", "/exec-d").returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert sdc.ok("exec", name, "cat", "/exec-d") == out
    else:
        out = sdc.ok("run", "--rm", image, "sh", "-c", script)
        assert out == "SigBlk: 0000000000000000\nSigIgn: 0000000000000000\n", out
    assert sdc("run", "--rm", image, "sh", "-c", "yes | head -1").stderr == ""


def test_exec_d_of_a_command_that_is_not_there_says_so(sdc: Sdc, image: str, name: str) -> None:
    """Docker: `docker exec -d c nosuchcmd` fails (127, OCI runtime exec failed): sdc said nothing, 0."""
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    proc = sdc("exec", "-d", name, "nosuchcmd")
    assert proc.returncode == 127 and "nosuchcmd: executable file not found" in proc.stderr, proc
    proc = sdc("exec", "-d", name, "/etc/passwd")
    assert proc.returncode == 126, proc
    assert sdc("exec", "-d", name, "sleep", "5").returncode == 0


def test_exec_from_another_cgroup_namespace(sdc: Sdc, image: str, name: str) -> None:
    """sdc exec from a caller in a cgroup namespace of its own (unshare, nsenter): PID 1's cgroups
    are then named relative to that namespace's root (cgroups.join; its "/.." case, which crashed
    with FileNotFoundError, in tests/unit/test_cgroups.py)."""
    fg = foreground_sleep(sdc, image, name)
    try:
        proc = subprocess.run(["unshare", "--cgroup", *sdc.argv("exec", name, "echo", "in")], env=sdc.env(),
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert (proc.returncode, proc.stdout) == (0, "in\n"), proc.stderr
    finally:
        fg.kill()
        fg.wait()


def test_a_foreground_systemd_containers_pid_1_may_move_within_its_unit(sdc: Sdc, image: str, name: str) -> None:
    """A container that runs systemd moves its PID 1 to init.scope below its unit's cgroup:
    sdc found that PID "not running" (its cgroup had to end with the unit's name)."""
    # as systemd does, in every hierarchy the container may write (v2's, and v1's name=systemd)
    script = ("for d in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do "
              "[ -w $d/cgroup.procs ] && mkdir -p $d/init.scope && echo $$ > $d/init.scope/cgroup.procs; done; "
              "echo moved; exec sleep 1000")  # fmt: skip
    fg = subprocess.Popen(sdc.argv("run", "--systemd=always", "--name", name, image, "sh", "-c", script),
                          env=sdc.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert fg.stdout is not None and b"moved" in fg.stdout.readline()
        assert sdc.ok("exec", name, "echo", "in") == "in\n"
        sdc.ok("kill", "-s", "KILL", name)
        assert fg.wait(timeout=30) == 137
    finally:
        fg.kill()
        fg.wait()


def test_logs_f_returns_once_the_container_has_stopped(sdc: Sdc, image: str, name: str) -> None:
    """Docker's `logs -f` ends with the container; journalctl -f never did. Every line once, the
    last ones (written as it ended) too."""
    script = "for i in 1 2 3; do echo line $i; sleep 0.5; done; echo last"
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", script)
    started = time.monotonic()
    out = sdc.ok("logs", "-f", name, timeout=30)
    assert out == "line 1\nline 2\nline 3\nlast\n", out
    assert time.monotonic() - started < 10
    assert sdc.ok("logs", "-f", name, timeout=30) == out  # stopped: what it wrote, and done
    assert sdc.ok("logs", "-f", "-n", "1", name, timeout=30) == "last\n"


OOM = "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo survived"


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
def test_the_payload_alone_is_charged_and_its_oom_is_reported(sdc: Sdc, image: str, name: str,
                                                             detach: bool) -> None:  # fmt: skip
    """The foreground launcher (~11 MB of Python) lived in the container's scope: with -m 6m a 2 MB
    payload exited 137, the OOM killer having taken the launcher; a real OOM was `Exited (?)`,
    unreported. Now the launcher leaves the scope once PID 1 runs: under 8 MiB a payload that
    holds 2 MB lives, and an OOM is reported in both modes as Docker's: 137, State.OOMKilled, a
    warning."""
    if detach:  # its launcher gone once PID 1 runs (a moment: see launcher.spare_from_the_oom_killer)
        sdc.ok("run", "-d", "--name", name, "-m", "8m", "--network", "none", image, "sh", "-c", f"sleep 0.5; {OOM}")
        assert sdc.ok("wait", name) == "137\n"
    else:
        fits = sdc("run", "--rm", "-m", "8m", "--network", "none", image, "sh", "-c",
                   "x=$(head -c 2000000 /dev/zero | tr '\\0' a); echo ok")  # fmt: skip
        assert (fits.returncode, fits.stdout, fits.stderr) == (0, "ok\n", ""), fits
        proc = sdc("run", "--name", name, "-m", "8m", "--network", "none", image, "sh", "-c", OOM)
        assert proc.returncode == 137 and "OOM killer" in proc.stderr and "survived" not in proc.stdout, proc
    [info] = json.loads(sdc.ok("inspect", name))
    assert info["State"]["ExitCode"] == 137 and info["State"]["OOMKilled"] is True, info["State"]


def scope_processes(name: str) -> list[str]:
    cgroup = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", f"sdc-{name}.scope"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    try:
        return open(f"/sys/fs/cgroup/systemd{cgroup}/cgroup.procs").read().split() if cgroup else []
    except FileNotFoundError:
        return []


def test_a_foreground_scope_holds_the_payload_alone(sdc: Sdc, image: str, name: str) -> None:
    fg = foreground_sleep(sdc, image, name)
    try:
        pids = scope_processes(name)
        assert [open(f"/proc/{p}/comm").read().strip() for p in pids] == ["sleep"], pids
        sdc.ok("stop", "-t", "1", name)
        assert fg.wait(timeout=30) in (143, 137)
    finally:
        fg.kill()
        fg.wait()


def launcher_of(fg: subprocess.Popen[Any]) -> int:
    """The foreground launcher sdc (fg) spawns, as soon as it has exec'ed (a fresh interpreter)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for child in open(f"/proc/{fg.pid}/task/{fg.pid}/children").read().split():
            with contextlib.suppress(OSError):
                if b"--foreground" in open(f"/proc/{child}/cmdline", "rb").read():
                    return int(child)
        time.sleep(0.0005)
    raise AssertionError("no launcher")


def cgroups_of(pid: int) -> list[str]:
    return sorted(line.split(":", 1)[1] for line in open(f"/proc/{pid}/cgroup").read().splitlines())


def test_a_launcher_started_after_its_scope_leaves_it_all_the_same(sdc: Sdc, image: str, name: str) -> None:
    """On a busy host the launcher's interpreter can start after systemd has moved it into the
    scope: it took the scope for sdc's cgroups then, stayed in it, and its memory was charged to
    the container (CI saw it in the scope; under -m the OOM killer chose it over the payload and
    sdc exited 137 with no warning). Here it is held stopped until it is in the scope."""
    fg = subprocess.Popen(sdc.argv("run", "--name", name, image, "sleep", "1000"), env=sdc.env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        pid = launcher_of(fg)
        os.kill(pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 20
            while str(pid) not in scope_processes(name):
                assert time.monotonic() < deadline and fg.poll() is None, "the launcher never went into the scope"
                time.sleep(0.01)
        finally:
            os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 20
        while sdc("exec", name, "true").returncode != 0:
            assert time.monotonic() < deadline and fg.poll() is None, "the container never ran"
            time.sleep(0.1)
        pids = scope_processes(name)
        assert [open(f"/proc/{p}/comm").read().strip() for p in pids] == ["sleep"], pids
        assert cgroups_of(pid) == cgroups_of(fg.pid)  # back where sdc is, in every hierarchy
        sdc.ok("stop", "-t", "1", name)
        assert fg.wait(timeout=30) in (143, 137)
    finally:
        fg.kill()
        fg.wait()


@pytest.mark.parametrize(("end", "limit"), [("oom", "8m"), ("kill", "8m"), ("exit", "8m"), ("kill", None),
                                            ("exit", None)])  # fmt: skip
def test_a_launcher_late_to_its_containers_end_tells_an_oom_from_the_rest(
        sdc: Sdc, image: str, name: str, end: str, limit: str | None) -> None:  # fmt: skip
    """On a busy host systemd can remove the ended container's scope, and its cgroup's OOM count
    with it, before the launcher looks (CI saw an OOM reported as a plain 137). The launcher is
    held stopped here from before the container's end until its scope is gone: an OOM is still
    reported, and a kill or an exit is not taken for one (cgroup v1 signals the removal on the
    same eventfd as an OOM). Without a limit of its own the container's cgroup has no witness
    (its registration waits for an RCU grace period): the removal's signal is not an OOM there."""
    payload = {"oom": OOM, "kill": "sleep 1000", "exit": "exit 3"}[end]
    fg = subprocess.Popen(sdc.argv("run", "--name", name, *(["-m", limit] if limit else []), "--network", "none",
                                   image, "sh", "-c",
                                   f"while [ ! -e /go ]; do sleep 0.05; done; {payload}"),
                          env=sdc.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        pid = launcher_of(fg)
        deadline = time.monotonic() + 20
        while sdc("exec", name, "true").returncode != 0:
            assert time.monotonic() < deadline and fg.poll() is None, "the container never ran"
            time.sleep(0.1)
        os.kill(pid, signal.SIGSTOP)
        try:
            sdc.ok("exec", name, "touch", "/go")
            if end == "kill":  # each of its processes (sh may be in a `sleep 0.05` of its loop still)
                for pid_ in scope_processes(name):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid_), signal.SIGKILL)
            deadline = time.monotonic() + 20
            while scope_processes(name):  # the scope's cgroup removed (systemd stops the emptied scope)
                assert time.monotonic() < deadline, "the container never ended"
                time.sleep(0.05)
        finally:
            os.kill(pid, signal.SIGCONT)
        out, err = fg.communicate(timeout=30)
    finally:
        fg.kill()
        fg.wait()
    [info] = json.loads(sdc.ok("inspect", name))
    code = {"oom": 137, "kill": 137, "exit": 3}[end]
    assert (fg.returncode, "OOM killer" in err, info["State"]["OOMKilled"]) == (code, end == "oom", end == "oom"), err
