#!/usr/bin/env python3
"""Boot a throw-away systemd test host and run one command inside it.

Used where PID 1 is not systemd (developer VMs, CI): sdc's integration tests
need a real systemd (transient units over D-Bus, journald, cgroup limits).

    python3 tests/testhost.py [--bind DIR]... [--state DIR] [--target UNIT] -- COMMAND [ARG...]

Stage 1 (this process, on the host) makes child cgroups, then runs stage 2
under `unshare --cgroup --pid --mount --uts --ipc --net --fork`.  Stage 2 is
PID 1 of the new namespaces: it builds an overlayfs root over `/` (upper and
work dirs on a tmpfs), mounts proc, sysfs, the cgroup hierarchies, /run, /tmp
and /dev, binds the given directories, pivot_roots and execs systemd.
Stage 1 then runs COMMAND as a transient service inside the test host
(`systemd-run --wait --pipe`), powers it off and removes every cgroup
directory it made.  Mounts live only in the private mount namespace, so
nothing is left on the host when it dies.

--state DIR keeps the overlay's upper layer (every file the test host
changes) in DIR instead of a tmpfs: a second test host booted with the same
DIR finds its disk as the first one left it, as a machine after a reboot
does.  --target is the unit it boots to (basic.target: no more than the
tests need; multi-user.target boots what is enabled for the next boot).

Standard library only: it runs before the project's venv exists.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOSTNAME = "sdc-testhost"
BOOT_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
# Environment that reaches the command inside the test host.
PASS_ENV = ("PATH", "TERM", "CI", "LANG", "PYTEST_ADDOPTS", "SDC_DEBUG", "SDC_DEB", "SDC_START_ERROR_ROUNDS",
            "SDC_POOL_SIZE")
# The test host's / is an overlay whose upper layer is a tmpfs: a btrfs pool's reserved blocks
# (storage/pool.py) are memory here. Its stores start small, and grow as they fill.
POOL_SIZE = "1g"

MS_RDONLY = 0x1
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    ret = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(ret, f"mount {source} on {target}")


def cgroup_mounts() -> list[tuple[str, str, str]]:
    """(mount point, fstype, super options) of the host's cgroup hierarchies."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        mountpoint = left.split()[4]
        fstype, _source, opts = right.split()[:3]
        if fstype in ("cgroup", "cgroup2") and mountpoint.startswith("/sys/fs/cgroup/"):
            found.append((mountpoint, fstype, opts))
    return found


def own_cgroups() -> dict[str, str]:
    """Controller list (as in /proc/self/cgroup) -> this process's cgroup path."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _num, controllers, path = line.split(":", 2)
        paths[controllers] = path
    return paths


def make_cgroups(tag: str) -> list[Path]:
    """A child cgroup in every hierarchy, under this process's own cgroup.

    The test host's cgroup namespace is rooted there, so systemd inside sees a
    writable subtree and the host's cgroups are untouched."""
    own = own_cgroups()
    made = []
    for mountpoint, fstype, opts in cgroup_mounts():
        if fstype == "cgroup2":
            key = ""
        else:
            names = [o for o in opts.split(",") if o not in ("rw", "ro") and not o.startswith("release_agent")]
            key = ",".join(names)
        parent = Path(mountpoint + own.get(key, "/"))
        child = parent / tag
        child.mkdir(exist_ok=True)
        if (child / "cpuset.cpus").exists():
            # A new cpuset starts empty and refuses tasks until given CPUs and nodes.
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (child / knob).write_text((parent / knob).read_text())
        made.append(child)
    return made


def remove_cgroup_tree(top: Path) -> None:
    if not top.exists():
        return
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda e: -e[0].count("/")):
        for _ in range(50):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
        else:
            print(f"testhost: could not remove cgroup {dirpath}", file=sys.stderr)


def join_cgroups(cgroups: list[Path]) -> None:
    for cg in cgroups:
        (cg / "cgroup.procs").write_text("0")


# --- stage 2: PID 1 of the new namespaces -----------------------------------


