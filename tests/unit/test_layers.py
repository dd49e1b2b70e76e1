"""Layer extraction on a plain directory: what it keeps, what it refuses, whiteouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from sdcontainer.errors import UsageError
from sdcontainer.layers import UnsafeArchive, extract_layer, rebuild_tar, tar_size


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
    digests = extract_layer(archive, tmp_path)
    assert digests.blob.algorithm == "sha256" and len(digests.blob.hex) == 64
    assert digests.size == len("hello")
    # The diff ID is the digest of the tar inside, the blob's of the gzip around it.
    archive.seek(0)
    assert str(digests.blob) == "sha256:" + hashlib.sha256(archive.read()).hexdigest()
    archive.seek(0)
    assert str(digests.diff_id) == "sha256:" + hashlib.sha256(gzip.decompress(archive.read())).hexdigest()
    assert (tmp_path / "etc/motd").read_text() == "hello"
    assert os.readlink(tmp_path / "etc/link") == "motd"
    assert (tmp_path / "etc/hard").stat().st_ino == (tmp_path / "etc/motd").stat().st_ino
    # The same archive, the same digest: layers are content-addressed.
    other = tmp_path / "again"
    other.mkdir()
    assert extract_layer(tar(("./", D, ""), ("./etc", D, ""), ("etc/motd", F, "hello"), ("etc/link", S, "motd"),
                             ("etc/hard", H, "etc/motd"), compress=True), other) == digests  # fmt: skip


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


def raw_tar(*members: tuple[tarfile.TarInfo, bytes], end: bool = True) -> bytes:
    """An archive of members; without end, cut right after the last member (no end blocks)."""
    buf = io.BytesIO()
    t = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
    for info, data in members:
        info.size = len(data) if info.isreg() else 0
        t.addfile(info, io.BytesIO(data))
    if end:
        t.close()  # writes the end-of-archive blocks
    return buf.getvalue()


def entry(name: str, kind: bytes = F, **attrs: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.uid, info.gid, info.mode = os.getuid(), os.getgid(), 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def test_an_archive_cut_at_a_member_boundary_is_refused(tmp_path: Path) -> None:
    whole = raw_tar((entry("a"), b"1"), (entry("b"), b"2"))
    cut = raw_tar((entry("a"), b"1"), (entry("b"), b"2"), end=False)
    (tmp_path / "whole").mkdir()
    extract_layer(io.BytesIO(whole), tmp_path / "whole")
    for data in (cut, cut + b"\x01" * 300, cut + b"garbage!" * 64):  # cut, cut in a header, garbled header
        root = tmp_path / f"r{len(data)}"
        root.mkdir()
        with pytest.raises(UsageError, match="truncated or corrupt|not a valid"):
            extract_layer(io.BytesIO(data), root)


@pytest.mark.parametrize("name", [".wh...", ".wh..", ".wh.", "d/.wh...", "d/.wh."])
def test_a_whiteout_for_no_entry_touches_nothing(tmp_path: Path, name: str) -> None:
    """The probe's `.wh...` made the extractor delete the layer root's parent."""
    (tmp_path / "marker").write_text("outside the layer")
    root = tmp_path / "layer"
    root.mkdir()
    (root / "d").mkdir()
    (root / "d" / "keep").write_text("x")
    with pytest.raises(UsageError, match="whiteout"):
        extract_layer(io.BytesIO(raw_tar((entry(name), b""))), root)
    assert (tmp_path / "marker").exists() and (root / "d" / "keep").exists()


def test_aufs_bookkeeping_is_skipped_and_whiteout_parents_refused(tmp_path: Path) -> None:
    data = raw_tar((entry(".wh..wh.plnk", D), b""), (entry(".wh..wh.plnk/1234.5", F), b"x"), (entry("kept"), b"y"))
    extract_layer(io.BytesIO(data), tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["kept"]
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(UsageError, match="inside a whiteout"):
        extract_layer(io.BytesIO(raw_tar((entry(".wh.x/y"), b""))), other)


@pytest.mark.parametrize(
    "name", ["/".join(["d"] * 300) + "/f", "x" * 5000, "a/" + "y" * 300], ids=["deep", "long", "long-component"]
)
def test_deep_and_long_paths_are_refused_in_one_line(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError) as err:
        extract_layer(io.BytesIO(raw_tar((entry(name), b"z"))), tmp_path)
    assert "\n" not in err.value.message and len(err.value.message) < 300


def test_the_size_limit_counts_what_files_claim(tmp_path: Path) -> None:
    data = raw_tar((entry("a"), b"1" * 600), (entry("b"), b"2" * 600))
    with pytest.raises(UsageError, match="larger than the limit"):
        extract_layer(io.BytesIO(data), tmp_path, max_size=1000)
    assert not (tmp_path / "b").exists()  # refused before a byte of it was written


def test_zeros_are_written_as_holes(tmp_path: Path) -> None:
    size = 8 << 20
    data = raw_tar((entry("zeros"), b"\0" * size), (entry("tail"), b"\0" * (3 << 20) + b"end"))
    total = extract_layer(io.BytesIO(gzip.compress(data, mtime=0)), tmp_path).size
    assert total == size + (3 << 20) + 3
    zeros = tmp_path / "zeros"
    assert zeros.stat().st_size == size and zeros.read_bytes() == b"\0" * size
    assert zeros.stat().st_blocks * 512 < size // 4
    assert (tmp_path / "tail").read_bytes().endswith(b"\0end")


def test_only_harmless_xattrs_are_kept(tmp_path: Path) -> None:
    info = entry("f", pax_headers={"SCHILY.xattr.user.note": "kept", "SCHILY.xattr.trusted.overlay.opaque": "y"})
    extract_layer(io.BytesIO(raw_tar((info, b"x"))), tmp_path)
    assert os.listxattr(tmp_path / "f") == ["user.note"]


def _round_trip(tmp_path: Path, data: bytes, compress: bool = False) -> bytes:
    root = tmp_path / "layer"
    root.mkdir()
    split = io.BytesIO()
    digests = extract_layer(io.BytesIO(gzip.compress(data) if compress else data), root, split=split)
    assert str(digests.diff_id) == "sha256:" + hashlib.sha256(data).hexdigest()
    split.seek(0)
    assert tar_size(split) == len(data)
    split.seek(0)
    return b"".join(rebuild_tar(split, root))


def test_the_tar_split_makes_the_same_tar_again(tmp_path: Path) -> None:
    """Headers (pax and GNU long names, the padding), file contents from the layer, links, a large
    file that spans reads, the end blocks and a writer's padding after them."""
    big = os.urandom(3 << 20)
    long_name = "deep/" + "n" * 150 + "/ünïcödé-" + "x" * 120
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, payload in (
            (entry("deep", D, mode=0o755), b""),
            (entry("deep/" + "n" * 150, D, mode=0o755), b""),
            (entry(long_name), b"long"),
            (entry("big", mtime=1234567890.5), big),
            (entry("hard", H, linkname="big"), b""),
            (entry("sym", S, linkname="/etc/passwd"), b""),
            (entry("empty"), b""),
            (entry("odd"), b"x" * 513),
        ):
            info.size = len(payload)
            t.addfile(info, io.BytesIO(payload))
    data = buf.getvalue() + bytes(10240 * 2)  # a writer's record padding after the end blocks
    assert _round_trip(tmp_path, data, compress=True) == data
    gnu = io.BytesIO()
    with tarfile.open(fileobj=gnu, mode="w", format=tarfile.GNU_FORMAT) as t:
        info = entry("x" * 200)
        info.size = 3
        t.addfile(info, io.BytesIO(b"abc"))
    (tmp_path / "gnu").mkdir()
    assert _round_trip(tmp_path / "gnu", gnu.getvalue()) == gnu.getvalue()


