"""Networks of the user's (issue 23): `sdc network create/ls/inspect/rm/prune`, containers that
find each other by name and alias (aardvark-dns, which netavark starts in a scope of its own),
networks that cannot reach each other, --internal, and resolv.conf/hosts flags. Everything in the
test host's own network namespace: no packet leaves it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc
from tests.integration.test_networks import OUTSIDE, SERVE, fetch, leftovers, outside  # noqa: F401 - a fixture

pytestmark = pytest.mark.drivers("btrfs")  # about networks, not storage


def guard_rules(bridge: str) -> list[str]:
    rules = subprocess.run(["iptables-save", "-t", "raw"], capture_output=True, text=True).stdout
    return [line for line in rules.splitlines() if f" {bridge} " in line]


def lookup(sdc: Sdc, container: str, host: str) -> list[str]:
    """host's addresses as the container's resolver finds them (busybox's nslookup: its wget,
    static glibc's, cannot resolve a name)."""
    proc = sdc("exec", container, "nslookup", host)
    answer = proc.stdout.split("Name:", 1)[1] if "Name:" in proc.stdout else ""
    return sorted({line.split()[-1] for line in answer.splitlines() if line.startswith("Address")})


def wget(url: str) -> list[str]:
    """A fetch that gives up after 5 s (busybox's timeout signals its parent, which must not be
    PID 1: a PID 1 without a handler ignores SIGTERM)."""
    return ["sh", "-c", f"timeout 5 wget -qO- {url}; exit $?"]  # (sh would exec a last command)


def bridge_exists(bridge: str) -> bool:
    return subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode == 0


def test_containers_on_a_network_find_each_other_by_name_and_alias(sdc: Sdc, image: str, name: str, net: str,
                                                                   store: Path) -> None:  # fmt: skip
    network_id = sdc.ok("network", "create", net).strip()
    assert len(network_id) == 64
    [info] = json.loads(sdc.ok("network", "inspect", net))
    bridge, gateway = info["Options"]["com.docker.network.bridge.name"], info["IPAM"]["Config"][0]["Gateway"]
    db = f"{name}-db"
    db_id = sdc.ok("run", "-d", "--name", db, "--network", net, "--network-alias", "database", image,
                   "sh", "-c", SERVE).strip()  # fmt: skip
    client = sdc.ok("run", "-d", "--name", name, "--network", net, image, "sleep", "1000").strip()
    address = sdc.ok("exec", db, "hostname", "-i").split()[0]
    for host in (db, "database", db_id[:12], f"{db}.dns.podman"):
        assert lookup(sdc, name, host) == [address], host
    assert sdc.ok("exec", name, *wget(f"http://{address}/")) == f"hello from {db}\n"
    resolv = sdc.ok("exec", name, "cat", "/etc/resolv.conf")
    assert f"nameserver {gateway}\n" in resolv and "search dns.podman" in resolv, resolv
    # what sdc and systemd say of it
    [info] = json.loads(sdc.ok("network", "inspect", net))
    assert {c["Name"] for c in info["Containers"].values()} == {db, name} and info["Id"] == network_id
    assert info["Containers"][db_id]["IPv4Address"].startswith(gateway.rsplit(".", 1)[0])
    listed = {row["Name"]: row for row in json.loads(sdc.ok("network", "ls", "--format", "json"))}
    assert listed[net]["Containers"] == sorted([db, name]) and "sdc" in listed
    assert net in sdc.ok("network", "ls", "-q").split()
    aardvark = subprocess.run(["systemctl", "list-units", "--plain", "--no-legend", "run-*.scope"],
                              capture_output=True, text=True).stdout  # fmt: skip
    assert "aardvark-dns" in aardvark, aardvark  # systemd's, not the container's unit
    # in use: refused, nothing changed
    proc = sdc("network", "rm", net)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "has containers" in proc.stderr, proc
    sdc.ok("rm", "-f", db)
    assert lookup(sdc, name, db) == []  # its name went with it
    sdc.ok("rm", "-f", name)
    assert bridge_exists(bridge)  # kept for the next container (its port of sdc's), as docker0 is
    assert sdc.ok("network", "rm", net) == f"{net}\n"
    assert not bridge_exists(bridge) and guard_rules(bridge) == [] and leftovers(client) == leftovers(db_id) == []
    assert not bridge_exists(f"sdk{bridge[4:]}")
    subnet = info["IPAM"]["Config"][0]["Subnet"]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert subnet not in rules, rules  # netavark's own rules for the network went with it
    assert not (store / "networks" / f"{net}.json").exists()
    assert not list(Path("/run/sdc/netavark/aardvark-dns").glob(f"{bridge}*"))


def test_networks_cannot_reach_each_other(sdc: Sdc, image: str, name: str, net: str) -> None:
    other = f"{net}2"
    sdc.ok("network", "create", net)
    sdc.ok("network", "create", other)
    try:
        sdc.ok("run", "-d", "--name", name, "--network", net, image, "sh", "-c", SERVE)
        address = sdc.ok("exec", name, "hostname", "-i").split()[0]
        assert sdc.ok("run", "--rm", "--network", net, image, *wget(f"http://{address}/"))
        for elsewhere in (other, "bridge"):
            proc = sdc("run", "--rm", "--network", elsewhere, image, *wget(f"http://{address}/"))
            assert proc.returncode != 0 and "hello" not in proc.stdout, (elsewhere, proc)
            proc = sdc("run", "--rm", "--network", elsewhere, image, "nslookup", name)
            assert address not in proc.stdout, (elsewhere, proc)
    finally:
        sdc("network", "rm", "-f", other)


def test_an_internal_network_has_no_way_out(sdc: Sdc, image: str, name: str, net: str,
                                            outside: str) -> None:  # noqa: F811 - the fixture  # fmt: skip
    """--internal: no default route, nothing forwarded out even once the host's ip_forward is
    switched again (which turns every interface's forwarding on); and no names where the host's
    aardvark-dns would forward their queries out (before 1.11), so that DNS is no way out either."""
    created = sdc("network", "create", "--internal", net)
    assert created.returncode == 0, created
    [info] = json.loads(sdc.ok("network", "inspect", net))
    assert info["Internal"] is True
    if not info["DNSEnabled"]:
        assert "no names" in created.stderr, created
    # (NET_ADMIN for its own route: what a packet socket, Docker's default NET_RAW, can do as well)
    sdc.ok("run", "-d", "--name", name, "--network", net, "--cap-add", "NET_ADMIN", image, "sh", "-c", SERVE)
    # the world counts what comes to it from sdc's networks (nothing answers: the guard rules)
    world = ["ip", "netns", "exec", "sdcworld", "iptables", "-w"]
    subprocess.run([*world, "-A", "INPUT", "-s", "10.0.0.0/8", "-j", "ACCEPT"], check=True)
    subprocess.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"], check=True)  # (after the last setup:
    subprocess.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], check=True)  # netavark's sets it again)
    address = sdc.ok("exec", name, "hostname", "-i").split()[0]
    proc = sdc("exec", name, "sh", "-c",
               f"ip route; timeout 5 nslookup name.example; wget -qO- http://{address}/; "
               f"ip route add default via {info['IPAM']['Config'][0]['Gateway']}; ping -c 2 -W 1 {OUTSIDE}; "
               f"timeout 5 wget -qO- {outside}; exit $?")  # fmt: skip
    assert "default" not in proc.stdout.split("hello")[0] and f"hello from {name}" in proc.stdout, proc
    assert "world" not in proc.stdout and proc.returncode != 0, proc
    assert "Name:\tname.example" not in proc.stdout, proc
    counted = subprocess.run([*world, "-L", "INPUT", "-v", "-x", "-n"], capture_output=True, text=True).stdout
    assert [line.split()[0] for line in counted.splitlines() if "10.0.0.0/8" in line] == ["0"], counted
    # and the same from a network that is not internal
    assert "world" in sdc.ok("run", "--rm", "--network", "bridge", image, *wget(outside))


