"""pull, load, commit and rmi killed at any moment (issue 7, scope item 8): the store stays
consistent (no layer visible that is not whole, sealed and recorded; no image naming a missing
layer; no name of no image), the next command discards the staging area, the same command
succeeds when retried, and `image prune` leaves nothing of the interrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, new_store, store_state
from tests.integration.imagetools import build_edge_image
from tests.integration.registry import push, serve

KILLS = 10  # moments spread over the command's own length, first to last


def killed_after(sdc: Sdc, delay: float, *args: str) -> None:
    proc = subprocess.Popen(sdc.argv(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=sdc.env())
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def timed(sdc: Sdc, *args: str) -> float:
    start = time.monotonic()
    sdc.ok(*args)
    return time.monotonic() - start


def consistent(root: Path, when: str) -> None:
    """What any command may find in the store after a kill."""
    layers = root / "storage" / "layers"
    for entry in os.listdir(layers) if layers.exists() else ():
        path = layers / entry
        assert not os.access(path, os.W_OK), f"{when}: layer {entry} is writable"  # sealed (btrfs: EROFS)
        if not entry.endswith("-init"):
            hexa = entry.removeprefix("sha256-")
            assert (root / "layers" / f"{hexa}.json").exists(), f"{when}: layer {entry} has no record"
            assert (root / "layers" / f"{hexa}.tar-split.gz").exists(), f"{when}: layer {entry} has no tar-split"
    ids = set()
    for record in (root / "images").glob("*.json"):
        image = json.loads(record.read_text())
        ids.add(image["id"])
        assert (root / "images" / f"{record.stem}.config").exists(), f"{when}: image {record.stem} has no config"
        for layer in image["layers"]:
            assert (layers / layer.replace(":", "-")).exists(), f"{when}: image {record.stem} lacks {layer}"
    repositories = root / "repositories.json"
    names = json.loads(repositories.read_text()) if repositories.exists() else {}
    assert set(names.values()) <= ids, f"{when}: a name of no image: {names}"


@pytest.fixture(scope="module")
def sdc() -> Iterator[Sdc]:
    """A store of this module's own: what it leaves at the end is compared with an empty one."""
    with new_store() as root:
        yield Sdc(root)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("crash-registry")
    layout = build_edge_image(work, unique=True)
    with serve(work / "registry") as address:
        push(f"oci:{layout}:edge", address, "crash/edge:1")
        yield f"{address}/crash/edge:1"


def sweep(sdc: Sdc, command: list[str], *, before: Callable[[], None], after: Callable[[str], None]) -> None:
    """command killed at KILLS moments over its length; before makes the state it starts from,
    after(when) checks what is there once the next command has run and cleans up."""
    before()
    length = timed(sdc, *command)
    after("uninterrupted")
    for i in range(KILLS):
        before()
        delay = length * i / (KILLS - 1)
        killed_after(sdc, delay, *command)
        when = f"{command[0]} killed after {delay * 1000:.0f} ms"
        consistent(sdc.root, when)
        after(when)


def clean(sdc: Sdc, when: str) -> None:
    """Nothing of any image left once they are removed and the store pruned."""
    for image in sdc.ok("images", "-q").split():
        sdc.ok("rmi", "-f", image)
    sdc.ok("image", "prune", "-f")
    state = store_state(sdc.root)
    leftovers = {k: v for k, v in state.items() if k not in ("units", "containers", "container_fs") and v}
    assert not leftovers, f"{when}: {leftovers}"


def test_pull_killed_anywhere(sdc: Sdc, registry: str) -> None:
    reference = sdc.ok("pull", "-q", registry)
    image_id = sdc.ok("images", "-q", "--no-trunc")
    clean(sdc, "reference")

    def after(when: str) -> None:
        assert sdc("images").returncode == 0, when
        proc = sdc("pull", "-q", registry)
        assert proc.returncode == 0 and proc.stdout == reference, f"{when}: the pull again: {proc.stderr}"
        assert sdc.ok("images", "-q", "--no-trunc") == image_id, when
        consistent(sdc.root, f"{when}, pulled again")
        assert sdc.ok("run", "--rm", registry, "cat", "/opaque/mine") == "this layer's\n", when
        clean(sdc, when)

    sweep(sdc, ["pull", "-q", registry], before=lambda: None, after=after)


