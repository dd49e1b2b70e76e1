"""`sdc inspect`: a container as `docker inspect` shows it, with what systemd adds.

Docker's keys and values where they mean the same here (State.Pid, State.StartedAt in RFC
3339, Config.Cmd, HostConfig.Memory with 0 for unlimited...), so that scripts and templates
written for Docker read it; sdc's own beside them: Unit (the systemd unit), State.ActiveState,
SubState and ControlGroup, Storage, Security and UnitProperties.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sdcontainer import cgroups, containers, protocol, records, units, volumes
from sdcontainer.api.containers import GONE, RESTARTING, find
from sdcontainer.api.context import Context
from sdcontainer.containers import Container
from sdcontainer.containerspec import UNLIMITED, label_map
from sdcontainer.errors import NotFound
from sdcontainer.systemd import SERVICE_IFACE
from sdcontainer.text import iso_time

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: what Docker says of a start or an end that has not been


def container(ctx: Context, ref: str) -> dict[str, Any]:
    found = find(ctx, ref)
    spec = found.spec
    try:
        config = dict(records.read_json(Path(found.bundle) / protocol.CONFIG))
    except FileNotFoundError:
        config = {}
    data: dict[str, Any] = {
        "Id": found.id,
        "Created": iso_time(found.created),
        "Path": spec.argv[0] if spec.argv else "",
        "Args": list(spec.argv[1:]),
        "State": {},
        "Image": found.image_id,
        "ImageName": spec.image,
        "Name": found.name,
        "RestartCount": 0,
        "Driver": found.driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": [],
        "HostConfig": _host_config(found),
        "GraphDriver": {"Name": found.driver, "Data": _graph_data(found)},
        "Mounts": volumes.inspect_mounts(
            spec.volumes, spec.named_volumes, spec.tmpfs, volumes_at=str(ctx.driver().volumes)
        ),  # fmt: skip
        "Config": _config(found, config),
        "NetworkSettings": _network_settings(ctx, found),
        "Unit": found.unit,
        "Storage": {
            "Driver": found.driver,
            "RootFs": found.rootfs,
            "Bundle": found.bundle,
            **_graph_data(found),
        },  # fmt: skip
        "Security": _security(config, found),
    }
    data["State"], unit = _state(ctx, found)
    from sdcontainer.api import health

    if health.has_check(spec):
        data["State"]["Health"] = health.state(found)
        data["Config"]["Healthcheck"] = {"Test": list(spec.health_test),
                                         "Interval": round((spec.health_interval or 30) * 1e9),
                                         "Timeout": round((spec.health_timeout or 30) * 1e9),
                                         "StartPeriod": round(spec.health_start_period * 1e9),
                                         "Retries": spec.health_retries or 3}  # fmt: skip
    if unit is not None:
        props, count = unit
        data["RestartCount"] = count
        data["UnitProperties"] = props
    return data


def _state(ctx: Context, found: Container) -> tuple[dict[str, Any], tuple[dict[str, Any], int] | None]:
    """Docker's State, and sdc's unit properties and restart count while the unit is there."""
    ended = containers.read_state(ctx.paths, found.name)
    started = containers.started_at(ctx.paths, found.name)
    code = ended.get("exit_code")
    error = ""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        error = (Path(found.bundle) / protocol.LAUNCH_ERROR).read_text().strip()
    state: dict[str, Any] = {
        "Status": "exited" if ended or started is not None else "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": bool(ended.get("oom_killed")),
        "Dead": False,
        "Pid": 0,
        "ExitCode": code if isinstance(code, int) else 0,
        "Error": error,
        "StartedAt": iso_time(started) if started is not None else ZERO_TIME,
        "FinishedAt": iso_time(ended["finished"]) if isinstance(ended.get("finished"), (int, float)) else ZERO_TIME,
        "ActiveState": "inactive",
        "SubState": "dead",
        "ControlGroup": "",
        "MainPID": 0,
    }
    iface = SERVICE_IFACE if found.unit.endswith(".service") else "org.freedesktop.systemd1.Scope"
    try:
        unit = ctx.systemd.unit_properties(found.unit)
        props = ctx.systemd.unit_properties(found.unit, iface)
    except NotFound:
        return state, None
    active, sub = str(unit["ActiveState"]), str(unit["SubState"])
    state.update(ActiveState=active, SubState=sub, ControlGroup=str(props.get("ControlGroup") or ""),
                 MainPID=int(str(props.get("MainPID") or 0)))  # fmt: skip
    if sub == "auto-restart":
        state.update(Status=RESTARTING, Restarting=True)
    elif active not in GONE:
        paused = cgroups.is_frozen(units.unit_cgroup(found.unit, found.spec.pod))
        state.update(Status="paused" if paused else "running", Running=True, Paused=paused, ExitCode=0,
                     FinishedAt=ZERO_TIME, Pid=_pid(found))  # fmt: skip
    count = 0
    if "NRestarts" in props:  # systemd counts the restart its start limit refused, too
        n, most = int(str(props["NRestarts"])), restart_policy(found.spec.restart)["MaximumRetryCount"]
        count = min(n, most) if most else n
    shown = {k: _jsonable(props[k]) for k in units.SIGNATURES if k in props and k not in ("ExecStart", "ExecStopPost")}
    return state, (shown, count)


def _pid(found: Container) -> int:
    """PID 1's PID as the host sees it (the launcher records it before PID 1 execs)."""
    try:
        return int((Path(found.bundle) / protocol.PID).read_text())
    except (OSError, ValueError):
        return 0


