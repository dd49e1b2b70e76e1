"""Networking's pure parts: -p as Docker reads it, leases that never give an address twice."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import multiprocessing
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer import netns, network
from sdcontainer.api.run import exposed_ports
from sdcontainer.bundle import build_hosts, build_resolv_conf, parse_resolv_conf
from sdcontainer.errors import Conflict, SdcError, StorageError, UsageError
from sdcontainer.network.ipam import Leases, release_file
from sdcontainer.network.netavark import Attachment, Interface, NetavarkError, build_options, parse_status
from sdcontainer.paths import Paths
from sdcontainer.ports import PortMapping, parse_publish
from sdcontainer.spec import build_run_spec


@pytest.mark.parametrize(("text", "mapping"), [
    ("80", PortMapping(80, 0)),
    ("8080:80", PortMapping(80, 8080)),
    ("8080:80/udp", PortMapping(80, 8080, "udp")),
    ("127.0.0.1:8099:80", PortMapping(80, 8099, "tcp", "127.0.0.1")),
    ("127.0.0.1::80", PortMapping(80, 0, "tcp", "127.0.0.1")),
    ("127.0.0.1:5353:53/udp", PortMapping(53, 5353, "udp", "127.0.0.1")),
    ("9000-9002:9000-9002", PortMapping(9000, 9000, "tcp", "", 3)),
    ("9000-9002:80-82/SCTP", PortMapping(80, 9000, "sctp", "", 3)),
    ("[::1]:8080:80", PortMapping(80, 8080, "tcp", "::1")),
    ("[::]::80", PortMapping(80, 0, "tcp", "::")),
])  # fmt: skip
def test_publish_as_docker_reads_it(text: str, mapping: PortMapping) -> None:
    assert parse_publish(text) == mapping


@pytest.mark.parametrize("text", [
    "", "0", "65536", "80:", "a:80", "80/icmp", "1.2.3.4:80", "1.2.3.999:80:80", "::1:80:80",
    "[::1]:80", "[1.2.3.4]:80:80", "[::1:80:80", "127.0.0.1:8080:80:1", "9000-9002:80-81",
    "80-82", "9002-9000:80", "1-2000:1-2000", "٣:80", "8080:80/", "²:80", "08080080:80",
])  # fmt: skip
def test_a_bad_publish_is_one_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="invalid -p"):
        parse_publish(text)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet="0123456789:-/[].abcdeftcpudsx ", max_size=40))
def test_any_publish_is_a_mapping_or_one_error(text: str) -> None:
    try:
        mapping = parse_publish(text)
    except UsageError:
        return
    assert 1 <= mapping.container_port and mapping.container_port + mapping.count - 1 <= 65535
    assert mapping.host_port == 0 or mapping.host_port + mapping.count - 1 <= 65535
    assert mapping.protocol in ("tcp", "udp", "sctp")


SUBNET = ipaddress.ip_network("10.90.0.0/29")  # 6 hosts: .1 the gateway, .2-.6 for containers
GATEWAY = ipaddress.ip_address("10.90.0.1")


def test_leases_are_distinct_and_freed(tmp_path: Path) -> None:
    leases = Leases(tmp_path)
    got = [leases.allocate("sdc0", SUBNET, GATEWAY, f"c{i}", f"sdc-c{i}.service") for i in range(5)]
    assert got == [f"10.90.0.{i}" for i in range(2, 7)]
    assert leases.allocate("sdc0", SUBNET, GATEWAY, "c3", "sdc-c3.service") == "10.90.0.5"  # its own again
    with pytest.raises(Conflict, match="no address left"):
        leases.allocate("sdc0", SUBNET, GATEWAY, "c9", "sdc-c9.service")
    leases.release("sdc0", "c1")
    assert leases.allocate("sdc0", SUBNET, GATEWAY, "c9", "sdc-c9.service") == "10.90.0.3"
    with pytest.raises(Conflict, match="in use"):
        leases.allocate("sdc0", SUBNET, GATEWAY, "c10", "sdc-c10.service", wanted="10.90.0.3")
    for wanted in ("10.90.0.1", "10.90.0.0", "10.90.0.7", "10.91.0.2", "nonsense", "../../etc"):
        with pytest.raises(UsageError):
            leases.allocate("sdc0", SUBNET, GATEWAY, "c11", "sdc-c11.service", wanted=wanted)
    leases.release("sdc0", "c2")
    release_file(str(tmp_path), "sdc0", "10.90.0.2", "someone-else")  # the launcher's: not its lease
    assert [lease.owner for lease in leases.held("sdc0")] == ["c0", "c9", "c3", "c4"]
    release_file(str(tmp_path), "sdc0", "10.90.0.2", "c0")
    for owner in ("c3", "c4", "c9"):
        leases.release("sdc0", owner)
    assert leases.held("sdc0") == [] and not list((tmp_path / "sdc0").iterdir())
    for bridge in ("", "..", "a/b"):
        with pytest.raises(UsageError):
            leases.held(bridge)


def test_an_abandoned_lease_is_taken_over_and_no_other(tmp_path: Path) -> None:
    """A lease whose holder's bundle is gone, or is another container's now, is taken over by the
    next that wants its address; one whose bundle is being made (no plan yet), or that names no
    bundle (an older sdc's), is not."""
    leases = Leases(tmp_path / "ipam")
    bundles = {owner: tmp_path / owner for owner in ("a" * 64, "b" * 64, "c" * 64, "d" * 64)}
    for owner, bundle in bundles.items():
        bundle.mkdir()
        (bundle / "network.json").write_text(json.dumps({"netns": f"/run/sdc/netns/{owner}"}))
        leases.allocate("sdc0", SUBNET, GATEWAY, owner, f"sdc-{owner[:1]}.service", bundle=str(bundle))
    (tmp_path / "ipam" / "sdc0" / "10.90.0.6").write_text("e\nsdc-e.service\n")  # no bundle named
    with pytest.raises(Conflict, match="no address left"):
        leases.allocate("sdc0", SUBNET, GATEWAY, "f", "sdc-f.service")
    (bundles["a" * 64] / "network.json").unlink()  # a being made, or killed while it was: not abandoned
    with pytest.raises(Conflict, match="in use"):
        leases.allocate("sdc0", SUBNET, GATEWAY, "f", "sdc-f.service", wanted="10.90.0.2")
    shutil.rmtree(bundles["a" * 64])  # gone: abandoned
    (bundles["b" * 64] / "network.json").write_text(json.dumps({"netns": "/run/sdc/netns/" + "9" * 64}))  # reused
    assert leases.allocate("sdc0", SUBNET, GATEWAY, "f", "sdc-f.service", wanted="10.90.0.2") == "10.90.0.2"
    assert leases.allocate("sdc0", SUBNET, GATEWAY, "g", "sdc-g.service") == "10.90.0.3"
    with pytest.raises(Conflict, match="no address left"):
        leases.allocate("sdc0", SUBNET, GATEWAY, "h", "sdc-h.service")
    assert sorted(lease.owner for lease in leases.held("sdc0")) == ["c" * 64, "d" * 64, "e", "f", "g"]
    # a lease its container's teardown could not free is kept for good (rules may forward to it still)
    netns._keep_lease(str(tmp_path / "ipam"), "sdc0", "10.90.0.4", "c" * 64, "sdc-c.service")
    shutil.rmtree(bundles["c" * 64])
    with pytest.raises(Conflict, match="in use"):
        leases.allocate("sdc0", SUBNET, GATEWAY, "i", "sdc-i.service", wanted="10.90.0.4")


def test_a_damaged_lease_is_none_and_its_address_stays_taken(tmp_path: Path) -> None:
    (tmp_path / "sdc0").mkdir()
    for name, junk in (("10.90.0.2", b""), ("10.90.0.3", b"\xff\xfe"), ("not-an-address", b"c\nu\n")):
        (tmp_path / "sdc0" / name).write_bytes(junk)
    leases = Leases(tmp_path)
    assert leases.held("sdc0") == []
    assert leases.allocate("sdc0", SUBNET, GATEWAY, "c0", "sdc-c0.service") == "10.90.0.4"


def _allocate_one(args: tuple[str, int]) -> str:
    directory, i = args
    leases = Leases(Path(directory))
    return leases.allocate("sdc0", ipaddress.ip_network("10.90.0.0/24"), GATEWAY, f"c{i}", f"sdc-c{i}.service")


def test_30_processes_at_once_get_30_addresses(tmp_path: Path) -> None:
    with multiprocessing.get_context("fork").Pool(8) as pool:
        got = pool.map(_allocate_one, [(str(tmp_path), i) for i in range(30)])
    assert len(set(got)) == 30
    assert sorted(lease.owner for lease in Leases(tmp_path).held("sdc0")) == sorted(f"c{i}" for i in range(30))


def test_the_default_networks_id_is_what_it_says() -> None:
    assert network.DEFAULT.id == network._id("sdc", "sdc's default bridge")


def test_errors_are_sdc_errors() -> None:
    assert issubclass(Conflict, SdcError) and issubclass(UsageError, SdcError)


def test_networks_get_subnets_of_their_own(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    routes = [ipaddress.IPv4Network("10.91.0.0/24"), ipaddress.IPv4Network("192.168.1.0/24")]
    first = network.create_network(paths, "appnet", routes=routes)
    assert (first.subnet, first.gateway, first.bridge) == ("10.91.1.0/24", "10.91.1.1", f"sdc-{first.id[:11]}")
    second = network.create_network(paths, "other", routes=routes, internal=True)
    assert second.subnet == "10.91.2.0/24" and second.internal and second.dns
    mine = network.create_network(paths, "mine", subnet="10.89.0.0/24", gateway="10.89.0.254", routes=routes)
    assert network.find_network(paths, "mine") == mine and network.find_network(paths, mine.id[:8]) == mine
    assert [n.name for n in network.list_networks(paths)] == ["sdc", "appnet", "mine", "other"]
    assert network.find_network(paths, "bridge") == network.DEFAULT == network.find_network(paths, "sdc")
    refused = [("appnet", {}, "exists"), ("sdc", {}, "exists"), ("x", {"subnet": "10.91.1.128/25"}, "overlaps"),
               ("y", {"subnet": "10.90.0.0/24"}, "overlaps"), ("z", {"subnet": "fd00::/64"}, "IPv6"),
               ("w", {"subnet": "10.1.0.1/24"}, "invalid subnet"), ("../x", {}, "invalid network name"),
               ("v", {"subnet": "10.2.0.0/24", "gateway": "10.3.0.1"}, "not a host"),
               ("u", {"subnet": "192.168.0.0/16"}, "this host routes to"), ("a\n", {}, "invalid network name")]
    for name, kwargs, says in refused:
        with pytest.raises(SdcError, match=says):
            network.create_network(paths, name, routes=routes, **kwargs)  # type: ignore[arg-type]
    network.remove_network(paths, second)
    with pytest.raises(SdcError, match="no such network"):
        network.find_network(paths, "other")
    with pytest.raises(UsageError):
        network.remove_network(paths, network.DEFAULT)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.dictionaries(st.sampled_from(["name", "id", "bridge", "subnet", "gateway", "internal", "dns", "created"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=70),
                                 st.sampled_from(["10.91.1.0/24", "10.91.1.1", "a" * 64, "sdc-x", "../../etc"]))))
def test_a_network_record_is_read_or_refused(data: dict[str, object]) -> None:
    try:
        found = network.Network.from_json(data)
    except StorageError:
        return
    network.check(found)
    assert "/" not in found.name and "/" not in found.bridge


def test_netavarks_options_and_status() -> None:
    net = network.DEFAULT
    options = build_options("c" * 64, "web", [Attachment(net, "10.90.0.5", aliases=("www",))],
                            [PortMapping(80, 8080), PortMapping(53, 5353, "udp", "127.0.0.1")])
    # the default network has no names: no alias; netavark adds the container's name itself
    assert options["networks"] == {"sdc0": {"interface_name": "eth0", "static_ips": ["10.90.0.5"], "aliases": []}}
    named = network.Network(name="app", id="a" * 64, bridge="sdc-aaaaaaaaaaa", subnet="10.91.0.0/24",
                            gateway="10.91.0.1")  # fmt: skip
    attachment = Attachment(named, "10.91.0.5", mac="02:42:ac:11:00:99", aliases=("www",))
    options = build_options("c" * 64, "web", [attachment], [PortMapping(80, 8080)], dns_servers=["192.0.2.53"])
    assert options["networks"] == {"sdc-aaaaaaaaaaa": {"interface_name": "eth0", "static_ips": ["10.91.0.5"],
                                                       "aliases": ["www"], "static_mac": "02:42:ac:11:00:99"}}
    assert options["network_info"]["sdc-aaaaaaaaaaa"]["dns_enabled"] is True
    assert options["dns_servers"] == ["192.0.2.53"]
    options = build_options("c" * 64, "web", [Attachment(net, "10.90.0.5", aliases=("www",))],
                            [PortMapping(80, 8080), PortMapping(53, 5353, "udp", "127.0.0.1")])
    assert options["network_info"]["sdc0"]["network_interface"] == "sdc0"  # netavark's name: the bridge's
    assert options["network_info"]["sdc0"]["subnets"] == [{"subnet": "10.90.0.0/16", "gateway": "10.90.0.1"}]
    assert options["port_mappings"] == [
        {"host_ip": "", "container_port": 80, "host_port": 8080, "range": 1, "protocol": "tcp"},
        {"host_ip": "127.0.0.1", "container_port": 53, "host_port": 5353, "range": 1, "protocol": "udp"}]
    eth0 = {"mac_address": "7a:1b:00:00:00:01", "subnets": [{"gateway": "10.90.0.1", "ipnet": "10.90.0.5/16"}]}
    status = parse_status(json.dumps({"sdc": {"dns_search_domains": [], "dns_server_ips": [],
                                              "interfaces": {"eth0": eth0}}}))
    assert status == [Interface("sdc", "eth0", "7a:1b:00:00:00:01", (("10.90.0.5/16", "10.90.0.1"),))]
    with pytest.raises(NetavarkError, match="netavark: IO error: no bridge"):
        parse_status('{"error": "IO error: no bridge"}')
    for odd in ('{"sdc": {"interfaces": {"eth0": {"subnets": 5}}}}', "[]", "nonsense", '{"sdc": 1}'):
        with contextlib.suppress(NetavarkError):
            parse_status(odd)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["sdc", "interfaces", "eth0", "subnets", "ipnet", "gateway", "mac_address",
                                         "dns_server_ips", "error"]), inner, max_size=4), max_leaves=12))
