"""A container on a network: its address leased, its ports chosen, its unit's plan written
(protocol.NETWORK: what netns.py does at each start and stop)."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdcontainer import files, protocol
from sdcontainer.containerspec import ContainerSpec
from sdcontainer.errors import Conflict, NotFound, SdcError, UsageError
from sdcontainer.network import DEFAULT_NAME, Network, find_network
from sdcontainer.network.ipam import RUN_DIR, Leases
from sdcontainer.network.netavark import AARDVARK, CONFIG_DIR, SEARCH, Attachment, build_options
from sdcontainer.paths import Paths
from sdcontainer.ports import PortMapping, parse_publish
from sdcontainer.record import record
from sdcontainer.text import iso_time

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.containers import Container

PORTS_DIR = "/run/sdc/ports"  # a published host port's lease: PORTS_DIR/PROTOCOL/[IP]:PORT, O_EXCL
NETNS_DIR = protocol.NETNS_DIR


def netavark_binary() -> str:
    found = next((path for path in SEARCH if os.access(path, os.X_OK)), None)
    if found is None:
        raise SdcError("netavark is not installed: a container on a network needs it",
                       hint="install it (Debian: apt install netavark aardvark-dns iptables), or give the "
                            "container no network: --network none")  # fmt: skip
    return found


def plan(paths: Paths, spec: ContainerSpec, container_id: str, unit: str, cdir: Path) -> Network:
    """Its address leased (ipam), its host ports chosen and leased, network.json written; the
    network. Undone by release (on a failure later in the creation, and by rm)."""
    binary = netavark_binary()
    network = find_network(paths, spec.network)
    restore_leases(paths)
    leases: list[list[str]] = []
    try:
        address, address6 = _addresses(network, container_id, unit, cdir, leases, wanted=spec.ip or None)
        ports = []
        for value in spec.publish:
            mapping = parse_publish(value)
            if ":" in mapping.host_ip and not network.subnet6:
                raise UsageError(f"-p {value}: an IPv6 host address, and network {network.name} is IPv4 alone",
                                 hint="publish on an IPv4 address, or use a network with IPv6 "
                                      "(`sdc network create --ipv6 NAME`)")  # fmt: skip
            mapping, lease = _host_ports(mapping, container_id, unit, str(cdir))
            ports.append(mapping)
            leases.extend(lease)
        if spec.network_aliases and not network.dns:
            raise UsageError(f"--network-alias: network {network.name} has no names",
                             hint="create a network of your own (`sdc network create NAME`) and use it")  # fmt: skip
        # its names there: its name (netavark adds it), its short ID (as Docker's), its aliases
        aliases = (container_id[:12], *spec.network_aliases)
        attachment = Attachment(network, address, mac=spec.mac_address, aliases=aliases, address6=address6)
        options = build_options(container_id, spec.name, [attachment], ports,
                                dns_servers=list(spec.dns) if network.dns else None)  # fmt: skip
        data = {"options": options, "netns": f"{NETNS_DIR}/{container_id}", "leases": leases, "netavark": binary,
                "config_dir": CONFIG_DIR, "aardvark": next((a for a in AARDVARK if os.path.exists(a)), "")}  # fmt: skip
        files.write_atomically(str(cdir / protocol.NETWORK), json.dumps(data).encode())
    except BaseException:
        _release(leases)
        raise
    return network


def _addresses(network: Network, owner: str, unit: str, cdir: Path, leases: list[list[str]], *,
               wanted: str | None = None) -> tuple[str, str]:  # fmt: skip
    """owner's address on network, and its IPv6 address where the network has IPv6 too ("" else),
    leased (ipam), each lease added to leases."""
    address = Leases().allocate(network.bridge, network.network, ipaddress.IPv4Address(network.gateway),
                                owner, unit, wanted=wanted, bundle=str(cdir))  # fmt: skip
    leases.append([str(RUN_DIR), network.bridge, address, owner, unit])
    if network.network6 is None:
        return address, ""
    address6 = Leases().allocate(network.bridge, network.network6, ipaddress.IPv6Address(network.gateway6),
                                 owner, unit, bundle=str(cdir))  # fmt: skip
    leases.append([str(RUN_DIR), network.bridge, address6, owner, unit])
    return address, address6


RESTORED = "/run/sdc/restored"  # a store's mark: its containers' leases held again since the boot


def restore_leases(paths: Paths) -> None:
    """Once a boot, before a store's first new lease: its containers' leases (files of /run,
    gone with the reboot) taken again, so that no new container is given an address or a port
    one of them has (call with the store locked). One another took meanwhile stays its: that
    container's start says so."""
    from sdcontainer import netns

    root = os.stat(paths.root)
    mark = Path(RESTORED) / f"{root.st_dev}-{root.st_ino}"  # the store, by its directory
    if mark.exists():
        return
    pods = paths.root / "pods"  # (api.pods: a pod's plan is a container's)
    for cdir in [*(sorted(paths.containers.iterdir()) if paths.containers.is_dir() else []),
                 *(sorted(pods.iterdir()) if pods.is_dir() else [])]:  # fmt: skip
        try:
            for directory, bridge, address, owner, unit in netns.read_plan(str(cdir)).get("leases", []):
                netns.take_lease(directory, bridge, address, owner, unit, str(cdir))
        except (OSError, ValueError, KeyError, TypeError, netns.NetworkError):
            continue
    mark.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    mark.touch()