def _config(found: Container, config: dict[str, Any]) -> dict[str, Any]:
    spec = found.spec
    process = config["process"] if isinstance(config.get("process"), dict) else {}
    attached = not spec.detach
    return {
        "Hostname": spec.hostname or found.name,
        "Domainname": "",
        "User": spec.user,
        "AttachStdin": attached and spec.interactive,
        "AttachStdout": attached,
        "AttachStderr": attached,
        "ExposedPorts": {f"{p.container_port + i}/{p.protocol}": {} for p in _published(found) for i in range(p.count)}
        or None,
        "Tty": spec.tty,
        "OpenStdin": spec.interactive,
        "StdinOnce": attached and spec.interactive,
        "Env": list(process.get("env") or spec.env),
        "Cmd": list(spec.command) or None,
        "Image": spec.image,
        "Volumes": {v.split(":")[1]: {} for v in spec.named_volumes} or None,
        "WorkingDir": spec.workdir,
        "Entrypoint": list(spec.entrypoint) if spec.entrypoint else None,
        "OnBuild": None,
        "Labels": label_map(spec.labels),
        "StopSignal": spec.stop_signal,
        "StopTimeout": spec.stop_timeout,
    }


def _host_config(found: Container) -> dict[str, Any]:
    spec, limits = found.spec, found.spec.limits
    bindings: dict[str, list[dict[str, str]]] = {}
    for p in _published(found):
        for i in range(p.count):
            bindings.setdefault(f"{p.container_port + i}/{p.protocol}", []).append(
                {"HostIp": p.host_ip or "", "HostPort": str(p.host_port + i) if p.host_port else ""}
            )
    return {
        "Binds": list(spec.volumes) + list(spec.named_volumes),
        "NetworkMode": spec.network,
        "PortBindings": bindings,
        "RestartPolicy": restart_policy(spec.restart),
        "AutoRemove": spec.auto_remove,
        "CapAdd": [c.removeprefix("CAP_") for c in spec.cap_add] or None,
        "CapDrop": [c.removeprefix("CAP_") for c in spec.cap_drop] or None,
        "Dns": list(spec.dns),
        "DnsOptions": list(spec.dns_options),
        "DnsSearch": list(spec.dns_search),
        "ExtraHosts": list(spec.add_hosts) or None,
        "Privileged": spec.privileged,
        "PublishAllPorts": spec.publish_all,
        "ReadonlyRootfs": spec.read_only,
        "SecurityOpt": [f"seccomp={spec.seccomp}"] if spec.seccomp else None,
        "Tmpfs": {t.split(":")[0]: t.split(":")[1] for t in spec.tmpfs} or None,
        "UsernsMode": spec.userns,
        "Init": spec.init,
        # Docker's words for limits: 0 where none is set, MemorySwap -1 when unlimited
        "Memory": limits.memory or 0,
        "MemorySwap": limits.memory_swap or 0,
        "NanoCpus": round(limits.cpus * 1e9) if limits.cpus else 0,
        "CpuShares": limits.cpu_shares or 0,
        "CpusetCpus": _cpu_list(limits.cpuset_cpus),
        "PidsLimit": limits.pids_limit if limits.pids_limit not in (None, UNLIMITED) else None,
        "BlkioWeight": limits.blkio_weight or 0,
        "Devices": [
            {"PathOnHost": d.split(":")[0], "PathInContainer": d.split(":")[1], "CgroupPermissions": d.split(":")[2]}
            for d in spec.devices
        ],  # fmt: skip
        "DeviceCgroupRules": list(spec.device_rules) or None,
        "Enabled": spec.enable and _enabled(found.name),
    }