def test_netavarks_status_is_read_or_one_error(data: object) -> None:
    try:
        parse_status(json.dumps(data))
    except NetavarkError:
        pass


STUB = "# systemd-resolved's stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n"
UPSTREAM = "nameserver 192.0.2.1\nnameserver 2001:db8::1\nnameserver 192.0.2.2\n"


def test_no_value_adds_a_line_to_resolv_conf_or_hosts() -> None:
    """The builders' own guard, whatever got past the flags' checks."""
    text = build_resolv_conf("nameserver 10.0.0.2\n", mode="network", dns=["1.1.1.1\nnameserver 6.6.6.6"],
                             search=["a\nnameserver 6.6.6.6"], options=["x\nnameserver 6.6.6.6"])  # fmt: skip
    assert "6.6.6.6" not in text
    assert "6.6.6.6" not in build_hosts("web", extra=["h:1.2.3.4\n6.6.6.6 pypi.org", "h:1.2.3.4 # x"])


def test_a_containers_resolv_conf_names_servers_it_can_reach() -> None:
    """systemd-resolved's 127.0.0.53 is nobody inside a network namespace: its upstream servers
    instead (IPv4 ones: sdc's networks are IPv4), else Docker's fallback; the host's namespace
    keeps the stub; a network with names has its gateway (aardvark-dns) alone, its domain first."""
    assert parse_resolv_conf(build_resolv_conf(STUB, mode="network", upstream=UPSTREAM)) == (
        ["192.0.2.1", "192.0.2.2"], ["corp.example"], ["edns0", "trust-ad"])
    assert parse_resolv_conf(build_resolv_conf(STUB, mode="network"))[0] == ["8.8.8.8", "8.8.4.4"]
    assert parse_resolv_conf(build_resolv_conf(STUB, mode="host"))[0] == ["127.0.0.53"]
    assert parse_resolv_conf(build_resolv_conf("nameserver 10.0.0.2\n", mode="network"))[0] == ["10.0.0.2"]
    assert parse_resolv_conf(build_resolv_conf(STUB, mode="network", names_at="10.91.0.1", dns=["192.0.2.53"])) == (
        ["10.91.0.1"], ["dns.podman", "corp.example"], ["edns0", "trust-ad"])
    assert parse_resolv_conf(build_resolv_conf(STUB, mode="network", dns=["192.0.2.53"], search=["."],
                                               options=["ndots:2"])) == (["192.0.2.53"], [], ["ndots:2"])  # fmt: skip
    assert parse_resolv_conf(build_resolv_conf(STUB, mode="none", search=["a.example", "b"])) == (
        ["127.0.0.53"], ["a.example", "b"], ["edns0", "trust-ad"])