def address_of(cdir: Path) -> str:
    """The container's address on its network, as its plan leased it."""
    data = json.loads((cdir / protocol.NETWORK).read_text())
    return str(data["leases"][0][2])


def release(cdir: Path, *, leases: bool = True) -> None:
    """The container's network down (netns.down: what a crash left of its namespace too) and, with
    leases (it goes), what plan leased given back."""
    from sdcontainer import netns

    if not (cdir / protocol.NETWORK).exists():
        return
    try:
        failed = netns.down(str(cdir), release=leases)
    except (netns.NetworkError, OSError, ValueError, KeyError) as exc:
        failed = [str(exc)]
    if failed:
        from sdcontainer.log import get_logger

        get_logger(__name__).warning("the network of %s: %s", cdir.name, "; ".join(failed))


@record
class Attached:
    """A container on one network, as its plan has it."""

    network_id: str
    bridge: str
    address: str
    interface: str
    mac: str
    aliases: tuple[str, ...]
    address6: str = ""


def attached(cdir: Path) -> list[Attached]:
    """The networks the container is on (its plan's: the first its --network's, then those
    `network connect` added); none where it has no plan (--network none, host, container:)."""
    try:
        options = json.loads((cdir / protocol.NETWORK).read_text())["options"]
        return [Attached(str(options["network_info"][bridge]["id"]), str(bridge), str(n["static_ips"][0]),
                         str(n["interface_name"]), str(n.get("static_mac", "")), tuple(map(str, n.get("aliases", []))),
                         str(n["static_ips"][1]) if len(n["static_ips"]) > 1 else "")
                for bridge, n in options["networks"].items()]  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return []


