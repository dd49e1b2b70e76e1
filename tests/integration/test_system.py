"""`sdc version` and `sdc info` (issue 25): what Podman's tests and scripts read first."""

from __future__ import annotations

import json

from sdcontainer import __version__
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
