"""Applying a layer tarball to a directory, never writing outside it.

Every path is resolved one component at a time from a directory fd with
O_NOFOLLOW (openat(2)), so neither a `..`, an absolute name, a symlinked
parent nor a hardlink can reach outside the layer root. Owners (numeric),
modes (setuid included), symlinks, hardlinks, device nodes, xattrs and mtimes
are kept; OCI whiteouts (.wh.NAME, .wh..wh..opq) delete from the lower layers.

The archive is hostile until checked: it must end with tar's end-of-archive
block (a cut or garbled archive is not a shorter image), its paths are bounded
in depth and length, whiteouts name one entry of their own directory, the
apparent size of its files and ENTRY_COST for each entry (its metadata: 300,000
empty files are 200 MiB of btrfs metadata, and memory here) are counted against
the image's limit before a byte is written (sparse or zero-filled files cost
nothing on disk: zero runs become holes), and
only user, ACL and file-capability xattrs are kept. Every failure is one
SdcError; the caller discards the half-written layer.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import hashlib
import lzma
import os
import shutil
import stat
import struct
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Self

from sdcontainer import linux
from sdcontainer.digests import Digest
from sdcontainer.errors import StoreFull, UsageError
from sdcontainer.record import field, record

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
AUFS_META = ".wh..wh."  # aufs' own bookkeeping (.wh..wh.plnk...): skipped, as Docker does
MAX_DEPTH = 256  # path components: deeper than any real image, and shallow enough to delete
MAX_PATH = 4095  # bytes: PATH_MAX less its NUL
# xattrs a layer may carry: user ones, POSIX ACLs, file capabilities. Not trusted.* (overlayfs
# reads its own there) nor security labels, which are the host's to give.
XATTR_PREFIXES = ("user.", "system.posix_acl_access", "system.posix_acl_default", "security.capability")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)


class UnsafeArchive(UsageError):
    """A tar member that would write outside the layer."""


class HashingReader:
    """Reads a stream and keeps the sha256 of every byte read; or, hashed_by, a stream whose bytes
    are those another reader hashes as they pass (an uncompressed layer's tar is its blob: one
    sha256 of it, not two, which was an eighth of an import's time)."""

    def __init__(self, raw: BinaryIO, *, hashed_by: HashingReader | None = None) -> None:
        self.raw = raw
        self.sha256: hashlib._Hash = hashed_by.sha256 if hashed_by is not None else hashlib.sha256()
        self.hashes = hashed_by is None

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if self.hashes:
            self.sha256.update(data)
        return data

    def drain(self, limit: int | None = None) -> Digest:
        """Read to the end (limit bytes at most: more is an error), and the sha256 of all read."""
        left = limit
        while data := self.read(_CHUNK):
            if limit is not None and left is not None:
                left -= len(data)
                if left < 0:
                    raise UsageError(f"the archive goes on for more than {limit >> 10} KiB after its end",
                                     hint="the archive is corrupt, or was made to be")  # fmt: skip
        return Digest("sha256", self.sha256.hexdigest())


@record
class Digests:
    """What applying a layer tarball learned of it."""

    blob: Digest  # sha256 of the bytes read, compressed or not: the blob's digest in a registry or archive
    diff_id: Digest  # sha256 of the tar inside: the layer's DiffID (OCI image-spec, config.md)
    size: int  # the apparent size of its files
    cost: int = 0  # what the image's limit was charged, this layer and those before it (extract_layer)


# The magic numbers of the compressions a layer may come in (gzip, bzip2, xz, zstd).
GZIP, BZIP2, XZ, ZSTD = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd"


class _Peeked:
    """A stream whose first bytes were read to see what it is, and are read again."""

    def __init__(self, raw: HashingReader, head: bytes) -> None:
        self.raw, self.head = raw, head

    def read(self, size: int = -1) -> bytes:
        if self.head:
            data, self.head = (self.head, b"") if size < 0 or size >= len(self.head) else (
                self.head[:size], self.head[size:])  # fmt: skip
            return data
        return self.raw.read(size)


def decompressed(raw: HashingReader) -> BinaryIO:
    """The tar inside raw, whatever its compression (found by its magic number)."""
    head = raw.read(6)
    stream: Any = _Peeked(raw, head)
    if head.startswith(GZIP):
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if head.startswith(BZIP2):
        return bz2.BZ2File(stream, mode="rb")  # type: ignore[return-value]
    if head.startswith(XZ):
        return lzma.LZMAFile(stream, mode="rb")  # type: ignore[return-value]
    if head.startswith(ZSTD):
        try:
            import zstandard
        except ImportError:
            raise UsageError("the layer is zstd-compressed, which needs the zstandard module",
                             hint="install python3-zstandard (or pip install zstandard)") from None  # fmt: skip
        return _ZstdErrors(zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True))  # type: ignore[return-value]
    return stream  # type: ignore[no-any-return]


