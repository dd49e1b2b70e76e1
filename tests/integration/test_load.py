"""`sdc load` of images made by umoci and exported by skopeo (issue 7): the container's root
filesystem is what `umoci unpack` makes of the same image; hostile archives leave nothing."""

from __future__ import annotations

import gzip
import io
import json
import re
import signal
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, rootfs_of, store_state, unit_property
from tests.integration.imagetools import build_edge_image, run, tree

# What sdc adds to a container's root that an image need not have (its init layer: storage/driver.py).
INIT = frozenset({"proc", "sys", "dev", "run", "etc/hostname", "etc/hosts", "etc/resolv.conf"})


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("edge")
    layout = build_edge_image(work)
    run("skopeo", "copy", "-q", f"oci:{layout}:edge", f"docker-archive:{work}/docker.tar:test/edge:1")
    run("skopeo", "copy", "-q", f"oci:{layout}:edge", f"oci-archive:{work}/oci.tar:test/edge:1")
    run("umoci", "unpack", "--image", f"{layout}:edge", str(work / "unpacked"))
    return {"layout": layout, "docker": work / "docker.tar", "oci": work / "oci.tar",
            "unpacked": work / "unpacked" / "rootfs"}  # fmt: skip


def config_digest(layout: Path) -> str:
    index = json.loads((layout / "index.json").read_text())
    [manifest] = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "edge"]
    blob = layout / "blobs" / "sha256" / manifest["digest"].removeprefix("sha256:")
    return str(json.loads(blob.read_text())["config"]["digest"])


def test_a_loaded_image_is_what_umoci_unpacks(sdc: Sdc, edge: dict[str, Path], name: str) -> None:
    for kind in ("docker", "oci"):
        assert sdc.ok("load", "-i", str(edge[kind])) == "Loaded image: test/edge:1\n"
    # Both archives carry the same config's bytes: one image, its ID their digest.
    [row] = [r for r in json.loads(sdc.ok("images", "--format", "json")) if r["Repository"] == "test/edge"]
    assert row["Id"] == config_digest(edge["layout"])
    sdc.ok("run", "-d", "--name", name, "test/edge:1", "sleep", "1000")
    mine, umoci = tree(rootfs_of(sdc, name)), tree(edge["unpacked"])
    assert set(mine) - set(umoci) <= INIT
    assert {p: e for p, e in mine.items() if p not in INIT} == umoci
    # ... and the tree holds what the layers were made to hold: (type, mode, uid, gid, what, xattrs, group)
    assert mine["xattr"][5] == (("user.note", b"kept"),)
    assert mine["links/hard"][6] == ("links/hard", "links/target")
    assert (mine["bin/su-like"][1], mine["bin/sg-like"][1], mine["tmp"][1]) == (0o4755, 0o2711, 0o1777)
    assert mine["owned"][2:4] == (1234, 5678) and mine["links/absolute"][4] == "/etc/keep"
    assert "ünïcödé/日本" in mine and any(p.endswith("d39/deep") for p in mine)
    assert "etc/removed" not in mine and "opaque/hidden" not in mine and "links/dangling" not in mine
    # The changes each layer made, as the container sees them.
    script = ("cat opaque/mine; ls opaque; cat shape; test -e etc/removed || echo removed; "
              "cat links/hard links/relative links/absolute; test -L links/dangling || echo dangling-gone")  # fmt: skip
    out = sdc.ok("run", "--rm", "-w", "/", "test/edge:1", "sh", "-c", script)
    assert out == "this layer's\nmine\na file again\nremoved\nlinked\nkept\nkept\ndangling-gone\n"
    assert sdc.ok("run", "--rm", "test/edge:1", "sh", "-c", "echo $FROM") == "umoci\n"


def test_a_compressed_archive_from_stdin(sdc: Sdc, edge: dict[str, Path]) -> None:
    data = gzip.compress(edge["oci"].read_bytes(), mtime=0)
    assert sdc.ok("load", input=data) == "Loaded image: test/edge:1\n"


