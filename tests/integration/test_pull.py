"""`sdc pull` from a real registry on 127.0.0.1 holding images made by umoci and pushed by skopeo
(issue 7): the container's root filesystem is what `umoci unpack` makes of the same image."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, rootfs_of, store_state
from tests.integration.imagetools import build_edge_image, run, tree
from tests.integration.registry import Proxy, blob_file, manifest_digest, push, serve, upload
from tests.integration.test_load import INIT


@pytest.fixture(scope="module")
def edge_layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("pulled")
    layout = build_edge_image(work)
    run("umoci", "unpack", "--image", f"{layout}:edge", str(work / "unpacked"))
    return {"layout": layout, "unpacked": work / "unpacked" / "rootfs", "work": work}


@pytest.fixture(scope="module")
def registry(edge_layout: dict[str, Path]) -> Iterator[tuple[str, Path]]:
    work = edge_layout["work"] / "registry"
    with serve(work) as address:
        push(f"oci:{edge_layout['layout']}:edge", address, "test/edge:1")
        yield address, work


def test_a_pulled_image_is_what_umoci_unpacks(
    sdc: Sdc, registry: tuple[str, Path], edge_layout: dict[str, Path], name: str
) -> None:
    address, _ = registry
    proc = sdc("pull", f"{address}/test/edge:1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{address}/test/edge:1\n"
    assert proc.stderr.count("Pull complete") == 3 and "Downloaded newer image" in proc.stderr
    sdc.ok("run", "-d", "--name", name, f"{address}/test/edge:1", "sleep", "1000")
    mine, umoci = tree(rootfs_of(sdc, name)), tree(edge_layout["unpacked"])
    assert {p: e for p, e in mine.items() if p not in INIT} == umoci
    assert mine["xattr"][5] == (("user.note", b"kept"),) and mine["links/hard"][6] == ("links/hard", "links/target")
    # Again: nothing fetched; by digest too.
    again = sdc("pull", f"{address}/test/edge:1")
    assert again.stderr.count("Already exists") == 3 and "Image is up to date" in again.stderr
    digest = manifest_digest(address, "test/edge:1")
    assert f"Digest: {digest}" in again.stderr
    by_digest = sdc.ok("pull", "-q", f"{address}/test/edge@{digest}")
    assert by_digest == f"{address}/test/edge@{digest}\n"
    assert sdc.ok("run", "--rm", f"{address}/test/edge@{digest}", "cat", "/opaque/mine") == "this layer's\n"


def build_multi_arch(work: Path) -> Path:
    """An OCI layout with an image index of two platforms (skopeo pushes it whole: --all)."""
    layout = build_edge_image(work)
    index = json.loads((layout / "index.json").read_text())
    [edge] = index["manifests"]
    arm_work = work / "arm"
    arm_layout = build_edge_image(arm_work)
    run("umoci", "unpack", "--image", f"{arm_layout}:edge", str(arm_work / "b"))
    (arm_work / "b" / "rootfs" / "arch").write_text("arm64\n")
    run("umoci", "repack", "--image", f"{arm_layout}:edge", str(arm_work / "b"))
    run("umoci", "config", "--image", f"{arm_layout}:edge", "--architecture", "arm64")
    # the arm64 image's blobs into the first layout, and one index over both manifests
    for blob in (arm_layout / "blobs" / "sha256").iterdir():
        shutil.copy(blob, layout / "blobs" / "sha256" / blob.name)
    [arm] = [m for m in json.loads((arm_layout / "index.json").read_text())["manifests"]
             if m["annotations"]["org.opencontainers.image.ref.name"] == "edge"]  # fmt: skip
    platforms = [{**edge, "platform": {"os": "linux", "architecture": "amd64"}},
                 {**arm, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]  # fmt: skip
    for entry in platforms:
        entry.pop("annotations", None)
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": platforms}).encode()  # fmt: skip
    import hashlib

    digest = hashlib.sha256(body).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(body)
    index["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": f"sha256:{digest}",
                           "size": len(body),
                           "annotations": {"org.opencontainers.image.ref.name": "multi"}}]  # fmt: skip
    (layout / "index.json").write_text(json.dumps(index))
    return layout


def upload_uncompressed(layout: Path, tag: str, address: str, repo: str) -> None:
    """The image with every layer a plain tar, put into the registry through its API (skopeo
    compresses what it pushes, and its --dest-decompress keeps the gzip)."""
    blob = layout / "blobs" / "sha256"
    index = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    manifest = json.loads((blob / entry["digest"][7:]).read_bytes())
    blobs = [(blob / manifest["config"]["digest"][7:]).read_bytes()]
    for layer in manifest["layers"]:
        data = gzip.decompress((blob / layer["digest"][7:]).read_bytes())
        layer.update(mediaType="application/vnd.oci.image.layer.v1.tar", size=len(data),
                     digest="sha256:" + hashlib.sha256(data).hexdigest())  # fmt: skip
        blobs.append(data)
    name, _, version = repo.partition(":")
    upload(address, name, version, blobs, manifest)


@pytest.mark.parametrize("kind", ["tar+zstd", "tar"])
def test_zstd_and_uncompressed_layers_give_the_same_tree(
    sdc: Sdc, registry: tuple[str, Path], edge_layout: dict[str, Path], name: str, kind: str, tmp_path: Path
) -> None:
    address, _ = registry
    repo = f"test/edge-{kind.replace('+', '-')}:1"
    if kind == "tar+zstd":  # into a layout first: to the registry, skopeo would reuse the gzip'd blobs there
        run("skopeo", "copy", "-q", "--dest-compress-format", "zstd", "--dest-compress",
            f"oci:{edge_layout['layout']}:edge", f"oci:{tmp_path / 'layout'}:edge")  # fmt: skip
        push(f"oci:{tmp_path / 'layout'}:edge", address, repo)
    else:
        upload_uncompressed(edge_layout["layout"], "edge", address, repo)
    manifest = json.loads(run("skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{address}/{repo}"))
    assert {layer["mediaType"].rsplit(".", 1)[-1] for layer in manifest["layers"]} == {kind}
    sdc.ok("pull", "-q", f"{address}/{repo}")
    sdc.ok("run", "-d", "--name", name, f"{address}/{repo}", "sleep", "1000")
    mine, umoci = tree(rootfs_of(sdc, name)), tree(edge_layout["unpacked"])
    assert {p: e for p, e in mine.items() if p not in INIT} == umoci


def test_a_multi_platform_image_gives_this_machines_or_the_one_asked_for(
    sdc: Sdc, registry: tuple[str, Path], tmp_path: Path
) -> None:
    address, _ = registry
    layout = build_multi_arch(tmp_path)
    push(f"oci:{layout}:multi", address, "test/multi:1", "--all")
    sdc.ok("pull", "-q", f"{address}/test/multi:1")
    assert sdc("run", "--rm", f"{address}/test/multi:1", "cat", "/arch").returncode == 1  # amd64's has none
    sdc.ok("pull", "-q", "--platform", "linux/arm64", f"{address}/test/multi:1")
    assert sdc.ok("run", "--rm", f"{address}/test/multi:1", "cat", "/arch") == "arm64\n"
    proc = sdc("pull", "--platform", "linux/s390x", f"{address}/test/multi:1")
    assert proc.returncode == 125 and "has no image for linux/s390x" in proc.stderr and "linux/arm64/v8" in proc.stderr


def test_a_tampered_or_missing_blob_leaves_nothing(
    sdc: Sdc, image: str, store: Path, registry: tuple[str, Path], edge_layout: dict[str, Path], tmp_path: Path
) -> None:
    address, work = registry
    layout = build_edge_image(tmp_path / "victim", unique=True)  # layers the store has none of
    push(f"oci:{layout}:edge", address, "test/victim:1")
    manifest = json.loads(run("skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{address}/test/victim:1"))
    biggest = max(manifest["layers"], key=lambda layer: layer["size"])["digest"]
    before = store_state(store)
    for name in ("test/victim:1",):
        sdc("rmi", "-f", f"{address}/{name}")
    data = blob_file(work, biggest)
    original = data.read_bytes()
    try:
        data.write_bytes(original[:200] + bytes([original[200] ^ 1]) + original[201:])
        proc = sdc("pull", f"{address}/test/victim:1")
        assert proc.returncode == 125 and proc.stderr.count("sdc: error:") == 1, proc.stderr
        assert store_state(store) == before
        data.unlink()
        proc = sdc("pull", f"{address}/test/victim:1")
        assert proc.returncode == 125 and "sdc: error:" in proc.stderr, proc.stderr
        assert store_state(store) == before
    finally:
        data.write_bytes(original)
    sdc.ok("pull", "-q", f"{address}/test/victim:1")  # and whole again, it pulls


def test_pull_save_load_into_a_fresh_store_is_the_same_image(
    sdc: Sdc, fresh_sdc: Sdc, registry: tuple[str, Path], tmp_path: Path
) -> None:
    address, _ = registry
    sdc.ok("pull", "-q", f"{address}/test/edge:1")
    archive = tmp_path / "edge.tar"
    sdc.ok("save", "-o", str(archive), f"{address}/test/edge:1")
    assert fresh_sdc.ok("load", "-i", str(archive)) == f"Loaded image: {address}/test/edge:1\n"
    ids = [{r["Id"] for r in json.loads(s.ok("images", "--format", "json"))} for s in (sdc, fresh_sdc)]
    assert ids[1] <= ids[0] and len(ids[1]) == 1
    # the diff IDs each layer was checked against on load are the pulled config's
    with tarfile.open(archive) as tar:
        [entry] = json.loads(tar.extractfile("index.json").read())["manifests"]  # type: ignore[union-attr]
        manifest = json.loads(tar.extractfile(f"blobs/sha256/{entry['digest'][7:]}").read())  # type: ignore[union-attr]
    pulled = json.loads(run("skopeo", "inspect", "--tls-verify=false", "--config", "--raw",
                            f"docker://{address}/test/edge:1"))  # fmt: skip
    assert [layer["digest"] for layer in manifest["layers"]] == pulled["rootfs"]["diff_ids"]


def test_layers_download_side_by_side_and_a_flaky_network_is_retried(
    sdc: Sdc, store: Path, registry: tuple[str, Path], tmp_path: Path, name: str
) -> None:
    address, _ = registry
    layout = build_edge_image(tmp_path / "flaky", unique=True)  # layers the store has none of
    push(f"oci:{layout}:edge", address, "test/flaky:1")
    manifest = json.loads(run("skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{address}/test/flaky:1"))
    layers = [layer["digest"] for layer in manifest["layers"]]
    assert len(layers) == 3
    # Each blob held back longer than the client's first retry waits (0.5 s, registry.py), so that
    # the first layer's retried GET overlaps the two ahead however loaded the host is (at 0.5 s the
    # overlap was a matter of microseconds, and CI once saw two at once, not three).
    proxy = Proxy(address, delay=1.0)
    # The first fails at once, the second breaks off half-way, the third both, one after the other.
    proxy.faults = {layers[0]: ["503"], layers[1]: ["cut"], layers[2]: ["cut", "503"]}
    before = store_state(store)
    with proxy.serve() as via:
        proc = sdc("pull", f"{via}/test/flaky:1")
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.count("Pull complete") == 3, proc.stderr
        assert proxy.most == 3  # all three at once: one applied as it streams, two ahead of it
        assert [proxy.gets[layer] for layer in layers] == [2, 2, 3]  # each fault cost one GET more
        again = sdc("pull", f"{via}/test/flaky:1")
        assert again.returncode == 0 and again.stderr.count("Already exists") == 3, again.stderr
        assert [proxy.gets[layer] for layer in layers] == [2, 2, 3]  # a stored layer is not fetched again
    assert sdc.ok("run", "--rm", f"{via}/test/flaky:1", "cat", "/opaque/mine") == "this layer's\n"
    sdc.ok("rmi", f"{via}/test/flaky:1")
    assert store_state(store) == before  # nothing downloaded ahead stays behind


def test_run_pulls_what_the_store_lacks(fresh_sdc: Sdc, registry: tuple[str, Path]) -> None:
    """--pull (issue 25): missing (the default, as Docker's) pulls an image the store lacks and
    runs it; never refuses, naming `sdc pull`; always pulls again (nothing fetched twice)."""
    address, _ = registry
    ref = f"{address}/test/edge:1"
    never = fresh_sdc("run", "--rm", "--pull", "never", ref, "true")
    assert never.returncode != 0 and f"no such image: {ref}" in never.stderr and "sdc pull" in never.stderr
    first = fresh_sdc("run", "--rm", ref, "cat", "/opaque/mine")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "this layer's\n"
    assert f"Unable to find image '{ref}'" in first.stderr and first.stderr.count("Pull complete") == 3
    again = fresh_sdc("run", "--rm", ref, "true")
    assert again.returncode == 0 and again.stderr == ""  # there now: no pull
    always = fresh_sdc("run", "--rm", "--pull=always", ref, "true")
    assert always.returncode == 0 and always.stderr.count("Already exists") == 3, always.stderr
    assert fresh_sdc("run", "--rm", "--pull=newer", ref, "true").returncode == 0
    bad = fresh_sdc("run", "--rm", "--pull=sometimes", ref, "true")
    assert bad.returncode == 125 and "invalid --pull" in bad.stderr and bad.stderr.count("\n") == 1