def stage2(base: str, binds: list[str], state: str | None, boot_unit: str) -> None:
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", base, "tmpfs", 0, "mode=0755")
    root = os.path.join(base, "root")
    os.mkdir(root)
    upper, work = (os.path.join(state or base, d) for d in ("upper", "work"))
    for d in (upper, work):
        os.makedirs(d, exist_ok=True)
    mount("overlay", root, "overlay", 0, f"lowerdir=/,upperdir={upper},workdir={work}")

    # systemd-tmpfiles' "D /tmp" would empty /tmp, and through a bind mount
    # that reaches the host's files: disable it and give the host its own /tmp.
    os.makedirs(f"{root}/etc/tmpfiles.d", exist_ok=True)
    Path(f"{root}/etc/tmpfiles.d/tmp.conf").write_text("")
    # Nothing in the test host may change the host: sysctls and binfmt_misc are
    # not namespaced, and the network and consoles are the host's.
    masked = (
        "systemd-sysctl.service",
        "systemd-binfmt.service",
        "proc-sys-fs-binfmt_misc.automount",
        "getty@tty1.service",
        "console-getty.service",
        "systemd-networkd.service",
        "ssh.service",
        # Debian enables it on install, listening on every interface; tests start their own, on 127.0.0.1.
        "docker-registry.service",
    )
    for unit in masked:
        os.makedirs(f"{root}/etc/systemd/system", exist_ok=True)
        link = Path(f"{root}/etc/systemd/system/{unit}")
        if not link.is_symlink():
            link.symlink_to("/dev/null")

    mount("proc", f"{root}/proc", "proc")
    mount("sysfs", f"{root}/sys", "sysfs")
    mount("tmpfs", f"{root}/sys/fs/cgroup", "tmpfs", 0, "mode=0755")
    for mountpoint, fstype, opts in cgroup_mounts():
        target = f"{root}{mountpoint}"
        os.makedirs(target, exist_ok=True)
        data = ",".join(o for o in opts.split(",") if o not in ("rw", "ro"))
        mount("cgroup", target, fstype, 0, data or None)
    mount("tmpfs", f"{root}/run", "tmpfs", 0, "mode=0755")
    mount("tmpfs", f"{root}/tmp", "tmpfs", 0, "mode=1777")
    mount("/dev", f"{root}/dev", None, MS_BIND | MS_REC)
    for path in binds:
        target = f"{root}{path}"
        os.makedirs(target, exist_ok=True)
        mount(path, target, None, MS_BIND | MS_REC)

    import socket

    socket.sethostname(HOSTNAME)
    os.chdir(root)
    _check(_libc.syscall(155, b".", b"."), "pivot_root")  # SYS_pivot_root on x86_64
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    env = {"container": HOSTNAME, "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    systemd = "/lib/systemd/systemd"
    os.execve(systemd, [systemd, f"systemd.unit={boot_unit}", "systemd.firstboot=off"], env)


# --- stage 1: on the host -----------------------------------------------------


def child_pid(parent: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    path = Path(f"/proc/{parent}/task/{parent}/children")
    while time.monotonic() < deadline:
        try:
            kids = path.read_text().split()
        except FileNotFoundError:
            break
        if kids:
            return int(kids[0])
        time.sleep(0.02)
    raise RuntimeError("testhost: the namespaced PID 1 did not appear")


def nsenter(pid: int, *argv: str) -> list[str]:
    return ["nsenter", "-t", str(pid), "-a", "--", *argv]


def wait_booted(pid: int) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        # Until stage 2 has exec'ed systemd, /proc/PID/root is still the host's root, which may have
        # a bus of its own (a test host booted inside a test host).
        booting = Path(f"/proc/{pid}/comm").read_text().strip() == "systemd"
        if booting and Path(f"/proc/{pid}/root/run/dbus/system_bus_socket").exists():
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("testhost: no D-Bus system bus came up")
    waited = subprocess.run(
        nsenter(pid, "timeout", str(int(BOOT_TIMEOUT)), "systemctl", "is-system-running", "--wait"),
        capture_output=True,
        text=True,
    )
    state = waited.stdout.strip()
    if state not in ("running", "degraded"):
        raise RuntimeError(f"testhost: systemd did not finish booting (state {state!r}) {waited.stderr.strip()}")
    if state == "degraded":
        failed = subprocess.run(nsenter(pid, "systemctl", "--failed", "--no-legend"), capture_output=True, text=True)
        print(f"testhost: booted degraded:\n{failed.stdout}", file=sys.stderr)


def run_inside(pid: int, argv: list[str]) -> int:
    env = [f"--setenv={k}={os.environ[k]}" for k in PASS_ENV if k in os.environ]
    env += [] if "SDC_POOL_SIZE" in os.environ else [f"--setenv=SDC_POOL_SIZE={POOL_SIZE}"]
    cmd = nsenter(
        pid,
        "systemd-run",
        "--wait",
        "--pipe",
        "--quiet",
        "--collect",
        "--service-type=exec",
        f"--working-directory={os.getcwd()}",
        "--unit=testhost-command",
        *env,
        *argv,
    )
    return subprocess.run(cmd).returncode


def shutdown(unshare: subprocess.Popen[bytes], pid: int | None) -> None:
    if pid is not None and unshare.poll() is None:
        try:
            os.kill(pid, signal.SIGRTMIN + 4)  # systemd(1): SIGRTMIN+4 is poweroff
        except ProcessLookupError:
            pass
    try:
        unshare.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print("testhost: systemd did not power off in time; killing it", file=sys.stderr)
        if pid is not None:
            # SIGKILL to the PID 1 of a namespace kills every process in it.
            os.kill(pid, signal.SIGKILL)
        unshare.wait()


def detach_leftover_loops(base: str) -> None:
    listing = subprocess.run(
        ["losetup", "--list", "--noheadings", "-O", "NAME,BACK-FILE"], capture_output=True, text=True
    )
    for line in listing.stdout.splitlines():
        name, _, backing = line.partition(" ")
        if backing.strip().startswith(base):
            subprocess.run(["losetup", "-d", name])
            print(f"testhost: detached leftover loop device {name}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bind", action="append", default=[], help="directory to share with the test host")
    parser.add_argument("--state", metavar="DIR", help="keep what the test host writes in DIR, for the next boot")
    parser.add_argument("--target", default="basic.target", help="the unit to boot to (default: %(default)s)")
    parser.add_argument("--stage2", metavar="BASE", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.stage2:
        stage2(args.stage2, args.bind, args.state, args.target)
        return 1
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command to run inside the test host")
    if os.geteuid() != 0:
        parser.error("the test host needs root")

    binds = sorted({str(Path(b).resolve()) for b in [os.getcwd(), *args.bind]})
    base = tempfile.mkdtemp(prefix="sdc-testhost.", dir="/var/tmp")
    tag = f"sdc-testhost-{os.getpid()}"
    cgroups = make_cgroups(tag)
    unshare = None
    pid = None
    try:
        unshare = subprocess.Popen(
            [
                "unshare",
                "--cgroup",
                "--pid",
                "--mount",
                "--uts",
                "--ipc",
                "--net",
                "--fork",
                "--kill-child",
                "--",
                sys.executable,
                os.path.abspath(__file__),
                "--stage2",
                base,
                *[f"--bind={b}" for b in binds],
                *([f"--state={Path(args.state).resolve()}"] if args.state else []),
                f"--target={args.target}",
            ],
            preexec_fn=lambda: join_cgroups(cgroups),
        )
        pid = child_pid(unshare.pid)
        wait_booted(pid)
        return run_inside(pid, command)
    finally:
        if unshare is not None:
            shutdown(unshare, pid)
        detach_leftover_loops(base)
        for cg in cgroups:
            remove_cgroup_tree(cg)
        os.rmdir(base)


if __name__ == "__main__":
    sys.exit(main())
