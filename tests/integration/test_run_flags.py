"""Every `sdc run` flag in both modes (issue 10): in the foreground (a scope) and detached (a service),
what systemd reports, what the kernel enforces for the container's PID 1, and what it sees inside."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, unit_property

CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Flag:
    args: tuple[str, ...]
    inside: str = ""  # shell run in the container; its output must be `sees`
    sees: str = ""
    unit: dict[str, str] = field(default_factory=dict)  # systemctl show PROPERTY -> value
    cgroup: dict[str, str] = field(default_factory=dict)  # controller/file of PID 1's cgroup -> content


ENV_FILE = "# Docker's format\nFROM_FILE=file value\nPASSED_ON\n"
FLAGS = {
    "env": Flag(("-e", "A=1", "-e", "PASSED_ON"), 'echo "$A $PASSED_ON"', "1 from the caller"),
    "env-file": Flag(("--env-file", "{env_file}"), 'echo "$FROM_FILE|$PASSED_ON"', "file value|from the caller"),
    "workdir": Flag(("-w", "/srv/made/here"), "pwd; stat -c %U /srv/made", "/srv/made/here\nroot"),
    "hostname": Flag(("-h", "box"), 'echo "$(hostname) $HOSTNAME"', "box box"),
    "user": Flag(("-u", "65534:65534"), 'echo "$(id -u):$(id -g) $HOME"', "65534:65534 /"),
    "memory": Flag(("-m", "64m"), unit={"MemoryMax": str(64 << 20)},
                   cgroup={"memory/memory.limit_in_bytes": str(64 << 20)}),
    "memory-swap": Flag(("-m", "64m", "--memory-swap", "96m"), unit={"MemorySwapMax": str(32 << 20)}),
    "cpu-shares": Flag(("-c", "512"), unit={"CPUWeight": "59"}, cgroup={"cpu/cpu.shares": "604"}),
    "cpus": Flag(("--cpus", "1.5"), unit={"CPUQuotaPerSecUSec": "1.500000s"},
                 cgroup={"cpu/cpu.cfs_quota_us": "150000"}),
    "cpuset-cpus": Flag(("--cpuset-cpus", "1"), "grep Cpus_allowed_list /proc/self/status",
                        "Cpus_allowed_list:\t1", unit={"AllowedCPUs": "1"}),
    "pids-limit": Flag(("--pids-limit", "50"), unit={"TasksMax": "50"}, cgroup={"pids/pids.max": "50"}),
    "blkio-weight": Flag(("--blkio-weight", "300"), unit={"IOWeight": "60"}),
    "stop-timeout": Flag(("--stop-timeout", "3"), unit={"TimeoutStopUSec": "3s"}),
    "stop-signal": Flag(("--stop-signal", "SIGINT"), unit={"KillSignal": "2"}),
    "tty": Flag(("-t",), 'echo "TERM=$TERM"', "TERM=xterm"),
    "interactive": Flag(("-i",), "echo accepted", "accepted"),
}  # fmt: skip
MODES = ("foreground", "detached")


def pid1_cgroup_file(pid: int, controller: str, name: str) -> str:
    """A file of the v1 controller's cgroup PID 1 is in (/sys/fs/cgroup/cpu is cpu's, joined or not)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, listed, path = line.split(":", 2)
        if controller in listed.split(","):
            return (CGROUP / controller / path.lstrip("/") / name).read_text().strip()
    raise AssertionError(f"PID {pid} is in no {controller} cgroup")


