"""-v HOST:CONTAINER[:ro|rw]: a host directory or file bound into the container, where the
container's path resolves inside its root; bad input is one line and leaves nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, store_state


def test_a_directory_and_a_file_read_write_and_read_only(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in").write_text("from the host\n")
    config = tmp_path / "app.conf"
    config.write_text("answer=42\n")
    script = ("cat /data/in /etc/app.conf; echo from-inside > /data/out; "
              "echo x 2>/dev/null > /etc/app.conf || echo read-only; grep -c ' /data ' /proc/self/mounts")  # fmt: skip
    out = sdc.ok("run", "--name", name, "-v", f"{data}:/data", "--volume", f"{config}:/etc/app.conf:ro",
                 image, "sh", "-c", script)  # fmt: skip
    assert out == "from the host\nanswer=42\nread-only\n1\n"
    assert (data / "out").read_text() == "from-inside\n" and config.read_text() == "answer=42\n"
    [info] = json.loads(sdc.ok("inspect", name))
    assert info["Mounts"] == [
        {"Type": "bind", "Source": str(data), "Destination": "/data", "Mode": "", "RW": True,
         "Propagation": "rprivate"},
        {"Type": "bind", "Source": str(config), "Destination": "/etc/app.conf", "Mode": "ro", "RW": False,
         "Propagation": "rprivate"},
    ]  # fmt: skip
    # the container's layer has the mount points (made as Docker makes them), never what was on them
    assert sorted(sdc.ok("diff", name).split("\n")) == ["", "A /data", "A /etc/app.conf", "C /etc"]


def test_the_container_path_resolves_inside_the_root(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    """A symlink the container made in its own layer, aimed at the host's /, stays inside."""
    data = tmp_path / "data"
    data.mkdir()
    escape = tmp_path / "escape"
    sdc.ok("run", "--name", name, image, "sh", "-c", f"mkdir -p /x && ln -s {tmp_path} /x/link")
    sdc.ok("commit", name, f"{name}-img")
    try:
        sdc.ok("run", "--rm", "-v", f"{data}:/x/link/escape", f"{name}-img", "sh", "-c", "touch /x/link/escape/f")
        assert not escape.exists() and (data / "f").exists()
    finally:
        sdc("rmi", f"{name}-img")


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ("d@ta:/data", "invalid volume name"),
        ("data:/data:idmap", "invalid options"),
        ("/data:/x:ro:z", "invalid --volume"),
        ("/no/such/dir:/data", "No such file or directory"),
        ("{tmp}:data", "must be absolute"),
        ("{tmp}:/", "must be absolute, not /"),
        ("{tmp}:/a/../etc", "without '..'"),
        ("{tmp}:/data:rx", "invalid options"),
        ("{tmp}:/data:ro,rw", "invalid options"),
        ("{tmp}:", "invalid --volume"),
        ("{tmp}:/data:idmap", "idmap needs a user namespace"),
    ],
)
def test_bad_volumes_are_one_line_and_leave_nothing(
    sdc: Sdc, image: str, store: Path, tmp_path: Path, volume: str, message: str
) -> None:
    before = store_state(store)
    proc = sdc("run", "-d", "-v", volume.format(tmp=tmp_path), image, "true")
    assert proc.returncode == 125 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    twice = sdc("run", "--rm", "-v", f"{tmp_path}:/data", "-v", f"{os.path.dirname(tmp_path)}:/data", image, "true")
    assert twice.returncode == 125 and "/data is mounted twice" in twice.stderr
    assert store_state(store) == before
