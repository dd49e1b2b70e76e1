"""netavark, Podman's network engine, as sdc calls it: `netavark setup|teardown NETNS` with the
container's networks and ports as JSON on stdin (its 1.4 schema, src/network/types.rs).

netavark makes the bridge, the veth pair, the addresses and routes, the firewall rules for
masquerade and published ports (iptables), and keeps aardvark-dns's records of the names on each
network. It does no IPAM (ipam.py gives it the addresses) and takes no lock around its firewall
changes: calls are serialised by the caller (SETUP_LOCK). Teardown needs the very options setup
had (the rules are recomputed from them): they are kept in the container's bundle.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sdcontainer.errors import SdcError
from sdcontainer.record import record

if TYPE_CHECKING:
    from sdcontainer.network import Network
    from sdcontainer.ports import PortMapping

BINARY = "/usr/lib/podman/netavark"  # Debian's; /usr/libexec/podman elsewhere (find_binary)
SEARCH = ("/usr/lib/podman/netavark", "/usr/libexec/podman/netavark", "/usr/local/libexec/podman/netavark")
AARDVARK = ("/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns")
CONFIG_DIR = "/run/sdc/netavark"  # aardvark-dns's records and lock: a tmpfs, as Podman's /run/containers/networks
SETUP_LOCK = "/run/sdc/netavark.lock"


@record
class Attachment:
    """A container on one network: its interface there, its address (leased), its names."""

    network: Network
    address: str
    interface: str = "eth0"
    mac: str = ""
    aliases: tuple[str, ...] = ()
    address6: str = ""  # on a network with IPv6 too


def build_options(container_id: str, container_name: str, attachments: list[Attachment],
                  ports: list[PortMapping], dns_servers: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """netavark's NetworkOptions: pure, from what sdc decided (ports with their host ports chosen)."""
    networks: dict[str, Any] = {}
    info: dict[str, Any] = {}
    for a in attachments:
        n = a.network
        # netavark knows a network by its bridge's name (sdc0, sdc-<id>): it names its firewall
        # chains after it, which another engine's network of the same name would share.
        ips = [a.address, *([a.address6] if a.address6 else [])]
        networks[n.bridge] = {"interface_name": a.interface, "static_ips": ips,
                            "aliases": list(a.aliases) if n.dns else [],  # (netavark adds the name)
                            **({"static_mac": a.mac} if a.mac else {})}  # fmt: skip
        subnets = [{"subnet": n.subnet, "gateway": n.gateway}]
        subnets += [{"subnet": n.subnet6, "gateway": n.gateway6}] if n.subnet6 else []
        info[n.bridge] = {"name": n.bridge, "id": n.id, "driver": "bridge", "network_interface": n.bridge,
                        "subnets": subnets, "ipv6_enabled": bool(n.subnet6),
                        "internal": n.internal, "dns_enabled": n.dns,
                        "ipam_options": {"driver": "host-local"}}  # fmt: skip
    options: dict[str, Any] = {"container_id": container_id, "container_name": container_name,
                               "networks": networks, "network_info": info}  # fmt: skip
    mappings = [{"host_ip": p.host_ip, "container_port": p.container_port, "host_port": p.host_port,
                 "range": p.count, "protocol": p.protocol} for p in ports]  # fmt: skip
    if mappings:
        options["port_mappings"] = mappings
    if dns_servers:
        options["dns_servers"] = list(dns_servers)
    return options


@record
class Interface:
    """What setup reports of one interface: its MAC and its addresses (CIDR) with gateways."""

    network: str
    name: str
    mac: str
    addresses: tuple[tuple[str, str], ...]  # (ipnet, gateway)
    dns_servers: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()


class NetavarkError(SdcError):
    """netavark refused or failed: its own words."""


def parse_status(text: str) -> list[Interface]:
    """setup's stdout: {network: StatusBlock}; or its error. Checked as any outside input (one
    error for what is not the shape netavark 1.4 prints)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise NetavarkError("netavark printed no JSON", hint=f"it said: {text[:200]!r}") from None
    if not isinstance(data, dict):
        raise NetavarkError("netavark printed something else than its status")
    if "error" in data:
        raise NetavarkError(f"netavark: {str(data['error'])[:500]}")
    found = []
    for network, block in data.items():
        interfaces = block.get("interfaces") if isinstance(block, dict) else None
        if not isinstance(interfaces, dict):
            raise NetavarkError(f"netavark's status of {str(network)[:60]} has no interfaces")
        dns = _strings(block.get("dns_server_ips")), _strings(block.get("dns_search_domains"))
        for name, interface in interfaces.items():
            if not isinstance(interface, dict):
                raise NetavarkError(f"netavark's status of {str(name)[:60]} is not an object")
            subnets = interface.get("subnets")
            subnets = subnets if isinstance(subnets, list) else []
            addresses = tuple((str(s.get("ipnet", "")), str(s.get("gateway") or ""))
                              for s in subnets if isinstance(s, dict))  # fmt: skip
            found.append(Interface(str(network), str(name), str(interface.get("mac_address", "")), addresses, *dns))
    return found


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()
