"""Containers on sdc's networks (issue 23): an address of their own behind a bridge, masqueraded
out, published ports, and nothing left of them once they are gone. Everything happens in the
test host's own network namespace: no packet leaves it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, sdc_units, store_state

SERVE = "mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
OUTSIDE = "192.0.2.1"  # TEST-NET-1, on a bridge of the test host's: what stands for the world


def fetch(url: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - a URL of the test's
                return reply.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def leftovers(cid: str) -> list[str]:
    """What of container cid is on the host: its namespace, a lease, a firewall rule, a veth."""
    found = [str(p) for p in Path("/run/sdc").rglob("*") if p.is_file() and cid in (p.name + _read(p))]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    found += [line for line in rules.splitlines() if cid in line]
    links = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout
    found += [link["ifname"] for link in json.loads(links) if link["ifname"].startswith("veth")]
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


WORLD = """
import http.server
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"world, seen from {self.client_address[0]}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("192.0.2.1", 8099), Hello).serve_forever()
"""


@pytest.fixture
def outside() -> Iterator[str]:
    """A web server at 192.0.2.1:8099 in a network namespace of its own (the world), behind a veth
    whose host end is 192.0.2.254: the world has no route to sdc's subnets, so only masqueraded
    packets get an answer."""
    run = ["ip", "netns", "exec", "sdcworld"]
    for argv in (["ip", "netns", "add", "sdcworld"],
                 ["ip", "link", "add", "sdcworld0", "type", "veth", "peer", "name", "eth0", "netns", "sdcworld"],
                 ["ip", "addr", "add", "192.0.2.254/24", "dev", "sdcworld0"], ["ip", "link", "set", "sdcworld0", "up"],
                 [*run, "ip", "addr", "add", f"{OUTSIDE}/24", "dev", "eth0"], [*run, "ip", "link", "set", "eth0", "up"],
                 [*run, "ip", "link", "set", "lo", "up"]):  # fmt: skip
        subprocess.run(argv, check=True)
    server = subprocess.Popen([*run, sys.executable, "-c", WORLD])
    try:
        assert fetch(f"http://{OUTSIDE}:8099/").startswith("world, seen from 192.0.2.254")
        yield f"http://{OUTSIDE}:8099/"
    finally:
        server.kill()
        server.wait()
        subprocess.run(["ip", "netns", "del", "sdcworld"], check=False)


def test_a_published_port_answers_and_the_container_reaches_out(sdc: Sdc, image: str, name: str, store: Path,
                                                                outside: str) -> None:  # fmt: skip
    before = store_state(store)
    cid = sdc.ok("run", "-d", "--name", name, "--network", "bridge", "-p", "8080:80", "-p", "127.0.0.1::80",
                 image, "sh", "-c", SERVE).strip()  # fmt: skip
    status = json.loads((store / "containers" / name / "network-status.json").read_text())
    [address] = [s["ipnet"].split("/")[0] for s in status["sdc0"]["interfaces"]["eth0"]["subnets"]]
    assert fetch("http://127.0.0.1:8080/") == f"hello from {name}\n"  # the host's loopback
    assert fetch("http://10.90.0.1:8080/") == f"hello from {name}\n"  # the host's address on the bridge
    assert fetch(f"http://{address}:80/") == f"hello from {name}\n"  # the container's own
    out = sdc.ok("exec", name, "sh", "-c", f"ip -4 -o addr show eth0; ip route; wget -qO- {outside}")
    assert address in out and "default via 10.90.0.1" in out
    assert "world, seen from 192.0.2.254" in out  # masqueraded out (the world has no route back to it)
    assert f"{address}\t{name}" in sdc.ok("exec", name, "cat", "/etc/hosts")
    # stop and start: the network goes with the run and comes back with the next
    sdc.ok("stop", "-t", "1", name)  # its network down; its address and ports its own until it is removed
    assert sorted(leftovers(cid)) == sorted([f"/run/sdc/ipam/sdc0/{address}", "/run/sdc/ports/tcp/*:8080",
                                            *(str(p) for p in Path("/run/sdc/ports/tcp").glob("127.0.0.1:*"))])
    sdc.ok("start", name)
    assert fetch("http://127.0.0.1:8080/") == f"hello from {name}\n"
    sdc.ok("rm", "-f", name)
    assert leftovers(cid) == []
    assert store_state(store) == before


def test_a_detached_rm_container_on_a_network_leaves_nothing_when_stopped(sdc: Sdc, image: str, name: str) -> None:
    """run -d --rm with a published port, stopped: its ExecStopPost unmakes its network (from the
    host's mount namespace) before its cleanup removes it; nothing of it stays (its namespace and
    its port stayed, when the cleanup, in the unit's mount namespace, went first)."""
    cid = sdc.ok("run", "-d", "--rm", "--name", name, "--network", "bridge", "-p", "8094:80", image,
                 "sleep", "1000").strip()  # fmt: skip
    assert leftovers(cid)
    sdc.ok("stop", "-t", "1", name)
    deadline = time.monotonic() + 10
    while name in sdc.ok("ps", "-a", "--format", "{{.Names}}").split() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(cid) == []


def test_a_foreground_container_on_a_network_leaves_nothing(sdc: Sdc, image: str, store: Path,
                                                            outside: str) -> None:  # fmt: skip
    before = store_state(store)
    held = {str(p) for p in [*Path("/run/sdc/ipam").rglob("*"), *Path("/run/sdc/netns").glob("*")]}
    out = sdc.ok("run", "--rm", "--network", "bridge", image, "sh", "-c", f"wget -qO- {outside}; cat /proc/net/dev")
    assert "world, seen from 192.0.2.254" in out and "eth0" in out
    assert store_state(store) == before
    left = {str(p) for p in [*Path("/run/sdc/ipam").rglob("*"), *Path("/run/sdc/netns").glob("*")]} - held
    assert not [p for p in left if Path(p).is_file()], left


def test_a_taken_port_is_one_line_and_leaves_nothing(sdc: Sdc, image: str, name: str, store: Path) -> None:
    before = store_state(store)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 8097))
        taken.listen()
        proc = sdc("run", "-d", "--name", name, "--network", "bridge", "-p", "8097:80", image, "true")
    assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and "8097/tcp" in proc.stderr, proc
    first = sdc.ok("run", "-d", "--name", f"{name}-a", "--network", "bridge", "-p", "8096:80", image, "sleep", "60")
    try:
        proc = sdc("run", "-d", "--name", name, "--network", "bridge", "-p", "8096:80", image, "true")
        assert proc.returncode == 125 and "published by another container" in proc.stderr, proc
    finally:
        sdc.ok("rm", "-f", f"{name}-a")
    assert store_state(store) == before and leftovers(first.strip()) == []
    assert not any(u.startswith(f"sdc-{name}") for u in sdc_units())


