"""Layer extraction on a plain directory: what it keeps, what it refuses, whiteouts."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from sdcontainer.errors import UsageError
from sdcontainer.layers import UnsafeArchive, extract_layer


def tar(*entries: tuple[str, bytes, str], compress: bool = False) -> io.BytesIO:
    """entries: (name, type, data-or-linkname), owned by whoever runs the test."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.uid, info.gid = os.getuid(), os.getgid()
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            data = b""
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = payload
            else:
                data = payload.encode()
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return io.BytesIO(gzip.compress(raw, mtime=0) if compress else raw)


D, F, S, H = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def test_files_dirs_links_and_digest(tmp_path: Path) -> None:
    archive = tar(("./", D, ""), ("./etc", D, ""), ("etc/motd", F, "hello"), ("etc/link", S, "motd"),
                  ("etc/hard", H, "etc/motd"), compress=True)  # fmt: skip
    digest = extract_layer(archive, tmp_path)
    assert digest.startswith("sha256:") and len(digest) == 71
    assert (tmp_path / "etc/motd").read_text() == "hello"
    assert os.readlink(tmp_path / "etc/link") == "motd"
    assert (tmp_path / "etc/hard").stat().st_ino == (tmp_path / "etc/motd").stat().st_ino
    # The same archive, the same digest: layers are content-addressed.
    other = tmp_path / "again"
    other.mkdir()
    assert extract_layer(tar(("./", D, ""), ("./etc", D, ""), ("etc/motd", F, "hello"), ("etc/link", S, "motd"),
                             ("etc/hard", H, "etc/motd"), compress=True), other) == digest  # fmt: skip


def test_whiteouts_remove_from_lower_layers(tmp_path: Path) -> None:
    extract_layer(tar(("a", D, ""), ("a/keep", F, "1"), ("a/gone", F, "2"), ("b", D, ""), ("b/old", F, "3")),
                  tmp_path)  # fmt: skip
    extract_layer(tar(("a/.wh.gone", F, ""), ("b/new", F, "4"), ("b/.wh..wh..opq", F, "")), tmp_path)
    assert sorted(os.listdir(tmp_path / "a")) == ["keep"]
    assert sorted(os.listdir(tmp_path / "b")) == ["new"]  # opaque: what this layer wrote stays


@pytest.mark.parametrize(
    "entries",
    [
        [("../evil", F, "x")],
        [("/etc/evil", F, "x")],
        [("a/../../evil", F, "x")],
        [("up", S, ".."), ("up/evil", F, "x")],
        [("abs", S, "/tmp"), ("abs/evil", F, "x")],
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "relative-symlink-parent", "absolute-symlink-parent"],
)
def test_unsafe_names_are_refused(tmp_path: Path, entries: list[tuple[str, bytes, str]]) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UnsafeArchive):
        extract_layer(tar(*entries), root)
    assert not (tmp_path / "evil").exists()


def test_a_hardlink_cannot_point_outside(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_text("s")
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UsageError):
        extract_layer(tar(("link", H, "../secret")), root)
    with pytest.raises(UsageError):
        extract_layer(tar(("link", H, "missing")), root)
    assert not (root / "link").exists()


def test_a_symlink_never_redirects_a_later_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    target = tmp_path / "target"
    target.write_text("original")
    # The file replaces the symlink; it is not written through it.
    extract_layer(tar(("f", S, str(target)), ("f", F, "new")), root)
    assert target.read_text() == "original"
    assert (root / "f").read_text() == "new" and not (root / "f").is_symlink()


@pytest.mark.parametrize("data", [b"", b"not a tar at all" * 100, gzip.compress(b"x" * 1000)[:50]])
def test_corrupt_input(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UsageError, match="tar"):
        extract_layer(io.BytesIO(data), tmp_path)


def test_the_archives_root_entry_does_not_open_the_layer(tmp_path: Path) -> None:
    """A world-writable root entry would make the layer's root, and every container's, 0777."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo(".")
        info.type, info.mode = tarfile.DIRTYPE, 0o777
        t.addfile(info)
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    extract_layer(io.BytesIO(buf.getvalue()), root)
    assert root.stat().st_mode & 0o7777 == 0o755