def test_dns_and_hosts_flags_are_checked_and_cannot_add_lines() -> None:
    spec = build_run_spec(image="img", network="bridge", dns=["192.0.2.53", "2001:db8::35"], dns_search=["corp", "."],
                          dns_option=["ndots:2", "edns0"], add_host=["gw:10.90.0.1", "v6:2001:db8::1", "eq=192.0.2.9"],
                          mac_address="02:42:AC:11:00:99")  # fmt: skip
    assert spec.dns == ("192.0.2.53", "2001:db8::35") and spec.dns_options == ("ndots:2", "edns0")
    assert spec.add_hosts == ("gw:10.90.0.1", "v6:2001:db8::1", "eq:192.0.2.9")
    assert spec.mac_address == "02:42:ac:11:00:99"
    assert build_hosts("web", "10.90.0.2", spec.add_hosts).splitlines()[2:] == [
        "10.90.0.2\tweb", "10.90.0.1\tgw", "2001:db8::1\tv6", "192.0.2.9\teq"]
    assert build_run_spec(image="img", memory="8m", network="none").limits.memory == 8 << 20
    assert build_run_spec(image="img", memory="8m", network="bridge").limits.memory == 8 << 20  # (set-up uncharged)
    assert build_run_spec(image="img").network == "bridge"  # the default, as Docker's
    assert build_run_spec(image="img", environ={"SDC_NETWORK": "none"}).network == "none"
    for flags in ({"dns": ["8.8.8.8\nnameserver 6.6.6.6"]}, {"dns": ["name.example"]},
                  {"dns_search": ["corp\nnameserver 6.6.6.6"]}, {"dns_search": ["a b"]},
                  {"dns_option": ["ndots:2\nnameserver 6.6.6.6"]}, {"dns_option": ["a b"]},
                  {"add_host": ["gw:10.0.0.1\n6.6.6.6 evil"]}, {"add_host": ["gw"]}, {"add_host": ["a b:10.0.0.1"]},
                  {"mac_address": "03:00:00:00:00:01"}, {"mac_address": "02:00:00:00:00"},
                  {"network_alias": ["a b"]}, {"network_alias": ["db"], "network": "none"},
                  {"mac_address": "02:00:00:00:00:01", "network": "host"}, {"network_alias": ["a\n"]},
                  {"dns": ["fe80::1%x\nnameserver 203.0.113.53"]}, {"dns": ["fe80::1%eth0"]},
                  {"add_host": ["h:fe80::1%x\n203.0.113.9 pypi.org"]}, {"name": "web\n"}, {"network": "appnet\n"},
                  {"network": "container:web\n"}, {"memory": "7m"}):  # fmt: skip
        with pytest.raises(UsageError):
            build_run_spec(image="img", **{"network": "bridge", **flags})