def test_a_tar_split_never_reads_through_a_symlink(tmp_path: Path) -> None:
    """A layer whose file was replaced by a symlink to a host file: rebuilding must not read it."""
    root = tmp_path / "layer"
    root.mkdir()
    split = io.BytesIO()
    extract_layer(io.BytesIO(raw_tar((entry("d", D, mode=0o755), b""), (entry("d/f"), b"data"))), root, split=split)
    (tmp_path / "secret").write_text("host")
    os.unlink(root / "d/f")
    os.rmdir(root / "d")
    os.symlink(tmp_path, root / "d")
    (tmp_path / "f").write_text("host")
    split.seek(0)
    with pytest.raises(UnsafeArchive, match="symlink"):
        b"".join(rebuild_tar(split, root))


# --- what a hostile layer costs (issue 21, items 6 and its review) ------------------------------


@pytest.mark.parametrize("kind", ["gnu-longname", "pax"])
def test_a_header_tarfile_reads_whole_is_bounded(tmp_path: Path, kind: str) -> None:
    """tarfile reads a GNU long name or a pax header whole, at the size its header claims: 2 MiB
    of name is refused (1 MiB at most, as Go's archive/tar), and not held in memory first."""
    name = "n" * (2 << 20)
    buf = io.BytesIO()
    fmt = tarfile.GNU_FORMAT if kind == "gnu-longname" else tarfile.PAX_FORMAT
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        t.addfile(tarfile.TarInfo(name))
    stream = io.BytesIO(gzip.compress(buf.getvalue(), mtime=0))
    with pytest.raises(UsageError, match="a tar header of 2048 KiB"):
        extract_layer(stream, tmp_path)