class _ZstdErrors:
    """zstandard's reader, its ZstdError (a corrupt stream) an OSError as gzip's and lzma's are."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self.reader.read(size)
        except Exception as exc:  # noqa: BLE001 - zstandard.ZstdError, not importable up front
            if type(exc).__name__ != "ZstdError":
                raise
            raise OSError(f"not a valid zstd stream: {exc}") from None
        return data

    def close(self) -> None:
        self.reader.close()


def split_name(name: str) -> list[str]:
    """A member name as path components, refusing what could leave the root or cannot be kept."""
    if name.startswith("/"):
        raise UnsafeArchive(f"archive member {name!r} has an absolute name", hint="archives must hold relative names")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"archive member {name!r} climbs out with '..'", hint="the archive is unsafe to extract")
    if len(parts) > MAX_DEPTH or len(name.encode("utf-8", "surrogateescape")) > MAX_PATH:
        raise UnsafeArchive(
            f"archive member {name[:60]!r}... is nested too deep or named too long",
            hint=f"sdc takes paths of up to {MAX_DEPTH} levels and {MAX_PATH} bytes",
        )
    return parts


def whiteout_target(name: str) -> str:
    """The entry a whiteout (.wh.NAME) removes: one entry of the whiteout's own directory."""
    target = name[len(WHITEOUT) :]
    if target in ("", ".", ".."):
        raise UnsafeArchive(f"archive holds a whiteout {name!r} for no entry", hint="the archive is unsafe to extract")
    return target