def connect(ctx: Context, network_ref: str, container_ref: str, *, aliases: Sequence[str] = (),
            ip: str = "") -> Network:  # fmt: skip
    """The container on one more network: its address leased there; while it runs, an interface
    (eth1, ...) set up in its namespace at once, its names there and its resolv.conf and hosts
    told; else at its next start. Its published ports are forwarded on the network too (as Podman's)."""
    from sdcontainer import containers, netns, records
    from sdcontainer.spec import check_aliases, check_ip

    network = find_network(ctx.paths, network_ref)
    container = containers.find_container(ctx.paths, container_ref)
    _check_own_network(container)
    aliases = check_aliases(aliases, network=network.name)
    if aliases and not network.dns:
        raise UsageError(f"--alias: network {network.name} has no names",
                         hint="create a network of your own (`sdc network create NAME`) and use it")  # fmt: skip
    ip = check_ip(ip, network=network.name)
    ctx.claim(container.name)  # no start, stop or rm of it by another sdc meanwhile
    container = containers.find_container(ctx.paths, container.id)  # as it is now that it is ours
    cdir = Path(container.bundle)
    _settle(cdir)
    if any(a.bridge == network.bridge for a in attached(cdir)):
        raise Conflict(f"container {container.name} is already on network {network.name}",
                       hint=f"`sdc network disconnect {network.name} {container.name}` first")  # fmt: skip
    leases = Leases()
    with records.locked(ctx.paths):  # (network rm looks for leases under it too: none removes it now)
        find_network(ctx.paths, network.id)
        restore_leases(ctx.paths)
        leases.release(network.bridge, container.id)  # one a connect killed before its plan said so
        taken: list[list[str]] = []
        address, address6 = _addresses(network, container.id, container.unit, cdir, taken, wanted=ip or None)
    lock = netns.setup_lock()
    try:
        try:
            plan = netns.read_plan(str(cdir))
            used = {str(n.get("interface_name")) for n in plan["options"]["networks"].values()}
            interface = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
            attachment = Attachment(network, address, interface=interface, aliases=(container.short_id, *aliases),
                                    address6=address6)  # fmt: skip
            one = build_options(container.id, container.name, [attachment], [])
            one.update({k: plan["options"][k] for k in ("port_mappings", "dns_servers") if k in plan["options"]})
            up = netns.is_up(plan)
            if not up:  # (its next start sets it up with the rest)
                plan = netns.check_plan({**plan, "options": netns.merge_options(plan["options"], one),
                                         "leases": [*plan.get("leases", []), *taken]})  # fmt: skip
                files.write_atomically(str(cdir / protocol.NETWORK), json.dumps(plan).encode())
        except BaseException:
            _release(taken)
            raise
        if up:  # (the leases its from here: it frees them, or keeps them, on a failure)
            netns.connect(str(cdir), plan, one, taken)
    finally:
        os.close(lock)
    refresh_names(ctx, container)
    return network


def disconnect(ctx: Context, network_ref: str, container_ref: str) -> Network:
    """The container off a network: its interface there removed at once if it runs, its names
    there gone, its address freed, its resolv.conf and hosts told."""
    from sdcontainer import containers, netns

    network = find_network(ctx.paths, network_ref)
    container = containers.find_container(ctx.paths, container_ref)
    _check_own_network(container)
    ctx.claim(container.name)
    container = containers.find_container(ctx.paths, container.id)
    cdir = Path(container.bundle)
    lock = netns.setup_lock()
    try:
        plan = netns.read_plan(str(cdir))
        netns.settle(str(cdir), plan)
        if network.bridge not in plan["options"]["networks"]:
            raise Conflict(f"container {container.name} is not on network {network.name}",
                           hint=f"`sdc inspect {container.name}` lists its networks")  # fmt: skip
        try:
            netns.disconnect(str(cdir), plan, network.bridge)
        except netns.NetworkError as exc:
            raise SdcError(f"cannot disconnect {container.name} from {network.name}: {exc}",
                           hint=f"nothing was changed; see `journalctl -u {container.unit}`") from None  # fmt: skip
    finally:
        os.close(lock)
    refresh_names(ctx, container)
    return network


def _settle(cdir: Path) -> None:
    """What a connect killed midway left of its pending network, undone (netns.settle)."""
    from sdcontainer import netns

    lock = netns.setup_lock()  # (never taken with the store locked: rm takes them the other way)
    try:
        netns.settle(str(cdir), netns.read_plan(str(cdir)))
    finally:
        os.close(lock)


def _check_own_network(container: Container) -> None:
    if not container.spec.networked:
        raise UsageError(f"container {container.name} has no network namespace of sdc's "
                         f"(--network {container.spec.network})",
                         hint="only a container made on a network (bridge, or yours) joins others")  # fmt: skip


