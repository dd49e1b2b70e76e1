"""Pure mapping from a container spec to a transient unit: name and properties.

No I/O here. The properties are plain data; `typed_properties` attaches the
D-Bus signature of each from the one table below, so bus adapters never need a
table of their own (pystemd's lacks CPUWeight, AllowedCPUs, IOWeight...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from sdcontainer import protocol
from sdcontainer.containerspec import UNLIMITED, ContainerSpec, Limits, parse_signal

SLICE = "machine-sdc.slice"
PREFIX = "sdc-"
INFINITY = 2**64 - 1  # systemd's "infinity" for uint64 limits
USEC = 1_000_000

# D-Bus signatures of every property sdc sets (org.freedesktop.systemd1(5)).
SIGNATURES: dict[str, str] = {
    "Description": "s",
    "Slice": "s",
    "Type": "s",
    "NotifyAccess": "s",
    "ExecStart": "a(sasb)",
    "ExecStopPost": "a(sasb)",
    # Not their ...Ex forms (flags as "+"): systemd 252 writes those into the transient unit's file
    # under names it does not read back, so a daemon-reload dropped them (a restart of the
    # container then had no network). What needs the host's mounts enters them itself (netns.py).
    "ExecStartPre": "a(sasb)",
    "ExecStartPost": "a(sasb)",
    "TimersMonotonic": "a(st)",
    "AccuracyUSec": "t",
    "RemainAfterElapse": "b",
    "PartOf": "as",
    "RemainAfterExit": "b",
    "KillMode": "s",
    "KillSignal": "i",
    "SendSIGKILL": "b",
    "TimeoutStopUSec": "t",
    "TimeoutStartUSec": "t",
    "CollectMode": "s",
    "PIDs": "au",
    "Environment": "as",
    "ReadOnlyPaths": "as",
    "SyslogIdentifier": "s",
    "StandardOutput": "s",
    "StandardError": "s",
    "SyslogLevelPrefix": "b",
    "LogExtraFields": "aay",
    "MemoryMax": "t",
    "MemorySwapMax": "t",
    "CPUWeight": "t",
    "CPUQuotaPerSecUSec": "t",
    "AllowedCPUs": "ay",
    "CPUAffinity": "ay",
    "TasksMax": "t",
    "IOWeight": "t",
    "MemoryAccounting": "b",
    "TasksAccounting": "b",
    "CPUAccounting": "b",
    "IOAccounting": "b",
    "DevicePolicy": "s",
    "DeviceAllow": "a(ss)",
    "Restart": "s",
    "RestartUSec": "t",
    "StartLimitBurst": "u",
    "StartLimitIntervalUSec": "t",
    "Delegate": "b",
    "BindsTo": "as",
    "After": "as",
}

TypedProperty = tuple[str, str, object]
LOG_FIELD = protocol.ID_FIELD  # a journal field on every line of a detached container's (and NAME_FIELD)
NAME_FIELD = protocol.NAME_FIELD


def unit_cgroup(unit: str, pod: str = "") -> str:
    """The cgroup systemd gives a container's unit: slices nest by the dashes of their names
    (systemd.slice(5)), so machine-sdc.slice is inside machine.slice; a detached container of a
    pod's is in the pod's slice, inside that (a foreground one's scope is not: see pod_slice)."""
    if pod and unit.endswith(".service"):
        return f"/machine.slice/{SLICE}/{pod_slice(pod)}/{unit}"
    return f"/machine.slice/{SLICE}/{unit}"


def pod_slice(pod: str) -> str:
    """A pod's slice, where its detached containers run: machine-sdc-pod_NAME.slice (a dash of its
    name escaped as systemd-escape does: a dash would nest it). A foreground container of a pod
    stays in SLICE: sdc tells an emptied scope from its cgroup's path, by its name alone."""
    return f"machine-sdc-pod_{pod.replace('-', chr(92) + 'x2d')}.slice"


def pod_unit(pod: str) -> str:
    """A pod's service: a oneshot that makes its namespaces and stays active with no process (podns.py)."""
    return f"{PREFIX}{pod}-pod.service"


def pod_target(pod: str) -> str:
    """A pod's target: its containers and its service are PartOf= it (`systemctl stop` stops all)."""
    return f"{PREFIX}{pod}-pod.target"


def service_name(container: str) -> str:
    return f"{PREFIX}{container}.service"


def scope_name(container: str) -> str:
    return f"{PREFIX}{container}.scope"


def cpu_shares_to_weight(shares: int) -> int:
    """Docker --cpu-shares to cgroup v2 cpu.weight, as current runc and crun map it.

    The quadratic in log2(shares) maps the v1 range 2..262144 onto 1..10000 so
    that the v1 default of 1024 lands on the v2 default of 100."""
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    exponent = math.log2(shares)
    return math.ceil(10 ** ((exponent**2 + 125 * exponent) / 612.0 - 7.0 / 34.0))


def blkio_weight_to_io_weight(weight: int) -> int:
    """Docker --blkio-weight (10..1000, default 500) to IOWeight (1..10000, default 100).

    The inverse of systemd's own io->blkio conversion (weight * 500 / 100)."""
    return max(1, min(10000, round(weight * 100 / 500)))


def cpu_mask(cpus: Sequence[int]) -> bytes:
    """A CPU set as systemd's byte array: byte 0 holds CPUs 0-7, bit n of it CPU n."""
    if not cpus:
        return b""
    mask = bytearray(max(cpus) // 8 + 1)
    for cpu in cpus:
        mask[cpu // 8] |= 1 << (cpu % 8)
    return bytes(mask)


def build_limit_properties(limits: Limits) -> dict[str, object]:
    """Limit flags to systemd.resource-control(5) properties."""
    # (accounting on: `sdc stats` reads what systemd counts; IOAccounting realizes blkio on cgroup v1)
    props: dict[str, object] = {"MemoryAccounting": True, "TasksAccounting": True, "CPUAccounting": True,
                                "IOAccounting": True}  # fmt: skip
    if limits.memory is not None:
        props["MemoryMax"] = limits.memory
        # Docker: --memory-swap is the total; unset means as much swap as memory.
        if limits.memory_swap is None:
            props["MemorySwapMax"] = limits.memory
        elif limits.memory_swap == UNLIMITED:
            props["MemorySwapMax"] = INFINITY
        else:
            props["MemorySwapMax"] = limits.memory_swap - limits.memory
    elif limits.memory_swap == UNLIMITED:
        props["MemorySwapMax"] = INFINITY
    if limits.cpu_shares is not None:
        props["CPUWeight"] = cpu_shares_to_weight(limits.cpu_shares)
    if limits.cpus is not None:
        props["CPUQuotaPerSecUSec"] = round(limits.cpus * USEC)
    if limits.cpuset_cpus:
        # AllowedCPUs is the cpuset controller (ignored by systemd on cgroup v1);
        # CPUAffinity is sched_setaffinity(2) and holds on every host.
        props["AllowedCPUs"] = cpu_mask(limits.cpuset_cpus)
        props["CPUAffinity"] = cpu_mask(limits.cpuset_cpus)
    if limits.pids_limit is not None:
        props["TasksMax"] = INFINITY if limits.pids_limit == UNLIMITED else limits.pids_limit
    if limits.blkio_weight is not None:
        props["IOWeight"] = blkio_weight_to_io_weight(limits.blkio_weight)
    return props


def device_properties(spec: ContainerSpec) -> dict[str, object]:
    """The unit's device cgroup (systemd.resource-control(5)), see devices.py: closed, but for
    what devices.device_allow lists; --privileged: every device (DevicePolicy=auto, no DeviceAllow).
    cgroup v1: the devices controller's allow-list; v2: systemd's BPF program. Either way the
    kernel checks it on open and mknod, whatever the process's capabilities."""
    if spec.privileged:
        return {"DevicePolicy": "auto"}
    from sdcontainer import devices  # (the run path's: ps, stop, rm import this module too)

    return {"DevicePolicy": "closed", "DeviceAllow": devices.device_allow(spec.devices, spec.device_rules)}


def _description(spec: ContainerSpec) -> str:
    return f"sdc container {spec.name} ({spec.image})"


def build_service_properties(
    spec: ContainerSpec,
    *,
    launcher: Sequence[str],
    cleanup: Sequence[str],
    read_only: Sequence[str],
    container_id: str | None = None,
    ready_timeout: int = 0,
    network: tuple[Sequence[str], Sequence[str] | None] | None = None,
    bound_to: str = "",
    health: Sequence[str] = (),
) -> dict[str, object]:
    """A detached container: a notify service whose main process becomes the container's PID 1.
    health: what starts its health check's timer, once it is up (api.health), at every start.
    ready_timeout: seconds its payload has to say READY=1 where it says it (notifies), READY_TIMEOUT
    if 0. network: the commands that make its network before each start and unmake it after
    (netns.py: they enter the host's mount namespace, where the namespace's mount must be), the
    second whatever the first and the run did (ExecStopPost); None where cleanup does that too
    (launcher --exited --net-down). bound_to: the unit of the
    container whose network it shares (--network container:NAME), or its pod's unit (--pod), which
    stops it when it stops.

    KillMode=mixed sends the stop signal to PID 1 only and SIGKILL to the rest
    at the timeout, as `docker stop` does (systemd.kill(5)). read_only: paths
    systemd makes read-only in the unit's mount namespace before the exec (the
    launcher's interpreter: see launcher.spawn_foreground)."""
    return {
        "Description": _description(spec),
        "Slice": pod_slice(spec.pod) if spec.pod else SLICE,
        "Type": "notify",
        "NotifyAccess": "all",
        "ExecStart": [(launcher[0], list(launcher), False)],
        # The network down first: from the host's mount namespace, where the namespace's mount is
        # (netns.enter_host_mounts); the cleanup after it runs in the unit's, and frees the leases.
        "ExecStopPost": [*([(network[1][0], list(network[1]), True)] if network and network[1] else []),
                         (cleanup[0], list(cleanup), True)],
        **({"ExecStartPre": [(network[0][0], list(network[0]), False)]} if network else {}),
        **({"ExecStartPost": [(health[0], list(health), True)]} if health else {}),
        "KillMode": "mixed",
        "KillSignal": parse_signal(spec.stop_signal or "SIGTERM"),
        "SendSIGKILL": True,
        "TimeoutStopUSec": spec.stop_timeout * USEC,
        # systemd's own default, said: what `sdc run -d` waits at most for a payload's READY=1
        **({"TimeoutStartUSec": (ready_timeout or READY_TIMEOUT) * USEC} if notifies(spec) else {}),
        "CollectMode": "inactive-or-failed",
        "SyslogIdentifier": spec.log_tag or spec.name,  # journal lines read "web[PID]: ...", not "python3[PID]"
        **({"StandardOutput": "null", "StandardError": "null"} if spec.log_driver == "none" else {}),
        # A line starting "<0>" is the container's text, not an emergency for journald to wall to
        # every terminal of the host (systemd.exec(5)): every line is at the stream's priority.
        "SyslogLevelPrefix": False,
        # Each journal line names its container: `sdc logs` of a new container that took an old
        # one's name (and so its unit's) shows the new one's output only.
        **({"LogExtraFields": [f"{LOG_FIELD}={container_id}".encode(), f"{NAME_FIELD}={spec.name}".encode()]}
           if container_id else {}),
        "ReadOnlyPaths": list(read_only),
        **build_limit_properties(spec.limits),
        **device_properties(spec),
        **restart_properties(spec.restart),
        **({"Delegate": True} if spec.runs_systemd else {}),
        **bound(bound_to, spec.pod),
    }


def unit_renamed(unit: str, old: str, new: str) -> str:
    """A container's unit under its new name: sdc-OLD.service as sdc-NEW.service (and .scope, and
    sdc@OLD.service); unit as it is where it is not old's."""
    for prefix in (PREFIX, "sdc@"):
        for suffix in (".service", ".scope"):
            if unit == f"{prefix}{old}{suffix}":
                return f"{prefix}{new}{suffix}"
    return unit


def bound(unit: str, pod: str = "") -> dict[str, object]:
    """A container that shares another's network namespace (--network container:NAME), or its
    pod's (unit: the pod's service), goes with it: stopped when that one stops (its namespace torn
    down), never started before it. A pod's is PartOf= its target too, and ordered after it: a
    stop of the target (`systemctl stop sdc-NAME-pod.target`) stops it, and ends once it has (a
    Quadlet pod's unit, app-pod.service, is its own target)."""
    if pod and unit == pod_unit(pod):
        return {"BindsTo": [unit], "After": [unit, pod_target(pod)], "PartOf": [pod_target(pod)]}
    return {"BindsTo": [unit], "After": [unit]} if unit else {}


READY_TIMEOUT = 90  # seconds (systemd's default); $SDC_READY_TIMEOUT sets another (api.run)


def notifies(spec: ContainerSpec) -> bool:
    """The payload says READY=1 itself (--sdnotify=container; a detached systemd says it booted)."""
    return spec.sdnotify == "container" or spec.runs_systemd


RESTART_DELAY = 1_000_000  # µs: systemd 252 has no back-off (RestartSteps= is 254's), so one pace
INFINITY = 2**64 - 1


def restart_properties(policy: str) -> dict[str, object]:
    """--restart as systemd's Restart=: on-failure:MAX lets systemd start the unit MAX + 1 times
    in all (StartLimitBurst, over an endless interval), as Docker runs it, so the restart after
    the last is refused and the unit stays failed for `systemctl status` and `sdc ps` to show
    (its NRestarts counts the refused one too: MAX + 1; inspect's RestartCount, MAX);
    always and unless-stopped are Restart=always, without a start limit. A unit with a policy is
    collected when inactive only, not when failed."""
    if not policy:
        return {}
    name, _, count = policy.partition(":")
    props: dict[str, object] = {
        "Restart": "on-failure" if name == "on-failure" else "always",
        "RestartUSec": RESTART_DELAY,
        "CollectMode": "inactive",
    }
    if count:
        props.update(StartLimitBurst=int(count) + 1, StartLimitIntervalUSec=INFINITY)
    else:
        props["StartLimitIntervalUSec"] = 0  # no limit
    return props


# What a scope takes, of all sdc sets (org.freedesktop.systemd1(5)): the unit's settings, the
# cgroup's (systemd.resource-control(5)) and the kill settings (systemd.kill(5)); not a service's
# exec settings (systemd.exec(5): CPUAffinity=, ReadOnlyPaths=, Environment=...), which systemd
# applies to processes it starts, nor the service's own (Type=, ExecStart=...). A test holds
# build_scope_properties to it, and another this table to what a real scope accepts.
SCOPE_TAKES = frozenset(
    {
        "Description", "Slice", "PIDs", "CollectMode", "TimeoutStopUSec",
        "KillMode", "KillSignal", "SendSIGKILL",
        "MemoryAccounting", "TasksAccounting", "CPUAccounting", "IOAccounting", "MemoryMax", "MemorySwapMax",
        "CPUWeight", "CPUQuotaPerSecUSec", "AllowedCPUs", "TasksMax", "IOWeight", "DevicePolicy", "DeviceAllow",
        "Delegate", "BindsTo", "After",
    }
)  # fmt: skip


def build_scope_properties(spec: ContainerSpec, *, pid: int, bound_to: str = "") -> dict[str, object]:
    """A foreground container: a scope around the launcher process. Its CPU affinity is the
    launcher's to set (see bundle._resources)."""
    limits = {k: v for k, v in build_limit_properties(spec.limits).items() if k in SCOPE_TAKES}
    return {
        "Description": _description(spec),
        "Slice": SLICE,
        "PIDs": [pid],
        "KillSignal": parse_signal(spec.stop_signal or "SIGTERM"),
        "TimeoutStopUSec": spec.stop_timeout * USEC,
        "CollectMode": "inactive-or-failed",
        **limits,
        **device_properties(spec),
        **({"Delegate": True} if spec.runs_systemd else {}),
        **bound(bound_to, spec.pod),
    }


def typed_properties(props: Mapping[str, object]) -> list[TypedProperty]:
    """Attach each property's D-Bus signature; an unknown property is a bug."""
    return [(name, SIGNATURES[name], value) for name, value in props.items()]