def test_resolv_conf_hosts_address_and_mac_as_asked(sdc: Sdc, image: str, net: str) -> None:
    out = sdc.ok("run", "--rm", "--network", "bridge", "--dns", "192.0.2.53", "--dns-search", "corp",
                 "--dns-option", "ndots:2", "--add-host", "gw:10.90.0.1", "--ip", "10.90.0.50",
                 "--mac-address", "02:42:ac:11:00:99", image, "sh", "-c",
                 "cat /etc/resolv.conf /etc/hosts; ip link show eth0; ip -4 -o addr show eth0")  # fmt: skip
    assert "search corp\nnameserver 192.0.2.53\noptions ndots:2\n" in out, out
    assert "10.90.0.1\tgw\n" in out and "02:42:ac:11:00:99" in out and "inet 10.90.0.50/16" in out, out
    # on a network with names, --dns is aardvark-dns's upstream: the names still resolve
    sdc.ok("network", "create", net)
    out = sdc.ok("run", "--rm", "--network", net, "--dns", "192.0.2.53", "--name", f"{net}-c", image, "sh", "-c",
                 "cat /etc/resolv.conf; nslookup $(hostname)")  # fmt: skip
    assert "nameserver 192.0.2.53" not in out and "search dns.podman" in out and "Address: 10.9" in out, out
    # no network: the host's resolv.conf, none of the container's flags lost
    out = sdc.ok("run", "--rm", "--add-host", "a.example:192.0.2.9", image, "cat", "/etc/hosts")
    assert "192.0.2.9\ta.example\n" in out