def refresh_names(ctx: Context, container: Container) -> None:
    """The container's hosts and resolv.conf made again for the networks it is on now (its address
    on the first, the first with names as its nameserver), in its bundle for its next starts and,
    while it runs, in its root (as the launcher writes them at a start)."""
    from sdcontainer import network as networks_
    from sdcontainer.api.run import names_files

    cdir = Path(container.bundle)
    by_id = {n.id: n for n in networks_.list_networks(ctx.paths)}
    on = [a for a in attached(cdir) if a.network_id in by_id]
    names_at = next((by_id[a.network_id].gateway for a in on if by_id[a.network_id].dns), "")
    try:
        hostname = (cdir / "hostname").read_text().strip()
    except OSError:
        hostname = container.spec.hostname or container.name
    hosts, resolv_conf = names_files(container.spec, hostname, on[0].address if on else "", names_at)
    made = [("/etc/hosts", "hosts", hosts), ("/etc/resolv.conf", "resolv.conf", resolv_conf)]
    # inside first, both each time: a kill between the two leaves the bundle's older (the next
    # connect or disconnect writes both again), never the running container's copy older
    _write_inside(container, [[path, text.encode()] for path, _, text in made])
    for _, name, text in made:
        files.write_atomically(str(cdir / name), text.encode())
    _refresh_joiners(ctx, container)


def _refresh_joiners(ctx: Context, container: Container) -> None:
    """The files of the containers that share container's network (--network container:NAME),
    made again from its own (api.run.joiner_files), theirs and in them while they run."""
    from sdcontainer import containers
    from sdcontainer.api.containers import joiners
    from sdcontainer.api.run import joiner_files

    for name in joiners(ctx, container):
        try:
            joiner = containers.find_container(ctx.paths, name)
            jdir = Path(joiner.bundle)
            hostname = (jdir / "hostname").read_text().strip()
            hosts, resolv_conf = joiner_files(container.bundle, joiner.spec, hostname, (jdir / "hosts").read_text(),
                                              (jdir / "resolv.conf").read_text())  # fmt: skip
        except (SdcError, OSError):
            continue
        _write_inside(joiner, [["/etc/hosts", hosts.encode()], ["/etc/resolv.conf", resolv_conf.encode()]])
        files.write_atomically(str(jdir / "hosts"), hosts.encode())
        files.write_atomically(str(jdir / "resolv.conf"), resolv_conf.encode())


def _write_inside(container: Container, changed: list[list[Any]]) -> None:
    """Files written into the running container's root (launcher.write_own_files: as the container
    resolves their paths, what it put there never opened but a file of its own) by a child of ours in its
    mount namespace, whose root is the container's whatever its PID 1 has chrooted into; PID 1
    by a pidfd, checked to be in the container's unit (not a PID reused)."""
    import select

    from sdcontainer import cgroups, linux

    try:
        pid = int((Path(container.bundle) / protocol.PID).read_text())
        pidfd = linux.pidfd_open(pid)
    except (OSError, ValueError):
        return  # not running: its next start writes them
    try:
        poll = select.poll()
        poll.register(pidfd, select.POLLIN)
        if poll.poll(0) or not cgroups.in_unit(pid, container.unit):
            return  # gone, or another process's PID now
        proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # the host's, for the child
        said_r, said_w = os.pipe2(os.O_CLOEXEC)
        child = os.fork()
        if child == 0:  # (only system calls here, then _exit)
            code = 1
            try:
                os.close(said_r)
                from sdcontainer.launcher import write_own_files

                linux.setns(pidfd, linux.CLONE_NEWNS)
                write_own_files("/", changed, proc)
                code = 0
            except BaseException as exc:  # noqa: BLE001 - said to the parent, whatever it is
                os.write(said_w, str(exc).encode(errors="replace")[:500])
            finally:
                os._exit(code)
        os.close(said_w)
        os.close(proc)
        with os.fdopen(said_r, "rb") as f:
            said = f.read(600).decode(errors="replace")
        _, status = os.waitpid(child, 0)
        if status != 0:
            from sdcontainer.log import get_logger

            get_logger(__name__).warning("%s: its /etc/hosts and resolv.conf: %s (it has them at its next start)",
                                         container.name, said or "not written")  # fmt: skip
    finally:
        os.close(pidfd)


