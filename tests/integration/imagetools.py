"""Images made by third-party tools (umoci, skopeo), not by sdc, and trees compared as umoci unpacks them."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

from tests.integration.conftest import make_busybox_rootfs

DEEP = "/".join(f"d{i}" for i in range(40))


def run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stderr}"
    return proc.stdout


def _entry(tar: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: object) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = 1_700_000_000
    for key, value in attrs.items():
        setattr(info, key, value)
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data))


def edge_layers(work: Path) -> tuple[Path, Path]:
    """Two hand-written layers over a base: every kind of change an image carries."""
    second, third = work / "layer2.tar", work / "layer3.tar"
    with tarfile.open(second, "w", format=tarfile.PAX_FORMAT) as tar:
        _entry(tar, "etc/.wh.removed")  # a whiteout of a base file
        _entry(tar, "opaque", tarfile.DIRTYPE)
        _entry(tar, "opaque/.wh..wh..opq")  # hides the base's opaque/* ...
        _entry(tar, "opaque/mine", data=b"this layer's\n")  # ... but not this layer's own
        _entry(tar, "shape", tarfile.DIRTYPE)  # the base's file `shape` becomes a directory
        _entry(tar, "shape/inside", data=b"in\n")
        _entry(tar, "links/target", data=b"linked\n")
        _entry(tar, "links/hard", tarfile.LNKTYPE, linkname="links/target")
        _entry(tar, "links/relative", tarfile.SYMTYPE, linkname="../etc/keep")
        _entry(tar, "links/absolute", tarfile.SYMTYPE, linkname="/etc/keep")
        _entry(tar, "links/dangling", tarfile.SYMTYPE, linkname="/no/such/thing")
        _entry(tar, "bin/su-like", data=b"#!/bin/sh\n", mode=0o4755)
        _entry(tar, "bin/sg-like", data=b"#!/bin/sh\n", mode=0o2711, gid=50)
        _entry(tar, "tmp", tarfile.DIRTYPE, mode=0o1777)
        _entry(tar, "owned", data=b"mine\n", uid=1234, gid=5678)
        _entry(tar, "xattr", data=b"x\n", pax_headers={"SCHILY.xattr.user.note": "kept"})
        _entry(tar, f"{DEEP}/deep", data=b"deep\n")
        _entry(tar, "ünïcödé/日本", data=b"non-ASCII\n")
    with tarfile.open(third, "w", format=tarfile.PAX_FORMAT) as tar:
        _entry(tar, ".wh.shape")  # and back to a file
        _entry(tar, "shape", data=b"a file again\n")
        _entry(tar, "links/.wh.dangling")
    return second, third


def build_edge_image(work: Path, *, unique: bool = False) -> Path:
    """An OCI layout made by umoci: a busybox base, then the edge layers; its tag is `edge`.
    unique: a base layer no other build shares (umoci records mtimes to the second, so two
    builds in one second are the same image)."""
    layout = work / "layout"
    run("umoci", "init", "--layout", str(layout))
    run("umoci", "new", "--image", f"{layout}:edge")
    bundle = work / "base"
    run("umoci", "unpack", "--image", f"{layout}:edge", str(bundle))
    root = bundle / "rootfs"
    make_busybox_rootfs_into(root)
    (root / "etc" / "removed").write_text("gone in layer 2\n")
    (root / "etc" / "keep").write_text("kept\n")
    (root / "opaque").mkdir()
    (root / "opaque" / "hidden").write_text("hidden by layer 2\n")
    (root / "shape").write_text("a file\n")
    if unique:
        (root / "unique").write_bytes(os.urandom(16).hex().encode())
    run("umoci", "repack", "--image", f"{layout}:edge", str(bundle))
    for layer in edge_layers(work):
        run("umoci", "raw", "add-layer", "--image", f"{layout}:edge", str(layer))
    run("umoci", "config", "--image", f"{layout}:edge", "--config.cmd", "/bin/sh", "--config.env", "FROM=umoci")
    return layout


def make_busybox_rootfs_into(root: Path) -> None:
    staging = root.parent / "staging"
    make_busybox_rootfs(staging)
    for entry in staging.iterdir():
        shutil.move(str(entry), root / entry.name)
    staging.rmdir()


def tree(root: Path, *, skip: frozenset[str] = frozenset()) -> dict[str, tuple[object, ...]]:
    """Everything umoci unpack and sdc must agree on: type, mode, owner, content or link target,
    user xattrs and hardlink group of each path under root (mtimes aside)."""
    inodes: dict[tuple[int, int], list[str]] = {}
    entries: dict[str, tuple[object, ...]] = {}
    device = os.stat(root).st_dev
    for directory, dirs, files in os.walk(root):
        # a skipped directory is not entered, nor one of another filesystem: a running container's /proc, say
        dirs[:] = [d for d in dirs if str((Path(directory) / d).relative_to(root)) not in skip
                   and os.lstat(Path(directory) / d).st_dev == device]  # fmt: skip
        for name in dirs + files:
            path = Path(directory) / name
            rel = str(path.relative_to(root))
            if rel in skip:
                continue
            st = path.lstat()
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISREG(kind):
                what: object = hashlib.sha256(path.read_bytes()).hexdigest()
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif stat.S_ISLNK(kind):
                what = os.readlink(path)
            else:
                what = None
            xattrs = {} if stat.S_ISLNK(kind) else {
                k: os.getxattr(path, k) for k in os.listxattr(path) if k.startswith("user.")}  # fmt: skip
            entries[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, what, tuple(sorted(xattrs.items())))
    groups = {p: tuple(sorted(g)) for g in inodes.values() for p in g}
    return {p: (*e, groups.get(p, ())) for p, e in entries.items()}