def wait_for(what: str, read: object, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = read()  # type: ignore[operator]
        if what in text or time.monotonic() > deadline:
            return str(text)
        time.sleep(0.05)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_every_run_flag_in_both_modes(sdc: Sdc, image: str, name: str, store: Path, tmp_path: Path,
                                      flag: str, mode: str) -> None:  # fmt: skip
    spec = FLAGS[flag]
    (tmp_path / "env").write_text(ENV_FILE)
    args = [a.format(env_file=tmp_path / "env") for a in spec.args]
    script = f"{spec.inside or ':'}; echo END; exec sleep 1000"
    env = sdc.env(PASSED_ON="from the caller")
    if mode == "foreground":
        proc = subprocess.Popen(sdc.argv("run", "--name", name, *args, image, "sh", "-c", script),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        assert proc.stdout is not None
        lines = []
        while (line := proc.stdout.readline()) not in ("END\n", ""):
            lines.append(line)
        assert line == "END\n", proc.stderr.read() if proc.stderr else ""
        output = "".join(lines)
        unit = f"sdc-{name}.scope"
        pid1 = int((store / "containers" / name / "pid").read_text())
    else:
        run = sdc("run", "-d", "--name", name, *args, image, "sh", "-c", script, env=env)
        assert run.returncode == 0, run.stderr
        output = wait_for("END", lambda: sdc.ok("logs", name)).removesuffix("END\n")
        unit = f"sdc-{name}.service"
        pid1 = int(unit_property(unit, "MainPID"))
    try:
        assert output.strip() == spec.sees
        for prop, value in spec.unit.items():
            assert unit_property(unit, prop) == value, prop
        for path, value in spec.cgroup.items():
            controllers, file = path.split("/")
            assert pid1_cgroup_file(pid1, controllers, file) == value, path
        [info] = json.loads(sdc.ok("inspect", name))
        assert info["Unit"] == unit and info["State"]["Status"] == "running"
        if flag == "cpuset-cpus":
            assert info["HostConfig"]["CpusetCpus"] == "1"
    finally:
        sdc.ok("rm", "-f", name)
        if mode == "foreground":
            proc.wait(timeout=20)


@pytest.mark.parametrize("mode", MODES)
def test_rm_and_name_in_both_modes(sdc: Sdc, image: str, name: str, store: Path, mode: str) -> None:
    detach = ["-d"] if mode == "detached" else []
    sdc.ok("run", *detach, "--rm", "--name", name, image, "true")
    deadline = time.monotonic() + 15
    while (store / "containers" / name).exists():
        assert time.monotonic() < deadline, "the --rm container stayed"
        time.sleep(0.05)
    assert name not in sdc.ok("ps", "-a")


def test_the_environment_a_container_gets(sdc: Sdc, image: str, tmp_path: Path) -> None:
    """`sdc run --rm bb env`: PATH, HOME, HOSTNAME and container=sdc, as Docker and systemd's
    container interface have them; -t adds TERM."""
    env = dict(line.split("=", 1) for line in sdc.ok("run", "--rm", "-h", "box", image, "env").splitlines())
    assert env == {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": "box",
                   "HOME": "/root", "container": "sdc"}  # fmt: skip
    assert "TERM=xterm\r\n" in sdc.ok("run", "--rm", "-t", image, "env")  # through a terminal: CRLF, as Docker's
    # The user's home from the image's /etc/passwd: `cd ~` works for nobody (whose home is /).
    assert sdc.ok("run", "--rm", "-u", "65534", image, "sh", "-c", 'cd ~ && echo "$HOME $(pwd)"') == "/ /\n"


def test_env_file_and_env_without_a_value(sdc: Sdc, image: str, tmp_path: Path) -> None:
    envfile = tmp_path / "app.env"
    envfile.write_text("# settings\n\nGREETING=hello world\n  INDENTED=yes\nFROM_CALLER\nNOT_SET_ANYWHERE\n")
    out = sdc.ok("run", "--rm", "--env-file", str(envfile), "-e", "FROM_CALLER", "-e", "UNSET_TOO", image,
                 "sh", "-c", 'echo "$GREETING|$INDENTED|$FROM_CALLER|${NOT_SET_ANYWHERE-unset}|${UNSET_TOO-unset}"',
                 env=sdc.env(FROM_CALLER="mine"))  # fmt: skip
    assert out == "hello world|yes|mine|unset|unset\n"
    envfile.write_text("GOOD=1\nBAD NAME=2\n")
    proc = sdc("run", "--rm", "--env-file", str(envfile), image, "true")
    assert proc.returncode == 125 and "line 2" in proc.stderr and proc.stderr.count("\n") == 1


def test_a_scope_takes_every_property_sdc_gives_one(sdc: Sdc, image: str, name: str) -> None:
    """units.SCOPE_TAKES, held to the real systemd: each is a property of a scope's Unit or Scope
    interface; CPUAffinity, an exec setting, is not."""
    proc = subprocess.Popen(sdc.argv("run", "--name", name, image, "sh", "-c", "echo up; exec sleep 1000"),
                            stdout=subprocess.PIPE, text=True, env=sdc.env())  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        path = subprocess.run(["busctl", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "GetUnit", "s", f"sdc-{name}.scope"],
                              capture_output=True, text=True, check=True).stdout.split()[1].strip('"')  # fmt: skip
        introspected = subprocess.run(["busctl", "introspect", "--list", "org.freedesktop.systemd1", path],
                                      capture_output=True, text=True, check=True).stdout  # fmt: skip
        properties = {line.split()[0].lstrip(".") for line in introspected.splitlines() if " property " in line}
        from sdcontainer.units import SCOPE_TAKES

        assert SCOPE_TAKES - {"PIDs"} <= properties, SCOPE_TAKES - properties
        assert "CPUAffinity" not in properties
    finally:
        sdc("rm", "-f", name)
        proc.wait(timeout=20)