@contextlib.contextmanager
def _open_dir(root_fd: int, parts: list[str], *, create: bool, member: str | None = None) -> Iterator[int]:
    """An fd of root/parts, refusing symlinks on the way; missing dirs made when create. member
    names the archive entry that needs it, for the error."""
    if parts:  # one openat2 that refuses any symlink on the way; what it cannot open, the walk below says
        try:
            fd = linux.open_beneath(root_fd, "/".join(parts), _DIR_FLAGS)
        except OSError:
            pass
        else:
            try:
                yield fd
            finally:
                os.close(fd)
            return
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                what = f"archive member {member!r}" if member else f"archive path {'/'.join(parts)!r}"
                raise UnsafeArchive(
                    f"{what} goes through a symlink or non-directory {part!r}",
                    hint="the archive is unsafe to extract",
                ) from exc
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _remove(dir_fd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def kept_xattrs(file: int | str) -> dict[str, bytes]:
    """The xattrs a layer keeps (XATTR_PREFIXES) of an open file, or of the file a path names
    (a /proc/self/fd/N path of an O_PATH fd: the file it names, not followed further)."""
    return {key: os.getxattr(file, key) for key in sorted(os.listxattr(file)) if key.startswith(XATTR_PREFIXES)}


def xattr_headers(xattrs: dict[str, bytes]) -> dict[str, str]:
    """xattrs as a tar member's pax records, as _xattrs reads them back."""
    return {"SCHILY.xattr." + key: value.decode("utf-8", "surrogateescape") for key, value in xattrs.items()}


def _xattrs(member: tarfile.TarInfo) -> dict[str, bytes]:
    prefix = "SCHILY.xattr."
    return {
        k[len(prefix) :]: v.encode("utf-8", "surrogateescape")
        for k, v in member.pax_headers.items()
        if k.startswith(prefix) and k[len(prefix) :].startswith(XATTR_PREFIXES)
    }


ID_MAX = 0xFFFFFFFE  # the largest uid or gid (-1 is "unchanged" to chown(2))
TIME_MAX = 1 << 40  # seconds either side of 1970 an mtime may be (time_t is 64 bits; utime's float is not)


def _check_member(member: tarfile.TarInfo) -> None:
    """What an archive member says, within what the kernel takes: no NUL in its names or its
    xattrs' (a C string ends there), owners and times of their ranges. Else one UnsafeArchive."""
    name = member.name[:100]
    xattr_names = [k for k in member.pax_headers if k.startswith("SCHILY.xattr.")]
    if "\0" in member.name or "\0" in member.linkname or any("\0" in k for k in xattr_names):
        raise UnsafeArchive(f"archive member {name!r} has a NUL in a name", hint="the archive is corrupt")
    if not (0 <= member.uid <= ID_MAX and 0 <= member.gid <= ID_MAX):
        raise UnsafeArchive(f"archive member {name!r} has an owner out of range ({member.uid}:{member.gid})",
                            hint="the archive is corrupt")  # fmt: skip
    mtime = member.mtime
    if not isinstance(mtime, (int, float)) or mtime != mtime or abs(mtime) > TIME_MAX:
        raise UnsafeArchive(f"archive member {name!r} has a time out of range", hint="the archive is corrupt")


def _set_attrs(fd: int, member: tarfile.TarInfo) -> None:
    os.fchown(fd, member.uid, member.gid)
    os.fchmod(fd, stat.S_IMODE(member.mode))  # after chown, which clears setuid
    for key, value in _xattrs(member).items():
        os.setxattr(fd, key, value)


class TarSplit:
    """Keeps every byte of a tar stream except the contents of the files it writes, so that the
    tar can be made again byte for byte from those and the layer's files: its diff ID stays the
    same through `save` and `push` (containers/storage keeps a "tar-split" for the same end).

    It sits between the decompressed stream and tarfile, which reads ahead of the member it is at
    by at most a record (10 KiB): bytes that far behind are never a payload still to come, and
    are written out as they pile up. The record, gzip-compressed, is a sequence of
        b"R" u32 length, bytes           bytes of the tar as they were (headers, padding, the end)
        b"F" u64 size, u16 length, path  the contents of the layer's file at path
    """

    _FLUSH_AT, _MARGIN = 1 << 20, 1 << 16

    def __init__(self, source: HashingReader, out: BinaryIO) -> None:
        self.source = source
        self.out = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0)
        self.pos = 0  # bytes read from source
        self.start = 0  # the offset in the stream of kept[0]
        self.kept = bytearray()

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        begin, self.pos = self.pos, self.pos + len(data)
        if self.pos > self.start:
            self.kept += memoryview(data)[max(0, self.start - begin) :]
            if len(self.kept) > self._FLUSH_AT:
                self._raw(len(self.kept) - self._MARGIN)
        return data

    def _raw(self, length: int) -> None:
        if length > 0:
            self.out.write(b"R" + struct.pack(">I", length))
            self.out.write(self.kept[:length])
            del self.kept[:length]
            self.start += length

    def payload(self, offset: int, size: int, parts: list[str]) -> None:
        """The size bytes at offset are the contents of the file the layer has at parts: call
        before they are read."""
        self._raw(offset - self.start)
        path = "/".join(parts).encode("utf-8", "surrogateescape")
        self.out.write(b"F" + struct.pack(">QH", size, len(path)) + path)
        del self.kept[:size]
        self.start += size

    def finish(self) -> Digest:
        """Read the rest (tar's end blocks, padding: TRAILING_MAX at most) and close the record:
        the stream's sha256."""
        left = TRAILING_MAX
        while data := self.read(_CHUNK):
            left -= len(data)
            if left < 0:
                raise UsageError(f"the archive goes on for more than {TRAILING_MAX >> 10} KiB after its end",
                                 hint="the archive is corrupt, or was made to be")  # fmt: skip
        self._raw(len(self.kept))
        self.out.close()
        return self.source.drain()


def _split_records(split: BinaryIO) -> Iterator[tuple[bytes, int, bytes]]:
    """The records of a tar-split: (b"R", 0, bytes) or (b"F", size, path)."""
    with gzip.GzipFile(fileobj=split, mode="rb") as f:
        while kind := f.read(1):
            if kind == b"R":
                (length,) = struct.unpack(">I", f.read(4))
                yield kind, 0, f.read(length)
            elif kind == b"F":
                size, length = struct.unpack(">QH", f.read(10))
                yield kind, size, f.read(length)
            else:
                raise UsageError("a layer's tar-split record is corrupt", hint="pull or load the image again")


def tar_size(split: BinaryIO) -> int:
    """The size of the tar a tar-split makes."""
    return sum(len(data) if kind == b"R" else size for kind, size, data in _split_records(split))


