"""A container sees its own cgroup at /sys/fs/cgroup, read-only (issue 11): the limits sdc set read
back where language runtimes look for them, nothing of the host's tree, and no write goes through."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc

UNIFIED = Path("/sys/fs/cgroup/cgroup.controllers").exists()  # cgroup v2 only; else v1 or hybrid

# What a runtime reads, by the layout of the host's hierarchies.
LIMITS = {
    "memory": ("memory.max", "memory/memory.limit_in_bytes"),
    "cpu quota": ("cpu.max", "cpu/cpu.cfs_quota_us"),
    "pids": ("pids.max", "pids/pids.max"),
    "cpuset": ("cpuset.cpus.effective", "cpuset/cpuset.cpus"),
}


def limit_file(kind: str) -> str:
    unified, legacy = LIMITS[kind]
    return f"/sys/fs/cgroup/{unified if UNIFIED else legacy}"


def read_inside(sdc: Sdc, image: str, *flags: str, script: str) -> str:
    return sdc.ok("run", "--rm", *flags, image, "sh", "-c", script)


@pytest.mark.parametrize("detach", [False, True], ids=["scope", "service"])
def test_the_limits_read_back_inside(sdc: Sdc, image: str, name: str, detach: bool) -> None:
    files = [limit_file(k) for k in LIMITS]
    script = "; ".join(f"cat {f}" for f in files)
    flags = ["-m", "64m", "--cpus", "0.5", "--pids-limit", "30", "--cpuset-cpus", "1"]
    if detach:
        sdc.ok("run", "-d", "--name", name, *flags, image, "sh", "-c", f"{script}; sleep 1000")
        out = ""
        for _ in range(50):
            if len((out := sdc.ok("logs", name)).splitlines()) >= 4:
                break
            time.sleep(0.1)
    else:
        out = read_inside(sdc, image, *flags, script=script)
    memory, cpu, pids, cpuset = out.splitlines()[:4]
    assert int(memory) == 64 << 20
    assert cpu == "50000 100000" if UNIFIED else cpu == "50000"
    assert pids == "30"
    assert cpuset == "1"


def test_cpuset_holds_the_container_and_goes_with_it(sdc: Sdc, image: str, name: str) -> None:
    """On a v1 or hybrid host sdc makes the cpuset cgroup systemd does not: the container cannot
    widen its CPUs, and nothing is left of it after the run."""
    # sched_setaffinity(2) takes a wider mask, and the kernel keeps what the cpuset allows
    out = read_inside(sdc, image, "--name", name, "--cpuset-cpus", "1", script="taskset -p 3 $$ >/dev/null; "
                      "taskset -p $$")  # fmt: skip
    assert out.split()[-1] == "2", out  # the mask of CPU 1 alone
    leftovers = list(Path("/sys/fs/cgroup/cpuset").glob(f"**/sdc-{name}.*")) if not UNIFIED else []
    assert leftovers == []


def test_only_its_own_cgroup_is_there(sdc: Sdc, image: str) -> None:
    cgroups, below, top = read_inside(sdc, image, script="cat /proc/self/cgroup; echo ---; "
                                      f"find /sys/fs/cgroup -mindepth {1 if UNIFIED else 2} -type d; echo ---; "
                                      "ls /sys/fs/cgroup"
                                      ).split("---\n")  # fmt: skip
    assert all(line.endswith(":/") for line in cgroups.splitlines()), cgroups  # its cgroup namespace's root
    # No cgroup below its own (v1: below each hierarchy's directory): a hierarchy in which the
    # container has no cgroup of its own would show the host's (system.slice and the rest).
    assert below == "", below
    if not UNIFIED:
        assert {"memory", "pids", "cpu", "systemd", "unified"} <= set(top.split()), top


def test_no_write_goes_through(sdc: Sdc, image: str) -> None:
    target = limit_file("memory")
    proc = sdc("run", "--rm", "-m", "64m", image, "sh", "-c",
               f"echo 1000000 > {target} || echo refused; mkdir {Path(target).parent}/escape || echo refused; "
               f"cat {target}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["refused", "refused", str(64 << 20)]
    assert "Read-only file system" in proc.stderr


def test_privileged_may_write_its_own_cgroup(sdc: Sdc, image: str) -> None:
    """As Docker's --privileged: the cgroup is writable, and still only its own subtree."""
    target = limit_file("memory")
    out = sdc.ok("run", "--rm", "--privileged", "-m", "64m", image, "sh", "-c",
                 f"mkdir {Path(target).parent}/child && echo made; cat /proc/self/cgroup | grep -c ':/$'")  # fmt: skip
    assert out.split()[0] == "made"
