"""import, images, rmi: names, sharing, refusal while in use, and what removal leaves."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import Sdc


def test_import_names_list_and_remove(sdc: Sdc, busybox_tar: Path, store: Path, name: str) -> None:
    content = busybox_tar.read_bytes() + b"\0" * 20480  # bytes no other test imports: a layer of its own
    image_id = sdc.ok("import", "-", "names-a", input=content).strip()
    assert sdc.ok("import", "-", "names-b:v1", input=content).strip() == image_id  # same content, same image
    rows = json.loads(sdc.ok("images", "--format", "json"))
    assert {(r["Repository"], r["Tag"]) for r in rows if r["Id"] == image_id} >= {
        ("names-a", "latest"),
        ("names-b", "v1"),
    }
    assert image_id.removeprefix("sha256:")[:12] in sdc.ok("images", "-q")

    sdc.ok("run", "-d", "--name", name, "names-a", "sleep", "1000")
    # One of two names: only the name goes.
    assert sdc.ok("rmi", "names-b:v1") == "Untagged: names-b:v1\n"
    # The last name of an image a container uses: refused, unless forced.
    proc = sdc("rmi", "names-a")
    assert proc.returncode != 0 and f"used by container {name}" in proc.stderr and "rmi -f" in proc.stderr
    record = json.loads((store / "images" / f"{image_id.removeprefix('sha256:')}.json").read_text())
    layer = store / "storage" / "layers" / record["layers"][0].replace(":", "-")
    sdc.ok("rm", "-f", name)
    assert sdc.ok("rmi", "names-a") == f"Deleted: {image_id}\n"
    assert not layer.exists() and not Path(str(layer) + "-init").exists()
    proc = sdc("rmi", "names-a")
    assert proc.returncode != 0 and "no such image" in proc.stderr


def test_a_container_outlives_its_image_when_forced(sdc: Sdc, busybox_tar: Path, name: str) -> None:
    sdc.ok("import", "-", "doomed", input=busybox_tar.read_bytes() + b"\0" * 10240)  # other bytes: its own layer
    sdc.ok("run", "-d", "--name", name, "doomed", "sleep", "1000")
    assert sdc.ok("rmi", "-f", "doomed").startswith("Deleted: ")
    # The container's snapshot stands on its own.
    [info] = json.loads(sdc.ok("inspect", name))
    assert (Path(info["Storage"]["RootFs"]) / "bin" / "busybox").exists()
    assert info["State"]["Status"] == "running"