def _release(leases: list[list[str]]) -> None:
    from sdcontainer import netns

    for directory, bridge, address, owner, _unit in leases:
        netns.release_lease(directory, bridge, address, owner)


def _host_ports(mapping: PortMapping, owner: str, unit: str, bundle: str) -> tuple[PortMapping, list[list[str]]]:
    """mapping with its host ports chosen (a free one where none is given), each leased (two
    containers never publish one) and free on the host now (no process listens there)."""
    from sdcontainer import netns

    host_port = mapping.host_port or _free_port(mapping)
    leases: list[list[str]] = []
    every = mapping.host_ip in ("", "0.0.0.0", "::")  # every address of the host: one lease, "*:PORT"
    try:
        for port in range(host_port, host_port + mapping.count):
            key = f"{'*' if every else mapping.host_ip}:{port}"
            clash = _published(mapping.protocol, port, every=every)
            try:
                if clash:
                    raise netns.NetworkError(clash)
                netns.take_lease(PORTS_DIR, mapping.protocol, key, owner, unit, bundle)
            except netns.NetworkError:
                raise Conflict(f"port {port}/{mapping.protocol} is published by another container",
                               hint="choose another host port") from None  # fmt: skip
            leases.append([PORTS_DIR, mapping.protocol, key, owner, unit])
            _check_free(mapping, port)
    except BaseException:
        _release(leases)
        raise
    # 0.0.0.0 and :: are every address of the host, as none is (netavark would match them literally)
    host_ip = "" if every else mapping.host_ip
    return PortMapping(mapping.container_port, host_port, mapping.protocol, host_ip, mapping.count), leases


def _published(protocol_: str, port: int, *, every: bool) -> str:
    """A lease of port that one on every address (every) or on any address would overlap: its
    name, or "". (On every address: any other lease of the port; on one: the every-address one.)"""
    from sdcontainer import netns

    home = Path(PORTS_DIR) / protocol_
    found = ([*home.glob(f"*:{port}")] if every else [home / f"*:{port}"]) if home.is_dir() else []
    return next((p.name for p in found if not netns.free_if_abandoned(str(p))), "")


def _socket(mapping: PortMapping) -> socket.socket:
    family = socket.AF_INET6 if ":" in mapping.host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if mapping.protocol == "udp" else socket.SOCK_STREAM
    return socket.socket(family, kind)


