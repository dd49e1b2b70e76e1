"""`sdc rename` (issue 25): a stopped container under a new name, everything that names it moved
with it (its unit, its DNS name, its leases, who shares its network, its unit files where it is
enabled), its layer and journal its own still; a running one, or a bad name, refused and nothing
changed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, store_state, unit_property
from tests.integration.test_networks import SERVE, leftovers
from tests.integration.test_user_networks import lookup


def names(sdc: Sdc) -> set[str]:
    return {row["Name"] for row in json.loads(sdc.ok("ps", "-a", "--format", "json"))}


@pytest.mark.drivers("btrfs")
def test_a_renamed_container_keeps_its_layer_network_leases_logs_and_sharers(sdc: Sdc, image: str, name: str,
                                                                             net: str) -> None:  # fmt: skip
    old, new, sharer, client = f"{name}-old", f"{name}-new", f"{name}-shr", f"{name}-cli"
    sdc.ok("network", "create", net)
    cid = sdc.ok("run", "-d", "--name", old, "--network", net, "-p", "127.0.0.1::80", image,
                 "sh", "-c", f"echo run $(cat /runs 2>/dev/null); echo x >> /runs; {SERVE}").strip()  # fmt: skip
    sdc.ok("run", "-d", "--name", sharer, "--network", f"container:{old}", image, "sleep", "1000")
    address = sdc.ok("exec", old, "hostname", "-i").split()[0]
    sdc.ok("stop", old)  # (the one sharing its network stops with it: BindsTo=)
    leases = [p for p in Path("/run/sdc").rglob("*") if p.is_file() and p.read_text(errors="replace").startswith(cid)]
    assert len(leases) == 2, leases  # its address and its port

    assert sdc.ok("rename", old, new) == ""
    assert names(sdc) >= {new, sharer} and old not in names(sdc)
    assert sdc("container", "exists", old).returncode == 1
    [info] = json.loads(sdc.ok("inspect", new))
    assert (info["Id"], info["Name"]) == (cid, new)
    for lease in leases:  # held for the bundle at its new place: no other container may take them
        holder = lease.read_text().split("\n")
        assert holder[:3] == [cid, f"sdc-{new}.service", info["Storage"]["Bundle"]], holder

    sdc.ok("start", new)
    assert unit_property(f"sdc-{new}.service", "ActiveState") == "active"
    assert sdc.ok("exec", new, "cat", "/runs") == "x\nx\n"  # its layer, as it was
    assert sdc.ok("exec", new, "hostname", "-i").split()[0] == address
    sdc.ok("run", "-d", "--name", client, "--network", net, image, "sleep", "1000")
    assert lookup(sdc, client, new) == [address] and lookup(sdc, client, old) == []  # its DNS name is the new one
    assert sdc.ok("logs", new) == "run\nrun x\n"  # its output under either name
    sdc.ok("start", sharer)  # shares the network of the container it joined, renamed
    assert sdc.ok("exec", sharer, "hostname", "-i").split()[0] == address
    assert json.loads(sdc.ok("inspect", sharer))[0]["HostConfig"]["NetworkMode"] == f"container:{new}"

    sdc.ok("rm", "-f", sharer, new, client)
    assert leftovers(cid) == []


def test_an_enabled_container_is_installed_under_its_new_name(sdc: Sdc, image: str, name: str) -> None:
    old, new = f"{name}-a", f"{name}-b"
    sdc.ok("create", "--name", old, "--enable", image, "sh", "-c", "echo from $(hostname)")
    assert sdc.ok("container", "rename", old, new) == ""
    system = Path("/etc/systemd/system")
    assert not (system / f"sdc@{old}.service.d").exists()
    assert not (system / "multi-user.target.wants" / f"sdc@{old}.service").exists()
    assert (system / "multi-user.target.wants" / f"sdc@{new}.service").is_symlink()
    shown = subprocess.run(["systemctl", "cat", f"sdc@{new}.service"], capture_output=True, text=True).stdout
    assert f"/containers/{new}" in shown and f"/containers/{old} " not in shown, shown
    assert sdc("start", "-a", new).stdout == f"from {old}\n"  # its hostname stays its own (as Podman's)
    sdc.ok("rm", new)
    assert not (system / f"sdc@{new}.service.d").exists()


def test_a_running_container_or_a_bad_name_is_refused_and_nothing_changes(sdc: Sdc, image: str, name: str,
                                                                          store: Path) -> None:  # fmt: skip
    other, under = f"{name}-o", f"{name}_u"
    sdc.ok("create", "--name", other, image, "true")
    sdc.ok("create", "--name", under, image, "true")
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    before = store_state(store)
    refused = [
        ((name, f"{name}-x"), "is running"),
        ((other, name), "already in use"),
        ((other, other), "already"),
        ((other, "a/b"), "invalid container name"),
        ((other, ".x"), "invalid container name"),
        ((other, under.replace("_", "-")), "to machined"),
        (("no-such-one", "x"), "no such container"),
    ]
    for args, says in refused:
        proc = sdc("rename", *args)
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and says in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert store_state(store) == before
    assert unit_property(f"sdc-{name}.service", "ActiveState") == "active"
    # its own machined name, another way of writing: a_b to a-b is the same machine
    sdc.ok("rename", under, under.replace("_", "-"))
    sdc.ok("rm", "-f", name, other, under.replace("_", "-"))
