"""Addresses on sdc's networks: leased, one per container and network, never twice.

netavark does no IPAM of its own (its host-local driver takes the addresses it is given, as
Podman gives them from its own database): sdc leases them here. The leases are the host's, not a
store's (a bridge and its subnet are the host's, whatever store a container is in), on a tmpfs
(/run/sdc/ipam), so that a reboot, which ends every container, frees every address. A lease is a
file, /run/sdc/ipam/BRIDGE/ADDRESS, made with O_EXCL: two commands never get one address, with
no lock to take, and the launcher frees one by unlinking it (release) with nothing of sdc's. It
names its holder's ID, unit and bundle: a lease whose bundle is gone, or is another container's
now (sdc killed while it made the container), is abandoned, and the next that wants its address
takes it over (netns.take_lease). A container holds its leases from its making to its removal.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path

from sdcontainer import netns
from sdcontainer.errors import Conflict, UsageError
from sdcontainer.record import record

RUN_DIR = Path("/run/sdc/ipam")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Subnet = ipaddress.IPv4Network | ipaddress.IPv6Network


@record
class Lease:
    address: str
    owner: str  # the container's ID
    unit: str  # its unit, by which a stale lease is known (sweep)


class Leases:
    """The leases of every network, in directory (RUN_DIR; another in tests)."""

    def __init__(self, directory: Path = RUN_DIR) -> None:
        self.directory = directory

    def held(self, bridge: str) -> list[Lease]:
        """The leases on the network of bridge; a damaged one (not sdc's writing) is none."""
        found = []
        for path in sorted(self._dir(bridge).glob("*")) if self._dir(bridge).is_dir() else []:
            lease = _read(path)
            if lease is not None:
                found.append(lease)
        return found

    def _dir(self, bridge: str) -> Path:
        if not bridge or "/" in bridge or bridge in (".", ".."):
            raise UsageError(f"invalid bridge name {bridge!r}", hint="a network's bridge is an interface name")
        return self.directory / bridge

    def allocate(self, bridge: str, subnet: Subnet, gateway: Address, owner: str, unit: str,
                 wanted: str | None = None, bundle: str = "") -> str:  # fmt: skip
        """An address of subnet for owner (its own, if it holds one already): wanted, or the lowest
        free one, or else the lowest one abandoned."""
        mine = [lease.address for lease in self.held(bridge)
                if lease.owner == owner and ipaddress.ip_address(lease.address) in subnet]  # fmt: skip
        if mine:
            return mine[0]
        home = self._dir(bridge)
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if wanted is not None:
            address = check_address(wanted, subnet, gateway)
            if not _take(home / address, owner, unit, bundle):
                raise Conflict(f"the address {address} is in use on {bridge}", hint="choose another --ip, or none")
            return address
        taken = set(os.listdir(home))
        for candidate in _hosts(subnet):
            address = str(candidate)
            if candidate != gateway and address not in taken and _take(home / address, owner, unit, bundle):
                return address
        for candidate in _hosts(subnet):  # full: one a container abandoned?
            address = str(candidate)
            if candidate != gateway and address in taken and _take(home / address, owner, unit, bundle):
                return address
        raise Conflict(f"the network of {bridge} ({subnet}) has no address left",
                       hint="remove containers from it, or use a network with a larger subnet")  # fmt: skip

    def release(self, bridge: str, owner: str) -> None:
        """owner's leases on the network of bridge go."""
        for lease in self.held(bridge):
            if lease.owner == owner:
                (self._dir(bridge) / lease.address).unlink(missing_ok=True)


release_file = netns.release_lease  # the launcher's (netns.py), with nothing of sdc's


def _take(path: Path, owner: str, unit: str, bundle: str) -> bool:
    try:
        return netns.take_lease(str(path.parent.parent), path.parent.name, path.name, owner, unit, bundle)
    except netns.NetworkError:
        return False  # another's

def _read(path: Path) -> Lease | None:
    try:
        ipaddress.ip_address(path.name)
        owner, unit = path.read_text().split("\n")[:2]
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return Lease(path.name, owner, unit) if owner and unit else None


def _hosts(subnet: Subnet) -> Iterator[Address]:
    """The subnet's addresses a container may have: not the network's, nor (IPv4) its broadcast."""
    yield from subnet.hosts()


def check_address(text: str, subnet: Subnet, gateway: Address) -> str:
    """--ip's address, in the subnet and not its gateway (nor its network or broadcast address)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"invalid --ip {text!r}", hint="give an address, like 10.88.0.50") from None
    if address not in subnet or address == gateway or address in (subnet.network_address, subnet.broadcast_address):
        raise UsageError(f"--ip {text} is not an address a container may have on {subnet}",
                         hint=f"give one of {subnet}, not its gateway {gateway}")  # fmt: skip
    return str(address)

