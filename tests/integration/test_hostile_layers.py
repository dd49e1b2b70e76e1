"""A corpus of hostile images served by a real registry (issue 7, scope item 4): each is refused by
`sdc pull` with a one-line error naming what failed, nothing outside the store changes, and the
store is as it was before: no partial layer, image, staging directory or record.

The blobs go into the registry through its HTTP API, as a hostile publisher would put them there:
no tool on the way looks inside them."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, store_state
from tests.integration.registry import blob_file, serve, upload

F, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
Entry = tuple[str, bytes, str]  # name, type, content or link target


def tar(*entries: Entry) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mtime = kind, 1_700_000_000
            info.mode = 0o755 if kind == D else 0o644
            data = value.encode() if kind == F else b""
            if kind in (S, H):
                info.linkname = value
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image(layers: list[bytes], *, diff_ids: list[str] | None = None) -> tuple[list[bytes], dict[str, object]]:
    """Blobs (gzip'd layers, then the config) and the OCI manifest of an image of these tars."""
    blobs = [gzip.compress(layer, compresslevel=1, mtime=0) for layer in layers]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids or [sha256(layer) for layer in layers]},
    }).encode()  # fmt: skip
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config),
                   "size": len(config)},  # fmt: skip
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(blob),
                    "size": len(blob)} for blob in blobs],  # fmt: skip
    }
    return [*blobs, config], manifest


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of the host the lower layer's symlinks point at: nothing may touch it."""
    where = tmp_path_factory.mktemp("outside")
    (where / "victim").write_text("the host's file\n")
    (where / "victim").chmod(0o600)
    return where


def base(outside: Path, salt: str) -> bytes:
    """A harmless lower layer that leaves traps for the next one: symlinks to the host's
    directory, absolute and relative. salt makes its chain ID this test's own."""
    climb = "../" * 12
    return tar(("etc", D, ""), ("etc/salt", F, salt), ("lowlink", S, str(outside)),
               ("lowrel", S, climb + str(outside).lstrip("/")), ("dir", D, ""), ("dir/file", F, "x"))  # fmt: skip


def hostile(outside: Path) -> dict[str, tuple[list[Entry], str]]:
    """Name: (the second layer's entries, what the error must name)."""
    climb = "../" * 12 + str(outside).lstrip("/")
    return {
        "dotdot": ([(f"{climb}/evil", F, "x")], "climbs out with '..'"),
        "absolute": ([(f"{outside}/evil", F, "x")], "has an absolute name"),
        "symlink-made-in-this-layer": ([("up", S, str(outside)), ("up/evil", F, "x")], "'up/evil'"),
        "absolute-symlink-of-a-lower-layer": ([("lowlink/evil", F, "x")], "'lowlink/evil'"),
        "relative-symlink-of-a-lower-layer": ([("lowrel/evil", F, "x")], "'lowrel/evil'"),
        "overwrite-through-a-lower-symlink": ([("lowlink/victim", F, "owned\n")], "'lowlink/victim'"),
        "hardlink-climbing-out": ([("stolen", H, f"{climb}/victim")], "climbs out with '..'"),
        "hardlink-through-a-symlink": ([("stolen", H, "lowlink/victim")], "'stolen' goes through a symlink"),
        "hardlink-to-an-absolute-path": ([("stolen", H, f"{outside}/victim")], "has an absolute name"),
        "whiteout-through-a-symlink": ([("lowlink/.wh.victim", F, "")], "'lowlink/.wh.victim'"),
        "opaque-directory-through-a-symlink": ([("lowrel/.wh..wh..opq", F, "")], "'lowrel/.wh..wh..opq'"),
        "whiteout-of-the-parent": ([("dir/.wh..", F, "")], "for no entry"),
    }


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    work = tmp_path_factory.mktemp("hostile-registry")
    with serve(work) as address:
        yield address, work


