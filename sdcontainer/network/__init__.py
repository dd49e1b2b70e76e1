"""sdc's networks: the default bridge and the user's, as records of the store.

A network is a bridge on the host with an IPv4 subnet, its gateway the bridge's address; netavark
(netavark.py) makes the bridge when its first container comes, and sdc keeps it from then on (a
port of its own: netns.keep_bridge) until `network rm` (the default's until a reboot, as docker0). The
default, `sdc` (Docker's `bridge` names it too), is not recorded: it is this module's constant,
10.90.0.0/16 on sdc0, a subnet neither Docker's (172.17/16) nor Podman's (10.88/16) default. A
user network gets the first 10.91.N.0/24 that neither another network of the store nor a route of
the host's has, unless --subnet says. Records are outside input once on disk: read back checked.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from pathlib import Path

from sdcontainer.errors import Conflict, NotFound, StorageError, UsageError
from sdcontainer.paths import Paths
from sdcontainer.record import asdict, record
from sdcontainer.records import read_json, write_json

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}\Z")  # \Z: $ would take a last newline
DEFAULT_NAME = "sdc"
ALIASES = {"bridge": DEFAULT_NAME, "default": DEFAULT_NAME}  # Docker's name, and Podman's word
AUTO_POOL = ipaddress.ip_network("10.91.0.0/16")  # user networks' subnets, /24 each


@record
class Network:
    name: str
    id: str  # 64 hex digits
    bridge: str  # the host's interface, at most 15 characters (IFNAMSIZ)
    subnet: str  # CIDR
    gateway: str  # the bridge's address
    internal: bool = False  # no route out, no masquerade
    dns: bool = True  # its containers find each other by name (aardvark-dns)
    created: float = 0.0
    subnet6: str = ""  # an IPv6 subnet too ("": IPv4 alone), its gateway the bridge's IPv6 address
    gateway6: str = ""

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def network6(self) -> ipaddress.IPv6Network | None:
        return ipaddress.IPv6Network(self.subnet6) if self.subnet6 else None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Network:
        """A record read back, checked (it was written by sdc, and may have been edited since)."""
        if not isinstance(data, dict):
            raise StorageError("a network record that is not one", hint=_DAMAGED)
        try:
            network = cls(name=_str(data, "name"), id=_str(data, "id"), bridge=_str(data, "bridge"),
                          subnet=_str(data, "subnet"), gateway=_str(data, "gateway"),
                          internal=data.get("internal") is True, dns=data.get("dns") is not False,
                          created=float(data.get("created") or 0.0), subnet6=_str(data, "subnet6", ""),
                          gateway6=_str(data, "gateway6", ""))  # fmt: skip
            check(network)
        except (UsageError, ValueError, TypeError) as exc:
            raise StorageError(f"a damaged network record: {exc}", hint=_DAMAGED) from None
        return network


_DAMAGED = "remove it from the store's networks/, then create the network again"


def _str(data: dict[str, object], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"its {key} is not a string")
    return value


def check(network: Network) -> None:
    """What a network record must be: a name, 64 hex digits, an interface name, an IPv4 subnet
    whose gateway is one of its hosts."""
    check_name(network.name)
    if not re.fullmatch(r"[0-9a-f]{64}", network.id):
        raise UsageError(f"network ID {network.id[:80]!r} is not 64 hex digits")
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}", network.bridge):
        raise UsageError(f"bridge name {network.bridge[:80]!r} is no interface name")
    subnet = parse_subnet(network.subnet)
    gateway = ipaddress.ip_address(network.gateway)
    if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
        raise UsageError(f"gateway {network.gateway} is not a host of {network.subnet}")
    if network.subnet6 or network.gateway6:
        subnet6 = parse_subnet6(network.subnet6)
        gateway6 = ipaddress.ip_address(network.gateway6)
        if gateway6 not in subnet6 or gateway6 == subnet6.network_address:
            raise UsageError(f"gateway {network.gateway6} is not a host of {network.subnet6}")


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise UsageError(f"invalid network name {name!r}",
                         hint="use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit")  # fmt: skip
    return name


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    subnet = _parse_subnet(text, 4, (8, 29), "10.89.0.0/24")
    assert isinstance(subnet, ipaddress.IPv4Network)
    return subnet


def parse_subnet6(text: str) -> ipaddress.IPv6Network:
    subnet = _parse_subnet(text, 6, (48, 120), "fd00:1:2:3::/64")
    assert isinstance(subnet, ipaddress.IPv6Network)
    return subnet


def _parse_subnet(text: str, version: int, lengths: tuple[int, int],
                  example: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:  # fmt: skip
    """An IPv4 or IPv6 (version) subnet, /lengths[0] to /lengths[1], or one UsageError."""
    hint = f"give an IPv{version} network, like {example}"
    try:
        subnet = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise UsageError(f"invalid subnet {text!r}: {exc}", hint=hint) from None
    if subnet.version != version:
        raise UsageError(f"subnet {text} is IPv{subnet.version}, not IPv{version}", hint=hint)
    if not lengths[0] <= subnet.prefixlen <= lengths[1]:
        raise UsageError(f"subnet {text} is not /{lengths[0]} to /{lengths[1]}",
                         hint="give a network with room for containers")  # fmt: skip
    return subnet


def _ula(network_id: str) -> ipaddress.IPv6Network:
    """A unique local /64 (RFC 4193: fd, a 40-bit global ID, a 16-bit subnet ID 0) of the network's ID."""
    gid = network_id[:10]
    return ipaddress.IPv6Network(f"fd{gid[:2]}:{gid[2:6]}:{gid[6:10]}::/64")


