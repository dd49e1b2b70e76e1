"""`sdc network connect|disconnect` (issue 23): a container joins and leaves networks while it
runs (an interface of its own on each, its names there, its resolv.conf and hosts told) and while
it is stopped (at its next start); nothing of an attachment outlives it, a killed connect included.
Everything in the test host's own network namespace: no packet leaves it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc
from tests.integration.test_networks import SERVE, fetch, leftovers
from tests.integration.test_user_networks import lookup, network_leftovers, wget

pytestmark = pytest.mark.drivers("btrfs")  # about networks, not storage


def addresses(sdc: Sdc, container: str) -> dict[str, str]:
    """The container's IPv4 addresses by interface, as it sees them."""
    out = sdc.ok("exec", container, "ip", "-o", "-4", "addr")
    return {line.split()[1]: line.split()[3].split("/")[0] for line in out.splitlines() if " lo " not in line}


def attachment_leftovers(bridge: str, prefix: str) -> list[str]:
    """What containers on bridge (its subnet's addresses starting with prefix) hold on the host
    while others run: leases, DNS records, veths on the bridge (but sdc's own port, which keeps
    it), firewall rules naming an address."""
    found = [str(p) for p in Path(f"/run/sdc/ipam/{bridge}").glob("*")]
    records = Path(f"/run/sdc/netavark/aardvark-dns/{bridge}")
    found += [line for line in (records.read_text().splitlines()[1:] if records.exists() else [])]
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    found += [link["ifname"] for link in links if link.get("master") == bridge and link["ifname"] != f"sdk{bridge[4:]}"]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    found += [line for line in rules.splitlines() if prefix in line and "NETAVARK-DN-" in line]
    return found


def on_networks(sdc: Sdc, container: str) -> set[str]:
    [info] = json.loads(sdc.ok("inspect", container))
    return set(info["NetworkSettings"]["Networks"])


def bridge_of(sdc: Sdc, network: str) -> str:
    [info] = json.loads(sdc.ok("network", "inspect", network))
    return str(info["Options"]["com.docker.network.bridge.name"])


