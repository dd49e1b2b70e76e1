"""`sdc stats` and `sdc top`: what systemd accounts for each container's unit, and its processes.

systemd already accounts every unit's memory, CPU time, tasks and I/O (MemoryCurrent,
CPUUsageNSec, TasksCurrent, IOReadBytes/IOWriteBytes: their cgroup's files, read by systemd when
asked): stats asks it, over D-Bus, for every container at once, and reads the cgroup files only
where systemd has nothing to say (block I/O on cgroup v1: blkio's). A container's network I/O is
its namespace's interfaces' counters (its PID 1's /proc/PID/net/dev, loopback left out). CPU % is
docker stats' figure: the CPU time used between two samples over the time between them, 100 % a
whole CPU.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdcontainer import protocol, units
from sdcontainer.api.containers import find, live_units
from sdcontainer.errors import Conflict
from sdcontainer.record import record

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.containers import Container

UNSET = (1 << 64) - 1  # systemd's "no value" (and "infinity") for a uint64 property
ACCOUNTING = ("MemoryCurrent", "MemoryMax", "CPUUsageNSec", "TasksCurrent", "IOReadBytes", "IOWriteBytes")
SCOPE_IFACE, SERVICE_IFACE = "org.freedesktop.systemd1.Scope", "org.freedesktop.systemd1.Service"


@record
class Sample:
    """One container's counters at one moment (monotonic seconds); None: not known here."""

    container: Container
    at: float
    cpu_ns: int | None
    memory: int | None
    memory_limit: int | None
    pids: int | None
    block_read: int | None
    block_write: int | None
    net_rx: int | None
    net_tx: int | None


def running(ctx: Context, refs: Sequence[str], *, every: bool = False) -> list[Container]:
    """The containers to show: those named (each must run), else every running one (-a: every one)."""
    from sdcontainer.containers import list_containers

    live = live_units(ctx)
    if refs:
        found = [find(ctx, ref) for ref in refs]
        for container in found:
            if container.unit not in live:
                raise Conflict(f"container {container.name} is not running", hint="`sdc ps -a` shows its state")
        return found
    return [c for c in list_containers(ctx.paths) if every or c.unit in live]


def sample(ctx: Context, found: Sequence[Container]) -> list[Sample]:
    """Every container's counters, in one round of calls to systemd."""
    props = ctx.systemd.units_properties(
        [(c.unit, SCOPE_IFACE if c.unit.endswith(".scope") else SERVICE_IFACE) for c in found], ACCOUNTING
    )
    samples = []
    now = time.monotonic()
    for container, values in zip(found, props, strict=True):
        pid = _pid1(container)
        net = _net_counters(pid) if pid else None
        read, write = _number(values.get("IOReadBytes")), _number(values.get("IOWriteBytes"))
        if read is None and write is None:
            read, write = _blkio_v1(units.unit_cgroup(container.unit, container.spec.pod))
        cpu = _number(values.get("CPUUsageNSec"))
        if cpu is None:
            cpu = _cpu_usage(units.unit_cgroup(container.unit, container.spec.pod))
        samples.append(Sample(container=container, at=now, cpu_ns=cpu,
                              memory=_number(values.get("MemoryCurrent")),
                              memory_limit=_number(values.get("MemoryMax")) or _host_memory(),
                              pids=_number(values.get("TasksCurrent")), block_read=read, block_write=write,
                              net_rx=net[0] if net else None, net_tx=net[1] if net else None))  # fmt: skip
    return samples


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value != UNSET else None


def _pid1(container: Container) -> int | None:
    try:
        return int((Path(container.bundle) / protocol.PID).read_text())
    except (OSError, ValueError):
        return None


def _net_counters(pid: int) -> tuple[int, int] | None:
    """Bytes received and sent by the interfaces of pid's network namespace but loopback."""
    try:
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return None
    rx = tx = 0
    for line in lines:
        name, _, fields = line.partition(":")
        numbers = fields.split()
        if name.strip() != "lo" and len(numbers) >= 9:
            rx, tx = rx + int(numbers[0]), tx + int(numbers[8])
    return rx, tx


def _cpu_usage(cgroup: str) -> int | None:
    """The unit's CPU time where systemd has none: a hybrid host whose cpuacct controller is not
    systemd's to use. Its cgroup in the unified hierarchy counts it all the same (cpu.stat's
    usage_usec is there without any controller); or v1's cpuacct.usage. cgroup: the unit's (units.unit_cgroup)."""
    for path in (f"/sys/fs/cgroup/unified{cgroup}/cpu.stat", f"/sys/fs/cgroup{cgroup}/cpu.stat"):
        try:
            for line in Path(path).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec" and value.isdigit():
                    return int(value) * 1000
        except OSError:
            continue
    try:
        return int(Path(f"/sys/fs/cgroup/cpuacct{cgroup}/cpuacct.usage").read_text())
    except (OSError, ValueError):
        return None


def _blkio_v1(cgroup: str) -> tuple[int | None, int | None]:
    """cgroup v1's blkio counters of the unit's cgroup (systemd has IOReadBytes on v2 alone)."""
    path = f"/sys/fs/cgroup/blkio{cgroup}/blkio.throttle.io_service_bytes_recursive"
    try:
        text = Path(path).read_text()
    except OSError:
        return None, None
    read = write = 0
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[1] in ("Read", "Write") and words[2].isdigit():
            if words[1] == "Read":
                read += int(words[2])
            else:
                write += int(words[2])
    return read, write