def test_publish_all_takes_the_images_exposed_ports_as_checked_input() -> None:
    runtime = {"ExposedPorts": {"80/tcp": {}, "53/udp": {}, "8080": {}, "443/tcp": {}}}
    assert exposed_ports(runtime, ("8080:8080", "127.0.0.1:4443:443")) == ["53/udp", "80/tcp"]
    assert exposed_ports({"ExposedPorts": ["80/tcp"]}, ()) == [] and exposed_ports({}, ()) == []
    for hostile in ("0", "70000", "80/icmp", "80\n", "-1", "80/tcp/x", "1e3"):
        with pytest.raises(UsageError):
            exposed_ports({"ExposedPorts": {hostile: {}}}, ())


@given(st.dictionaries(st.text(max_size=12), st.none(), max_size=4))
@settings(max_examples=200, deadline=None)
def test_exposed_ports_of_any_image_are_ports_or_one_error(exposed: dict[str, None]) -> None:
    try:
        found = exposed_ports({"ExposedPorts": exposed}, ())
    except UsageError:
        return
    for value in found:
        assert parse_publish(value).host_port == 0


def plan_of(tmp_path: Path, **more: object) -> Path:
    """A bundle with a plan of two networks (what `network connect` leaves) and what more says."""
    cid = "c" * 64
    named = network.Network(name="app", id="a" * 64, bridge="sdc-aaaaaaaaaaa", subnet="10.91.0.0/24",
                            gateway="10.91.0.1")  # fmt: skip
    first = build_options(cid, "web", [Attachment(network.DEFAULT, "10.90.0.5")], [PortMapping(80, 8080)])
    second = build_options(cid, "web", [Attachment(named, "10.91.0.5", interface="eth1", aliases=("www",))], [])
    plan = {"options": netns.merge_options(first, second), "netns": f"{netns.NETNS_DIR}/{cid}",
            "netavark": netns.NETAVARKS[0], "config_dir": "/run/sdc/netavark",
            "leases": [["/run/sdc/ipam", "sdc0", "10.90.0.5", cid, "u"],
                       ["/run/sdc/ipam", "sdc-aaaaaaaaaaa", "10.91.0.5", cid, "u"]], **more}  # fmt: skip
    (tmp_path / "network.json").write_text(json.dumps(plan))
    return tmp_path