def test_load_killed_anywhere(sdc: Sdc, registry: str, tmp_path: Path) -> None:
    sdc.ok("pull", "-q", registry)
    image_id = sdc.ok("images", "-q", "--no-trunc")
    archive = tmp_path / "edge.tar"
    sdc.ok("save", "-o", str(archive), registry)
    clean(sdc, "reference")

    def after(when: str) -> None:
        proc = sdc("load", "-q", "-i", str(archive))
        assert proc.returncode == 0, f"{when}: the load again: {proc.stderr}"
        assert sdc.ok("images", "-q", "--no-trunc") == image_id, when
        consistent(sdc.root, f"{when}, loaded again")
        clean(sdc, when)

    sweep(sdc, ["load", "-q", "-i", str(archive)], before=lambda: None, after=after)


def test_commit_killed_anywhere(sdc: Sdc, registry: str) -> None:
    sdc.ok("pull", "-q", registry)
    sdc.ok("run", "-d", "--name", "work", registry, "sh", "-c",
           "rm /etc/hostname.d 2>/dev/null; echo mine > /made; rm -r /opaque; exec sleep 1000")  # fmt: skip
    deadline = time.monotonic() + 10
    while sdc("diff", "work").stdout.count("\n") < 2:
        assert time.monotonic() < deadline, sdc("diff", "work")
        time.sleep(0.05)
    base = set(sdc.ok("images", "-q", "--no-trunc").split())

    def after(when: str) -> None:
        for image in set(sdc.ok("images", "-q", "--no-trunc").split()) - base:  # a commit that got through
            sdc.ok("rmi", image)
        proc = sdc("commit", "work", "committed:1")
        assert proc.returncode == 0, f"{when}: the commit again: {proc.stderr}"
        consistent(sdc.root, f"{when}, committed again")
        assert sdc.ok("run", "--rm", "committed:1", "sh", "-c", "cat /made; ls /opaque 2>&1 | wc -l") == "mine\n1\n"
        sdc.ok("rmi", "committed:1")
        sdc.ok("image", "prune", "-f")
        state = store_state(sdc.root)
        assert not state["tmp_layers"] and not state["tmp_records"], f"{when}: {state}"

    try:
        sweep(sdc, ["commit", "work", "committed:1"], before=lambda: None, after=after)
    finally:
        sdc("rm", "-f", "work")
    clean(sdc, "the end")


def test_rmi_killed_anywhere(sdc: Sdc, registry: str) -> None:
    def before() -> None:
        sdc.ok("pull", "-q", registry)

    def after(when: str) -> None:
        listed = sdc.ok("images", "-q").split()
        if listed:  # the kill came before the record went: the image is whole, named or not yet
            assert sdc.ok("run", "--rm", listed[0], "cat", "/opaque/mine") == "this layer's\n", when
        clean(sdc, when)

    sweep(sdc, ["rmi", registry], before=before, after=after)


def test_prune_clears_records_a_kill_left_half_written(sdc: Sdc, registry: str) -> None:
    # What a kill between write_atomically's write and its rename leaves, in each directory of
    # records written under the store's lock; and what must stay (another file's, sdc login's).
    sdc.ok("pull", "-q", registry)
    root = sdc.root
    partial = [root / "layers" / ".0123.json.0a1b2c3d4e5f", root / "images" / ".4567.config.00112233aabb",
               root / ".repositories.json.ffeeddccbbaa"]  # fmt: skip
    kept = [root / ".auth.json.0a1b2c3d4e5f", root / "images" / ".not-ours"]
    for path in partial + kept:
        path.write_text("{")
    sdc.ok("image", "prune", "-f")
    assert [p.exists() for p in partial + kept] == [False] * len(partial) + [True] * len(kept)
    for path in kept:
        path.unlink()
    clean(sdc, "after planting")
