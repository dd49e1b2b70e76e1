"""Health checks by a transient systemd timer per container, Podman's way (issue 25)."""

from __future__ import annotations

import hashlib
import io
import json
import platform
import tarfile
import time
from pathlib import Path

from tests.integration.conftest import Sdc, systemctl


def _health(sdc: Sdc, name: str) -> dict[str, object]:
    return dict(json.loads(sdc.ok("inspect", "-f", "{{json .State.Health}}", name)))


def _until(sdc: Sdc, name: str, status: str, timeout: float = 20) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    found = _health(sdc, name)
    while found["Status"] != status and time.monotonic() < deadline:
        time.sleep(0.2)
        found = _health(sdc, name)
    assert found["Status"] == status, found
    return found


def test_a_timer_checks_it_and_ps_says_its_health(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, "--health-cmd", "test -e /tmp/ok && echo fine", "--health-interval", "1s",
           "--health-retries", "2", image, "sh", "-c", "touch /tmp/ok; exec sleep 1000")  # fmt: skip
    cid = sdc.ok("inspect", "-f", "{{.Id}}", name).strip()
    timer = f"sdc-health-{cid}.timer"
    assert systemctl("is-active", timer).stdout.strip() == "active"
    assert "PartOf=" in systemctl("show", "-p", "PartOf", timer).stdout
    healthy = _until(sdc, name, "healthy")
    assert healthy["FailingStreak"] == 0 and healthy["Log"][-1]["Output"] == "fine\n"  # type: ignore[index]
    assert "(healthy)" in sdc.ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
    assert sdc.ok("ps", "--filter", "health=healthy", "--format", "{{.Names}}").split().count(name) == 1
    assert sdc.ok("healthcheck", "run", name) == ""
    sdc.ok("exec", name, "rm", "/tmp/ok")
    unhealthy = _until(sdc, name, "unhealthy")
    assert unhealthy["FailingStreak"] >= 2  # type: ignore[operator]
    proc = sdc("healthcheck", "run", name)
    assert (proc.returncode, proc.stdout) == (1, "unhealthy\n")
    assert "(unhealthy)" in sdc.ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
    events = sdc.ok("events", "--since", "1m", "--until", "now", "--filter", f"container={name}",
                    "--format", "{{.Action}}")  # fmt: skip
    assert "health_status: healthy" in events and "health_status: unhealthy" in events, events
    sdc.ok("stop", "-t", "0", name)  # the timer goes with it
    deadline = time.monotonic() + 10
    while systemctl("is-active", timer).stdout.strip() == "active" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert systemctl("is-active", timer).stdout.strip() != "active"
    sdc.ok("start", name)  # and comes back with it, its health starting over
    assert systemctl("is-active", timer).stdout.strip() == "active"
    assert _health(sdc, name)["Status"] in ("starting", "healthy")


def test_timeouts_retries_start_period_and_none(sdc: Sdc, image: str, name: str) -> None:
    slow, none = f"{name}-slow", f"{name}-none"
    try:
        sdc.ok("run", "-d", "--name", slow, "--health-cmd", "sleep 5", "--health-timeout", "1s",
               "--health-interval", "1s", "--health-retries", "1", image, "sleep", "1000")  # fmt: skip
        found = _until(sdc, slow, "unhealthy", timeout=30)
        assert found["Log"][-1]["ExitCode"] == -1 and "timeout" in found["Log"][-1]["Output"]  # type: ignore[index]
        sdc.ok("run", "-d", "--name", none, "--no-healthcheck", image, "sleep", "1000")
        assert sdc.ok("inspect", "-f", "{{.State.Status}}", none) == "running\n"
        proc = sdc("healthcheck", "run", none)
        assert proc.returncode == 125 and "has no health check" in proc.stderr
        for bad in (["--health-interval", "0.1s"], ["--health-retries", "0"], ["--health-cmd", ""],
                    ["--health-cmd", "[1]"], ["--no-healthcheck", "--health-cmd", "true"],
                    ["--health-timeout", "soon"]):  # fmt: skip
            proc = sdc("run", "--rm", *bad, image, "true")
            assert proc.returncode == 125 and len(proc.stderr.splitlines()) == 1, (bad, proc.stderr)
    finally:
        sdc("rm", "-f", slow, none)


def _docker_archive(layer: Path, runtime: dict[str, object], tag: str, dest: Path) -> Path:
    """A docker-archive of one layer and a config of the runtime given (as `docker save` writes it)."""
    data = layer.read_bytes()
    diff = hashlib.sha256(data).hexdigest()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    config = json.dumps({"architecture": arch, "os": "linux", "config": runtime,
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff}"]}}).encode()  # fmt: skip
    named = f"{hashlib.sha256(config).hexdigest()}.json"
    members = {named: config, f"{diff}/layer.tar": data,
               "manifest.json": json.dumps([{"Config": named, "RepoTags": [tag],
                                             "Layers": [f"{diff}/layer.tar"]}]).encode()}  # fmt: skip
    with tarfile.open(dest, "w") as tar:
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return dest


def test_the_images_healthcheck_is_used(sdc: Sdc, busybox_tar: Path, name: str, tmp_path: Path) -> None:
    tag = f"health-{name[-4:]}:1"
    check = {"Test": ["CMD", "true"], "Interval": 1_000_000_000, "Retries": 2}
    sdc.ok("load", "-i", str(_docker_archive(busybox_tar, {"Healthcheck": check}, tag, tmp_path / "img.tar")))
    try:
        sdc.ok("run", "-d", "--name", name, tag, "sleep", "1000")
        assert json.loads(sdc.ok("inspect", "-f", "{{json .Config.Healthcheck}}", name)) == {
            "Test": ["CMD", "true"], "Interval": 1_000_000_000, "Timeout": 30_000_000_000, "StartPeriod": 0,
            "Retries": 2}  # fmt: skip
        _until(sdc, name, "healthy")
        sdc.ok("rm", "-f", name)
        sdc.ok("run", "-d", "--name", name, "--no-healthcheck", tag, "sleep", "1000")
        [info] = json.loads(sdc.ok("inspect", name))
        assert "Health" not in info["State"] and "Healthcheck" not in info["Config"]
    finally:
        sdc("rm", "-f", name)
        sdc("rmi", tag)