RAW_UDP = """
import socket, struct, sys
gateway_mac, own_mac = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])
source, destination = socket.inet_aton(sys.argv[3]), socket.inet_aton(sys.argv[4])
payload = b"from the container"
udp = struct.pack("!HHHH", 40000, 9999, 8 + len(payload), 0) + payload
header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, source, destination)
total = sum(struct.unpack("!10H", header))
total = (total & 0xFFFF) + (total >> 16)
header = header[:10] + struct.pack("!H", ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF) + header[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for _ in range(3):
    s.send(gateway_mac + own_mac + b"\\x08\\x00" + header + udp)
"""


@pytest.mark.parametrize("forged", ["to the host's 127.0.0.1", "from 127.0.0.2"])
def test_a_container_cannot_pass_for_or_reach_the_hosts_loopback(sdc: Sdc, image: str, name: str, forged: str) -> None:
    """netavark turns route_localnet on for a bridge with published ports (127.0.0.1:PORT is
    forwarded): the host then takes packets for, and from, 127.0.0.0/8 that come in on the bridge.
    A container with CAP_NET_RAW (in Docker's default set, and sdc's) sends one from a packet
    socket, to its gateway's MAC, and reaches what listens on the host's loopback alone
    (CVE-2020-8558's class), or passes for the host itself to a service that trusts its
    loopback. Here the test sends them from the container's network namespace, as its root could."""
    to_loopback = forged.startswith("to")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as secret:
        secret.bind(("127.0.0.1" if to_loopback else "0.0.0.0", 9999))
        secret.settimeout(1.0)
        cid = sdc.ok("run", "-d", "--name", name, "--network", "bridge", "-p", "127.0.0.1:8095:80",
                     image, "sleep", "1000").strip()  # fmt: skip
        links = json.loads(subprocess.run(["ip", "-j", "link", "show", "sdc0"], capture_output=True, text=True,
                                          check=True).stdout)  # fmt: skip
        inside = ["nsenter", f"--net=/run/sdc/netns/{cid}"]

        def ip(*args: str) -> dict[str, object]:
            out = subprocess.run([*inside, "ip", "-j", *args], capture_output=True, text=True, check=True).stdout
            return dict(json.loads(out)[0])

        mac, address = ip("link", "show", "eth0")["address"], ip("-4", "addr", "show", "eth0")["addr_info"]
        own = address[0]["local"]  # type: ignore[index]
        assert Path("/proc/sys/net/ipv4/conf/sdc0/route_localnet").read_text().strip() == "1"
        source, destination = (own, "127.0.0.1") if to_loopback else ("127.0.0.2", "10.90.0.1")
        subprocess.run([*inside, sys.executable, "-c", RAW_UDP, links[0]["address"].replace(":", ""),
                        str(mac).replace(":", ""), source, destination], check=True)  # fmt: skip
        try:
            data, peer = secret.recvfrom(100)
            raise AssertionError(f"the host's UDP 9999 got {data!r} from {peer}")
        except TimeoutError:
            pass