def _host_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def row(before: Sample | None, after: Sample) -> dict[str, Any]:
    """docker stats' fields (its JSON's names and words), and the numbers they are made of."""
    cpu = None
    if before is not None and before.cpu_ns is not None and after.cpu_ns is not None and after.at > before.at:
        cpu = 100.0 * (after.cpu_ns - before.cpu_ns) / ((after.at - before.at) * 1e9)
    mem_perc = 100.0 * after.memory / after.memory_limit if after.memory is not None and after.memory_limit else None
    c = after.container
    return {
        "ID": c.short_id, "Container": c.short_id, "Name": c.name,
        "CPUPerc": f"{cpu:.2f}%" if cpu is not None else "--",
        "MemUsage": f"{human(after.memory)} / {human(after.memory_limit)}",
        "MemPerc": f"{mem_perc:.2f}%" if mem_perc is not None else "--",
        "NetIO": f"{human(after.net_rx, si=True)} / {human(after.net_tx, si=True)}",
        "BlockIO": f"{human(after.block_read, si=True)} / {human(after.block_write, si=True)}",
        "PIDs": str(after.pids) if after.pids is not None else "--",
        "CPUPercent": cpu, "MemoryBytes": after.memory, "MemoryLimitBytes": after.memory_limit,
        "CPUUsageNSec": after.cpu_ns, "Tasks": after.pids, "NetInputBytes": after.net_rx,
        "NetOutputBytes": after.net_tx, "BlockInputBytes": after.block_read, "BlockOutputBytes": after.block_write,
    }  # fmt: skip


def human(value: int | None, *, si: bool = False) -> str:
    """docker stats' sizes: memory in binary units (MiB), I/O in decimal ones (MB)."""
    if value is None:
        return "--"
    base, units_ = (1000, ("B", "kB", "MB", "GB", "TB")) if si else (1024, ("B", "KiB", "MiB", "GiB", "TiB"))
    amount = float(value)
    for unit in units_:
        if amount < base or unit == units_[-1]:
            return f"{amount:.4g}{unit}" if unit != "B" else f"{int(amount)}B"
        amount /= base
    return f"{value}B"


COLUMNS = (("CONTAINER ID", "ID"), ("NAME", "Name"), ("CPU %", "CPUPerc"), ("MEM USAGE / LIMIT", "MemUsage"),
           ("MEM %", "MemPerc"), ("NET I/O", "NetIO"), ("BLOCK I/O", "BlockIO"), ("PIDS", "PIDs"))  # fmt: skip


def top(ctx: Context, ref: str, options: Sequence[str]) -> list[list[str]]:
    """`sdc top`: ps(1) of the container's processes (options passed through; by default a tree
    with its user, CPU and command), each row with its PID in the container beside the host's."""
    import subprocess

    container = find(ctx, ref)
    if container.unit not in live_units(ctx):
        raise Conflict(f"container {container.name} is not running", hint="`sdc ps -a` shows its state")
    pids = _unit_pids(units.unit_cgroup(container.unit, container.spec.pod))
    argv = ["ps", *(options or ["-o", "pid,user,%cpu,etime,args", "--forest"])]
    if not options:
        argv += ["-p", ",".join(map(str, sorted(pids))) or "0"]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = out.stdout.splitlines()
    if not lines:
        from sdcontainer.errors import UsageError

        raise UsageError(f"ps {' '.join(options)}: {out.stderr.strip()[:200]}", hint="give ps(1) options, like -ef")
    header = lines[0].split()
    if "PID" not in header:
        from sdcontainer.errors import UsageError

        raise UsageError("ps shows no PID column with these options", hint="add -o pid, or use -ef")
    at = header.index("PID")
    # the columns up to PID's, then CPID, then the rest of ps's line as ps aligned it (PID is
    # right-aligned: the rest starts at one column on every line)
    cut = _field_end(lines[0], at)
    rows = [[*lines[0][:cut].split(), "CPID", lines[0][cut:].strip()]]
    for line in lines[1:]:
        cut = _field_end(line, at)
        left = line[:cut].split()
        if len(left) == at + 1 and left[at].isdigit() and int(left[at]) in pids:
            rows.append([*left, _container_pid(int(left[at])), line[cut:].strip()])
    return rows


def _field_end(line: str, index: int) -> int:
    """Where the index-th field of a ps line ends (the last field, the command, keeps its spaces)."""
    pos = 0
    for _ in range(index + 1):
        while pos < len(line) and line[pos] == " ":
            pos += 1
        while pos < len(line) and line[pos] != " ":
            pos += 1
    return pos


def _unit_pids(cgroup: str) -> set[int]:
    """Every process of the unit: its cgroup's and its sub-cgroups' (systemd's own hierarchy)."""
    pids: set[int] = set()
    for base in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"):
        root = Path(f"{base}{cgroup}")
        if (root / "cgroup.procs").exists():
            for procs in root.rglob("cgroup.procs"):
                try:
                    pids.update(int(p) for p in procs.read_text().split())
                except (OSError, ValueError):
                    continue
            return pids
    return pids


def _container_pid(pid: int) -> str:
    """pid as its own PID namespace numbers it (the last of /proc/PID/status' NSpid)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return line.split()[-1]
    except OSError:
        pass
    return "-"
