"""A container's network namespace on one of sdc's networks, made and unmade by its unit.

Standard library and sdcontainer.linux only: it runs as the launcher does, in the unit, as
`launcher --net-up BUNDLE` (ExecStartPre, privileged: in the host's mount namespace, where the
namespace's bind mount must be for every later step to see it) and `--net-down BUNDLE`
(ExecStopPost), on every start and stop, restarts included: whatever ends a container, systemd
runs its ExecStopPost, and no veth, address, firewall rule or lease outlives its run. A
foreground container's sdc calls the same two around its scope.

The bundle's network.json (protocol.NETWORK), written by sdc when it made the container, says
it all: netavark's options (network/netavark.py), the namespace's path, the leases to hold
(network/ipam.py: a file per address, made O_EXCL), netavark's binary and its config directory.
netavark takes no lock around its firewall changes: its calls here are serialised by one flock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys

from sdcontainer import linux, protocol
from sdcontainer.files import write_atomically

TYPE_CHECKING = False  # (no typing at run time: the launcher's modules import little)
if TYPE_CHECKING:
    from collections.abc import Callable

NETNS_DIR = protocol.NETNS_DIR
SETUP_LOCK = "/run/sdc/netavark.lock"


class NetworkError(Exception):
    pass


class NetavarkFailed(NetworkError):
    """netavark's command failed: what it said, whole."""

    def __init__(self, message: str, said: str) -> None:
        super().__init__(message)
        self.said = said


VETH_GONE = "failed to delete container veth"  # netavark 1.4's words, its teardown's only failure when


def veths_gone(exc: NetworkError) -> bool:
    """Whether a teardown failed only because the container's interfaces were gone already (a
    container with NET_ADMIN deleted its eth0; a disconnect killed after its teardown): netavark
    1.4 goes on with the firewall teardown after that failure, and has done all else."""
    if not isinstance(exc, NetavarkFailed):
        return False
    items = [item.strip() for item in exc.said.removeprefix("netavark encountered multiple errors:").split("\n\t- ")]
    items = [item for item in items if item]
    return bool(items) and all(item.startswith(VETH_GONE) for item in items)


NETAVARKS = ("/usr/lib/podman/netavark", "/usr/libexec/podman/netavark", "/usr/local/libexec/podman/netavark")
LEASE_DIRS = ("/run/sdc/ipam", "/run/sdc/ports")
IPTABLES = next((p for p in ("/usr/sbin/iptables", "/sbin/iptables") if os.path.exists(p)), "iptables")
IP6TABLES = next((p for p in ("/usr/sbin/ip6tables", "/sbin/ip6tables") if os.path.exists(p)), "ip6tables")
# what netavark and iptables run with: none of the caller's environment (NETAVARK_FW=none, say)
ENVIRONMENT = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


def read_plan(bundle: str) -> dict:  # type: ignore[type-arg]
    """The bundle's plan, checked as the record it is (root's, but read by a root process that
    runs what it names): the namespace under NETNS_DIR by a container ID, leases in their two
    directories with names and addresses of their patterns, held by the container the namespace
    is of, netavark one of its known places."""
    import json  # only on a networked container's start and stop

    with open(os.path.join(bundle, protocol.NETWORK), encoding="utf-8") as f:
        return check_plan(json.load(f))