def _check_free(mapping: PortMapping, port: int) -> None:
    if mapping.protocol == "sctp":
        return  # (no SCTP socket to try with on every kernel)
    with _socket(mapping) as s:
        try:
            s.bind((mapping.host_ip or "0.0.0.0", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(f"port {port}/{mapping.protocol} of {mapping.host_ip or 'the host'} is taken",
                               hint="a process listens there: choose another host port") from None  # fmt: skip
            raise UsageError(f"cannot publish on {mapping.host_ip or 'the host'}:{port}: {exc.strerror}",
                             hint="give an address of this host") from None  # fmt: skip


def _free_port(mapping: PortMapping) -> int:
    with _socket(mapping) as s:
        s.bind((mapping.host_ip or "0.0.0.0", 0))
        return int(s.getsockname()[1])


# --- sdc network: the user's networks ---------------------------------------------------------


def users_of(paths: Paths, network: Network) -> list[str]:
    """The names of the containers on network (running or not), from their plans."""
    return sorted(name for name, on in _containers_on(paths) if network.id in on)


def _containers_on(paths: Paths) -> list[tuple[str, dict[str, Attached]]]:
    """Each container of sdc's networks, with its attachments by network ID."""
    from sdcontainer import containers

    return [(c.name, {a.network_id: a for a in attached(Path(c.bundle))})
            for c in containers.list_containers(paths) if c.spec.networked]  # fmt: skip


def create_network(ctx: Context, name: str, *, subnet: str | None = None, gateway: str | None = None,
                   internal: bool = False, dns: bool = True, ipv6: bool = False,
                   subnet6: str | None = None) -> Network:  # fmt: skip
    from sdcontainer import network as networks_
    from sdcontainer import records

    if gateway is not None and subnet is None:
        raise UsageError("--gateway needs a --subnet", hint="give the subnet the gateway is an address of")
    if internal and dns and not names_stay_inside():
        from sdcontainer.log import get_logger

        get_logger(__name__).warning(
            "network %s has no names: the aardvark-dns here (before 1.11) would forward its containers' "
            "queries out of an internal network (CVE-2024-29018's class)", name)  # fmt: skip
        dns = False
    with records.locked(ctx.paths):
        return networks_.create_network(ctx.paths, name, subnet=subnet, gateway=gateway, internal=internal, dns=dns,
                                        ipv6=ipv6, subnet6=subnet6)  # fmt: skip


INTERNAL_DNS = (1, 11)  # netavark and aardvark-dns keep an internal network's queries inside from these


def names_stay_inside() -> bool:
    """Whether this host's netavark and aardvark-dns answer only their own names on an internal
    network (1.11: netavark marks it, aardvark-dns forwards nothing for it)."""
    import subprocess

    for binary in (netavark_binary(), next((a for a in AARDVARK if os.path.exists(a)), "")):
        try:
            said = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
            version = tuple(int(part) for part in said.split()[-1].split(".")[:2])
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            return False
        if version < INTERNAL_DNS:
            return False
    return True


def list_networks(ctx: Context) -> list[tuple[Network, list[str]]]:
    """Each network, the default first, with the names of its containers."""
    from sdcontainer import network as networks_

    found = networks_.list_networks(ctx.paths)
    on = _containers_on(ctx.paths)
    return [(n, sorted(name for name, theirs in on if n.id in theirs)) for n in found]


def inspect_network(ctx: Context, ref: str) -> dict[str, Any]:
    """Docker's shape of `network inspect`, with the containers on it and their addresses."""
    from sdcontainer import containers

    network = find_network(ctx.paths, ref)
    found: dict[str, Any] = {}
    for c in containers.list_containers(ctx.paths):
        on = attached(Path(c.bundle)) if c.spec.networked else []
        a = next((a for a in on if a.network_id == network.id), None)
        if a is not None:
            v6 = f"{a.address6}/{network.network6.prefixlen}" if a.address6 and network.network6 else ""
            found[c.id] = {"Name": c.name, "IPv4Address": f"{a.address}/{network.network.prefixlen}",
                           "MacAddress": mac_of(Path(c.bundle), a.bridge), "IPv6Address": v6}  # fmt: skip
    return {
        "Name": network.name, "Id": network.id, "Created": iso_time(network.created), "Scope": "local",
        "Driver": "bridge", "EnableIPv6": bool(network.subnet6),
        "IPAM": {"Driver": "default", "Options": {},
                 "Config": [{"Subnet": network.subnet, "Gateway": network.gateway},
                            *([{"Subnet": network.subnet6, "Gateway": network.gateway6}] if network.subnet6 else [])]},
        "Internal": network.internal, "Attachable": True, "Ingress": False, "DNSEnabled": network.dns,
        "Containers": found, "Options": {"com.docker.network.bridge.name": network.bridge}, "Labels": {},
    }  # fmt: skip


def mac_of(bundle: Path, bridge: str) -> str:
    """The container's MAC address on the network of bridge, as netavark last reported it (while
    its network is up)."""
    from sdcontainer.network.netavark import NetavarkError, parse_status

    try:
        found = parse_status((bundle / protocol.NETWORK_STATUS).read_text())
    except (OSError, NetavarkError):
        return ""
    return next((i.mac for i in found if i.network == bridge), "")


def remove_networks(ctx: Context, refs: Sequence[str], *, force: bool = False) -> list[str]:
    """The networks of refs removed (their records, and the guard rules of their bridges); one
    with containers only with force, which removes them first (as Podman's `network rm -f`).
    Every ref is found before anything is removed."""
    from sdcontainer import netns, records
    from sdcontainer import network as networks_
    from sdcontainer.api import containers as lifecycle

    found = list({n.name: n for n in (find_network(ctx.paths, ref) for ref in refs)}.values())
    for network in found:
        if network.name == networks_.DEFAULT_NAME:
            raise UsageError("the default network cannot be removed", hint="it is sdc's own, made by none")
    removed = []
    for network in found:
        _remove_pods_on(ctx, network, force=force)
        users = users_of(ctx.paths, network)
        if users and not force:
            raise Conflict(f"network {network.name} has containers: {', '.join(users[:5])}",
                           hint="remove them first, or use `sdc network rm -f` to remove them with it")  # fmt: skip
        if users:
            lifecycle.remove(ctx, users, force=True)
        with records.locked(ctx.paths):
            users = users_of(ctx.paths, network)  # one made beside us
            users += [lease.owner[:12] for lease in Leases().held(network.bridge)  # or connecting to it
                      if not netns.free_if_abandoned(str(RUN_DIR / network.bridge / lease.address))]  # fmt: skip
            if users:
                raise Conflict(f"network {network.name} has containers: {', '.join(users[:5])}",
                               hint="a container was made on it meanwhile: remove it first")  # fmt: skip
            networks_.remove_network(ctx.paths, network)
        _remove_bridge(network)
        netns.unguard([(network.bridge, subnet, network.internal) for subnet in (network.subnet, network.subnet6)
                       if subnet])  # fmt: skip
        removed.append(network.name)
    return removed


def _remove_pods_on(ctx: Context, network: Network, *, force: bool) -> None:
    """The pods on network (api.pods) removed with their containers (force), else a Conflict."""
    from sdcontainer import records
    from sdcontainer.api import pods

    with records.locked(ctx.paths):
        restore_leases(ctx.paths)  # (after a reboot: a pod's address is its own still)
    on = [pod.name for pod in pods.list_pods(ctx.paths) if pod.network == network.name]
    if on and not force:
        raise Conflict(f"network {network.name} has pods: {', '.join(on[:5])}",
                       hint="remove them first (`sdc pod rm -f`), or use `sdc network rm -f` to remove them with it")
    if on:
        pods.remove(ctx, on, force=True)


def _remove_bridge(network: Network) -> None:
    """The bridge of a network removed (its record gone: no container comes on it now), with what
    netavark made for it (netns.remove_bridge); what fails is said, not raised: the record is gone."""
    from sdcontainer import netns

    binary = next((path for path in SEARCH if os.access(path, os.X_OK)), None)
    if binary is None or not os.path.exists(f"/sys/class/net/{network.bridge}"):
        return
    owner = os.urandom(32).hex()  # a container of none, for netavark's one setup and teardown
    lock = netns.setup_lock()
    try:
        taken: list[list[str]] = []
        address, address6 = _addresses(network, owner, "-", Path("/nonexistent"), taken)
        try:
            options = build_options(owner, f"sdc-rm-{network.name}"[:63],
                                    [Attachment(network, address, address6=address6)], [])  # fmt: skip
            netns.remove_bridge(options, binary, CONFIG_DIR)
        finally:
            Leases().release(network.bridge, owner)
    except (SdcError, OSError, netns.NetworkError) as exc:
        from sdcontainer.log import get_logger

        get_logger(__name__).warning("network %s: its bridge %s: %s", network.name, network.bridge, exc)
    finally:
        os.close(lock)


def prune_networks(ctx: Context) -> list[str]:
    """The user's networks no container is on, removed."""
    from sdcontainer import records

    with records.locked(ctx.paths):
        unused = [n.name for n, users in list_networks(ctx) if not users and n.name != DEFAULT_NAME]
    removed = []
    for name in unused:
        try:
            removed += remove_networks(ctx, [name])
        except (Conflict, NotFound):
            continue  # used, or removed, beside us
    return removed