def _id(name: str, salt: str) -> str:
    import hashlib  # (not on the run path: a new network's alone)

    return hashlib.sha256(f"{name}\0{salt}".encode()).hexdigest()


# its ID: _id(DEFAULT_NAME, "sdc's default bridge"), written out (hashlib is not for the run path)
DEFAULT = Network(name=DEFAULT_NAME, id="0ea4b1fc9fc305cfbf93886966759cfedd6668c3e5541a198c6bcfd75fafbff9",
                  bridge="sdc0", subnet="10.90.0.0/16", gateway="10.90.0.1", dns=False)  # fmt: skip


def _record(paths: Paths, name: str) -> Path:
    return paths.networks / f"{check_name(name)}.json"


def list_networks(paths: Paths) -> list[Network]:
    """The default, then the store's, by name; a damaged record is an error naming it."""
    found = [DEFAULT]
    for path in sorted(paths.networks.glob("*.json")) if paths.networks.is_dir() else []:
        try:
            found.append(Network.from_json(read_json(path)))
        except FileNotFoundError:
            continue  # removed beside us
        except StorageError as exc:
            raise StorageError(f"{path}: {exc}", hint=exc.hint) from None
    return found


def find_network(paths: Paths, ref: str) -> Network:
    """A network by name (bridge and default name the default), or by a unique prefix of its ID."""
    name = ALIASES.get(ref, ref)
    if name == DEFAULT_NAME:
        return DEFAULT
    if NAME_RE.match(name) and _record(paths, name).exists():
        return Network.from_json(read_json(_record(paths, name)))
    matches = [n for n in list_networks(paths) if len(ref) >= 4 and n.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    raise NotFound(f"no such network: {ref}", hint="`sdc network ls` lists the networks")


def create_network(paths: Paths, name: str, *, subnet: str | None = None, gateway: str | None = None,
                   internal: bool = False, dns: bool = True, ipv6: bool = False, subnet6: str | None = None,
                   routes: list[ipaddress.IPv4Network] | None = None) -> Network:  # fmt: skip
    """A new network's record (the bridge comes with its first container). Call with the store
    locked. routes: the host's (host_routes), which an automatic subnet must not overlap."""
    check_name(name)
    if name in ("none", "host", "pod"):  # --network's words
        raise UsageError(f"invalid network name {name!r}: --network {name} means no network of a name",
                         hint="choose another name")  # fmt: skip
    if name in ALIASES or name == DEFAULT_NAME or _record(paths, name).exists():
        raise Conflict(f"network {name} exists already", hint="choose another name")
    others = [n.network for n in list_networks(paths)]
    if subnet is not None:
        chosen = parse_subnet(subnet)
        clash = next((o for o in others if o.overlaps(chosen)), None)
        if clash is not None:
            raise Conflict(f"subnet {chosen} overlaps {clash}, another network's",
                           hint="give a --subnet of its own")  # fmt: skip
        # a route of the host's (a LAN, another store's network): its guard rule would cut it off
        clash = next((r for r in (routes if routes is not None else host_routes()) if r.overlaps(chosen)), None)
        if clash is not None:
            raise Conflict(f"subnet {chosen} overlaps {clash}, a network this host routes to",
                           hint="give a --subnet this host does not use")  # fmt: skip
    else:
        taken = [*others, *(routes if routes is not None else host_routes())]
        chosen = next((s for s in AUTO_POOL.subnets(new_prefix=24) if not any(s.overlaps(t) for t in taken)), None)  # type: ignore[assignment]
        if chosen is None:
            raise Conflict(f"no /24 of {AUTO_POOL} is free", hint="give a --subnet")
    if gateway is None:
        gateway = str(next(chosen.hosts()))
    else:
        try:
            gateway = str(ipaddress.IPv4Address(gateway))
        except ValueError:
            raise UsageError(f"invalid --gateway {gateway[:80]!r}", hint="give an IPv4 address of the subnet") from None
    network_id = _id(name, os.urandom(16).hex())
    chosen6 = None
    if ipv6 or subnet6:
        chosen6 = parse_subnet6(subnet6) if subnet6 else _ula(network_id)
        clash6 = next((n.network6 for n in list_networks(paths) if n.network6 and n.network6.overlaps(chosen6)), None)
        clash6 = clash6 or next((r for r in host_routes6() if r.overlaps(chosen6)), None)
        if clash6 is not None:
            raise Conflict(f"subnet {chosen6} overlaps {clash6}, another network's or one this host routes to",
                           hint="give an IPv6 --subnet of its own")  # fmt: skip
    network = Network(name=name, id=network_id, bridge=f"sdc-{network_id[:11]}", subnet=str(chosen),
                      gateway=gateway, internal=internal, dns=dns, created=time.time(),
                      subnet6=str(chosen6) if chosen6 else "",
                      gateway6=str(next(chosen6.hosts())) if chosen6 else "")  # fmt: skip
    check(network)
    paths.networks.mkdir(mode=0o700, exist_ok=True)
    write_json(_record(paths, name), network.to_json())
    return network


def remove_network(paths: Paths, network: Network) -> None:
    """Its record (call with the store locked; the caller checks it is not in use)."""
    if network.name == DEFAULT_NAME:
        raise UsageError("the default network cannot be removed", hint="it is sdc's own, made by none")
    _record(paths, network.name).unlink(missing_ok=True)


def host_routes() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks the host routes to (/proc/net/route), the default route left out."""
    found = []
    try:
        with open("/proc/net/route") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            destination = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
            net = ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)
        except ValueError:
            continue
        if net.prefixlen:
            found.append(net)
    return found


def host_routes6() -> list[ipaddress.IPv6Network]:
    """The IPv6 networks the host routes to (/proc/net/ipv6_route), but the default, link-local,
    multicast and loopback ones."""
    found = []
    try:
        with open("/proc/net/ipv6_route") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            net = ipaddress.IPv6Network(f"{ipaddress.IPv6Address(bytes.fromhex(fields[0]))}/{int(fields[1], 16)}",
                                        strict=False)  # fmt: skip
        except ValueError:
            continue
        if net.prefixlen and not (net.is_link_local or net.is_multicast or net.is_loopback):
            found.append(net)
    return found
