"""--network none and host (issue 23): none is a namespace with loopback alone; host is the host's
network namespace, every other isolation the container's own, as Docker's --network host."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, store_state

DUMMY = "sdctest0"  # a bridge of the test host's own network namespace, with no port: nothing leaves it


@pytest.fixture
def dummy() -> Iterator[str]:
    subprocess.run(["ip", "link", "add", DUMMY, "type", "bridge"], check=True)  # (this kernel has no dummy)
    try:
        yield DUMMY
    finally:
        subprocess.run(["ip", "link", "del", DUMMY], check=False)


def interfaces(sdc: Sdc, image: str, *flags: str, env: dict[str, str] | None = None) -> set[str]:
    out = sdc.ok("run", "--rm", *flags, image, "cat", "/proc/net/dev", env=sdc.env(**(env or {})))
    return {line.split(":")[0].strip() for line in out.splitlines()[2:]}


def test_none_is_loopback_alone_and_host_is_the_hosts(sdc: Sdc, image: str, dummy: str) -> None:
    assert interfaces(sdc, image, env={"SDC_NETWORK": ""}) == {"lo", "eth0"}  # the default: sdc's bridge, as Docker's
    assert interfaces(sdc, image, "--network", "none") == {"lo"}
    assert interfaces(sdc, image, env={"SDC_NETWORK": "none"}) == {"lo"}  # a host's own default
    assert dummy in interfaces(sdc, image, "--network", "host")
    # every other isolation kept: its own PID 1, its own root, hostname and capabilities
    out = sdc.ok("run", "--rm", "--network", "host", "--hostname", "inside", image, "sh", "-c",
                 "echo $$; hostname; test -e /etc/os-release-of-the-host || echo own-root; "
                 "grep CapEff /proc/self/status")  # fmt: skip
    pid1, hostname, root, caps = out.splitlines()
    assert (pid1, hostname, root) == ("1", "inside", "own-root") and caps != "CapEff:\t000001ffffffffff"


def test_a_network_sdc_has_not_is_one_line(sdc: Sdc, image: str, store: Path) -> None:
    before = store_state(store)
    for mode, says in (("appnet", "no such network"), ("container:nosuchweb", "no such container"),
                       ("container:a/b", "--network"), ("a/b", "--network")):
        proc = sdc("run", "--rm", "--network", mode, image, "true")
        assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc
    assert store_state(store) == before


def test_container_mode_shares_the_network_of_another(sdc: Sdc, image: str, name: str, store: Path) -> None:
    """--network container:NAME, as Docker's: the other's interfaces, its loopback, its names; its
    own everything else; a start while the other is down says so; -p has no network to publish."""
    web = f"{name}-web"
    sdc.ok("run", "-d", "--name", web, "--network", "bridge", "--add-host", "peer:192.0.2.7", image,
           "sh", "-c", "mkdir /www; echo hi > /www/index.html; exec httpd -f -p 127.0.0.1:80 -h /www")  # fmt: skip
    address = sdc.ok("exec", web, "hostname", "-i").split()[0]
    out = sdc.ok("run", "--rm", "--name", name, "--network", f"container:{web}", image, "sh", "-c",
                 "wget -qO- http://127.0.0.1/; ip -4 -o addr show eth0; cat /etc/hosts; echo $$")  # fmt: skip
    assert out.startswith("hi\n") and f"inet {address}/" in out and "192.0.2.7\tpeer" in out, out
    assert out.splitlines()[-1] == "1"  # its own PID namespace
    joiner = f"{name}-j"
    sdc.ok("create", "--name", joiner, "--network", f"container:{web}", image, "wget", "-qO-", "http://127.0.0.1/")
    assert sdc.ok("start", "-a", joiner) == "hi\n"
    sdc.ok("stop", "-t", "1", web)
    proc = sdc("start", "-a", joiner)
    assert proc.returncode != 0 and "is not running" in proc.stderr and proc.stderr.count("\n") == 1, proc
    sdc.ok("rm", "-f", joiner)
    for argv, says in ((["-p", "8080:80"], "none of its own"), (["--ip", "10.90.0.9"], "--ip needs a network"),
                       (["--network-alias", "x"], "has no names")):  # fmt: skip
        proc = sdc("run", "--rm", "--network", f"container:{web}", *argv, image, "true")
        assert proc.returncode == 125 and says in proc.stderr, (argv, proc)
    none = f"{name}-none"
    sdc.ok("create", "--name", none, "--network", "none", image, "true")
    proc = sdc("run", "--rm", "--network", f"container:{none}", image, "true")
    assert proc.returncode == 125 and "no network of its own to share" in proc.stderr, proc
    sdc.ok("rm", "-f", web, none)


def status(sdc: Sdc, container: str) -> str:
    [info] = json.loads(sdc.ok("inspect", container))
    return str(info["State"]["Status"])


def test_a_joiner_goes_with_the_container_it_joins(sdc: Sdc, image: str, name: str) -> None:
    """--network container:NAME's unit is bound to NAME's (BindsTo=, After=, in its unit file too
    when enabled): NAME's stop stops it (its namespace is gone), NAME's rm is refused while it is
    there; its own name is in its /etc/hosts, at the address it shares."""
    web, joiner, enabled = f"{name}-web", f"{name}-j", f"{name}-e"
    sdc.ok("run", "-d", "--name", web, "--network", "bridge", image, "sleep", "1000")
    address = sdc.ok("exec", web, "hostname", "-i").split()[0]
    try:
        sdc.ok("run", "-d", "--name", joiner, "--stop-timeout", "1", "--network", f"container:{web}", image,
               "sleep", "1000")  # fmt: skip
        sdc.ok("create", "--enable", "--name", enabled, "--network", f"container:{web}", image, "sleep", "1000")
        hosts = sdc.ok("exec", joiner, "cat", "/etc/hosts")
        assert f"{address}\t{joiner}\n" in hosts and f"{address}\t{web}\n" in hosts, hosts
        assert sdc.ok("exec", joiner, "hostname") == f"{joiner}\n"
        show = subprocess.run(["systemctl", "show", "-p", "BindsTo", "-p", "After", f"sdc-{joiner}.service"],
                              capture_output=True, text=True).stdout  # fmt: skip
        assert f"BindsTo=sdc-{web}.service" in show and f"sdc-{web}.service" in show.split("After=")[1], show
        show = subprocess.run(["systemctl", "show", "-p", "BindsTo", f"sdc@{enabled}.service"],
                              capture_output=True, text=True).stdout  # fmt: skip
        assert f"BindsTo=sdc-{web}.service" in show, show
        proc = sdc("rm", "-f", web)
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and joiner in proc.stderr, proc
        assert enabled in proc.stderr and "share its network" in proc.stderr, proc
        assert status(sdc, web) == "running"
        sdc.ok("stop", "-t", "1", web)
        deadline = time.monotonic() + 20
        while status(sdc, joiner) != "exited" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status(sdc, joiner) == "exited"
        sdc.ok("rm", joiner, enabled)
        sdc.ok("rm", web)  # none left: it goes
    finally:
        sdc("rm", "-f", joiner, enabled, web)
