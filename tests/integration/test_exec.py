"""sdc exec (issues 8 and 9): a command in a running container, in its namespaces, its unit's
cgroup, its user, capabilities and seccomp filter; its exit status comes back. And
CVE-2019-5736: the process entering the container, until its exec, is not something the
container's processes can open through /proc/PID/exe."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

from tests.integration.conftest import Sdc, unit_property


def running(sdc: Sdc, image: str, name: str, *flags: str) -> None:
    sdc.ok("run", "-d", *flags, "--name", name, "-e", "FROM_RUN=1", image, "sleep", "1000")


def test_exec_runs_in_the_container_and_returns_its_status(sdc: Sdc, image: str, name: str) -> None:
    running(sdc, image, name)
    script = "echo $X $FROM_RUN; pwd; id -u; hostname; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"
    out = sdc.ok("exec", "-e", "X=1", "-w", "/tmp", "-u", "65534", name, "sh", "-c", script)
    assert out.split("\n")[:4] == ["1 1", "/tmp", "65534", name]
    assert "Seccomp:\t2" in out and "NoNewPrivs:\t1" in out
    assert sdc("exec", name, "sh", "-c", "exit 7").returncode == 7
    missing = sdc("exec", name, "no-such-command")
    assert missing.returncode == 127 and "no-such-command: executable file not found" in missing.stderr
    # the container's pid namespace and the unit's cgroup: PID 1 is its sleep, and the shell is the unit's
    out = sdc.ok("exec", name, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/self/cgroup")
    assert out.startswith("sleep 1000 \n")
    pid1 = unit_property(f"sdc-{name}.service", "MainPID")
    exec_pid = subprocess.run(["pgrep", "-f", "-n", "sleep 4242"], capture_output=True, text=True).stdout
    assert exec_pid == ""  # none yet
    sdc.ok("exec", "-d", name, "sleep", "4242")
    pids = subprocess.run(["pgrep", "-f", "sleep 4242"], capture_output=True, text=True).stdout.split()
    assert len(pids) == 1
    assert Path(f"/proc/{pids[0]}/cgroup").read_text() == Path(f"/proc/{pid1}/cgroup").read_text()


def test_exec_into_a_stopped_or_missing_container_is_one_line(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "true")
    for ref, message in ((name, "is not running"), ("no-such-container", "no-such-container")):
        proc = sdc("exec", ref, "true")
        assert proc.returncode != 0 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_the_entering_process_cannot_be_opened_from_inside(sdc: Sdc, image: str, name: str) -> None:
    """The launcher's exec protocol, driven by hand: stop its child in the container, before its
    exec, and attack it from a process of the container's."""
    from sdcontainer import cgroups, launcher, linux

    running(sdc, image, name)
    bundle = json.loads(sdc.ok("inspect", name))[0]["Storage"]["Bundle"]
    pid = int(unit_property(f"sdc-{name}.service", "MainPID"))
    pidfd = linux.pidfd_open(pid)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    os.set_inheritable(pidfd, True)
    # as sdc spawns it: the signals it relays blocked (it reads them with sigwaitinfo)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {*launcher.RELAYED, signal.SIGCHLD})
    try:
        helper = launcher.spawn_exec(theirs.fileno())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    theirs.close()
    try:
        request = {"bundle": bundle, "pidfd": pidfd, "process": {"args": ["true"]}, "detach": False}
        ours.send(json.dumps(request).encode())
        assert ours.recv(16) == launcher.ATTACH
        cgroups.join(pid, helper)
        ours.send(launcher.GO)
        entered = ours.recv(64)
        assert entered.startswith(launcher.ENTERED)
        inside = entered[1:].decode()  # its PID in the container: the host's Python, waiting
        attack = sdc("exec", name, "sh", "-c",
                     f"cat /proc/{inside}/status | grep -c ^Name; ls -l /proc/{inside}/exe; "
                     f"( exec 3>>/proc/{inside}/exe ) && echo OPENED")  # fmt: skip
        assert attack.stdout.startswith("1\n"), attack  # it is there, and a process of the container's
        assert "OPENED" not in attack.stdout and "Permission denied" in attack.stderr, attack
        ours.send(launcher.GO)
    finally:
        ours.close()
        _, status = os.waitpid(helper, 0)
        os.close(pidfd)
    assert os.waitstatus_to_exitcode(status) == 0
