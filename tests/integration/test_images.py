"""import, images, rmi: names, sharing, refusal while in use, and what removal leaves."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import Sdc, rootfs_of, store_state


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
    assert sdc.ok("rmi", "names-a") == f"Untagged: names-a:latest\nDeleted: {image_id}\n"
    assert not layer.exists() and not Path(str(layer) + "-init").exists()
    proc = sdc("rmi", "names-a")
    assert proc.returncode != 0 and "no such image" in proc.stderr


def test_a_container_keeps_its_image_when_forced_and_prune_frees_it(
    sdc: Sdc, busybox_tar: Path, store: Path, name: str
) -> None:
    image_id = sdc.ok("import", "-", "doomed", input=busybox_tar.read_bytes() + b"\0" * 10240).strip()  # own layer
    sdc.ok("run", "-d", "--name", name, "doomed", "sleep", "1000")
    # Forced: the name goes, the image stays (dangling) while the container needs it, as Docker's.
    assert sdc.ok("rmi", "-f", "doomed") == "Untagged: doomed:latest\n"
    [info] = json.loads(sdc.ok("inspect", name))
    assert (rootfs_of(sdc, name) / "bin" / "busybox").exists()
    assert info["State"]["Status"] == "running"
    assert f"Deleted: {image_id}" not in sdc.ok("image", "prune", "-f")  # still used
    record = json.loads((store / "images" / f"{image_id.removeprefix('sha256:')}.json").read_text())
    layer = store / "storage" / "layers" / record["layers"][0].replace(":", "-")
    sdc.ok("rm", "-f", name)
    out = sdc.ok("image", "prune", "-f")
    assert f"Deleted: {image_id}" in out and "Total reclaimed space:" in out
    assert not layer.exists()


def test_tag_history_inspect(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("tag", image, "example.org/team/bb:1.0")
    assert ["example.org/team/bb", "1.0"] in [line.split()[:2] for line in sdc.ok("image", "ls").splitlines()]
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "echo x > /x; exec sleep 1000")
    iid = sdc.ok("commit", "-m", "add x", "-a", "Ada", "-c", "ENV A=1", name, "hist:2").strip()
    rows = json.loads(sdc.ok("history", "--format", "json", "hist:2"))
    assert [r["Id"] for r in rows] == [iid, "<missing>"]
    assert rows[0]["Comment"] == "add x" and rows[0]["CreatedBy"].startswith("sh -c") and rows[0]["Size"] == 2
    assert rows[1]["CreatedBy"] == "sdc import" and rows[1]["Size"] > 1 << 20
    table = sdc.ok("history", "hist:2").splitlines()
    assert table[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"] and "add x" in table[1]
    [info] = json.loads(sdc.ok("image", "inspect", "hist:2"))
    assert info["Id"] == iid and info["RepoTags"] == ["hist:2"] and info["Author"] == "Ada"
    assert len(info["RootFS"]["Layers"]) == 2 and "A=1" in info["Config"]["Env"]
    assert json.loads(sdc.ok("inspect", "hist:2"))[0]["Id"] == iid  # plain inspect falls back to images
    proc = sdc("tag", image, "Bad:Name:x")
    assert proc.returncode == 125 and "invalid" in proc.stderr
    proc = sdc("history", "no-such-image")
    assert proc.returncode == 125 and "no such image" in proc.stderr


def test_import_changes_configure_the_image(sdc: Sdc, busybox_tar: Path, store: Path) -> None:
    changes = ["--change", "ENV GREETING=hi", "-c", "WORKDIR /tmp", "-c", 'CMD ["sh", "-c", "echo $GREETING; pwd"]',
               "-c", "LABEL team=core", "-c", "USER 65534"]  # fmt: skip
    sdc.ok("import", *changes, "-m", "from a tarball", str(busybox_tar), "configured:1")
    assert sdc.ok("run", "--rm", "configured:1") == "hi\n/tmp\n"
    assert sdc.ok("run", "--rm", "configured:1", "id", "-u") == "65534\n"
    config = json.loads(sdc.ok("image", "inspect", "configured:1"))[0]["Config"]
    assert config["Labels"] == {"team": "core"} and config["User"] == "65534"
    assert "from a tarball" in sdc.ok("history", "configured:1")
    sdc.ok("rmi", "configured:1")
    before = store_state(store)
    proc = sdc("import", "-c", "RUN make", str(busybox_tar), "configured:2")
    assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and "RUN cannot be changed" in proc.stderr
    assert store_state(store) == before