def rebuild_tar(split: BinaryIO, root: Path) -> Iterator[bytes]:
    """The tar a layer was made from, again: its tar-split's bytes, and the contents of the files
    it names read from the layer at root (never following a symlink)."""
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        for kind, size, data in _split_records(split):
            if kind == b"R":
                yield data
                continue
            *parent, name = data.decode("utf-8", "surrogateescape").split("/")
            with _open_dir(root_fd, parent, create=False) as pfd:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            with open(fd, "rb") as f:
                left = size
                while left and (chunk := f.read(min(left, _CHUNK))):
                    left -= len(chunk)
                    yield chunk
            if left:
                raise UsageError(f"the layer's file /{data.decode(errors='replace')} is shorter than it was",
                                 hint="the layer cannot be made again: pull or load the image again")  # fmt: skip
    finally:
        os.close(root_fd)


def write_changes(root: Path, changes: list[tuple[str, str]], out: BinaryIO) -> None:
    """A layer tarball (the OCI changeset format) of changes read from root: for each (kind, path),
    kind A or C: the entry as it is under root, D: a whiteout; and the directories above each entry,
    so that the layer makes them as they are. Hardlinks within the layer stay links; sockets are
    left out (a tar cannot hold one); only the xattrs extraction keeps are written. Never follows a
    symlink out of root: a path through one is refused (UnsafeArchive)."""
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            writer = _ChangeWriter(root_fd, tar)
            for kind, path in sorted(changes, key=lambda change: change[1]):
                parts = split_name(path)
                for depth in range(1, len(parts)):
                    writer.add(parts[:depth])
                if kind == "D":
                    whiteout = tarfile.TarInfo("/".join([*parts[:-1], WHITEOUT + parts[-1]]))
                    tar.addfile(whiteout)
                else:
                    writer.add(parts)
    finally:
        os.close(root_fd)


class _ChangeWriter:
    def __init__(self, root_fd: int, tar: tarfile.TarFile, proc: int | None = None) -> None:
        self.root_fd, self.tar = root_fd, tar
        self.proc = proc  # an fd of a /proc whose self is us (where ours is not: `sdc cp`'s child)
        self.written: set[tuple[str, ...]] = set()
        self.inodes: dict[tuple[int, int], str] = {}  # the first name of each hardlinked file written

    def add(self, parts: list[str]) -> None:
        if tuple(parts) in self.written:
            return
        self.written.add(tuple(parts))
        *parent, name = parts
        with _open_dir(self.root_fd, parent, create=False) as pfd:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            info = tarfile.TarInfo("/".join(parts))
            info.mode, info.uid, info.gid, info.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
            if stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=pfd)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else (
                    tarfile.BLKTYPE if stat.S_ISBLK(st.st_mode) else tarfile.FIFOTYPE)  # fmt: skip
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            elif stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                self._add_with_contents(pfd, name, st, info)
                return
            else:  # a socket
                return
            self.tar.addfile(info)

    def _add_with_contents(self, pfd: int, name: str, st: os.stat_result, info: tarfile.TarInfo) -> None:
        fd = _open_checked(pfd, name, st, self.proc)
        try:
            info.pax_headers = xattr_headers(kept_xattrs(fd))
            inode = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                self.tar.addfile(info)
            elif st.st_nlink > 1 and inode in self.inodes:
                info.type, info.linkname = tarfile.LNKTYPE, self.inodes[inode]
                self.tar.addfile(info)
            else:
                self.inodes[inode] = info.name
                info.size = st.st_size
                with open(os.dup(fd), "rb") as f:
                    self.tar.addfile(info, f)
        finally:
            os.close(fd)


def _open_checked(pfd: int, name: str, st: os.stat_result, proc: int | None) -> int:
    """name of pfd, opened for reading as the regular file or directory st says it is: held by an
    O_PATH fd first (which opens nothing), fstat'ed, and opened through that fd only if it is
    still that inode (what a container swaps in meanwhile, a device node, a FIFO, is never
    opened: no driver's open, no wait). proc: a /proc whose self is us."""
    held = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
    try:
        now = os.fstat(held)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or stat.S_IFMT(now.st_mode) != stat.S_IFMT(st.st_mode):
            raise UsageError(f"{name!r} changed while it was read", hint="copy it again once it stays as it is")
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | (os.O_DIRECTORY if stat.S_ISDIR(now.st_mode) else 0)
        return os.open(f"self/fd/{held}" if proc is not None else f"/proc/self/fd/{held}", flags, dir_fd=proc)
    finally:
        os.close(held)


