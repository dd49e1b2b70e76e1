"""The foundation's first block of commands, as a user types them, on the real systemd."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sdcontainer import cgroups
from tests.integration.conftest import Sdc, sdc_units, store_state, systemctl, unit_property


def test_foreground_run_prints_and_leaves_nothing(sdc: Sdc, image: str, store: Path) -> None:
    before = store_state(store)
    proc = sdc("run", "--rm", image, "echo", "hi")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hi\n", "")
    assert store_state(store) == before


def test_a_profiled_run_marks_each_phase_in_order(sdc: Sdc, image: str, tmp_path: Path) -> None:
    """$SDC_PROFILE (bench/run's profile): sdc's and its launcher's marks, one timeline."""
    marks = tmp_path / "marks"
    proc = subprocess.run(sdc.argv("run", "--rm", image, "true"), env=sdc.env(SDC_PROFILE=str(marks)),
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = marks.read_text().splitlines()
    timeline = sorted((int(t), phase) for t, _, phase in (line.split(" ", 2) for line in lines))
    phases = [phase for _, phase in timeline]
    ordered = ["sdc: main", "sdc: flags checked", "sdc: launcher forked", "sdc: scope started (D-Bus)",
               "launcher: in the scope, bundle received", "launcher: PID 1 exec'ed",
               "launcher: PID 1 ended, output relayed", "launcher: end recorded", "sdc: launcher ended",
               "sdc: removed"]  # fmt: skip
    assert [p for p in phases if p in ordered] == ordered, phases
    assert {"launcher: main", "sdc: container made (image found, layer, bundle)"} <= set(phases)


def test_priming_a_migration_leaves_sdc_in_its_cgroup() -> None:
    """`run`, `start` and `exec` move sdc into its own cgroup (cgroups.prime_migration) to pay the
    kernel's wait for the next move beside their work: a move that happens, and changes nothing."""
    before = Path("/proc/self/cgroup").read_text()
    written = cgroups.move_into_own_cgroup()
    assert written.endswith("/cgroup.procs")
    assert str(os.getpid()) in Path(written).read_text().split()
    assert Path("/proc/self/cgroup").read_text() == before


def test_exit_status_is_the_commands(sdc: Sdc, image: str, name: str) -> None:
    assert sdc("run", "--rm", image, "sh", "-c", "exit 7").returncode == 7
    # Killed by a signal: 128 + its number, as a shell reports it.
    proc = subprocess.Popen(sdc.argv("run", "--name", name, image, "sh", "-c", "echo up; exec sleep 1000"),
                            stdout=subprocess.PIPE, text=True, env=sdc.env())  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"
    sdc.ok("kill", "-s", "KILL", name)
    assert proc.wait(timeout=20) == 137


def test_foreground_runs_in_a_scope_with_its_limits(sdc: Sdc, image: str, name: str, store: Path) -> None:
    proc = subprocess.Popen(sdc.argv("run", "--name", name, "-m", "48m", image, "sh", "-c", "echo up; sleep 1000"),
                            stdout=subprocess.PIPE, text=True, env=sdc.env())  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"
    scope = f"sdc-{name}.scope"
    assert unit_property(scope, "ActiveState") == "active"
    assert unit_property(scope, "MemoryMax") == str(48 << 20)
    pid1 = int((store / "containers" / name / "pid").read_text())
    assert f"memory:/machine.slice/machine-sdc.slice/{scope}" in Path(f"/proc/{pid1}/cgroup").read_text()
    limit = Path(f"/sys/fs/cgroup/memory/machine.slice/machine-sdc.slice/{scope}/memory.limit_in_bytes")
    assert limit.read_text().strip() == str(48 << 20)  # enforced by the kernel, not only configured
    sdc.ok("stop", "-t", "0", name)
    assert proc.wait(timeout=20) == 137
    ps = json.loads(sdc.ok("ps", "-a", "--format", "json"))
    assert [c["Status"].split(")")[0] for c in ps if c["Name"] == name] == ["Exited (137"]
    assert unit_property(scope, "LoadState") == "not-found"


def test_detached_service_status_journal_ps_logs_inspect_stop_rm(sdc: Sdc, image: str, store: Path) -> None:
    cid = sdc.ok(
        "run", "-d", "--name", "web", "-m", "64m", "--pids-limit", "50", "-c", "512",
        image, "sh", "-c", "echo started; exec sleep 1000",
    ).strip()  # fmt: skip
    assert len(cid) == 64
    try:
        assert unit_property("sdc-web.service", "ActiveState") == "active"
        status = systemctl("status", "--no-pager", "sdc-web.service").stdout
        assert "sleep 1000" in status and "machine-sdc.slice/sdc-web.service" in status
        journal = subprocess.run(
            ["journalctl", "--no-pager", "-u", "sdc-web.service"], capture_output=True, text=True
        ).stdout
        assert "started" in journal

        ps = sdc.ok("ps")
        assert "web" in ps and "Up" in ps and cid[:12] in ps
        assert sdc.ok("logs", "web") == "started\n"

        [info] = json.loads(sdc.ok("inspect", "web"))
        assert info["Id"] == cid and info["Unit"] == "sdc-web.service"
        assert info["State"]["Status"] == "running"
        assert info["State"]["MainPID"] == int(unit_property("sdc-web.service", "MainPID"))
        assert info["State"]["ControlGroup"] == "/machine.slice/machine-sdc.slice/sdc-web.service"
        assert info["Storage"]["RootFs"].startswith(str(store))
        assert info["HostConfig"]["Memory"] == 64 << 20
        rootfs = Path(info["Storage"]["RootFs"])
        assert rootfs.is_dir()

        # The main PID is the container's own PID 1 (sleep): no launcher stays behind.
        main_pid = info["State"]["MainPID"]
        assert Path(f"/proc/{main_pid}/comm").read_text().strip() == "sleep"
        assert unit_property("sdc-web.service", "TasksCurrent") == "1"
        assert sorted(os.listdir(f"/proc/{main_pid}/fd")) == ["0", "1", "2"]  # every other fd was closed
    finally:
        sdc.ok("stop", "-t", "1", "web")
    assert unit_property("sdc-web.service", "LoadState") == "not-found"
    assert "Exited (137)" in sdc.ok("ps", "-a")
    sdc.ok("rm", "web")
    assert "web" not in sdc.ok("ps", "-a")
    assert not rootfs.exists()
    assert not (store / "containers" / "web").exists()
    assert "sdc-web.service" not in sdc_units()


def test_logs_of_a_name_used_again_are_the_new_containers_only(sdc: Sdc, image: str, name: str) -> None:
    # The unit's name is the container's: the journal holds both containers' lines under it.
    for word in ("first", "second"):
        sdc("rm", "-f", name)
        sdc.ok("run", "-d", "--name", name, image, "sh", "-c", f"echo {word}; exec sleep 1000")
        deadline = time.monotonic() + 10
        while word not in (logs := sdc.ok("logs", name)):
            assert time.monotonic() < deadline, logs
            time.sleep(0.1)
    assert sdc.ok("logs", name) == "second\n"


def test_logs_follow_streams_new_output(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "echo one; sleep 1; echo two; sleep 1000")
    follower = subprocess.Popen(sdc.argv("logs", "-f", name), stdout=subprocess.PIPE, text=True, env=sdc.env())
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == "one\n"
        assert follower.stdout.readline() == "two\n"
    finally:
        follower.kill()
        follower.wait()


def test_inside_the_container(sdc: Sdc, image: str, name: str) -> None:
    Path("/tmp/host-marker").write_text("host")
    script = """
        echo "pid=$$"
        echo "hostname=$(hostname)"
        test -e /tmp/host-marker && echo "host-visible" || echo "host-hidden"
        mount -t tmpfs none /tmp 2>/dev/null && echo "mount-ok" || echo "mount-refused"
        (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo "procsys-rw" || echo "procsys-ro"
        awk '$2 == "/sys" || $2 == "/proc/sys" { split($4, o, ","); print "mount", $2, o[1] }' /proc/mounts
        for f in /proc/keys /proc/timer_list; do [ -c "$f" ] && echo "masked $f $(wc -c < "$f")"; done
        grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status
        echo "ifaces=$(ls /sys/class/net | tr '\\n' ' ')"
        echo "devs=$(ls /dev | tr '\\n' ' ')"
    """
    out = sdc.ok("run", "--rm", "--name", name, "-h", "box", image, "sh", "-c", script)
    lines = out.splitlines()
    assert "pid=1" in lines
    assert "hostname=box" in lines
    assert "host-hidden" in lines
    assert "mount-refused" in lines
    assert "procsys-ro" in lines
    assert "mount /sys ro" in lines and "mount /proc/sys ro" in lines
    assert "masked /proc/keys 0" in lines and "masked /proc/timer_list 0" in lines  # /dev/null over them
    assert "CapBnd:\t00000000a80425fb" in lines  # Docker's 14 capabilities
    assert "CapEff:\t00000000a80425fb" in lines
    assert "NoNewPrivs:\t1" in lines
    assert "ifaces=lo " in lines
    devs = next(line for line in lines if line.startswith("devs=")).split("=", 1)[1].split()
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx"} <= set(devs)


def test_env_workdir_user(sdc: Sdc, image: str) -> None:
    out = sdc.ok("run", "--rm", "-e", "GREETING=hello", "-w", "/etc", "-u", "65534:65534", image,
                 "sh", "-c", 'echo "$GREETING $(pwd) $(id -u):$(id -g) $(grep CapEff /proc/self/status)"')  # fmt: skip
    assert out == "hello /etc 65534:65534 CapEff:\t0000000000000000\n"


def test_signals_reach_a_foreground_container(sdc: Sdc, image: str, name: str) -> None:
    proc = subprocess.Popen(
        sdc.argv("run", "--rm", "--name", name, image, "sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; "
                 "while true; do sleep 0.1; done"),
        stdout=subprocess.PIPE, text=True, env=sdc.env(),
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 42
    assert proc.stdout.read() == "got-term\n"


def test_detached_rm_removes_itself_when_done(sdc: Sdc, image: str, name: str, store: Path) -> None:
    sdc.ok("run", "-d", "--rm", "--name", name, image, "sh", "-c", "sleep 0.2")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not (store / "containers" / name).exists() and f"sdc-{name}.service" not in sdc_units():
            break
        time.sleep(0.1)
    assert not (store / "containers" / name).exists()
    assert f"sdc-{name}.service" not in sdc_units()


def test_detached_exit_status_is_recorded(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "exit 3")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        [entry] = [c for c in json.loads(sdc.ok("ps", "-a", "--format", "json")) if c["Name"] == name]
        if entry["State"] == "exited":
            break
        time.sleep(0.1)
    assert entry["ExitCode"] == 3


def test_the_dbus_next_adapter_runs_containers_too(sdc: Sdc, image: str, name: str) -> None:
    env = sdc.env(SDC_BUS="dbus-next")
    assert sdc("run", "--rm", image, "echo", "via dbus-next", env=env).stdout == "via dbus-next\n"
    assert sdc("run", "-d", "--name", name, image, "sleep", "1000", env=env).returncode == 0
    assert unit_property(f"sdc-{name}.service", "ActiveState") == "active"
    assert name in sdc("ps", env=env).stdout
    assert sdc("stop", "-t", "0", name, env=env).returncode == 0
    assert sdc("rm", name, env=env).returncode == 0
    assert f"sdc-{name}.service" not in sdc_units()


def test_the_fast_ps_and_the_typer_ps_agree(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    sdc.ok("run", "--name", name + "-x", image, "true")
    try:
        slow = sdc.env(SDC_NO_FAST_PATH="1")
        for args in (["ps"], ["ps", "-a"], ["ps", "-aq"], ["ps", "-a", "--format", "json"], ["ps", "--format=json"],
                     ["--root", str(sdc.root), "ps", "-q", "-a"], ["--version"]):  # fmt: skip
            fast, typer = sdc(*args), sdc(*args, env=slow)
            ago = re.compile(r"(Less than a second|\d+ seconds?)( ago)?")  # the clock moves between the two
            fast_out, typer_out = (re.sub(" +", " ", ago.sub("AGO", p.stdout)) for p in (fast, typer))
            assert (fast.returncode, fast_out, fast.stderr) == (typer.returncode, typer_out, typer.stderr), args
        assert name in sdc.ok("ps") and name + "-x" in sdc.ok("ps", "-a")
    finally:
        sdc("rm", "-f", name + "-x")


def test_the_fast_run_and_the_typer_run_agree(sdc: Sdc, image: str, name: str) -> None:
    slow = sdc.env(SDC_NO_FAST_PATH="1")
    cases = [
        ["run", "--rm", image, "sh", "-c", "echo out; echo err >&2; exit 3"],
        ["run", "--rm", "-e", "A=1", "-w", "/etc", "-h", "box", image, "sh", "-c", "echo $A $(pwd) $(hostname)"],
        ["run", "--rm", "-m", "lots", image, "true"],
        ["run", "--rm", "--name", "-bad", image, "true"],
        ["run", "--rm", "no-such-image", "true"],
        ["run", "--rm", image, "/no/such/command"],
        ["run", "--rm", "--pids-limit", "many", image],
        ["run", "--rm", "--cpuset-cpus", "99", image, "true"],
    ]
    before = store_state(sdc.root)
    for args in cases:
        fast, typer = sdc(*args), sdc(*args, env=slow)
        assert (fast.returncode, fast.stdout, fast.stderr) == (typer.returncode, typer.stdout, typer.stderr), args
    assert store_state(sdc.root) == before
    # Detached: the ID on stdout, the container named as asked, either way.
    for env, suffix in ((None, "-fast"), (slow, "-typer")):
        out = sdc("run", "-d", "--name", name + suffix, image, "sleep", "1000", env=env)
        assert out.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}\n", out.stdout), out
    sdc.ok("rm", "-f", name + "-fast", name + "-typer")


# What the commands that run most must not import (issue 3): the CLI framework, pystemd's
# object layer with lxml, asyncio (dbus-next), archive and hashing modules, and logging
# when nothing is logged.
HEAVY = {"click", "typer", "lxml", "pystemd.base", "asyncio", "dbus_next", "tarfile", "hashlib", "secrets", "logging"}


def test_run_and_ps_import_nothing_heavy(sdc: Sdc, image: str) -> None:
    for args, used in ((["run", "--rm", image, "true"], "sdcontainer.launcher"), (["ps", "-a"], "sdcontainer.render"),
                       (["--version"], "sdcontainer.entry"),
                       (["run", "--rm", "--network", "bridge", "-p", "9600:80", image, "true"],
                        "sdcontainer.netns")):  # fmt: skip
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "sdcontainer", *args],
                              capture_output=True, text=True, env=sdc.env())  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
        assert used in imported, args  # the measurement sees the command's own modules
        assert not imported & HEAVY, (args, imported & HEAVY)


COUNT_INTS = "n=0; trap 'n=$((n+1)); echo got-int-$n' INT; echo ready; sleep 2; echo count=$n"


def test_a_signal_sent_to_sdc_reaches_the_container_once(sdc: Sdc, image: str, name: str) -> None:
    proc = subprocess.Popen(sdc.argv("run", "--rm", "--name", name, image, "sh", "-c", COUNT_INTS),
                            stdout=subprocess.PIPE, text=True, env=sdc.env())  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    assert proc.wait(timeout=20) == 0
    assert out == "got-int-1\ncount=1\n"


def test_ctrl_c_on_a_terminal_reaches_the_container_once(sdc: Sdc, image: str, name: str) -> None:
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: sdc on a terminal, as a user runs it
        os.execve(sys.executable, sdc.argv("run", "--rm", "--name", name, image, "sh", "-c", COUNT_INTS), sdc.env())
    out = b""
    while b"ready" not in out:
        out += os.read(fd, 1024)
    os.write(fd, b"\x03")  # the terminal sends SIGINT to its whole foreground process group
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the terminal's last user is gone
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode().replace("\r", "")
    assert "got-int-1\n" in text and "count=1\n" in text and "got-int-2" not in text, text
    assert os.waitstatus_to_exitcode(status) == 0