def check_plan(data: object) -> dict:  # type: ignore[type-arg]
    """data as read_plan takes it, or NetworkError."""
    import re

    if not isinstance(data, dict) or not isinstance(data.get("options"), dict):
        raise NetworkError(f"{protocol.NETWORK} is not sdc's")
    if not re.fullmatch(re.escape(NETNS_DIR) + r"/[0-9a-f]{64}", str(data.get("netns"))):
        raise NetworkError(f"{protocol.NETWORK} names no namespace of sdc's")
    if data.get("netavark") not in NETAVARKS or not re.fullmatch(r"/run/sdc/[a-z]+", str(data.get("config_dir"))):
        raise NetworkError(f"{protocol.NETWORK} names no netavark of sdc's")
    pending = data.get("pending")  # a connect at work (connect)
    if pending is not None and (not isinstance(pending, dict) or not isinstance(pending.get("options"), dict)):
        raise NetworkError(f"{protocol.NETWORK} has a network pending that is not sdc's")
    for lease in [*data.get("leases", []), *(_pending_leases(pending) if pending else [])]:
        if (not isinstance(lease, list) or len(lease) != 5 or not all(isinstance(x, str) for x in lease)
                or lease[0] not in LEASE_DIRS or not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}", lease[1])
                or not re.fullmatch(r"[0-9a-fA-F.:*\[\]]{1,60}", lease[2])
                or lease[3] != os.path.basename(data["netns"])):  # fmt: skip
            raise NetworkError(f"{protocol.NETWORK} has a lease that is not sdc's")
    return data


def _pending_leases(pending: dict) -> list:  # type: ignore[type-arg]
    """A pending network's leases (an IPv4 address's, and an IPv6 one's where it has IPv6)."""
    leases = pending.get("leases", [pending.get("lease")])
    return leases if isinstance(leases, list) and leases else [None]


def up(bundle: str) -> None:
    """The namespace made at its path, the leases held, netavark's setup done; its status in the
    bundle (protocol.NETWORK_STATUS). Whatever a crashed run left there is undone first."""
    lock = setup_lock()
    try:
        plan = read_plan(bundle)
        netns = str(plan["netns"])
        if os.path.exists(netns) or plan.get("pending"):
            _down(bundle)
            plan = read_plan(bundle)
        for directory, bridge, address, owner, unit in plan.get("leases", []):
            take_lease(directory, bridge, address, owner, unit, bundle)
        try:
            _make_netns(netns)
            status = _netavark(plan["options"], "setup", netns, plan) if plan["options"].get("networks") else "{}"
            harden(plan["options"], netns, ipv6=has_ipv6(plan["options"]))
            write_atomically(os.path.join(bundle, protocol.NETWORK_STATUS), status.encode())
        except BaseException:
            _down(bundle)
            raise
    finally:
        os.close(lock)


def down(bundle: str, *, release: bool = False) -> list[str]:
    """netavark's teardown, the namespace unmounted and removed; with release (the container goes),
    its leases freed too. A teardown that fails leaves the namespace for the next down to try
    again (a start's first step, rm's) and frees nothing: its rules would forward to the next
    holder of its address (what failed is returned, said). The leases are the container's from
    its making to its removal: a restart finds them its own."""
    lock = setup_lock()
    try:
        return _down(bundle, release=release)
    finally:
        os.close(lock)


def _down(bundle: str, *, release: bool = False) -> list[str]:
    plan = read_plan(bundle)
    netns = str(plan["netns"])
    failed = []
    if os.path.exists(netns) and not _mounted(netns):  # a crash between the file and its mount
        os.unlink(netns)
    if plan.get("pending"):
        _settle_pending(bundle, plan)
    if os.path.exists(netns):
        error = _teardown(plan["options"], netns, plan)
        if error is not None:
            # The namespace is left for the next down (a start's, rm's) to try the teardown again,
            # and the leases are not freed meanwhile: its rules may forward to its address still.
            failed.append(str(error))
            if release:  # kept for good: no one may take them over once the bundle is gone
                for directory, bridge, address, owner, unit in plan.get("leases", []):
                    _keep_lease(directory, bridge, address, owner, unit)
            return failed
        try:
            linux.umount(netns, linux.MNT_DETACH)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # not mounted (a crash between the file and the mount)
                failed.append(f"umount {netns}: {exc}")
        try:
            os.unlink(netns)
        except FileNotFoundError:
            pass
    for directory, bridge, address, owner, _unit in plan.get("leases", []) if release else []:
        release_lease(directory, bridge, address, owner)
    try:
        os.unlink(os.path.join(bundle, protocol.NETWORK_STATUS))
    except FileNotFoundError:
        pass
    return failed