def test_a_running_container_joins_and_leaves_a_network(sdc: Sdc, image: str, name: str, net: str) -> None:
    """connect: eth1 on the network at once, its name and --alias there for the others, theirs for
    it (its resolv.conf now names the network's DNS), its published port forwarded still;
    disconnect: all of it gone, its address free again; connect again works."""
    sdc.ok("network", "create", "--subnet", "10.89.40.0/24", net)
    bridge = bridge_of(sdc, net)
    db, web = f"{name}-db", name
    sdc.ok("run", "-d", "--name", db, "--network", net, "--network-alias", "database", image, "sh", "-c", SERVE)
    web_id = sdc.ok("run", "-d", "--name", web, "--network", "bridge", "-p", "9510:80", image, "sh", "-c",
                    SERVE).strip()  # fmt: skip
    try:
        assert list(addresses(sdc, web)) == ["eth0"]
        assert lookup(sdc, web, db) == []  # the default network has no names
        assert sdc.ok("network", "connect", "--alias", "webby", net, web) == ""
        found = addresses(sdc, web)
        assert sorted(found) == ["eth0", "eth1"] and found["eth1"].startswith("10.89.40."), found
        db_address = addresses(sdc, db)["eth0"]
        # names both ways: its own on the network, and the network's for it
        for host in (web, "webby", web_id[:12]):
            assert lookup(sdc, db, host) == [found["eth1"]], host
        assert lookup(sdc, web, "database") == [db_address]
        assert sdc.ok("exec", db, *wget(f"http://{web}/")) == f"hello from {web}\n"
        assert "nameserver 10.89.40.1" in sdc.ok("exec", web, "cat", "/etc/resolv.conf")
        assert fetch("http://127.0.0.1:9510/") == f"hello from {web}\n"
        # what sdc says of it
        [info] = json.loads(sdc.ok("inspect", web))
        networks = info["NetworkSettings"]["Networks"]
        assert set(networks) == {"sdc", net} and networks[net]["IPAddress"] == found["eth1"]
        assert "webby" in networks[net]["Aliases"] and info["NetworkSettings"]["IPAddress"] == found["eth0"]
        [info] = json.loads(sdc.ok("network", "inspect", net))
        assert {c["Name"] for c in info["Containers"].values()} == {db, web}
        assert Path(f"/run/sdc/ipam/{bridge}/{found['eth1']}").exists()
        # twice: refused, nothing changed
        again = sdc("network", "connect", net, web)
        assert again.returncode != 0 and again.stderr.count("\n") == 1 and "already on" in again.stderr, again
        assert sorted(addresses(sdc, web)) == ["eth0", "eth1"]
        # leave it
        assert sdc.ok("network", "disconnect", net, web) == ""
        assert list(addresses(sdc, web)) == ["eth0"]
        assert lookup(sdc, db, web) == [] and lookup(sdc, db, "webby") == []
        assert "10.89.40.1" not in sdc.ok("exec", web, "cat", "/etc/resolv.conf")
        assert not Path(f"/run/sdc/ipam/{bridge}/{found['eth1']}").exists()
        assert fetch("http://127.0.0.1:9510/") == f"hello from {web}\n"
        [info] = json.loads(sdc.ok("network", "inspect", net))
        assert {c["Name"] for c in info["Containers"].values()} == {db}
        gone = sdc("network", "disconnect", net, web)
        assert gone.returncode != 0 and gone.stderr.count("\n") == 1 and "is not on" in gone.stderr, gone
        # and back, on the address it asks for, answered at once: the bridge's MAC address is its
        # own, not its lowest port's (which changes as ports come and go, and cut db off from its
        # gateway, aardvark-dns, until its ARP entry expired: netavark 1.4's bridges)
        sdc.ok("network", "connect", "--ip", "10.89.40.77", net, web)
        assert addresses(sdc, web)["eth1"] == "10.89.40.77" and lookup(sdc, db, web) == ["10.89.40.77"]
        [link] = json.loads(subprocess.run(["ip", "-j", "link", "show", bridge], capture_output=True).stdout)
        assert link["address"] == "0a:58:0a:59:28:01", link
        sdc.ok("network", "disconnect", "bridge", web)
        assert addresses(sdc, web) == {"eth1": "10.89.40.77"}
        assert fetch("http://127.0.0.1:9510/") == f"hello from {web}\n"
    finally:
        sdc("rm", "-f", web, db)
    assert network_leftovers(bridge) == [] and network_leftovers("sdc0") == [] and leftovers(web_id) == []


def test_a_stopped_container_joins_at_its_next_start(sdc: Sdc, image: str, name: str, net: str) -> None:
    """connect and disconnect of a stopped container: its plan changed, its next starts (and
    restarts) bring the network up with the rest; a container that left every network starts
    with loopback alone."""
    sdc.ok("network", "create", "--subnet", "10.89.41.0/24", net)
    bridge = bridge_of(sdc, net)
    cid = sdc.ok("create", "--name", name, "--network", "bridge", image, "sleep", "1000").strip()
    try:
        sdc.ok("network", "connect", net, name)
        assert not list(Path("/run/sdc/netns").glob(f"{cid}*"))  # nothing up: it is not running
        sdc.ok("start", name)
        assert sorted(addresses(sdc, name)) == ["eth0", "eth1"]
        assert addresses(sdc, name)["eth1"].startswith("10.89.41.")
        assert "nameserver 10.89.41.1" in sdc.ok("exec", name, "cat", "/etc/resolv.conf")
        sdc.ok("restart", name)
        assert sorted(addresses(sdc, name)) == ["eth0", "eth1"]
        sdc.ok("stop", name)
        sdc.ok("network", "disconnect", "bridge", name)
        sdc.ok("network", "disconnect", net, name)
        assert list(Path(f"/run/sdc/ipam/{bridge}").glob("*")) == []
        sdc.ok("start", name)
        assert addresses(sdc, name) == {}
        assert "10.89.41.1" not in sdc.ok("exec", name, "cat", "/etc/resolv.conf")
        sdc.ok("network", "connect", net, name)  # and a running one with no network before
        assert list(addresses(sdc, name)) == ["eth0"]
    finally:
        sdc("rm", "-f", name)
    assert network_leftovers(bridge) == [] and leftovers(cid) == []


