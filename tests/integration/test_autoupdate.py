"""`sdc auto-update` (api/autoupdate.py) against a real registry on 127.0.0.1: a labelled
container made again from its moved tag, and rolled back when the new image fails."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration import registry
from tests.integration.conftest import Sdc

LABEL = "io.containers.autoupdate=registry"


def _image_id(sdc: Sdc, container: str) -> str:
    [info] = json.loads(sdc.ok("inspect", container))
    return str(info["Image"])


def _version(sdc: Sdc, name: str, version: str, *extra: str) -> None:
    """An image name whose /version says version (and what extra does to it)."""
    maker = f"{name}-mk"
    sdc.ok("run", "--name", maker, "bb", "sh", "-c", f"echo {version} > /version; {' '.join(extra) or 'true'}")
    sdc.ok("commit", maker, name)
    sdc.ok("rm", maker)


def test_a_moved_tag_updates_and_a_broken_image_rolls_back(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    assert image == "bb"
    local, again, kept = f"{name}-src", f"{name}-r", f"{name}-k"
    with registry.serve(tmp_path / "registry") as address:
        ref = f"{address}/team/app:1"
        try:
            _version(sdc, local, "v1")
            sdc.ok("push", local, ref)
            sdc.ok("pull", "-q", ref)
            sdc.ok("run", "-d", "--name", name, "--label", LABEL, "--stop-timeout", "1", ref,
                   "sh", "-c", "cat /version; exec sleep 1000")  # fmt: skip
            # the same image, restarted by systemd when it fails: a crash loop is no update
            sdc.ok("run", "-d", "--name", again, "--label", LABEL, "--restart", "always", "--stop-timeout", "1", ref,
                   "sleep", "1000")  # fmt: skip
            # a --rm one with an anonymous volume: made again with it, its files kept
            sdc.ok("run", "-d", "--rm", "-v", "/data", "--name", kept, "--label", LABEL, "--stop-timeout", "1", ref,
                   "sh", "-c", "[ -f /data/keep ] || head -c 16 /dev/urandom | od -An -tx1 > /data/keep; "
                   "exec sleep 1000")  # fmt: skip
            data = sdc.ok("exec", kept, "cat", "/data/keep")
            first = _image_id(sdc, name)
            out = sdc.ok("auto-update", "--format", "json")
            assert [(u["Unit"], u["Policy"], u["Updated"]) for u in json.loads(out)] == [
                (f"sdc-{name}.service", "registry", "false"), (f"sdc-{again}.service", "registry", "false"),
                (f"sdc-{kept}.service", "registry", "false")], out

            _version(sdc, local, "v2")
            sdc.ok("push", local, ref)  # the tag moves
            assert "pending" in sdc.ok("auto-update", "--dry-run")
            assert _image_id(sdc, name) == first  # a dry run changes nothing
            out = sdc.ok("auto-update")
            assert out.count("true") == 3, out
            second = _image_id(sdc, name)
            assert _image_id(sdc, again) == second == _image_id(sdc, kept)
            assert sdc.ok("exec", kept, "cat", "/data/keep") == data  # (its anonymous volume: the same)
            [volume] = json.loads(sdc.ok("inspect", kept))[0]["Mounts"]
            assert json.loads(sdc.ok("volume", "inspect", volume["Name"]))[0]["Anonymous"] is True
            assert second != first and sdc.ok("exec", name, "cat", "/version") == "v2\n"
            assert sdc.ok("inspect", "--format", "{{.Config.Labels}}", name).count("autoupdate") == 1

            _version(sdc, local, "v3", "rm /bin/sleep /bin/sh")  # neither command can start
            sdc.ok("push", local, ref)
            proc = sdc("auto-update")
            assert proc.returncode == 1 and proc.stdout.count("rolled back") == 3, proc  # said by its status too
            assert sdc.ok("exec", kept, "cat", "/data/keep") == data
            for container in (name, again, kept):
                assert _image_id(sdc, container) == second, container
                [info] = json.loads(sdc.ok("inspect", container))
                assert info["State"]["Status"] == "running" and info["RestartCount"] == 0, info["State"]
            assert sdc.ok("exec", name, "cat", "/version") == "v2\n"
        finally:
            sdc("rm", "-f", "-v", name, again, kept)
            sdc("rmi", "-f", local, ref)