def _teardown(options: dict, netns: str, plan: dict) -> NetworkError | None:  # type: ignore[type-arg]
    """netavark's teardown of options' networks: None once done (or failed only on interfaces
    gone already: veths_gone), else what failed."""
    if not options.get("networks"):
        return None
    try:
        _netavark(options, "teardown", netns, plan)
    except NetworkError as exc:
        return None if veths_gone(exc) else exc
    return None


# A netavark runs under flock(1) -o RUN_LOCK (util-linux: the flock process holds it until netavark
# exits, and netavark, nor aardvark-dns it may start, has no fd of it). One whose caller was killed
# (SIGKILL) goes on with its work: setup_lock waits for it, so no other change of a namespace or a
# plan (a pending network's undoing, say) comes while it runs. Killing it with its caller instead
# would leave half a setup, which netavark 1.4's teardown cannot undo.
FLOCK = "/usr/bin/flock"
RUN_LOCK = "/run/sdc/netavark.run"


def setup_lock() -> int:
    """SETUP_LOCK held (an fd to close): every change to a container's namespace and plan, and
    every call of netavark's (which takes no lock around its firewall changes), under it; and
    no netavark of a caller killed before (RUN_LOCK) at work any longer."""
    os.makedirs(os.path.dirname(SETUP_LOCK), mode=0o700, exist_ok=True)
    lock = os.open(SETUP_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = os.open(RUN_LOCK, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(running, fcntl.LOCK_EX)  # (released at once: no netavark runs now)
        finally:
            os.close(running)
    except BaseException:
        os.close(lock)
        raise
    return lock


def is_up(plan: dict) -> bool:  # type: ignore[type-arg]
    """Whether the plan's namespace is there (its container runs, or is starting or stopping)."""
    return _mounted(str(plan["netns"]))


def connect(bundle: str, plan: dict, options: dict, leases: list[list[str]]) -> None:  # type: ignore[type-arg]
    """One more network (options: netavark's for it alone, the container's ports too; leases: its
    addresses') set up in the running container's namespace and added to its plan; with
    setup_lock held. The plan says it is pending while netavark works: a crash there is undone by
    the container's next down (_settle_pending), no firewall rule or lease of it left behind."""
    import json

    plan = check_plan({**plan, "pending": {"options": options, "leases": leases}})  # (as down will read it)
    merged = check_plan({**{k: v for k, v in plan.items() if k != "pending"},
                         "options": merge_options(plan["options"], options),
                         "leases": [*plan.get("leases", []), *leases]})  # fmt: skip
    if has_ipv6(options):
        _inside(str(plan["netns"]), ipv6=True)  # (before netavark gives it an IPv6 address)
    write_atomically(os.path.join(bundle, protocol.NETWORK), json.dumps(plan).encode())
    try:
        status = _netavark(options, "setup", str(plan["netns"]), plan)
        harden(options, str(plan["netns"]), ipv6=has_ipv6(merged["options"]))
        _merge_status(bundle, status)
        write_atomically(os.path.join(bundle, protocol.NETWORK), json.dumps(merged).encode())
    except BaseException:
        _settle_pending(bundle, plan)
        raise


def disconnect(bundle: str, plan: dict, bridge: str) -> None:  # type: ignore[type-arg]
    """The network of bridge torn down in the container's namespace (if it is up) and taken out of
    its plan, its address's lease freed; with setup_lock held. A teardown that fails changes
    nothing (NetworkError)."""
    import json

    if is_up(plan):
        error = _teardown(only_network(plan["options"], bridge), str(plan["netns"]), plan)
        if error is not None:
            raise error
    rest = dict(plan)
    rest["options"] = {**plan["options"], **{key: {k: v for k, v in plan["options"][key].items() if k != bridge}
                                             for key in ("networks", "network_info")}}  # fmt: skip
    gone = [lease for lease in plan.get("leases", []) if lease[0] == LEASE_DIRS[0] and lease[1] == bridge]
    rest["leases"] = [lease for lease in plan.get("leases", []) if lease not in gone]
    write_atomically(os.path.join(bundle, protocol.NETWORK), json.dumps(rest).encode())
    for directory, bridge_, address, owner, _unit in gone:
        release_lease(directory, bridge_, address, owner)
    if is_up(plan) and has_ipv6(plan["options"]) and not has_ipv6(rest["options"]):
        _inside(str(plan["netns"]), ipv6=False)
    _merge_status(bundle, "{}", drop=bridge)


def only_network(options: dict, bridge: str) -> dict:  # type: ignore[type-arg]
    """netavark's options for one of the container's networks alone, its ports with it."""
    return {**options, "networks": {bridge: options["networks"][bridge]},
            "network_info": {bridge: options["network_info"][bridge]}}  # fmt: skip


def merge_options(options: dict, more: dict) -> dict:  # type: ignore[type-arg]
    return {**options, "networks": {**options["networks"], **more["networks"]},
            "network_info": {**options["network_info"], **more["network_info"]}}  # fmt: skip


def settle(bundle: str, plan: dict) -> None:  # type: ignore[type-arg]
    """A pending network of the plan's (a connect killed midway), undone; plan changed with it."""
    if plan.get("pending"):
        _settle_pending(bundle, plan)


def _settle_pending(bundle: str, plan: dict) -> None:  # type: ignore[type-arg]
    """A connect that did not finish, undone: its network torn down in the namespace (what of it
    was made: with no interface made yet, netavark's one failure is that: veths_gone), its lease
    freed, the plan without it. A teardown that fails otherwise keeps the lease for good (its
    rules may forward to the address still: as _down's)."""
    import json

    pending = plan["pending"]
    error = _teardown(pending["options"], str(plan["netns"]), plan) if _mounted(str(plan["netns"])) else None
    for directory, bridge, address, owner, unit in _pending_leases(pending):
        if error is None:
            release_lease(directory, bridge, address, owner)
        else:
            _keep_lease(directory, bridge, address, owner, unit)
    rest = {k: v for k, v in plan.items() if k != "pending"}
    write_atomically(os.path.join(bundle, protocol.NETWORK), json.dumps(rest).encode())
    plan.pop("pending", None)


def _merge_status(bundle: str, status: str, *, drop: str = "") -> None:
    """The bundle's record of netavark's status, with status's networks added (and drop's left out)."""
    import json

    path = os.path.join(bundle, protocol.NETWORK_STATUS)
    try:
        with open(path, encoding="utf-8") as f:
            merged = json.load(f)
    except (OSError, ValueError):
        return  # (not up)
    if not isinstance(merged, dict):
        return
    more = json.loads(status)
    merged = {**{k: v for k, v in merged.items() if k != drop}, **(more if isinstance(more, dict) else {})}
    write_atomically(path, json.dumps(merged).encode())


# netavark turns route_localnet on for a bridge with published ports (to forward 127.0.0.1:PORT):
# the host then takes packets for 127.0.0.0/8 coming in on it, and a container with CAP_NET_RAW
# (Docker's default set) reaches what listens on the host's loopback alone (CVE-2020-8558's
# class). None is legitimate: replies to forwarded connections come for the bridge's address.
# Nor may a packet from 127.0.0.0/8 come in there (with route_localnet, the kernel takes it for a
# host's own to a service on 0.0.0.0 that trusts its loopback). And netavark makes the host a
# router (ip_forward) with nothing to stop a peer on another interface that routes a network's
# subnet through the host: its containers' unpublished ports would be open to it (Docker 28's
# fix: the same raw rule, before DNAT, so published ports still answer).
# An internal network's way out is netavark's forwarding=0 on its bridge alone, which any later
# switch of net.ipv4.ip_forward to 1 turns on again for every interface: a rule too, as Docker's.
GUARD_COMMENT = "sdc: no way in to its containers but published ports"
INTERNAL_COMMENT = "sdc: no way out of an internal network"


def guard_rules(networks: list[tuple[str, str, bool]]) -> list[tuple[str, str, str, list[str]]]:
    """Firewall rules (family: "4" iptables, "6" ip6tables; table, chain, rule) for sdc's networks,
    (bridge, subnet, internal) each, an IPv6 subnet's by ip6tables: by the bridge's exact name
    (iptables' `sdc+` would take any interface whose name starts so)."""
    comment = ["-m", "comment", "--comment", GUARD_COMMENT, "-j", "DROP"]
    rules = []
    for bridge, subnet, internal in networks:
        family, loopback = ("6", "::1/128") if ":" in subnet else ("4", "127.0.0.0/8")
        rules += [(family, "raw", "PREROUTING", rule) for rule in (
            ["-i", bridge, "-d", loopback, *comment], ["-i", bridge, "-s", loopback, *comment],
            ["!", "-i", bridge, "-d", subnet, *comment])]  # fmt: skip
        if internal:
            rules.append((family, "filter", "FORWARD", ["-i", bridge, "!", "-o", bridge, "-m", "comment",
                                                        "--comment", INTERNAL_COMMENT, "-j", "DROP"]))  # fmt: skip
    return rules


def _networks_of(options: dict) -> list[tuple[str, str, bool]]:  # type: ignore[type-arg]
    return [(str(n["network_interface"]), str(s["subnet"]), n.get("internal") is True)
            for n in options.get("network_info", {}).values() for s in n["subnets"]]  # fmt: skip


def has_ipv6(options: dict) -> bool:  # type: ignore[type-arg]
    """Whether one of options' networks has IPv6 (its containers an IPv6 address there)."""
    return any(n.get("ipv6_enabled") for n in options.get("network_info", {}).values())


def harden(options: dict, netns: str, *, ipv6: bool = False) -> None:  # type: ignore[type-arg]
    """What netavark 1.4 leaves open, closed, each time a network comes up (a firewall reload may
    have flushed a rule): the guard rules (each checked, then inserted first: iptables' exit
    status, none of its output is read); IPv6 off on the bridges of IPv4 networks, and in the
    container unless it has an IPv6 network (ipv6): a container's router advertisement would
    give the host and its neighbours a route through it, and the bridge of an IPv6 network takes
    none (accept_ra 0)."""
    for family, table, chain, rule in guard_rules(_networks_of(options)):
        if (_iptables(table, chain, "-C", rule, family=family) != 0
                and _iptables(table, chain, "-I", rule, "1", family=family) != 0):  # fmt: skip
            raise NetworkError(f"cannot add sdc's guard rules to the {table} table (ip{'6' if family == '6' else ''}"
                               "tables failed)")  # fmt: skip
    for n in options.get("network_info", {}).values():
        bridge = str(n["network_interface"])
        if n.get("ipv6_enabled"):
            _write_sysctl(f"/proc/sys/net/ipv6/conf/{bridge}/accept_ra", "0")
        else:
            _write_sysctl(f"/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6")
        _fix_mac(bridge, next(str(s["gateway"]) for s in n["subnets"] if "." in str(s["gateway"])))
        keep_bridge(bridge)
    _inside(netns, ipv6=ipv6)


def _inside(netns: str, *, ipv6: bool) -> None:
    """IPv6 on (ipv6) or off in the namespace at netns, for every interface it has and will have."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    inside = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.setns(inside, linux.CLONE_NEWNET)
        try:  # (the /proc/sys/net a process opens is its network namespace's)
            for conf in ("all", "default"):
                _write_sysctl(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "0" if ipv6 else "1")
        finally:
            linux.setns(home, linux.CLONE_NEWNET)
    finally:
        os.close(inside)
        os.close(home)


def bridge_mac(gateway: str) -> bytes:
    """A bridge's own MAC address, from its gateway's IPv4 address (as the CNI bridge plugin makes
    it: 0a:58 and the address): locally administered, unicast, the same each time the bridge is made."""
    return bytes([0x0A, 0x58, *(int(part) for part in gateway.split("."))])


def _fix_mac(bridge: str, gateway: str) -> None:
    """A Linux bridge without a MAC address of its own takes its lowest port's, which changes as
    containers come and go: the others' ARP entries for the gateway then name an address nothing
    answers, and they are cut off until those expire (up to minutes; netavark set one from 1.9).
    Set once, where it is not yet (addr_assign_type 3: set)."""
    try:
        with open(f"/sys/class/net/{bridge}/addr_assign_type") as f:
            if f.read().strip() == "3":
                return
    except OSError:
        return  # (no such bridge: netavark failed, and says so)
    linux.set_mac_address(bridge, bridge_mac(gateway))


def keeper(bridge: str) -> str:
    """The name of the port that keeps bridge (sdc0, sdc-<ID>) made: sdk0, sdk<ID>; its veth peer's
    is the same and p."""
    return "sdk" + bridge.removeprefix("sdc").lstrip("-")


def keep_bridge(bridge: str) -> None:
    """A port of sdc's own on bridge (one end of a veth pair, both ends on the host and never up),
    so that netavark never finds it empty: it keeps the bridge, its address and its network's
    firewall rules from one container to the next (as docker0 stays), where it would remove and
    make them again each time a network's last container goes and its next comes (~150 ms of
    iptables calls and device removals on each `run --rm`). `network rm` removes it."""
    port = keeper(bridge)
    try:
        if os.path.basename(os.readlink(f"/sys/class/net/{port}/master")) == bridge:
            return
    except OSError:
        pass
    if os.path.exists(f"/sys/class/net/{port}"):
        linux.add_bridge_port(bridge, port)
        return
    # (iproute2, its exit status alone: a veth pair is made by netlink, and a tap device would
    # need /dev/net/tun, which the unit's device policy, the container's, does not allow)
    _ip("link", "add", port, "master", bridge, "type", "veth", "peer", "name", f"{port}p")


def drop_bridge(bridge: str) -> None:
    """The port keep_bridge made removed (its peer with it): the bridge has no port of sdc's left."""
    if os.path.exists(f"/sys/class/net/{keeper(bridge)}"):
        _ip("link", "del", keeper(bridge))


IP = next((p for p in ("/usr/sbin/ip", "/sbin/ip", "/bin/ip", "/usr/bin/ip") if os.path.exists(p)), "ip")


def _ip(*argv: str) -> None:
    proc = subprocess.run([IP, *argv], capture_output=True, env=ENVIRONMENT)
    if proc.returncode != 0:
        raise NetworkError(f"ip {' '.join(argv)}: {proc.stderr.decode(errors='replace').strip()[:200]}")


def remove_bridge(options: dict, netavark: str, config_dir: str) -> None:  # type: ignore[type-arg]
    """A removed network's bridge and netavark's firewall rules for it gone (`network rm`), with
    setup_lock held: keep_bridge's port dropped, then a container that never runs (options: one
    on the network) set up and torn down on it in a namespace of its own, whose teardown finds the
    bridge empty and removes what netavark made for the network (its complete teardown)."""
    bridge = next(iter(options["network_info"].values()))["network_interface"]
    drop_bridge(bridge)
    if not os.path.exists(f"/sys/class/net/{bridge}"):
        return
    path = f"{NETNS_DIR}/{options['container_id']}"
    plan = {"netavark": netavark, "config_dir": config_dir}
    _make_netns(path)
    try:
        _netavark(options, "setup", path, plan)
        _netavark(options, "teardown", path, plan)
    finally:
        linux.umount(path, linux.MNT_DETACH)
        os.unlink(path)


def unguard(networks: list[tuple[str, str, bool]]) -> None:
    """The guard rules of networks removed (their network is gone): each as often as it is there."""
    for family, table, chain, rule in guard_rules(networks):
        for _ in range(16):
            try:
                if _iptables(table, chain, "-D", rule, family=family) != 0:
                    break
            except OSError:
                break  # no iptables: no rule either


def _write_sysctl(path: str, value: str = "1") -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except FileNotFoundError:
        pass  # a kernel without IPv6


def _iptables(table: str, chain: str, action: str, rule: list[str], *position: str, family: str = "4") -> int:
    binary = IP6TABLES if family == "6" else IPTABLES
    return subprocess.run([binary, "-w", "-t", table, action, chain, *position, *rule], capture_output=True,
                          env=ENVIRONMENT).returncode  # fmt: skip


def _make_netns(path: str) -> None:
    """A new network namespace, kept by a bind mount at path (as `ip netns add` does), its
    loopback up."""
    make_namespace(path, "net", linux.bring_up_loopback)  # (PID 1, in a user namespace of its own, may not)


KINDS = {"net": linux.CLONE_NEWNET, "ipc": linux.CLONE_NEWIPC, "uts": linux.CLONE_NEWUTS}


def make_namespace(path: str, kind: str, inside: Callable[[], None] | None = None) -> None:
    """A new namespace of kind (net, ipc, uts), kept by a bind mount at path: made in a thread of
    ours that enters it, runs inside there (its loopback brought up, its hostname set), binds its
    /proc/thread-self/ns/KIND, then goes back to the one it came from."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.close(fd)
    home = os.open(f"/proc/thread-self/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.unshare(KINDS[kind])
        try:
            if inside is not None:
                inside()
            linux.mount(f"/proc/thread-self/ns/{kind}", path, None, linux.MS_BIND)
        finally:
            linux.setns(home, KINDS[kind])
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(home)


def remove_namespace(path: str) -> str:
    """The namespace kept at path unmounted and its file removed: "" once done (or not there),
    else what failed."""
    if not os.path.exists(path):
        return ""
    if _mounted(path):
        try:
            linux.umount(path, linux.MNT_DETACH)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                return f"umount {path}: {exc}"
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return ""


def _netavark(options: dict, command: str, netns: str, plan: dict) -> str:  # type: ignore[type-arg]
    """netavark's command with options, as plan names its binary and config (setup_lock held)."""
    import json

    config = str(plan["config_dir"])
    os.makedirs(config, mode=0o700, exist_ok=True)
    try:
        # (under flock(1) -o: RUN_LOCK held while netavark runs, whoever its caller was and whatever became of it)
        guard = [FLOCK, "-o", RUN_LOCK] if os.access(FLOCK, os.X_OK) else []
        proc = subprocess.run([*guard, str(plan["netavark"]), "--config", config, command, netns], env=ENVIRONMENT,
                              input=json.dumps(options).encode(), capture_output=True, timeout=60)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkError(f"netavark {command}: {exc}") from None
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        said = out or proc.stderr.decode(errors="replace").strip()
        try:
            said = str(json.loads(said).get("error", said))
        except (ValueError, AttributeError):
            pass
        raise NetavarkFailed(f"netavark {command}: {said[:500]}", said)
    return out


def take_lease(directory: str, bridge: str, address: str, owner: str, unit: str, bundle: str = "") -> bool:
    """The lease of address (network/ipam.py's file), made (True), or held already by owner
    (False); NetworkError where another holds it. A lease its holder abandoned (abandoned: sdc
    killed while it made the container, or a container removed whose removal failed to free it)
    is taken over, under the directory's flock: two that find it abandoned never both take it."""
    home = os.path.join(directory, bridge)
    os.makedirs(home, mode=0o700, exist_ok=True)
    path = os.path.join(home, address)
    for attempt in (1, 2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            holder = _holder(path)
            if holder[0] == owner:
                return False
            if attempt == 1 and _take_over(home, path, holder):
                continue
            raise NetworkError(f"the address {address} on {bridge} is another container's now") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{owner}\n{unit}\n{bundle}\n")
        return True
    raise NetworkError(f"the address {address} on {bridge} is another container's now")


def free_if_abandoned(path: str) -> bool:
    """The lease at path freed if its holder abandoned it: whether it is free now."""
    holder = _holder(path)
    return not os.path.exists(path) or (_take_over(os.path.dirname(path), path, holder) and not os.path.exists(path))


def _holder(path: str) -> tuple[str, str]:
    """A lease's holder: its container's ID and bundle ("" where it does not say)."""
    try:
        with open(path) as f:
            lines = f.read(4096).split("\n")
    except (OSError, UnicodeDecodeError):
        return "", ""
    return lines[0], lines[2] if len(lines) > 2 else ""


def _take_over(home: str, path: str, holder: tuple[str, str]) -> bool:
    """The lease at path freed if holder abandoned it and holds it still (checked again under
    the flock of its directory, which every take-over holds)."""
    if not holder[1] or not abandoned(*holder):
        return False
    lock = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _holder(path) != holder:
            return True  # freed or taken meanwhile: try again
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return True
    finally:
        os.close(lock)


def abandoned(owner: str, bundle: str) -> bool:
    """Whether the container owner no longer holds what it leased: its bundle is gone (a bundle
    still being made has no plan yet, and is not), or its plan is another container's now."""
    import json

    try:
        with open(os.path.join(bundle, protocol.NETWORK), encoding="utf-8") as f:
            plan = json.load(f)
    except FileNotFoundError:
        return not os.path.isdir(bundle)
    except (OSError, ValueError):
        return False
    return not isinstance(plan, dict) or os.path.basename(str(plan.get("netns"))) != owner


def _mounted(path: str) -> bool:
    """Whether path is a namespace's bind mount (nsfs), not the bare file made for one."""
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False


def _keep_lease(directory: str, bridge: str, address: str, owner: str, unit: str) -> None:
    """owner's lease rewritten without its bundle: never abandoned (take_lease), held until a
    reboot (firewall rules of the container may forward to its address still)."""
    path = os.path.join(directory, bridge, address)
    if _holder(path)[0] != owner:
        return
    try:
        write_atomically(path, f"{owner}\n{unit}\n\n".encode())
    except OSError:
        pass


def release_lease(directory: str, bridge: str, address: str, owner: str) -> None:
    """The lease of address freed, if it is owner's still."""
    path = os.path.join(directory, bridge, address)
    try:
        with open(path) as f:
            if f.read().split("\n")[0] != owner:
                return
        os.unlink(path)
    except OSError:
        pass


def enter_host_mounts() -> None:
    """Into PID 1's mount namespace (systemd's, the host's). A unit's ExecStartPre and ExecStopPost
    run in a copy of it of their own (the unit's ReadOnlyPaths=; even with `+`, systemd 252): a
    namespace's bind mount made there would be seen by no other, and its unmount undo nothing."""
    fd = os.open("/proc/1/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.setns(fd, linux.CLONE_NEWNS)
    finally:
        os.close(fd)
    os.chdir("/")


def leave_unit() -> None:
    """Out of the container's unit's cgroup into the root's (cgroups.leave_to_root): what netavark,
    iptables and aardvark-dns's start take is no charge on the container's memory and tasks limits
    (systemd still knows this process as the unit's ExecStartPre/ExecStopPost by its PID). Where
    it cannot (no cgroup file system writable here), the set-up runs in the unit as before."""
    from sdcontainer import cgroups

    try:
        cgroups.leave_to_root(os.getpid())
    except OSError:
        pass


def main(mode: str, bundle: str) -> int:
    """--net-up / --net-down, in the unit: 0, or 1 with what failed said (on its journal)."""
    try:
        bundle = os.path.realpath(bundle)
        enter_host_mounts()
        leave_unit()
        if mode == "net-up":
            up(bundle)
            return 0
        failed = down(bundle)  # (its leases stay its own until it is removed)
    except (NetworkError, OSError, KeyError, ValueError, TypeError) as exc:
        print(f"sdc: the container's network: {exc}", file=sys.stderr, flush=True)
        return 1
    for why in failed:
        print(f"sdc: the container's network: {why}", file=sys.stderr, flush=True)
    return 1 if failed else 0
