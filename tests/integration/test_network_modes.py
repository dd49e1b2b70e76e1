"""--network none and host (issue 23): none is a namespace with loopback alone; host is the host's
network namespace, every other isolation the container's own, as Docker's --network host."""

from __future__ import annotations

import subprocess
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


def interfaces(sdc: Sdc, image: str, *flags: str) -> set[str]:
    out = sdc.ok("run", "--rm", *flags, image, "cat", "/proc/net/dev")
    return {line.split(":")[0].strip() for line in out.splitlines()[2:]}


def test_none_is_loopback_alone_and_host_is_the_hosts(sdc: Sdc, image: str, dummy: str) -> None:
    assert interfaces(sdc, image) == {"lo"}  # the default, as today
    assert interfaces(sdc, image, "--network", "none") == {"lo"}
    assert dummy in interfaces(sdc, image, "--network", "host")
    # every other isolation kept: its own PID 1, its own root, hostname and capabilities
    out = sdc.ok("run", "--rm", "--network", "host", "--hostname", "inside", image, "sh", "-c",
                 "echo $$; hostname; test -e /etc/os-release-of-the-host || echo own-root; "
                 "grep CapEff /proc/self/status")  # fmt: skip
    pid1, hostname, root, caps = out.splitlines()
    assert (pid1, hostname, root) == ("1", "inside", "own-root") and caps != "CapEff:\t000001ffffffffff"


def test_a_network_sdc_has_not_is_one_line(sdc: Sdc, image: str, store: Path) -> None:
    before = store_state(store)
    for mode, says in (("appnet", "no such network"), ("container:web", "--network"), ("a/b", "--network")):
        proc = sdc("run", "--rm", "--network", mode, image, "true")
        assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc
    assert store_state(store) == before
