"""Networks with IPv6 too (issue 23): `network create --ipv6`, each container an IPv6 address
beside its IPv4 one, names answered in AAAA, published ports on the host's IPv6 addresses,
networks kept apart, nothing left after them. Everything in the test host's own network
namespace: no packet leaves it."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from tests.integration.conftest import Sdc
from tests.integration.test_networks import SERVE, fetch, leftovers
from tests.integration.test_user_networks import wget

pytestmark = pytest.mark.drivers("btrfs")  # about networks, not storage


def address6(sdc: Sdc, container: str, interface: str = "eth0") -> str:
    out = sdc.ok("exec", container, "ip", "-6", "-o", "addr", "show", interface, "scope", "global")
    return out.split()[3].split("/")[0] if out.strip() else ""


def aaaa(sdc: Sdc, container: str, host: str) -> list[str]:
    proc = sdc("exec", container, "nslookup", "-type=AAAA", host)
    answer = proc.stdout.split("Name:", 1)[1] if "Name:" in proc.stdout else ""
    return sorted({line.split()[-1] for line in answer.splitlines() if line.startswith("Address")})


def fetch6(address: str, port: int) -> str:
    with socket.create_connection((address, port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()


def test_a_network_with_ipv6(sdc: Sdc, image: str, name: str, net: str) -> None:
    sdc.ok("network", "create", "--ipv6", net)
    [info] = json.loads(sdc.ok("network", "inspect", net))
    assert info["EnableIPv6"] is True and len(info["IPAM"]["Config"]) == 2, info
    subnet6, gateway6 = info["IPAM"]["Config"][1]["Subnet"], info["IPAM"]["Config"][1]["Gateway"]
    assert subnet6.startswith("fd") and subnet6.endswith("::/64"), subnet6
    bridge = info["Options"]["com.docker.network.bridge.name"]
    db, client = f"{name}-db", name
    db_id = sdc.ok("run", "-d", "--name", db, "--network", net, "-p", "9560:80", image, "sh", "-c", SERVE).strip()
    sdc.ok("run", "-d", "--name", client, "--network", net, image, "sleep", "1000")
    try:
        theirs = address6(sdc, db)
        assert theirs.startswith(subnet6.split("::")[0]), theirs
        assert aaaa(sdc, client, db) == [theirs]
        assert sdc.ok("exec", client, *wget(f"http://[{theirs}]/")) == f"hello from {db}\n"
        # what sdc says of it
        [shown] = json.loads(sdc.ok("inspect", db))
        settings = shown["NetworkSettings"]
        assert settings["GlobalIPv6Address"] == theirs and settings["IPv6Gateway"] == gateway6
        assert settings["Networks"][net]["GlobalIPv6PrefixLen"] == 64
        [info] = json.loads(sdc.ok("network", "inspect", net))
        assert info["Containers"][db_id]["IPv6Address"] == f"{theirs}/64"
        # its published port, on the host's IPv4 and IPv6 addresses
        assert fetch("http://127.0.0.1:9560/") == f"hello from {db}\n"
        assert fetch6(gateway6, 9560) == f"hello from {db}\n"
        # another network with IPv6 does not reach it, nor does one without
        other = f"{net}2"
        sdc.ok("network", "create", "--ipv6", other)
        try:
            proc = sdc("run", "--rm", "--network", other, image, *wget(f"http://[{theirs}]/"))
            assert proc.returncode != 0 and "hello" not in proc.stdout, proc
            assert sdc.ok("run", "--rm", "--network", "bridge", image, "sh", "-c",
                          "ip -6 -o addr show scope global; true") == ""  # fmt: skip
        finally:
            sdc("network", "rm", "-f", other)
        # a container of an IPv4 network joins it: an IPv6 address of its own there
        sdc.ok("run", "-d", "--name", f"{name}-4", "--network", "bridge", image, "sleep", "1000")
        sdc.ok("network", "connect", net, f"{name}-4")
        mine = address6(sdc, f"{name}-4", "eth1")
        assert mine.startswith(subnet6.split("::")[0]) and aaaa(sdc, db, f"{name}-4") == [mine]
        sdc.ok("exec", f"{name}-4", "ping", "-6", "-c", "1", "-W", "2", theirs)
    finally:
        sdc("rm", "-f", db, client, f"{name}-4")
    assert sdc.ok("network", "rm", net) == f"{net}\n"
    rules = subprocess.run(["ip6tables-save"], capture_output=True, text=True).stdout
    assert subnet6 not in rules and bridge not in rules, rules
    assert leftovers(db_id) == []


def test_an_ipv6_host_address_needs_an_ipv6_network(sdc: Sdc, image: str, name: str, net: str) -> None:
    for network in ("bridge", net):
        if network == net:
            sdc.ok("network", "create", net)
        proc = sdc("run", "-d", "--name", name, "--network", network, "-p", "[::1]:9561:80", image, "true")
        assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and "IPv4 alone" in proc.stderr, proc
        assert sdc("inspect", name).returncode != 0
    sdc.ok("network", "create", "--ipv6", f"{net}6")
    try:
        sdc.ok("run", "-d", "--name", name, "--network", f"{net}6", "-p", "[::]:9562:80", image, "sh", "-c", SERVE)
        [info] = json.loads(sdc.ok("network", "inspect", f"{net}6"))
        assert fetch6(info["IPAM"]["Config"][1]["Gateway"], 9562) == f"hello from {name}\n"
    finally:
        sdc("network", "rm", "-f", f"{net}6")