ENTRY_COST = 1024  # charged for each entry of a layer, whatever its size: its inode, its name, our memory
# Whatever the budget, a layer's entries cost the extraction memory (a hash of each path): a bound
# no image of the field comes near (a distribution's full tree is ~100,000).
MAX_ENTRIES = 1_000_000
# A long name's, a long link's or a pax header's bytes are read whole by tarfile: 1 MiB at most, as
# Go's archive/tar takes; GNU sparse maps, as many extension blocks at most.
HEADER_MAX, SPARSE_BLOCKS_MAX = 1 << 20, 2048
TRAILING_MAX = 1 << 20  # after tar's end: its blocking's padding (10 KiB), and no more than this
# What tarfile raises on a hostile header besides its own errors: a pax record's value it cannot
# take (an empty sparse map, a number out of range, bytes not UTF-8) fails as ValueError.
TAR_ERRORS = (tarfile.TarError, EOFError, ValueError, OverflowError)


class _Extractor:
    def __init__(self, root_fd: int, archive: tarfile.TarFile, max_size: int, split: TarSplit | None,
                 spent: int = 0, copy: CopyPolicy | None = None) -> None:  # fmt: skip
        self.root_fd = root_fd
        self.member: tarfile.TarInfo | None = None  # the one being applied (for errors)
        self.copy = copy  # a copy's archive (extract_copy): its names as they are, no whiteouts
        self.archive = archive
        self.max_size = max_size
        self.split = split
        self.size = 0  # the apparent size of the files written so far
        self.cost = spent  # charged against max_size: this image's earlier layers', then this one's
        self.entries = 0
        # hash() of each path written, for an opaque directory later in the layer: a small int an
        # entry (SipHash, keyed per process: no archive can aim at a collision)
        self.written: set[int] = set()
        self.dir_times: list[tuple[list[str], float]] = []
        # The previous entry's directory, kept open: a tar lists a directory's entries together,
        # and opening every path component again for each was most of an extraction's time. Safe
        # to reuse for the next entry of the same directory only: an entry changes nothing but
        # children of its own directory, so that directory is still the one at that path.
        self.parent: tuple[tuple[str, ...], int] | None = None

    def _parent_fd(self, parent: list[str], member: str) -> int:
        key = tuple(parent)
        if self.parent is not None and self.parent[0] == key:
            return self.parent[1]
        with _open_dir(self.root_fd, parent, create=True, member=member) as fd:
            kept = os.dup(fd)
        self.close()
        self.parent = (key, kept)
        return kept

    def close(self) -> None:
        if self.parent is not None:
            os.close(self.parent[1])
            self.parent = None

    def _charge(self, amount: int, member: tarfile.TarInfo) -> None:
        self.cost += amount
        if self.cost > self.max_size:
            raise UsageError(
                f"the image is larger than the limit of {self.max_size >> 20} MiB (at {member.name[:100]!r}); "
                f"each entry counts {ENTRY_COST >> 10} KiB",
                hint="raise the limit with --max-size (or $SDC_MAX_IMAGE_SIZE) if the image is what you expect",
            )

    def apply(self, member: tarfile.TarInfo) -> None:
        self.member = member
        # An entry's cost: its metadata, and its header's bytes (long names, pax records, xattrs)
        self._charge(ENTRY_COST + max(0, member.offset_data - member.offset), member)
        _check_member(member)
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise UsageError(f"a layer has more than {MAX_ENTRIES:,} entries (at {member.name[:100]!r})",
                             hint="the image is not one sdc takes")  # fmt: skip
        parts = split_name(member.name)
        if not parts:  # the root itself stays root's own, 0755, whatever the archive says
            self.dir_times.append(([], member.mtime))
            return
        *parent, name = parts
        if self.copy is not None:
            if self.copy.apply_to(member):
                self._entry(self._parent_fd(parent, member.name), name, parts, member)
            return
        if any(p.startswith(AUFS_META) for p in parent) or (name.startswith(AUFS_META) and name != OPAQUE):
            return
        if any(p.startswith(WHITEOUT) for p in parent):
            raise UnsafeArchive(f"archive member {member.name!r} is inside a whiteout", hint="the archive is corrupt")
        pfd = self._parent_fd(parent, member.name)
        if name == OPAQUE:
            self._opaque(pfd, parent)
        elif name.startswith(WHITEOUT):
            _remove(pfd, whiteout_target(name))
        else:
            self._entry(pfd, name, parts, member)
            self.written.add(hash(tuple(parts)))

    def _note_payload(self, member: tarfile.TarInfo) -> None:
        if self.split is not None and member.size and not member.issparse():  # sparse data stays in the record
            self.split.payload(member.offset_data, member.size, split_name(member.name))

    def _opaque(self, pfd: int, parent: list[str]) -> None:
        # Hide what lower layers put in this directory, not what this layer wrote.
        for entry in os.listdir(pfd):
            if hash((*parent, entry)) not in self.written:
                _remove(pfd, entry)

    def _entry(self, pfd: int, name: str, parts: list[str], member: tarfile.TarInfo) -> None:
        if member.isdir():
            try:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    _remove(pfd, name)
                    os.mkdir(name, 0o700, dir_fd=pfd)
            except FileNotFoundError:
                os.mkdir(name, 0o700, dir_fd=pfd)
            with _open_dir(pfd, [name], create=False) as dfd:
                _set_attrs(dfd, member)
            self.dir_times.append((parts, member.mtime))
            return
        if member.isreg():
            self._file(pfd, name, member)
            return
        _remove(pfd, name)
        if member.issym():
            os.symlink(member.linkname, name, dir_fd=pfd)
            os.chown(name, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(name, (member.mtime, member.mtime), dir_fd=pfd, follow_symlinks=False)
        elif member.islnk():
            *tparent, tname = split_name(member.linkname) or [""]
            try:
                with _open_dir(self.root_fd, tparent, create=False, member=member.name) as tfd:
                    os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            except (FileNotFoundError, PermissionError) as exc:
                raise UsageError(
                    f"archive member {member.name!r} links to {member.linkname!r}, which the archive does not hold",
                    hint="the archive is incomplete or corrupt",
                ) from exc
        elif member.ischr() or member.isblk() or member.isfifo():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
            os.mknod(name, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=pfd)
            os.chown(name, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
            os.chmod(name, stat.S_IMODE(member.mode), dir_fd=pfd)
        else:
            raise UsageError(f"archive member {member.name!r} has an unsupported type", hint="use a POSIX tar archive")

    def _file(self, pfd: int, name: str, member: tarfile.TarInfo) -> None:
        self.size += member.size  # apparent: a sparse member counts what it claims to hold
        self._charge(member.size, member)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:  # (most names are new in their layer: no stat first)
            fd = os.open(name, flags, 0o600, dir_fd=pfd)
        except FileExistsError:  # a lower layer's, replaced (a directory with all under it)
            _remove(pfd, name)
            fd = os.open(name, flags, 0o600, dir_fd=pfd)
        self._note_payload(member)
        try:
            src = self.archive.extractfile(member)
            if src is not None:
                while chunk := src.read(_CHUNK):
                    _write_sparsely(fd, chunk)
                os.ftruncate(fd, member.size)  # a hole at the end is a size, not a write
            _set_attrs(fd, member)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)

    def finish(self) -> None:
        self.close()
        # Directory mtimes last: adding entries changed them.
        for parts, mtime in reversed(self.dir_times):
            with contextlib.suppress(FileNotFoundError), _open_dir(self.root_fd, parts, create=False) as dfd:
                os.utime(dfd, (mtime, mtime))


def _write_sparsely(fd: int, chunk: bytes) -> None:
    """Write chunk at fd's offset, or leave a hole where it is all zeros (lseek(2) past it)."""
    if chunk == (_ZEROS if len(chunk) == _CHUNK else bytes(len(chunk))):
        os.lseek(fd, len(chunk), os.SEEK_CUR)
        return
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


_EOF_HEADER = tarfile.EOFHeaderError  # type: ignore[attr-defined]  # not in typeshed: a block of zeros


class _Ends(tarfile.TarInfo):
    """Notes that the archive ended as tar ends one: with a block of zeros. Python's tarfile
    stops quietly, as if at the end, at a cut or garbled header too. And bounds what tarfile
    reads whole into memory: a long name's, a long link's or a pax header's (HEADER_MAX), a GNU
    sparse map's extension blocks (SPARSE_BLOCKS_MAX)."""

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(archive)
        except _EOF_HEADER:
            if isinstance(archive, _Archive):
                archive.ended = True
            raise

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _READ_WHOLE and self.size > HEADER_MAX:
            raise UsageError(f"a tar header of {self.size >> 10} KiB (a long name or pax record), more than "
                             f"{HEADER_MAX >> 10} KiB", hint="the archive is corrupt, or was made to be")  # fmt: skip
        processed: tarfile.TarInfo = super()._proc_member(tarfile_)  # type: ignore[misc]  # not in typeshed
        return processed

    def _proc_sparse(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        """tarfile's, the extension blocks counted."""
        structs, extended, original_size = self._sparse_structs  # type: ignore[attr-defined]  # frombuf's
        del self._sparse_structs  # type: ignore[attr-defined]
        for _ in range(SPARSE_BLOCKS_MAX + 1):  # the last round only finds extended false, or refuses
            if not extended:
                break
            buf = tarfile_.fileobj.read(tarfile.BLOCKSIZE)
            for pos in range(0, 21 * 24, 24):
                try:
                    offset, count = _nti(buf[pos : pos + 12]), _nti(buf[pos + 12 : pos + 24])
                except ValueError:
                    break
                if offset and count:
                    structs.append((offset, count))
            extended = bool(buf[504])
        else:
            raise UsageError(f"a GNU sparse map of more than {SPARSE_BLOCKS_MAX} blocks",
                             hint="the archive is corrupt, or was made to be")  # fmt: skip
        self.sparse = structs
        self.offset_data = tarfile_.fileobj.tell()
        tarfile_.offset = self.offset_data + self._block(self.size)  # type: ignore[attr-defined]
        self.size = original_size
        return self


BoundedTarInfo = _Ends  # what `sdc load` reads an image archive's headers with, too

_nti = tarfile.nti  # type: ignore[attr-defined]  # tarfile's number parser, not in typeshed
_READ_WHOLE = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
               tarfile.SOLARIS_XHDTYPE)  # fmt: skip


class _Archive(tarfile.TarFile):
    ended = False


DEFAULT_MAX_SIZE = 64 << 30


@record
class CopyPolicy:
    """What `sdc cp` keeps of an archive's entries (extract_copy): owner, every entry's owner
    instead of the archive's; setid: setuid and setgid bits kept; devices: device nodes made
    (else left out, and counted)."""

    owner: tuple[int, int] | None = None
    setid: bool = True  # setuid and setgid bits, and file capabilities (security.capability)
    devices: bool = True
    skipped: list[str] = field(default_factory=list)  # the first few device nodes left out
    skipped_count: list[int] = field(default_factory=lambda: [0])

    def apply_to(self, member: tarfile.TarInfo) -> bool:
        if (member.ischr() or member.isblk()) and not self.devices:
            self.skipped_count[0] += 1
            if len(self.skipped) < 5:
                self.skipped.append(member.name[:200])
            return False
        if self.owner is not None:
            member.uid, member.gid = self.owner
        if not self.setid:
            member.mode &= ~(stat.S_ISUID | stat.S_ISGID)
            cap = "SCHILY.xattr.security.capability"
            member.pax_headers = {k: v for k, v in member.pax_headers.items() if k != cap}
        return True


def extract_copy(stream: BinaryIO, dest_fd: int, policy: CopyPolicy, *, max_size: int = 1 << 60) -> int:
    """A tar archive of `sdc cp` (plain: a compressed one is the caller's to decompress, see
    decompressed), extracted into the directory dest_fd as checked as a layer's (no name leaves
    it, no symlink is followed), its names as they are (a .wh. file is a file here); the
    apparent size of its files."""
    extractor: _Extractor | None = None
    try:
        tar = HashingReader(stream)
        with _Archive.open(fileobj=tar, mode="r|", tarinfo=_Ends) as archive:  # type: ignore[call-overload]
            extractor = _Extractor(dest_fd, archive, max_size, None, copy=policy)
            _extract_all(archive, extractor, hint="give a whole tar archive")
        return extractor.size
    except (*TAR_ERRORS, zlib.error, lzma.LZMAError) as exc:
        raise UsageError(f"not a valid tar archive: {exc}", hint="give a tar archive") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreFull("no space left for the copy", hint="free space where it goes") from exc
        member = extractor.member if extractor is not None else None
        where = f"{member.name[:100]!r}" if member is not None else "the archive"
        raise UsageError(f"cannot write {where}: {exc.strerror}",
                         hint="check where it goes (read-only? full?)") from exc  # fmt: skip


def write_tree(parent: int, name: str, out: BinaryIO, *, contents: bool = False, proc: int | None = None) -> None:
    """A tar archive of the entry name of the directory parent (every entry below it too, as
    write_changes writes them: owners, modes, links, xattrs; no symlink followed), its names
    starting with name, or, with contents, relative to it."""
    if contents:
        with _open_dir(parent, [name], create=False) as top:
            write_root(top, out, proc=proc)
        return
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        writer = _ChangeWriter(parent, tar, proc)
        writer.add([name])
        if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            with _open_dir(parent, [name], create=False) as top:
                _walk(writer, top, [name])


def write_root(top: int, out: BinaryIO, *, proc: int | None = None) -> None:
    """A tar archive of what is in the directory top, names relative to it (write_tree)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _walk(_ChangeWriter(top, tar, proc), top, [])


def _walk(writer: _ChangeWriter, dir_fd: int, prefix: list[str]) -> None:
    for entry in sorted(os.listdir(dir_fd)):
        writer.add([*prefix, entry])
        if stat.S_ISDIR(os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            with _open_dir(dir_fd, [entry], create=False) as sub:
                _walk(writer, sub, [*prefix, entry])


def _extract_all(archive: Any, extractor: _Extractor, *, hint: str) -> None:
    """Every member of archive (a stream) applied by extractor, then its end checked: an archive
    cut short is not a smaller one."""
    try:
        while (member := archive.next()) is not None:
            extractor.apply(member)
            archive.members.clear()  # stream mode keeps every header otherwise: memory per entry
        if not archive.ended:
            raise UsageError("the archive is truncated or corrupt: it ends without tar's end-of-archive block",
                             hint=hint)  # fmt: skip
        extractor.finish()
    finally:
        extractor.close()


def extract_layer(
    stream: BinaryIO, dest: Path, *, max_size: int = DEFAULT_MAX_SIZE, split: BinaryIO | None = None, spent: int = 0
) -> Digests:
    """Apply a (possibly compressed) layer tarball to dest, in one pass; its digests and size.
    With split, a file to write the layer's tar-split to (TarSplit). max_size is the image's
    limit, of which its earlier layers spent spent (Digests.cost: one budget an image).

    Raises SdcError for an archive that is corrupt, unsafe, too big, or does not fit in the
    store; the caller discards dest then."""
    raw = HashingReader(stream)
    root_fd = os.open(dest, _DIR_FLAGS)
    extractor: _Extractor | None = None
    try:
        os.fchmod(root_fd, 0o755)  # made by sdc, so root's; the archive's root entry is not applied
        inner = decompressed(raw)
        tar = HashingReader(inner, hashed_by=raw if isinstance(inner, _Peeked) else None)  # (_Peeked: uncompressed)
        recorder = TarSplit(tar, split) if split is not None else None
        with _Archive.open(fileobj=recorder or tar, mode="r|", tarinfo=_Ends) as archive:  # type: ignore[call-overload]
            extractor = _Extractor(root_fd, archive, max_size, recorder, spent)
            _extract_all(archive, extractor, hint="download or copy it again")
        # the whole tar, end blocks and padding included
        diff_id = recorder.finish() if recorder else tar.drain(TRAILING_MAX)
        return Digests(blob=raw.drain(), diff_id=diff_id, size=extractor.size, cost=extractor.cost)
    except (*TAR_ERRORS, zlib.error, lzma.LZMAError) as exc:
        raise UsageError(
            f"not a valid tar archive: {exc}", hint="give a tar file, optionally gzip, bzip2 or xz compressed"
        ) from exc
    except OSError as exc:
        raise _extraction_error(exc, extractor.member if extractor is not None else None) from exc
    finally:
        os.close(root_fd)


def _extraction_error(exc: OSError, member: tarfile.TarInfo | None) -> UsageError | StoreFull:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreFull(
            "the store is full: the image does not fit", hint="free space with `sdc rm` and `sdc rmi`, then try again"
        )
    if exc.errno is None:  # gzip's, bz2's own: the compressed stream is corrupt
        return UsageError(
            f"not a valid archive: {exc}", hint="give a tar file, optionally gzip, bzip2 or xz compressed"
        )
    where = f"archive member {member.name[:100]!r}" if member is not None else "the archive"
    return UsageError(f"cannot extract {where}: {exc.strerror}", hint="the archive is not a usable image layer")
