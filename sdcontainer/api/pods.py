"""Pods: containers that share a network, IPC and UTS namespaces, and the ports published on them.

A pod is a directory of the store's, pods/NAME (its record, pod.json; on one of sdc's networks,
its network's plan, network.json, with its address and published ports; its hosts and
resolv.conf), and, while it runs, three units of systemd's:
- sdc-NAME-pod.service, a oneshot that makes its namespaces (podns.py: each kept by a bind
  mount) and stays active with no process: no process of sdc's stays for a pod;
- machine-sdc-pod_NAME.slice, where its detached containers run (systemd-cgls shows them
  together; a limit set on it holds for them all);
- sdc-NAME-pod.target, a file of /run/systemd/system: its containers and its service are
  PartOf= it, so `systemctl stop sdc-NAME-pod.target` stops them all. Each container is
  BindsTo= and After= the pod's service: never started before its namespaces are there, and
  stopped when they go.
A container joins a pod with `sdc run --pod NAME`; the pod's service is started first if it is
not running (as Podman starts a pod's infra container).

A pod of a Quadlet .pod file (quadlet/pod.py) is its unit's (app-pod.service, made by the
generator; its record names it): that unit makes it as it starts (create_for_unit), holds its
namespaces as the transient one does, and removes it, its containers with it, as it stops
(cleanup_for_unit), as Podman's does. It has no target: its service is what stops it all.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdcontainer import containers, files, protocol, records, units
from sdcontainer.containerspec import ContainerSpec, check_name, has_own_network
from sdcontainer.errors import Conflict, NotFound, SdcError, UsageError
from sdcontainer.paths import Paths
from sdcontainer.record import record

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.containers import Container

TARGET_DIR = Path("/run/systemd/system")  # the pods' targets: runtime units, gone at a reboot as the pods' units
SHARES = ("net", "ipc", "uts")  # what a pod's containers share (podns.SHAREABLE), by default all
START_TIMEOUT = 120.0  # seconds for a pod's namespaces and network to be made


@record(kw_only=True)
class Pod:
    id: str
    name: str
    hostname: str
    network: str  # a network's name, none or host
    publish: tuple[str, ...] = ()
    share: tuple[str, ...] = SHARES
    labels: tuple[str, ...] = ()
    created: float = 0.0
    directory: str = ""
    unit_name: str = ""  # a Quadlet pod's unit (app-pod.service); "" for sdc's transient one

    @property
    def unit(self) -> str:
        return self.unit_name or units.pod_unit(self.name)

    @property
    def target(self) -> str:
        """What stops it all: its target, a Quadlet pod's own service."""
        return self.unit_name or units.pod_target(self.name)

    @property
    def slice(self) -> str:
        return units.pod_slice(self.name)


def pods_dir(paths: Paths) -> Path:
    return paths.root / "pods"


def _read(directory: Path) -> Pod:
    data = json.loads((directory / protocol.POD).read_text())
    return Pod(id=str(data["id"]), name=str(data["name"]), hostname=str(data["hostname"]),
               network=str(data["network"]), publish=tuple(map(str, data.get("publish", ()))),
               share=tuple(map(str, data.get("share", SHARES))), labels=tuple(map(str, data.get("labels", ()))),
               created=float(data.get("created", 0.0)), directory=str(directory),
               unit_name=str(data.get("unit", "")))  # fmt: skip


def list_pods(paths: Paths) -> list[Pod]:
    found = []
    for directory in sorted(pods_dir(paths).iterdir()) if pods_dir(paths).is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            found.append(_read(directory))
    return found