def test_no_way_in_from_another_network_but_published_ports(sdc: Sdc, image: str, name: str,
                                                             outside: str) -> None:  # fmt: skip
    """netavark makes the host a router (ip_forward): a peer on another interface that routes
    sdc's subnet through the host reached the containers' unpublished ports. Published ports
    answer it; nothing else does (Docker 28's raw-table rule)."""
    sdc.ok("run", "-d", "--name", name, "--network", "bridge", "-p", "8093:80", image, "sh", "-c", SERVE)
    address = sdc.ok("exec", name, "sh", "-c", "ip -4 -o addr show eth0").split()[3].split("/")[0]
    world = ["ip", "netns", "exec", "sdcworld"]
    subprocess.run([*world, "ip", "route", "add", "10.90.0.0/16", "via", "192.0.2.254"], check=True)
    get = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"

    def from_the_world(url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*world, sys.executable, "-c", get, url], capture_output=True, text=True)

    assert from_the_world("http://192.0.2.254:8093/").stdout == f"hello from {name}\n\n"  # published: it answers
    proc = from_the_world(f"http://{address}:80/")
    assert proc.returncode != 0 and "hello" not in proc.stdout, proc


def test_ipv6_is_off_on_sdcs_bridges_and_in_their_containers(sdc: Sdc, image: str, name: str) -> None:
    """sdc's networks are IPv4. netavark 1.4 leaves IPv6 on (router advertisements taken) on an
    IPv4 bridge: a container's advertisement would give the host, and its neighbours, an IPv6
    route through it."""
    sdc.ok("run", "-d", "--name", name, "--network", "bridge", image, "sleep", "1000")
    assert Path("/proc/sys/net/ipv6/conf/sdc0/disable_ipv6").read_text().strip() == "1"
    assert sdc.ok("exec", name, "cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6",
                  "/proc/sys/net/ipv6/conf/eth0/disable_ipv6") == "1\n1\n"  # fmt: skip


def test_one_port_is_published_once_whatever_the_address(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, "--network", "bridge", "-p", "8094:80", image, "sleep", "1000")
    for value in ("127.0.0.1:8094:80", "0.0.0.0:8094:80", "8094:81"):
        proc = sdc("run", "--rm", "--network", "bridge", "-p", value, image, "true")
        assert proc.returncode == 125 and "published by another container" in proc.stderr, (value, proc)
    sdc.ok("rm", "-f", name)
    sdc.ok("run", "--rm", "--network", "bridge", "-p", "127.0.0.1:8094:80", image, "true")