@pytest.mark.parametrize(("argv", "says"), [
    (["network", "connect", "no-such-net", "{c}"], "no such network"),
    (["network", "connect", "{net}", "no-such-container"], "no such container"),
    (["network", "connect", "--ip", "10.89.42.300", "{net}", "{c}"], "invalid --ip"),
    (["network", "connect", "--ip", "10.89.43.5", "{net}", "{c}"], "is not an address"),
    (["network", "connect", "--alias", "bad alias", "{net}", "{c}"], "invalid --network-alias"),
    (["network", "connect", "{net}", "{none}"], "no network namespace of sdc's"),
    (["network", "disconnect", "{net}", "{c}"], "is not on"),
    (["network", "disconnect", "{net}", "{none}"], "no network namespace of sdc's"),
])  # fmt: skip
def test_bad_connect_input_is_one_line_and_leaves_nothing(sdc: Sdc, image: str, name: str, net: str,
                                                          argv: list[str], says: str) -> None:  # fmt: skip
    sdc.ok("network", "create", "--subnet", "10.89.42.0/24", net)
    bridge = bridge_of(sdc, net)
    sdc.ok("run", "-d", "--name", name, "--network", "bridge", image, "sleep", "1000")
    sdc.ok("run", "-d", "--name", f"{name}-none", "--network", "none", image, "sleep", "1000")
    try:
        before = addresses(sdc, name)
        proc = sdc(*[a.format(c=name, net=net, none=f"{name}-none") for a in argv])
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc
        assert addresses(sdc, name) == before and list(Path(f"/run/sdc/ipam/{bridge}").glob("*")) == []
        [info] = json.loads(sdc.ok("inspect", name))
        assert set(info["NetworkSettings"]["Networks"]) == {"sdc"}
    finally:
        sdc("rm", "-f", name, f"{name}-none")


