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


def lease_files() -> list[Path]:
    """The leases of addresses and host ports (netns.take_lease's files)."""
    return [p for d in ("ipam", "ports") for p in Path("/run/sdc", d).rglob("*") if p.is_file()]


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
    leases = [p for p in lease_files() if p.read_text().startswith(cid)]
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
    events = sdc.ok("events", "--since", "1m", "--until", "now", "--filter", "event=rename")
    assert "container rename" in events and f"oldName={under}" in events, events
    sdc.ok("rm", "-f", name, other, under.replace("_", "-"))


def test_a_renamed_systemd_container_starts(sdc: Sdc, image: str, name: str) -> None:
    """A --systemd container's config binds files of its bundle (/run/host): they move with it."""
    sdc.ok("create", "--name", name, "--systemd", "always", image, "sh", "-c", "cat /run/host/container-manager")
    sdc.ok("rename", name, f"{name}-r")
    proc = sdc("start", "-a", f"{name}-r")
    assert (proc.returncode, proc.stdout.strip()) == (0, "sdc"), proc.stderr  # (through its console: \r\n)
    sdc.ok("rm", f"{name}-r")


@pytest.mark.drivers("btrfs")
def test_a_rename_killed_after_its_move_is_finished_by_the_next_command(sdc: Sdc, image: str, name: str) -> None:
    """What a kill leaves (the bundle moved, its mark in it, the rest not yet): the container is
    listed under its new name, and the next command that claims it finishes the rename."""
    old, new = f"{name}-k", f"{name}-n"
    cid = sdc.ok("run", "-d", "--name", old, "--network", "bridge", "-p", "127.0.0.1::80", image,
                 "sleep", "1000").strip()  # fmt: skip
    sdc.ok("stop", "-t", "0", old)
    bundle = sdc.root / "containers" / old
    (bundle / "renaming").write_text(old)
    bundle.rename(sdc.root / "containers" / new)  # the rename killed here
    assert new in names(sdc) and old not in names(sdc)
    sdc.ok("start", new)
    record = json.loads((sdc.root / "containers" / new / "container.json").read_text())
    assert (record["spec"]["name"], record["unit"]) == (new, f"sdc-{new}.service")
    assert not (sdc.root / "containers" / new / "renaming").exists()
    leases = [lease.split("\n") for lease in map(Path.read_text, lease_files()) if lease.startswith(cid)]
    assert len(leases) == 2 and all(lease[1:3] == [f"sdc-{new}.service", str(sdc.root / "containers" / new)]
                                    for lease in leases), leases
    sdc.ok("rm", "-f", new)
    assert leftovers(cid) == []