def test_a_plan_of_several_networks_splits_and_merges(tmp_path: Path) -> None:
    """network connect's options: one network's alone (with the container's ports), merged back."""
    plan = netns.read_plan(str(plan_of(tmp_path)))
    options = plan["options"]
    assert list(options["networks"]) == ["sdc0", "sdc-aaaaaaaaaaa"]
    assert options["networks"]["sdc-aaaaaaaaaaa"]["interface_name"] == "eth1"
    one = netns.only_network(options, "sdc-aaaaaaaaaaa")
    assert list(one["networks"]) == list(one["network_info"]) == ["sdc-aaaaaaaaaaa"]
    assert one["port_mappings"] == options["port_mappings"] and one["container_id"] == "c" * 64
    assert netns.merge_options(netns.only_network(options, "sdc0"), one) == options


@pytest.mark.parametrize("pending", [
    5, {"options": 1}, {"options": {}, "lease": ["/tmp", "sdc0", "10.90.0.9", "c" * 64, "u"]},
    {"options": {}, "lease": ["/run/sdc/ipam", "sdc0", "10.90.0.9", "d" * 64, "u"]},
    {"options": {}, "lease": ["/run/sdc/ipam", "../x", "10.90.0.9", "c" * 64, "u"]},
    {"options": {}},
])  # fmt: skip
def test_a_pending_network_is_checked_as_the_rest(tmp_path: Path, pending: object) -> None:
    """A plan's pending network (a connect at work) names a lease of the container's own, in
    sdc's lease directories, or the plan is refused: its down would free another's."""
    with pytest.raises(netns.NetworkError):
        netns.read_plan(str(plan_of(tmp_path, pending=pending)))
    good = {"options": {}, "lease": ["/run/sdc/ipam", "sdc0", "10.90.0.9", "c" * 64, "u"]}
    assert netns.read_plan(str(plan_of(tmp_path, pending=good)))["pending"] == good


def test_a_teardown_that_found_the_interfaces_gone_is_done_and_no_other() -> None:
    """netavark 1.4's teardown goes on after failing to delete a container's veth that is gone
    (a container with NET_ADMIN deleted it): that failure alone is a teardown done."""
    gone = "failed to delete container veth eth0: Netlink error: No such device (os error 19)"
    assert netns.veths_gone(netns.NetavarkFailed("x", gone))
    assert netns.veths_gone(netns.NetavarkFailed("x", f"netavark encountered multiple errors:\n\t- {gone}\n\t- {gone}"))
    for other in ("IO error: No such file or directory (os error 2)", f"netavark encountered multiple errors:\n\t- "
                  f"{gone}\n\t- code: 1, msg: iptables: No chain/target/match by that name.", ""):  # fmt: skip
        assert not netns.veths_gone(netns.NetavarkFailed("x", other)), other
    assert not netns.veths_gone(netns.NetworkError(gone))  # (not netavark's own words)