def _cpu_list(cpus: tuple[int, ...]) -> str:
    """(0, 1, 2, 5) -> "0-2,5"."""
    runs: list[list[int]] = []
    for cpu in cpus:
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _graph_data(found: Container) -> dict[str, str]:
    if found.driver != "overlay":
        return {"MergedDir": found.rootfs}
    # overlay: the merged root is mounted in the container's own mount namespace only
    top = os.path.dirname(found.rootfs)
    return {"MergedDir": found.rootfs, "UpperDir": os.path.join(top, "upper"), "WorkDir": os.path.join(top, "work")}


def _published(found: Container) -> list[Any]:
    from sdcontainer.containers import published_ports

    return list(published_ports(found))


def _endpoint(**given: Any) -> dict[str, Any]:
    """A network's entry of NetworkSettings.Networks, every field of Docker's there."""
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None, "NetworkID": "",
            "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None, **given}  # fmt: skip


def _network_settings(ctx: Context, container: Container) -> dict[str, Any]:
    """`inspect`'s NetworkSettings, in Docker's shape: the container's address, gateway, MAC on its
    first network (while its network is up), published ports, and each network it is on."""
    from sdcontainer.containers import published_ports

    spec = container.spec
    ports: dict[str, list[dict[str, str]]] = {}
    for p in published_ports(container):
        for i in range(p.count):
            ports.setdefault(f"{p.container_port + i}/{p.protocol}", []).append(
                {"HostIp": p.host_ip or "0.0.0.0", "HostPort": str(p.host_port + i)})
    settings: dict[str, Any] = {"Bridge": "", "SandboxKey": "", "Ports": ports, "Gateway": "", "IPAddress": "",
                                "IPPrefixLen": 0, "MacAddress": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                                "IPv6Gateway": "", "Networks": {}}  # fmt: skip
    if not spec.networked:
        settings["Networks"] = {spec.network: _endpoint()}
        return settings
    from sdcontainer import network as networks_
    from sdcontainer.api.networks import attached, mac_of  # (a networked container's alone)

    bundle = Path(container.bundle)
    settings["SandboxKey"] = f"{protocol.NETNS_DIR}/{container.id}"
    by_id = {n.id: n for n in networks_.list_networks(ctx.paths)}
    for a in attached(bundle):
        network = by_id.get(a.network_id)
        if network is None:
            continue
        mac = mac_of(bundle, a.bridge)
        names = [container.name, *a.aliases] if network.dns else []
        v6 = {"GlobalIPv6Address": a.address6, "GlobalIPv6PrefixLen": network.network6.prefixlen,
              "IPv6Gateway": network.gateway6} if a.address6 and network.network6 else {}  # fmt: skip
        settings["Networks"][network.name] = _endpoint(
            NetworkID=network.id, Gateway=network.gateway, IPAddress=a.address, MacAddress=mac,
            IPPrefixLen=network.network.prefixlen, Aliases=names, DNSNames=names, **v6)  # fmt: skip
        if not settings["IPAddress"]:
            settings.update(Bridge=network.bridge, Gateway=network.gateway, IPAddress=a.address,
                            IPPrefixLen=network.network.prefixlen, MacAddress=mac, **v6)  # fmt: skip
    return settings


def restart_policy(policy: str) -> dict[str, Any]:
    name, _, count = policy.partition(":")
    return {"Name": name or "no", "MaximumRetryCount": int(count or 0)}


def _enabled(name: str) -> bool:
    from sdcontainer import persist

    return persist.is_enabled(name)


def _security(config: dict[str, Any], found: Container) -> dict[str, Any]:
    """What confines the container, stated: privileged or not, seccomp, capabilities, no_new_privs,
    devices; from its config, as the launcher applies it."""
    from sdcontainer.spec import seccomp_profile

    process = config.get("process", {})
    linux = config.get("linux", {})
    return {
        "Privileged": found.spec.privileged,
        "Seccomp": seccomp_profile(found.spec) or "default",
        "Capabilities": process.get("capabilities", {}).get("bounding", []),
        "NoNewPrivileges": process.get("noNewPrivileges", True),
        "Devices": "all" if found.spec.privileged else "sdc's (DevicePolicy=closed)",
        "UsernsMode": found.spec.userns or "host",
        "UidMap": [[m["containerID"], m["hostID"], m["size"]] for m in linux.get("uidMappings", [])],
        "GidMap": [[m["containerID"], m["hostID"], m["size"]] for m in linux.get("gidMappings", [])],
    }


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return list(value)
    return value