def find_pod(paths: Paths, ref: str) -> Pod:
    """The pod named ref, or the one whose ID starts with it."""
    if ref and "/" not in ref and not ref.startswith(".") and (pods_dir(paths) / ref / protocol.POD).exists():
        return _read(pods_dir(paths) / ref)
    matches = [p for p in list_pods(paths) if len(ref) >= 3 and p.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(f"pod ID {ref!r} is ambiguous", hint="give more of its ID, or its name")
    raise NotFound(f"no such pod: {ref}", hint="`sdc pod ls` lists the pods here")


def pod_exists(paths: Paths, name: str) -> bool:
    return (pods_dir(paths) / name / protocol.POD).exists()


def members(paths: Paths, pod: Pod) -> list[Container]:
    """The pod's containers, oldest first."""
    return sorted((c for c in containers.list_containers(paths) if c.spec.pod == pod.name), key=lambda c: c.created)


def check_share(values: Sequence[str]) -> tuple[str, ...]:
    """--share: net, ipc and uts (comma-separated), or "" for none; net is a pod's always."""
    chosen = [v.strip() for value in values for v in value.split(",") if v.strip()]
    for kind in chosen:
        if kind == "pid":
            raise UsageError("--share pid: a PID namespace dies with its first process, and a pod of sdc's keeps "
                             "its namespaces with none", hint="share net, ipc and uts")  # fmt: skip
        if kind not in SHARES:
            raise UsageError(f"invalid --share {kind[:30]!r}", hint="give net, ipc or uts, separated by commas")
    return tuple(k for k in SHARES if k in chosen or k == "net")


def create(ctx: Context, *, name: str = "", publish: Sequence[str] = (), network: str = "", hostname: str = "",
           share: Sequence[str] | None = None, labels: Sequence[str] = (), ip: str = "",
           unit: str = "") -> Pod:  # fmt: skip
    """A pod's record, and on one of sdc's networks its address and published ports leased: made,
    not started (its first container, or `sdc pod start`, starts it); unit: the Quadlet unit
    whose it is (create_for_unit)."""
    from sdcontainer import spec as specs

    network = specs.parse_network(network or os.environ.get("SDC_NETWORK") or "bridge")
    if network.startswith("container:"):
        raise UsageError("a pod's network is its own", hint="give --network bridge, a network's name, none or host")
    published = specs.check_publish(publish, network=network)
    hostname = specs.check_hostname(hostname) if hostname else ""
    ip = specs.check_ip(ip, network=network)
    chosen = check_share(share) if share is not None else SHARES
    with records.locked(ctx.paths), contextlib.ExitStack() as stack:
        if not name:
            name = _free_name(ctx.paths)
        check_name(name)
        if unit and pod_exists(ctx.paths, name) and _read(pods_dir(ctx.paths) / name).unit_name == unit:
            return _read(pods_dir(ctx.paths) / name)  # (kept by create_for_unit)
        leftover = pods_dir(ctx.paths) / name
        if leftover.is_dir() and not (leftover / protocol.POD).exists():  # a create killed half way
            _forget_directory(leftover, "")
        if pod_exists(ctx.paths, name):
            raise Conflict(f"the pod name {name!r} is already in use", hint=f"remove it (`sdc pod rm {name}`) "
                           "or choose another --name")  # fmt: skip
        if containers.record_path(ctx.paths, f"{name}-pod").exists():  # its unit would be the pod's
            raise Conflict(f"a container is named {name}-pod, and a pod {name}'s unit would be its unit's name",
                           hint="choose another --name")  # fmt: skip
        pod = Pod(id=containers.new_id(), name=name, hostname=hostname or name, network=network,
                  publish=published, share=chosen, labels=tuple(labels), created=ctx.clock.time(),
                  directory=str(pods_dir(ctx.paths) / name), unit_name=unit)  # fmt: skip
        directory = Path(pod.directory)
        directory.mkdir(mode=0o700, parents=True)
        stack.callback(shutil.rmtree, directory, True)
        address, names_at = "", ""
        if has_own_network(network):
            from sdcontainer.api import networks

            as_spec = ContainerSpec(name=name, image="", command=(), network=network, publish=published, ip=ip)
            planned = networks.plan(ctx.paths, as_spec, pod.id, pod.unit, directory)
            stack.callback(networks.release, directory)
            address = networks.address_of(directory)
            names_at = planned.gateway if planned.dns else ""
            pod = _with_network(pod, planned.name)
        from sdcontainer.api.run import names_files

        hosts, resolv_conf = names_files(ContainerSpec(name=name, image="", command=(), network=network),
                                         pod.hostname, address, names_at)  # fmt: skip
        (directory / "hosts").write_text(hosts)
        (directory / "resolv.conf").write_text(resolv_conf)
        _write(pod)
        stack.pop_all()
    return pod


def _replace_for_unit(ctx: Context, name: str, unit: str, wanted: tuple[object, ...]) -> None:
    """As Quadlet pod unit's start makes pod name: one an earlier start of it left (a crash: its
    stop removes it) kept where its settings are the same, else replaced (the file changed), its
    containers removed; one that is not the unit's a Conflict."""
    if not pod_exists(ctx.paths, name):
        return
    pod = _read(pods_dir(ctx.paths) / name)
    if pod.unit_name != unit:
        raise Conflict(f"the pod name {name!r} is in use by a pod not unit {unit}'s",
                       hint=f"remove it (`sdc pod rm -f {name}`), or give the file another PodName=")  # fmt: skip
    hostname, network, ip, *rest = wanted
    address = ""
    if has_own_network(str(network)):
        from sdcontainer.api import networks
        from sdcontainer.network import find_network

        with contextlib.suppress(SdcError):
            network = find_network(ctx.paths, str(network)).name
        with contextlib.suppress(OSError, ValueError, KeyError):
            address = networks.address_of(Path(pod.directory))
    if (pod.hostname, pod.network, pod.publish, pod.share, pod.labels) != (hostname, network, *rest) or \
            ip and ip != address:  # fmt: skip
        _remove_for_unit(ctx, pod)


def _remove_for_unit(ctx: Context, pod: Pod) -> None:
    """A Quadlet pod removed from within its unit (its start or its ExecStopPost), its containers
    with it; its unit is not stopped. Their units are not running (bound to it, they stopped
    before it did, or wait for its start): each is removed without a word to systemd (a stop of
    a unit whose start waits for this one would undo that start); one running all the same (a
    foreground one) is removed as `rm -f` does."""
    from sdcontainer.api import containers as lifecycle

    live = lifecycle.live_units(ctx)
    for container in members(ctx.paths, pod):
        with contextlib.suppress(NotFound, Conflict):  # (gone meanwhile; one another sdc is at work on: its)
            if container.unit in live:
                lifecycle.remove(ctx, [container.name], force=True)
                continue
            ctx.claim(container.name)
            lifecycle.delete(ctx, container)
            ctx.release_name(container.name)
    with records.locked(ctx.paths):
        _unmake(pod)


def create_for_unit(ctx: Context, unit: str, *, name: str, hostname: str = "", network: str = "",
                    publish: Sequence[str] = (), labels: Sequence[str] = (), ip: str = "") -> Pod:  # fmt: skip
    """A Quadlet pod unit's ExecStartPre (quadlet.generator): its pod, as `pod create` makes it; one
    its earlier start made kept where its settings are the same, else replaced (_replace_for_unit)."""
    from sdcontainer import spec as specs

    given = specs.parse_network(network or os.environ.get("SDC_NETWORK") or "bridge")
    published = specs.check_publish(publish, network=given)
    _replace_for_unit(ctx, name, unit, (hostname or name, given, ip, published, SHARES, tuple(labels)))
    return create(ctx, name=name, publish=publish, network=network, hostname=hostname, labels=labels, ip=ip,
                  unit=unit)  # fmt: skip


def cleanup_for_unit(ctx: Context, unit: str, name: str) -> None:
    """A Quadlet pod unit's ExecStopPost: its pod removed, its containers with it (Podman's
    `pod rm --force`), once its namespaces are down (the launcher's --pod-down before it)."""
    if pod_exists(ctx.paths, name):
        pod = _read(pods_dir(ctx.paths) / name)
        if pod.unit_name == unit:
            _remove_for_unit(ctx, pod)


def _with_network(pod: Pod, network: str) -> Pod:
    from sdcontainer.record import replace

    return replace(pod, network=network)


def _write(pod: Pod) -> None:
    data = {"id": pod.id, "name": pod.name, "hostname": pod.hostname, "network": pod.network,
            "publish": list(pod.publish), "share": list(pod.share), "labels": list(pod.labels),
            "created": pod.created, **({"unit": pod.unit_name} if pod.unit_name else {})}  # fmt: skip
    files.write_atomically(os.path.join(pod.directory, protocol.POD), json.dumps(data, indent=2).encode())


def _free_name(paths: Paths) -> str:
    for _ in range(100):
        name = containers.generate_name(paths)
        if not pod_exists(paths, name):
            return name
    raise SdcError("no free pod name found", hint="give one: --name")


def namespaces(pod: Pod) -> dict[str, str]:
    """The namespaces its containers are born in, by their OCI type (bundle.build_runtime_config)."""
    from sdcontainer import podns

    at = podns.paths(pod.id)
    return {kind: at[kind] for kind in ("ipc", "uts") if kind in pod.share}


def netns_path(pod: Pod) -> str:
    """Its network namespace ("" on the host's network)."""
    return "" if pod.network == "host" else f"{protocol.NETNS_DIR}/{pod.id}"


def _unit_state(ctx: Context, pod: Pod) -> tuple[str, bool]:
    """The pod's service's ActiveState ("gone" when not loaded), and whether it is this pod's (its
    Description names the pod's ID: a unit of the name may be an earlier pod's, or another
    store's)."""
    try:
        props = ctx.systemd.unit_properties(pod.unit)
    except NotFound:
        return ("inactive" if pod.unit_name else "gone"), True  # (a Quadlet pod's: loaded as it is started)
    state = str(props.get("ActiveState", "gone"))
    if pod.unit_name:  # (a Quadlet file's: its Description is the file's)
        return state, True
    return state, props.get("Description") == _description(pod)


def _description(pod: Pod) -> str:
    return f"sdc pod {pod.name} ({pod.id[:12]})"


def is_up(ctx: Context, pod: Pod) -> bool:
    state, ours = _unit_state(ctx, pod)
    return state == "active" and ours


@contextlib.contextmanager
def _pod_locked(pod: Pod) -> Iterator[None]:
    """One start of the pod's service at a time (two `run --pod` at once)."""
    import fcntl

    fd = os.open(pod.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_up(ctx: Context, pod: Pod) -> None:
    """The pod's service started (its namespaces made) if it is not, and its target."""
    from sdcontainer.systemd import wait_for_state

    with _pod_locked(pod):
        state, ours = _unit_state(ctx, pod)
        if not ours and state not in ("inactive", "failed"):
            raise Conflict(f"unit {pod.unit} is up, and not pod {pod.name}'s ({pod.id[:12]})",
                           hint=f"stop it (systemctl stop {pod.unit}), or remove this pod")  # fmt: skip
        if state in ("activating", "deactivating", "reloading"):
            state = wait_for_state(ctx.systemd, pod.unit, ("active", "inactive", "failed", "gone"),
                                   timeout=START_TIMEOUT)  # fmt: skip
        if state == "active":
            ctx.systemd.start_unit(pod.target)
            return
        if pod.unit_name:  # a Quadlet pod's: what a crash left (its unit's stop removes it); its unit makes it
            raise Conflict(f"pod {pod.name} is its unit {pod.unit}'s, which is not running",
                           hint=f"start it: systemctl start {pod.unit}")  # fmt: skip
        _write_target(pod)
        with contextlib.suppress(SdcError):
            ctx.systemd.reset_failed_unit(pod.unit)
        state, ours = _unit_state(ctx, pod)
        if state != "gone" and ours:  # loaded still (a container of its that failed is bound to it): again
            result = ctx.systemd.start_unit(pod.unit)
        elif state != "gone":
            raise Conflict(f"unit {pod.unit} is an earlier pod's, and systemd keeps it loaded",
                           hint=f"`systemctl reset-failed` its containers' units, or `systemctl stop {pod.unit}`")
        else:
            result = ctx.systemd.start_transient_unit(pod.unit, units.typed_properties(_properties(pod)))
        if result != "done":
            raise SdcError(f"pod {pod.name} failed to start ({result})", hint=f"see `journalctl -u {pod.unit}`")
        ctx.systemd.start_unit(pod.target)


def _properties(pod: Pod) -> dict[str, object]:
    from sdcontainer.api.run import launcher_argv

    up, down = launcher_argv("--pod-up", pod.directory), launcher_argv("--pod-down", pod.directory)
    return {
        "Description": _description(pod),
        "Slice": pod.slice,
        "Type": "oneshot",
        "RemainAfterExit": True,
        "ExecStart": [(up[0], up, False)],
        # (not ExecStop=: ExecStopPost runs after a start that failed, or was stopped half way, too)
        "ExecStopPost": [(down[0], down, False)],
        "PartOf": [pod.target],
        "After": [pod.target],  # (a stop of the target ends once this has stopped)
        "CollectMode": "inactive-or-failed",
        "TimeoutStartUSec": int(START_TIMEOUT * units.USEC),
    }


TARGET_HEADER = "# sdc's pod"


def _write_target(pod: Pod) -> None:
    """Its target's file, which systemd loads when it is first named (a unit path's directory
    changed since it last looked: no daemon-reload). One that is not a pod's of sdc's is left
    as it is."""
    text = (f"{TARGET_HEADER} {pod.name} ({pod.id}): `systemctl stop {pod.target}` stops its containers\n"
            f"[Unit]\nDescription=sdc pod {pod.name}\nDocumentation=man:sdc(1)\n")  # fmt: skip
    path = TARGET_DIR / pod.target
    try:
        found: str | None = path.read_text()
    except FileNotFoundError:
        found = None
    if found == text:
        return
    if found is not None and not found.startswith(TARGET_HEADER):
        raise Conflict(f"{path} is there, and not sdc's", hint="remove it, or give the pod another name")
    TARGET_DIR.mkdir(parents=True, exist_ok=True)
    files.write_atomically(str(path), text.encode())


def _remove_target(pod: Pod) -> None:
    if pod.unit_name:
        return
    path = TARGET_DIR / pod.target
    with contextlib.suppress(OSError):
        if path.read_text().startswith(f"{TARGET_HEADER} {pod.name} ({pod.id})"):
            path.unlink()


def start(ctx: Context, refs: Sequence[str]) -> list[Pod]:
    """Each pod's namespaces made and its containers started (those not running)."""
    from sdcontainer.api import containers as lifecycle
    from sdcontainer.api import run

    started = []
    for ref in refs:
        pod = find_pod(ctx.paths, ref)
        ensure_up(ctx, pod)
        live = lifecycle.live_units(ctx)
        for container in members(ctx.paths, pod):
            if container.unit not in live:
                run.start(ctx, container.name)
        started.append(pod)
    return started


def stop(ctx: Context, refs: Sequence[str], *, timeout: int | None = None) -> list[Pod]:
    """Each pod's containers stopped (their stop signal, then SIGKILL after their timeout), then its
    namespaces unmade: what `systemctl stop` of its target does, with sdc's record of each end."""
    from sdcontainer.api import containers as lifecycle

    stopped = []
    for ref in refs:
        pod = find_pod(ctx.paths, ref)
        live = lifecycle.live_units(ctx)
        running = [c.name for c in members(ctx.paths, pod) if c.unit in live]
        if running:
            lifecycle.stop(ctx, running, timeout=timeout)
        _stop_units(ctx, pod)
        stopped.append(pod)
    return stopped


def _stop_units(ctx: Context, pod: Pod) -> None:
    for unit in (pod.target, pod.unit):
        with contextlib.suppress(NotFound, Conflict):
            ctx.systemd.stop_unit(unit)
        with contextlib.suppress(SdcError):
            ctx.systemd.reset_failed_unit(unit)


def remove(ctx: Context, refs: Sequence[str], *, force: bool = False) -> list[Pod]:
    """Each pod removed: its namespaces unmade, its leases freed, its record gone; with force its
    containers first (removed, running or not), else a pod with containers is an error."""
    from sdcontainer.api import containers as lifecycle

    pods = [find_pod(ctx.paths, ref) for ref in refs]
    for pod in pods:
        found = members(ctx.paths, pod)
        if found and not force:
            raise Conflict(f"pod {pod.name} has containers: {', '.join(c.name for c in found[:5])}",
                           hint=f"remove them first, or all with it: sdc pod rm -f {pod.name}")  # fmt: skip
    for pod in pods:
        found = members(ctx.paths, pod)
        if found:
            lifecycle.remove(ctx, [c.name for c in found], force=True)
        _stop_units(ctx, pod)
        with records.locked(ctx.paths):
            if members(ctx.paths, pod):  # one made beside us
                raise Conflict(f"pod {pod.name} has a new container", hint=f"sdc pod rm -f {pod.name}")
            _unmake(pod)
    return pods


def _unmake(pod: Pod) -> None:
    """What the pod holds given back: its namespaces (a stopped one's are gone already: what a
    crash left of them), its network and leases, its target's file, its directory."""
    from sdcontainer import netns, podns

    at = podns.paths(pod.id)
    failed = [why for kind in ("ipc", "uts") if (why := netns.remove_namespace(at[kind]))]
    if failed:
        raise SdcError(f"pod {pod.name}: {failed[0]}", hint=f"try again: sdc pod rm -f {pod.name}")
    _forget_directory(Path(pod.directory), at["net"])
    _remove_target(pod)


def _forget_directory(directory: Path, netns_path: str) -> None:
    """A pod's directory removed, its network down and leases freed first (networks.release
    says what fails, and keeps what a failed teardown still needs)."""
    from sdcontainer import netns
    from sdcontainer.api import networks

    if (directory / protocol.NETWORK).exists():
        networks.release(directory)
    elif why := netns.remove_namespace(netns_path):
        raise SdcError(f"pod {directory.name}: {why}", hint=f"try again: sdc pod rm -f {directory.name}")
    shutil.rmtree(directory, ignore_errors=True)


def state(ctx: Context, pod: Pod, live: set[str] | None = None) -> str:
    """Podman's words: Running (all its containers, or its namespaces alone where it has none),
    Degraded (some of them), Exited (none now, some before), Created (none has run)."""
    from sdcontainer.api import containers as lifecycle

    live = lifecycle.live_units(ctx) if live is None else live
    found = members(ctx.paths, pod)
    running = sum(1 for c in found if c.unit in live)
    if found and running == len(found):
        return "Running"
    if running:
        return "Degraded"
    if not found:
        return "Running" if is_up(ctx, pod) else "Created"
    return "Exited" if any(containers.has_launched(ctx.paths, c.name) for c in found) else "Created"


def listing(ctx: Context) -> list[dict[str, Any]]:
    """Each pod as `pod ls` shows it, newest first."""
    from sdcontainer.api import containers as lifecycle

    live = lifecycle.live_units(ctx)
    rows = []
    for pod in sorted(list_pods(ctx.paths), key=lambda p: -p.created):
        found = members(ctx.paths, pod)
        rows.append({"Id": pod.id, "Name": pod.name, "Status": state(ctx, pod, live), "Created": pod.created,
                     "Containers": [{"Id": c.id, "Names": c.name, "Status": "running" if c.unit in live else "exited"}
                                    for c in found],
                     "Networks": [] if pod.network in ("none", "host") else [pod.network],
                     "Labels": dict(label.partition("=")[::2] for label in pod.labels)})  # fmt: skip
    return rows


def inspect(ctx: Context, ref: str) -> dict[str, Any]:
    from sdcontainer.api import containers as lifecycle
    from sdcontainer.text import iso_time

    pod = find_pod(ctx.paths, ref)
    live = lifecycle.live_units(ctx)
    found = members(ctx.paths, pod)
    return {
        "Id": pod.id,
        "Name": pod.name,
        "Created": iso_time(pod.created),
        "State": state(ctx, pod, live),
        "Hostname": pod.hostname,
        "Labels": dict(label.partition("=")[::2] for label in pod.labels),
        "SharedNamespaces": list(pod.share),
        "CgroupParent": pod.slice,
        "Units": {"Service": pod.unit, "Target": pod.target, "Slice": pod.slice},
        "InfraConfig": {"PortBindings": _port_bindings(pod), "Networks": [] if pod.network in ("none", "host")
                        else [pod.network], "HostNetwork": pod.network == "host"},  # fmt: skip
        "NumContainers": len(found),
        "Containers": [{"Id": c.id, "Name": c.name, "State": "running" if c.unit in live else "exited"}
                       for c in found],  # fmt: skip
    }


def _port_bindings(pod: Pod) -> dict[str, list[dict[str, str]]]:
    """Its published ports as Docker's HostConfig.PortBindings has them (those chosen for it)."""
    try:
        options = json.loads((Path(pod.directory) / protocol.NETWORK).read_text())["options"]
    except (OSError, ValueError, KeyError):
        return {}
    bound: dict[str, list[dict[str, str]]] = {}
    for m in options.get("port_mappings") or []:
        for offset in range(int(m.get("range", 1))):
            key = f"{int(m['container_port']) + offset}/{m['protocol']}"
            bound.setdefault(key, []).append({"HostIp": str(m.get("host_ip", "")),
                                              "HostPort": str(int(m["host_port"]) + offset)})
    return bound