def test_kill_9_of_a_connect_at_any_moment_leaves_nothing(sdc: Sdc, image: str, name: str, net: str) -> None:
    """`network connect` killed at moments over its whole work: the container runs on, a connect
    after it works, and `rm -f` leaves no lease, veth, DNS record or forwarding rule."""
    sdc.ok("network", "create", "--subnet", "10.89.44.0/24", net)
    bridge = bridge_of(sdc, net)
    cid = sdc.ok("run", "-d", "--name", name, "--network", "bridge", "-p", "9520:80", image, "sh", "-c",
                 SERVE).strip()  # fmt: skip
    try:
        start = time.monotonic()
        sdc.ok("network", "connect", net, name)
        span = max(0.3, 1.2 * (time.monotonic() - start))
        sdc.ok("network", "disconnect", net, name)
        for n in range(10):
            proc = subprocess.Popen(sdc.argv("network", "connect", net, name), env=sdc.env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(n * span / 9)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            when = f"killed after {n * span / 9 * 1000:.0f} ms"
            if net in on_networks(sdc, name):  # it got as far as it goes: leave again
                sdc.ok("network", "disconnect", net, name)
            else:  # the next command undoes what it left (a pending network); a connect works
                sdc.ok("network", "connect", net, name)
                assert lookup(sdc, name, name) == [addresses(sdc, name)["eth1"]], when
                sdc.ok("network", "disconnect", net, name)
            assert list(addresses(sdc, name)) == ["eth0"], when
            assert attachment_leftovers(bridge, "10.89.44.") == [], when
            assert fetch("http://127.0.0.1:9520/") == f"hello from {name}\n", when
    finally:
        sdc("rm", "-f", name)
    assert network_leftovers(bridge) == [] and leftovers(cid) == []


def test_a_hostile_container_gets_its_files_and_nothing_else(sdc: Sdc, image: str, name: str, net: str) -> None:
    """What connect writes into a running container (hosts, resolv.conf) goes into its own root as
    new files renamed over what is there: a FIFO it reads from is never opened (nothing comes out
    of it), a device node is never written through, and a PID 1 that chrooted elsewhere (into a
    volume, say) does not move where the files go."""
    sdc.ok("network", "create", "--subnet", "10.89.45.0/24", net)
    jail = "mkdir -p /jail/bin /jail/etc && cp /bin/busybox /jail/bin/ && mkfifo /etc/hosts.f && rm /etc/hosts"
    sdc.ok("run", "-d", "--name", name, "--network", "bridge", image, "sh", "-c",
           f"{jail} && mv /etc/hosts.f /etc/hosts && rm /etc/resolv.conf && mknod /etc/resolv.conf c 1 3 && "
           "(cat /etc/hosts > /got &) && exec chroot /jail /bin/busybox sleep 1000")  # fmt: skip
    deadline = time.monotonic() + 10
    while "p" not in sdc.ok("exec", name, "stat", "-c", "%A", "/etc/hosts")[:1] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sdc.ok("exec", name, "stat", "-c", "%A", "/etc/hosts").startswith("p")  # the FIFO, its reader waiting
    sdc.ok("network", "connect", net, name)
    hosts = sdc.ok("exec", name, "cat", "/etc/hosts")
    assert f"\t{name}\n" in hosts, hosts
    assert sdc.ok("exec", name, "stat", "-c", "%F %u", "/etc/hosts", "/etc/resolv.conf") == "regular file 0\n" * 2
    assert "nameserver 10.89.45.1" in sdc.ok("exec", name, "cat", "/etc/resolv.conf")
    assert sdc.ok("exec", name, "cat", "/got") == ""  # the FIFO was never written
    assert sdc("exec", name, "ls", "/jail/etc/hosts").returncode != 0  # nor the chroot's


def test_a_container_that_deletes_its_interfaces_leaves_nothing(sdc: Sdc, image: str, name: str) -> None:
    """A container with NET_ADMIN deletes its eth0 (netavark's teardown then fails on it): its
    stop and rm still leave no namespace, lease or published port behind, and another container
    publishes the port next."""
    cid = sdc.ok("run", "-d", "--name", name, "--network", "bridge", "--cap-add", "NET_ADMIN", "-p", "9530:80",
                 image, "sleep", "1000").strip()  # fmt: skip
    sdc.ok("exec", name, "ip", "link", "del", "eth0")
    sdc.ok("stop", "-t", "1", name)
    assert not Path(f"/run/sdc/netns/{cid}").exists()
    sdc.ok("start", name)  # (its namespace made again)
    assert list(addresses(sdc, name)) == ["eth0"]
    sdc.ok("exec", name, "ip", "link", "del", "eth0")
    sdc.ok("rm", "-f", name)
    assert leftovers(cid) == []
    sdc.ok("run", "-d", "--name", name, "--network", "bridge", "-p", "9530:80", image, "sh", "-c", SERVE)
    assert fetch("http://127.0.0.1:9530/") == f"hello from {name}\n"


def test_a_networked_container_needs_no_more_memory_than_another(sdc: Sdc, image: str, name: str) -> None:
    """Its network's set-up (the launcher's --net-up, netavark, iptables: ~10 MiB at their peak)
    leaves the unit's cgroup: a container on a network starts, serves and restarts under -m 8m,
    the least any container may have."""
    sdc.ok("run", "-d", "--name", name, "-m", "8m", "--network", "bridge", "-p", "9540:80", image, "sh", "-c", SERVE)
    assert fetch("http://127.0.0.1:9540/") == f"hello from {name}\n"
    sdc.ok("restart", "-t", "1", name)
    assert fetch("http://127.0.0.1:9540/") == f"hello from {name}\n"
    [info] = json.loads(sdc.ok("inspect", name))
    assert info["State"]["OOMKilled"] is False