@pytest.mark.parametrize(("argv", "says"), [
    (["network", "create", "bad/name"], "invalid network name"),
    (["network", "create", "--subnet", "10.90.1.0/24", "{net}"], "overlaps"),
    (["network", "create", "--subnet", "10.89.0.0/24", "--gateway", "10.88.0.1", "{net}"], "not a host of"),
    (["network", "create", "--subnet", "10.89.0.0/33", "{net}"], "invalid subnet"),
    (["network", "create", "--subnet", "fd00::/32", "{net}"], "not /48 to /120"),
    (["network", "create", "--subnet", "fd00::1/64", "{net}"], "invalid subnet"),
    (["network", "create", "--subnet", "10.89.3.0/24", "--subnet", "10.89.4.0/24", "{net}"], "more than one"),
    (["network", "create", "--driver", "macvlan", "{net}"], "not sdc's"),
    (["network", "create", "bridge"], "exists already"),
    (["network", "rm", "sdc"], "cannot be removed"),
    (["network", "rm", "nosuchnet"], "no such network"),
    (["run", "--rm", "--network", "bridge", "--network-alias", "x", "{image}", "true"], "has no names"),
    (["run", "--rm", "--network", "nosuchnet", "{image}", "true"], "no such network"),
    (["run", "--rm", "--network", "bridge", "--ip", "10.91.0.5", "{image}", "true"], "10.91.0.5"),
])  # fmt: skip
def test_bad_network_input_is_one_line_and_leaves_nothing(sdc: Sdc, image: str, net: str, store: Path,
                                                          argv: list[str], says: str) -> None:  # fmt: skip
    before = sorted(p.name for p in (store / "networks").glob("*")) if (store / "networks").exists() else []
    proc = sdc(*(a.format(net=net, image=image) for a in argv))
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc
    after = sorted(p.name for p in (store / "networks").glob("*")) if (store / "networks").exists() else []
    assert after == before


def test_network_prune_removes_only_unused_networks(sdc: Sdc, image: str, name: str, net: str) -> None:
    unused = f"{net}-unused"
    sdc.ok("network", "create", net)
    sdc.ok("network", "create", unused)
    sdc.ok("create", "--name", name, "--network", net, image, "true")
    out = sdc.ok("network", "prune", "-f")
    assert unused in out.split() and net not in out.split()
    assert net in sdc.ok("network", "ls", "-q").split() and unused not in sdc.ok("network", "ls", "-q").split()
    assert sdc.ok("network", "rm", "-f", net) == f"{net}\n"  # its container with it
    assert sdc("inspect", name).returncode != 0