def test_what_follows_the_end_of_the_archive_is_bounded(tmp_path: Path) -> None:
    """Bytes after tar's end blocks go into the diff ID and the tar-split, on the host's disk: its
    blocking's padding passes, megabytes of more do not."""
    layer = tar(("f", F, "x")).getvalue()
    for d in ("padded", "trailing"):
        (tmp_path / d).mkdir()
    extract_layer(io.BytesIO(layer + bytes(10240)), tmp_path / "padded", split=io.BytesIO())
    for split in (None, io.BytesIO()):
        with pytest.raises(UsageError, match="goes on for more than 1024 KiB after its end"):
            extract_layer(io.BytesIO(layer + os.urandom(2 << 20)), tmp_path / "trailing", split=split)


def test_each_entry_and_its_header_counts_against_the_limit(tmp_path: Path) -> None:
    """1,000 empty files are 1,000 KiB of the budget (each entry 1 KiB and its header's bytes)."""
    many = tar(*[(f"f{i}", F, "") for i in range(1000)])
    for d in ("small", "large", "next"):
        (tmp_path / d).mkdir()
    with pytest.raises(UsageError, match="larger than the limit of 1 MiB"):
        extract_layer(many, tmp_path / "small", max_size=1 << 20)
    many.seek(0)
    digests = extract_layer(many, tmp_path / "large", max_size=4 << 20)
    assert 1000 * 1024 < digests.cost < 1000 * (1024 + 1024) and digests.size == 0
    assert extract_layer(tar(("x", F, "")), tmp_path / "next", spent=digests.cost).cost > digests.cost


def test_entries_are_bounded_whatever_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sdcontainer import layers

    monkeypatch.setattr(layers, "MAX_ENTRIES", 100)
    with pytest.raises(UsageError, match="more than 100 entries"):
        extract_layer(tar(*[(f"f{i}", F, "") for i in range(101)]), tmp_path)


def test_a_file_swapped_for_a_fifo_is_never_opened(tmp_path: Path) -> None:
    """`sdc cp`'s archive of a container's files: what a container swaps in between the stat and
    the open (a FIFO here: opening it would wait forever; a device node: its driver's open) is
    never opened, and says so."""
    from sdcontainer.errors import UsageError
    from sdcontainer.layers import _open_checked

    (tmp_path / "f").write_text("x")
    st = os.stat(tmp_path / "f", follow_symlinks=False)
    (tmp_path / "f").unlink()
    os.mkfifo(tmp_path / "f")
    pfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(UsageError, match="changed while it was read"):
            _open_checked(pfd, "f", st, None)
    finally:
        os.close(pfd)


def test_a_copy_out_drops_setid_bits_and_file_capabilities_unless_asked() -> None:
    import tarfile

    from sdcontainer.layers import CopyPolicy

    member = tarfile.TarInfo("tool")
    member.mode = 0o6755
    member.pax_headers = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02", "SCHILY.xattr.user.x": "1"}
    assert CopyPolicy(setid=False).apply_to(member)
    assert member.mode == 0o755 and list(member.pax_headers) == ["SCHILY.xattr.user.x"]
    node = tarfile.TarInfo("null")
    node.type = tarfile.CHRTYPE
    policy = CopyPolicy(devices=False)
    assert not policy.apply_to(node) and policy.skipped == ["null"] and policy.skipped_count == [1]
