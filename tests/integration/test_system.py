"""`sdc version` and `sdc info` (issue 25): what Podman's tests and scripts read first."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sdcontainer import __version__
from sdcontainer.render import size
from tests.integration.conftest import Sdc


def test_version(sdc: Sdc) -> None:
    found = json.loads(sdc.ok("version", "--format", "json"))
    assert found["Client"]["Version"] == __version__ and found["Server"] is None
    assert sdc.ok("version").startswith(f"Client:\n  Version: {__version__}\n")


def test_info_says_the_host_and_the_store(sdc: Sdc, image: str, name: str) -> None:
    before = json.loads(sdc.ok("info", "--format", "json"))
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    found = json.loads(sdc.ok("info", "--format", "json"))
    host, store = found["host"], found["store"]
    assert host["cgroupManager"] == "systemd" and host["systemd"].startswith("systemd 25")
    assert host["cgroupVersion"] in ("v2", "v1 (hybrid)", "v1") and host["pid1"] == "systemd"
    assert host["security"]["seccompEnabled"] is True and host["security"]["rootless"] is False
    assert store["graphDriverName"] == sdc.driver and store["graphRoot"] == str(sdc.root)
    assert store["containerStore"]["running"] == before["store"]["containerStore"]["running"] + 1
    assert store["imageStore"]["number"] >= 1
    text = sdc.ok("info")
    assert "host:\n" in text and "  cgroupManager: systemd\n" in text and "store:\n" in text


def fill(path: str, size: int) -> str:
    """A shell command writing size bytes (not zeros: sdc writes runs of zeros as holes) to path."""
    return f"head -c {size} /dev/zero | tr '\\0' x > {path}"


def test_system_df_and_ps_size_say_what_each_takes(fresh_sdc: Sdc, busybox_tar: Path) -> None:
    sdc = fresh_sdc
    sdc.ok("import", str(busybox_tar), "bb")
    base = json.loads(sdc.ok("images", "--format", "json"))[0]["Size"]
    sdc.ok("run", "-d", "--name", "up", "-v", "used:/data", "bb", "sh", "-c",
           f"{fill('/f', 100_000)}; {fill('/data/x', 3000)}; touch /ready; exec sleep 1000")  # fmt: skip
    sdc.ok("run", "--name", "done", "bb", "sh", "-c", f"{fill('/g', 5000)}; ln /g /g2")  # a hard link: once
    sdc.ok("volume", "create", "unused")
    sdc.ok("run", "--rm", "-v", "unused:/d", "bb", "sh", "-c", fill("/d/y", 7000))
    deadline = time.monotonic() + 10
    while sdc("exec", "up", "test", "-e", "/ready").returncode:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sdc.ok("commit", "done", "bb2")
    layer = json.loads(sdc.ok("image", "inspect", "bb2"))[0]["Size"] - base

    rows = {r["Name"]: r for r in json.loads(sdc.ok("ps", "-a", "-s", "--format", "json"))}
    assert (rows["up"]["SizeRw"], rows["up"]["SizeRootFs"]) == (100_000, 100_000 + base)
    assert rows["done"]["SizeRw"] == 5000
    assert sdc.ok("ps", "--format", "{{.Names}} {{.Size}}") == "up 100kB (virtual " + f"{size(100_000 + base)})\n"
    table = sdc.ok("ps", "-s").splitlines()
    assert table[0].split()[-1] == "SIZE" and table[1].endswith(f"100kB (virtual {size(100_000 + base)})")

    usage = {r["Type"]: r for r in map(json.loads, sdc.ok("system", "df", "--format", "json").splitlines())}
    assert usage["Images"] == {"Type": "Images", "TotalCount": "2", "Active": "1", "Size": size(base + layer),
                               "Reclaimable": f"{size(layer)} ({round(100 * layer / (base + layer))}%)"}
    assert usage["Containers"] == {"Type": "Containers", "TotalCount": "2", "Active": "1", "Size": "105kB",
                                   "Reclaimable": "5kB (5%)"}  # fmt: skip
    assert usage["Local Volumes"] == {"Type": "Local Volumes", "TotalCount": "2", "Active": "1", "Size": "10kB",
                                      "Reclaimable": "7kB (70%)"}  # fmt: skip
    table = sdc.ok("system", "df").splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"] and table[2].startswith("Containers")
    assert sdc.ok("system", "df", "--format", "{{.Type}}={{.Active}}") == "Images=1\nContainers=1\nLocal Volumes=1\n"
    verbose = sdc.ok("system", "df", "-v")
    images, containers, volumes = (part.split("\n\n")[0] for part in verbose.split("space usage:\n\n")[1:])
    bb2 = [line.split() for line in images.splitlines() if line.startswith("bb2")][0]
    assert bb2[-4:] == [size(base + layer), size(base), size(layer), "0"], images
    assert sorted(line.split()[-1] for line in containers.strip().splitlines()[1:]) == ["done", "up"]
    assert sorted(line.split() for line in volumes.strip().splitlines()[1:]) == [["unused", "0", "7kB"],
                                                                                 ["used", "1", "3kB"]]
    sdc.ok("rm", "-f", "up", "done")