def network_leftovers(bridge: str) -> list[str]:
    """What containers on bridge left on the host: leases, namespaces, veths, DNS records,
    forwarding rules naming an address of its subnet."""
    found = [str(p) for p in Path(f"/run/sdc/ipam/{bridge}").glob("*")]
    found += [str(p) for p in Path("/run/sdc/netns").glob("*")]
    found += [str(p) for p in Path("/run/sdc/ports").rglob("*") if p.is_file()]
    records = Path(f"/run/sdc/netavark/aardvark-dns/{bridge}")
    found += [line for line in (records.read_text().splitlines()[1:] if records.exists() else [])]
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    found += [link["ifname"] for link in links if link["ifname"].startswith("veth")]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    found += [line for line in rules.splitlines() if "NETAVARK-DN-" in line and line.startswith("-A")]
    return found


def test_thirty_at_once_get_thirty_addresses_and_leave_nothing(sdc: Sdc, image: str, net: str, store: Path) -> None:
    """30 `run -d` at once on one network: 30 distinct addresses, each name resolving to its own;
    `rm -f` of all leaves no lease, namespace, veth, DNS record or forwarding rule."""
    sdc.ok("network", "create", "--subnet", "10.89.7.0/24", net)
    [info] = json.loads(sdc.ok("network", "inspect", net))
    bridge = info["Options"]["com.docker.network.bridge.name"]
    names = [f"{net[:30]}-{i}" for i in range(30)]
    procs = [subprocess.Popen(sdc.argv("run", "-d", "--name", n, "--network", net, "-p", f"{9200 + i}:80", image,
                                       "sleep", "1000"), env=sdc.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i, n in enumerate(names)]  # fmt: skip
    try:
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
        addresses = {n: sdc.ok("exec", n, "hostname", "-i").split()[0] for n in names}
        assert len(set(addresses.values())) == 30, addresses
        assert lookup(sdc, names[0], names[29]) == [addresses[names[29]]]
        assert len(network_leftovers(bridge)) > 30  # (what the check below looks at is there while they run)
    finally:
        sdc("rm", "-f", *names)
    assert network_leftovers(bridge) == []


def test_kill_9_of_sdc_at_any_moment_of_a_networked_start_leaves_what_rm_removes(sdc: Sdc, image: str, net: str,
                                                                                  store: Path) -> None:  # fmt: skip
    """`sdc run` (detached and foreground) killed at moments over its whole start, and a container
    whose processes are all killed: `rm -f` leaves nothing of theirs on the host."""
    sdc.ok("network", "create", net)
    [info] = json.loads(sdc.ok("network", "inspect", net))
    bridge = info["Options"]["com.docker.network.bridge.name"]
    start = time.monotonic()
    sdc.ok("run", "-d", "--name", f"{net}-calibrate", "--network", net, "-p", "9300:80", image, "sleep", "1000")
    span = max(0.3, 1.2 * (time.monotonic() - start))
    sdc.ok("rm", "-f", f"{net}-calibrate")
    for n in range(12):
        victim = f"{net[:30]}-k{n}"
        detach = ["-d"] if n % 2 == 0 else []
        proc = subprocess.Popen(sdc.argv("run", *detach, "--name", victim, "--network", net, "-p", "9301:80", image,
                                         "sleep", "1000"), env=sdc.env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(n * span / 11)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        removed = sdc("rm", "-f", victim)
        when = f"{'run -d' if detach else 'run'} killed after {n * span / 11 * 1000:.0f} ms"
        assert removed.returncode == 0 or "no such container" in removed.stderr, f"{when}: {removed.stderr}"
        assert network_leftovers(bridge) == [], when
    # every process of a running container killed: systemd runs its ExecStopPost all the same
    sdc.ok("run", "-d", "--name", f"{net}-all", "--network", net, "-p", "9302:80", image, "sleep", "1000")
    subprocess.run(["systemctl", "kill", "--signal=KILL", f"sdc-{net}-all.service"], check=True)
    deadline = time.monotonic() + 20
    while [x for x in network_leftovers(bridge) if "veth" in x or "/netns/" in x] and time.monotonic() < deadline:
        time.sleep(0.1)
    left = network_leftovers(bridge)
    assert not [x for x in left if "veth" in x or "/netns/" in x], left  # down with its run; its leases its own
    sdc.ok("rm", "-f", f"{net}-all")
    assert network_leftovers(bridge) == []


def test_ports_as_docker_shows_them(sdc: Sdc, name: str, busybox_tar: Path) -> None:
    """-P publishes the image's EXPOSE on free ports; `port`, `ps`'s PORTS, `inspect`'s
    NetworkSettings and machinectl say where."""
    image = f"{name}-exposing"
    sdc.ok("import", "--change", "EXPOSE 80", "--change", "EXPOSE 53/udp", "--change", "EXPOSE 8080/tcp",
           str(busybox_tar), image)  # fmt: skip
    try:
        sdc.ok("run", "-d", "--name", name, "--network", "bridge", "-P", "-p", "127.0.0.1:9480:8080", image,
               "sh", "-c", SERVE)  # fmt: skip
        lines = sdc.ok("port", name).splitlines()
        assert len(lines) == 3 and "8080/tcp -> 127.0.0.1:9480" in lines, lines
        [http] = [line for line in lines if line.startswith("80/tcp -> 0.0.0.0:")]
        host_port = http.rsplit(":", 1)[1]
        assert sdc.ok("port", name, "80") == f"0.0.0.0:{host_port}\n"
        assert sdc("port", name, "81").returncode == 125
        assert fetch(f"http://127.0.0.1:{host_port}/") == f"hello from {name}\n"
        assert f"0.0.0.0:{host_port}->80/tcp" in sdc.ok("ps")
        [info] = json.loads(sdc.ok("inspect", name))
        settings = info["NetworkSettings"]
        assert settings["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": host_port}]
        assert settings["Ports"]["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "9480"}]
        assert settings["Gateway"] == "10.90.0.1" and settings["IPAddress"].startswith("10.90.")
        assert settings["IPPrefixLen"] == 16 and len(settings["MacAddress"]) == 17
        assert settings["Networks"]["sdc"]["IPAddress"] == settings["IPAddress"]
        status = subprocess.run(["machinectl", "status", name], capture_output=True, text=True).stdout
        assert settings["IPAddress"] in status, status
        ps = {c["Name"]: c for c in json.loads(sdc.ok("ps", "--format", "json"))}
        assert f"0.0.0.0:{host_port}->80/tcp" in ps[name]["Ports"] and ps[name]["Network"] == "sdc"
    finally:
        sdc("rm", "-f", name)
        sdc("rmi", image)


def test_leases_outlive_a_reboot_and_abandoned_ones_are_taken_over(sdc: Sdc, image: str, name: str) -> None:
    """A reboot empties /run, where leases are: the next networked container made does not get the
    address or host port a stopped one still has, which starts again with both. A lease whose
    container is gone (sdc killed while making it, or an rm that could not free it) is taken over
    by the next that wants it."""
    sdc.ok("run", "-d", "--name", name, "--network", "bridge", "--ip", "10.90.3.3", "-p", "9500:80", image,
           "sh", "-c", SERVE)  # fmt: skip
    sdc.ok("stop", "-t", "1", name)
    for run_dir in ("/run/sdc/ipam", "/run/sdc/ports", "/run/sdc/restored"):  # what a reboot takes
        subprocess.run(["rm", "-rf", run_dir], check=True)
    proc = sdc("run", "-d", "--name", f"{name}-new", "--network", "bridge", "--ip", "10.90.3.3", image, "true")
    assert proc.returncode == 125 and "10.90.3.3 is in use" in proc.stderr, proc
    proc = sdc("run", "-d", "--name", f"{name}-new", "--network", "bridge", "-p", "9500:80", image, "true")
    assert proc.returncode == 125 and "9500/tcp is published by another container" in proc.stderr, proc
    sdc.ok("start", name)
    assert fetch("http://127.0.0.1:9500/") == f"hello from {name}\n"
    sdc.ok("rm", "-f", name)
    # abandoned: a lease naming a bundle that is no more
    for lease in (Path("/run/sdc/ipam/sdc0/10.90.3.4"), Path("/run/sdc/ports/tcp/*:9501")):
        lease.parent.mkdir(parents=True, exist_ok=True)
        lease.write_text(f"{'e' * 64}\nsdc-gone.service\n/var/lib/sdc/containers/gone-{name}\n")
    sdc.ok("run", "-d", "--name", name, "--network", "bridge", "--ip", "10.90.3.4", "-p", "9501:80", image,
           "sh", "-c", SERVE)  # fmt: skip
    assert fetch("http://127.0.0.1:9501/") == f"hello from {name}\n"