def snapshot(path: Path) -> dict[str, tuple[int, int, bytes]]:
    """The directory's own mode and every entry's mode, link count and contents."""
    entries = {p.name: (p.lstat().st_mode, p.lstat().st_nlink, p.read_bytes()) for p in sorted(path.iterdir())}
    return {".": (path.lstat().st_mode, 0, b""), **entries}


def refused(sdc: Sdc, store: Path, outside: Path, ref: str, expected: str, *args: str) -> None:
    before, host = store_state(store), snapshot(outside)
    proc = sdc("pull", *args, ref)
    assert proc.returncode == 125, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("sdc: error:")]
    assert len(errors) == 1 and expected in errors[0], proc.stderr
    assert snapshot(outside) == host
    assert store_state(store) == before


@pytest.mark.parametrize("case", list(hostile(Path("/x"))))
def test_a_hostile_entry_is_refused_and_leaves_nothing(
    sdc: Sdc, store: Path, registry: tuple[str, Path], outside: Path, case: str
) -> None:
    address, _ = registry
    entries, expected = hostile(outside)[case]
    blobs, manifest = image([base(outside, case), tar(*entries)])
    upload(address, f"hostile/{case}", "1", blobs, manifest)
    refused(sdc, store, outside, f"{address}/hostile/{case}:1", expected)


def _damaged(outside: Path, work: Path, address: str, case: str) -> tuple[str, tuple[str, ...]]:
    """Uploads the damaged image case names; what the error must say and the pull's own flags."""
    layer = base(outside, case)
    if case == "diff-id-mismatch":  # the config claims other contents than the layer holds
        blobs, manifest = image([layer], diff_ids=[sha256(layer + b"\0" * 512)])
        expected, args = "diff ID", ()
    elif case == "truncated-gzip":
        blobs, manifest = image([layer])
        blobs[0] = blobs[0][: len(blobs[0]) // 2]
        manifest["layers"][0].update(digest=sha256(blobs[0]), size=len(blobs[0]))  # type: ignore[index]
        expected, args = "not a valid", ()
    elif case == "size-limit-bomb":  # 64 MiB of zeros in 64 KiB, against a 16 MiB limit
        blobs, manifest = image([tar(("etc", D, ""), ("etc/salt", F, case), ("bomb", F, "\0" * (64 << 20)))])
        expected, args = "larger than the limit of 16 MiB (at 'bomb')", ("--max-size", "16m")
    elif case == "missing-blob":
        blobs, manifest = image([layer])
        expected, args = "", ()
    else:
        raise AssertionError(case)
    upload(address, f"damaged/{case}", "1", blobs, manifest)
    if case == "missing-blob":
        blob_file(work, sha256(blobs[0])).unlink()
        expected = "blob"
    return expected, args


@pytest.mark.parametrize("case", ["diff-id-mismatch", "truncated-gzip", "size-limit-bomb", "missing-blob"])
def test_a_damaged_image_is_refused_and_leaves_nothing(
    sdc: Sdc, store: Path, registry: tuple[str, Path], outside: Path, case: str
) -> None:
    address, work = registry
    expected, args = _damaged(outside, work, address, case)
    refused(sdc, store, outside, f"{address}/damaged/{case}:1", expected, *args)


def test_the_limit_comes_from_the_environment_too(sdc: Sdc, store: Path, registry: tuple[str, Path]) -> None:
    address, _ = registry
    blobs, manifest = image([tar(("etc", D, ""), ("big", F, "\0" * (8 << 20)))])
    upload(address, "damaged/env-limit", "1", blobs, manifest)
    ref = f"{address}/damaged/env-limit:1"
    before = store_state(store)
    proc = sdc("pull", "-q", ref, env=sdc.env(SDC_MAX_IMAGE_SIZE="4m"))
    assert proc.returncode == 125 and "larger than the limit of 4 MiB" in proc.stderr, proc.stderr
    assert store_state(store) == before
    sdc.ok("pull", "-q", ref)  # the default limit lets it in
    sdc.ok("rmi", ref)

