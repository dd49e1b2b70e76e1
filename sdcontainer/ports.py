"""Published ports: `-p [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp|sctp]`, as Docker reads it.

A port or a range of them (`8000-8002:80-82`, the same length on both sides; a host range for one
container port picks one free port of it), an IPv6 address in brackets (`[::1]:8080:80`), an
empty host port (`127.0.0.1::80`) or none (`80`) for a free one the kernel picks. What the user
typed is outside input: every field is checked here, once, into a PortMapping.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from sdcontainer.errors import UsageError
from sdcontainer.record import record
from sdcontainer.text import is_decimal

PROTOCOLS = ("tcp", "udp", "sctp")
PORT_MAX = 65535
RANGE_MAX = 1024  # ports one -p may publish: each is a firewall rule


@record
class PortMapping:
    """container_port..+count-1 published on host_port..+count-1 (host_port 0: one the host
    picks when the container starts, count 1) of host_ip ("": every address of the host)."""

    container_port: int
    host_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    count: int = 1

    def describe(self) -> str:
        """As `docker port` says it: 80/tcp -> 0.0.0.0:8080."""
        ip = self.host_ip or "0.0.0.0"
        shown = f"[{ip}]" if ":" in ip else ip
        return "\n".join(f"{self.container_port + i}/{self.protocol} -> {shown}:{self.host_port + i}"
                         for i in range(self.count))  # fmt: skip


def parse_publish(text: str) -> PortMapping:
    """One -p value; UsageError naming what is wrong."""

    def bad(why: str) -> UsageError:
        return UsageError(f"invalid -p {text!r}: {why}", hint="give [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp|sctp], "
                          "like 8080:80 or 127.0.0.1:53:53/udp")  # fmt: skip

    rest, slash, protocol = text.partition("/")
    protocol = protocol.lower() if slash else "tcp"
    if protocol not in PROTOCOLS:
        raise bad(f"no protocol {protocol!r}")
    host_ip = ""
    if rest.startswith("["):
        address, bracket, rest = rest[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise bad("an IPv6 address is written [ADDRESS]:HOSTPORT:CONTAINERPORT")
        host_ip = _address(address, bad, version=6)
        parts = rest[1:].split(":")
        if len(parts) != 2:
            raise bad("an IPv6 address is written [ADDRESS]:HOSTPORT:CONTAINERPORT (HOSTPORT may be empty)")
        host, container = parts
    else:
        parts = rest.split(":")
        if len(parts) == 1:
            host, container = "", parts[0]
        elif len(parts) == 2:
            host, container = parts
        elif len(parts) == 3:
            host_ip, host, container = _address(parts[0], bad, version=4) if parts[0] else "", parts[1], parts[2]
        else:
            raise bad("too many ':' (an IPv6 address goes in brackets)")
    first, count = _ports(container, bad, what="container port")
    if not host:
        if count > 1:
            raise bad("a range of container ports needs its host ports")
        return PortMapping(first, 0, protocol, host_ip)
    host_first, host_count = _ports(host, bad, what="host port")
    if host_count != count and count != 1:
        raise bad(f"{host_count} host ports for {count} container ports")
    if count == 1 and host_count > 1:
        raise bad("a range of host ports for one container port is not supported yet: give one host port")
    return PortMapping(first, host_first, protocol, host_ip, count)


def _address(text: str, bad: Callable[[str], UsageError], *, version: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise bad(f"{text!r} is no IPv{version} address") from None
    if address.version != version:
        raise bad(f"{text!r} is no IPv{version} address")
    return str(address)


def _ports(text: str, bad: Callable[[str], UsageError], *, what: str) -> tuple[int, int]:
    """PORT or FIRST-LAST: (the first, how many)."""
    low, dash, high = text.partition("-")
    if not is_decimal(low) or (dash and not is_decimal(high)) or len(low) > 5 or len(high) > 5:
        raise bad(f"{what} {text!r} is no port or range of ports")
    first, last = int(low), int(high) if dash else int(low)
    if not 1 <= first <= last <= PORT_MAX:
        raise bad(f"{what} {text!r} is not within 1-{PORT_MAX}, low to high")
    if last - first + 1 > RANGE_MAX:
        raise bad(f"{what} range {text!r} has more than {RANGE_MAX} ports")
    return first, last - first + 1