def rewrite(source: Path, dest: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """A copy of an archive with members changed (None: left out)."""
    with tarfile.open(source) as src, tarfile.open(dest, "w") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if data is not None:
                data = change(member.name, data)
                if data is None:
                    continue
                member.size = len(data)
            out.addfile(member, io.BytesIO(data) if data is not None else None)
    return dest


def largest(archive: Path) -> str:
    with tarfile.open(archive) as tar:
        return max((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.size).name


def refused(sdc: Sdc, store: Path, archive: Path, says: str) -> None:
    before = store_state(store)
    proc = sdc("load", "-i", str(archive))
    assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
    assert store_state(store) == before


def test_hostile_archives_are_refused_and_leave_nothing(
    sdc: Sdc, image: str, store: Path, edge: dict[str, Path], tmp_path: Path
) -> None:
    sdc("rmi", "-f", "test/edge:1")
    oci_layer = largest(edge["oci"])  # the busybox layer's blob
    docker_layer = largest(edge["docker"])

    def flip(data: bytes) -> bytes:  # one byte of the compressed stream: its digest is another
        return data[:100] + bytes([data[100] ^ 1]) + data[101:]

    cases = [
        (rewrite(edge["oci"], tmp_path / "tampered.tar", lambda n, d: flip(d) if n == oci_layer else d), ""),
        (rewrite(edge["oci"], tmp_path / "missing.tar", lambda n, d: None if n == oci_layer else d), "lacks"),
        (rewrite(edge["oci"], tmp_path / "cut-gzip.tar", lambda n, d: d[: len(d) // 2] if n == oci_layer else d),
         ""),
        (rewrite(edge["docker"], tmp_path / "cut-tar.tar", lambda n, d: d[:-4096] if n == docker_layer else d),
         ""),
        (rewrite(edge["docker"], tmp_path / "swapped.tar",
                 lambda n, d: re.sub(rb'("diff_ids":\["sha256:)(.)', lambda m: m[1] + (b"1" if m[2] == b"0" else b"0"),
                                     d) if n.endswith(".json") and b"diff_ids" in d else d), "not what its image says"),
    ]  # fmt: skip
    for archive, says in cases:
        refused(sdc, store, archive, says)
    (tmp_path / "not-an-image.tar").write_bytes(edge["unpacked"].joinpath("etc", "keep").read_bytes())
    refused(sdc, store, tmp_path / "not-an-image.tar", "not an image archive")


@pytest.fixture(scope="module")
def configured(sdc: Sdc, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image whose config (by umoci) says how to run it: entrypoint, command, directory, user, signal."""
    from tests.integration.imagetools import make_busybox_rootfs_into

    work = tmp_path_factory.mktemp("configured")
    layout = work / "layout"
    run("umoci", "init", "--layout", str(layout))
    run("umoci", "new", "--image", f"{layout}:cfg")
    run("umoci", "unpack", "--image", f"{layout}:cfg", str(work / "b"))
    root = work / "b" / "rootfs"
    make_busybox_rootfs_into(root)
    with open(root / "etc" / "passwd", "a") as passwd:
        passwd.write("app:x:1000:1000:App:/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nstaff:x:50:app\n")
    run("umoci", "repack", "--image", f"{layout}:cfg", str(work / "b"))
    run("umoci", "config", "--image", f"{layout}:cfg", "--config.entrypoint", "/bin/sh", "--config.entrypoint",
        "-c", "--config.cmd", 'echo "$(id -u):$(id -g):$(id -G) $HOME $(pwd) $0"', "--config.workingdir",
        "/srv/app", "--config.user", "app", "--config.stopsignal", "SIGRTMIN+3")  # fmt: skip
    run("skopeo", "copy", "-q", f"oci:{layout}:cfg", f"docker-archive:{work}/cfg.tar:test/cfg:1")
    sdc.ok("load", "-i", str(work / "cfg.tar"))
    return "test/cfg:1"


def test_run_follows_the_images_config_and_the_flags_win(sdc: Sdc, configured: str, name: str) -> None:
    assert sdc.ok("run", "--rm", configured) == "1000:1000:1000 50 /home/app /srv/app /bin/sh\n"
    # Arguments replace the Cmd, not the entrypoint: here the sh -c script, then its $0.
    assert sdc.ok("run", "--rm", configured, "echo $(id -un) $0", "zero") == "app zero\n"
    flags = ["-u", "0:0", "-w", "/tmp", "--entrypoint", "/bin/echo"]
    assert sdc.ok("run", "--rm", *flags, configured, "plain") == "plain\n"  # --entrypoint drops the image's Cmd
    # An explicit group, and no supplementary ones (busybox's id then prints no groups=).
    assert sdc.ok("run", "--rm", "-u", "app:staff", "--entrypoint", "", configured, "id") == (
        "uid=1000(app) gid=50(staff)\n")  # fmt: skip
    proc = sdc("run", "--rm", "-u", "nobody-here", configured)
    assert proc.returncode == 125 and "no user 'nobody-here'" in proc.stderr
    sdc.ok("run", "-d", "--name", name, "--entrypoint", "/bin/sleep", configured, "1000")
    assert unit_property(f"sdc-{name}.service", "KillSignal") == str(signal.SIGRTMIN + 3)
    [info] = json.loads(sdc.ok("inspect", name))
    assert [info["Path"], *info["Args"]] == ["/bin/sleep", "1000"] and info["Config"]["StopSignal"] == "SIGRTMIN+3"
