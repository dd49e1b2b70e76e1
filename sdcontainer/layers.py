"""Applying a layer tarball to a directory, never writing outside it.

Every path is resolved one component at a time from a directory fd with
O_NOFOLLOW (openat(2)), so neither a `..`, an absolute name, a symlinked
parent nor a hardlink can reach outside the layer root. Owners (numeric),
modes (setuid included), symlinks, hardlinks, device nodes, xattrs and mtimes
are kept; OCI whiteouts (.wh.NAME, .wh..wh..opq) delete from the lower layers.
"""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sdcontainer.errors import UsageError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


class UnsafeArchive(UsageError):
    """A tar member that would write outside the layer."""


class HashingReader:
    """Reads a stream and keeps the sha256 of every byte read."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        return data

    def drain(self) -> str:
        while self.read(_CHUNK):
            pass
        return "sha256:" + self.sha256.hexdigest()


def split_name(name: str) -> list[str]:
    """A member name as path components, refusing what could leave the root."""
    if name.startswith("/"):
        raise UnsafeArchive(f"archive member {name!r} has an absolute name", hint="archives must hold relative names")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"archive member {name!r} climbs out with '..'", hint="the archive is unsafe to extract")
    return parts


@contextlib.contextmanager
def _open_dir(root_fd: int, parts: list[str], *, create: bool) -> Iterator[int]:
    """An fd of root/parts, refusing symlinks on the way; missing dirs made when create."""
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
            except (NotADirectoryError, OSError) as exc:
                raise UnsafeArchive(
                    f"archive path {'/'.join(parts)!r} goes through a symlink or non-directory {part!r}",
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


def _xattrs(member: tarfile.TarInfo) -> dict[str, bytes]:
    prefix = "SCHILY.xattr."
    return {
        k[len(prefix) :]: v.encode("utf-8", "surrogateescape")
        for k, v in member.pax_headers.items()
        if k.startswith(prefix)
    }


def _set_attrs(fd: int, member: tarfile.TarInfo) -> None:
    os.fchown(fd, member.uid, member.gid)
    os.fchmod(fd, stat.S_IMODE(member.mode))  # after chown, which clears setuid
    for key, value in _xattrs(member).items():
        os.setxattr(fd, key, value)


class _Extractor:
    def __init__(self, root_fd: int, archive: tarfile.TarFile) -> None:
        self.root_fd = root_fd
        self.archive = archive
        self.written: set[tuple[str, ...]] = set()
        self.dir_times: list[tuple[list[str], float]] = []

    def apply(self, member: tarfile.TarInfo) -> None:
        parts = split_name(member.name)
        if not parts:  # the root itself stays root's own, 0755, whatever the archive says
            self.dir_times.append(([], member.mtime))
            return
        *parent, name = parts
        with _open_dir(self.root_fd, parent, create=True) as pfd:
            if name == OPAQUE:
                self._opaque(pfd, parent)
            elif name.startswith(WHITEOUT):
                _remove(pfd, name[len(WHITEOUT) :])
            else:
                self._entry(pfd, name, parts, member)
                self.written.add(tuple(parts))

    def _opaque(self, pfd: int, parent: list[str]) -> None:
        # Hide what lower layers put in this directory, not what this layer wrote.
        for entry in os.listdir(pfd):
            if (*parent, entry) not in self.written:
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
        _remove(pfd, name)
        if member.isreg():
            self._file(pfd, name, member)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=pfd)
            os.chown(name, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(name, (member.mtime, member.mtime), dir_fd=pfd, follow_symlinks=False)
        elif member.islnk():
            *tparent, tname = split_name(member.linkname) or [""]
            try:
                with _open_dir(self.root_fd, tparent, create=False) as tfd:
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
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
        try:
            src = self.archive.extractfile(member)
            if src is not None:
                while chunk := src.read(_CHUNK):
                    os.write(fd, chunk)
            _set_attrs(fd, member)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)

    def finish(self) -> None:
        # Directory mtimes last: adding entries changed them.
        for parts, mtime in reversed(self.dir_times):
            with contextlib.suppress(FileNotFoundError), _open_dir(self.root_fd, parts, create=False) as dfd:
                os.utime(dfd, (mtime, mtime))


def extract_layer(stream: BinaryIO, dest: Path) -> str:
    """Apply a (possibly compressed) layer tarball to dest; return its sha256 digest.

    Raises UsageError for an archive that is corrupt or unsafe; the caller
    discards dest then."""
    reader = HashingReader(stream)
    root_fd = os.open(dest, _DIR_FLAGS)
    try:
        os.fchmod(root_fd, 0o755)  # made by sdc, so root's; the archive's root entry is not applied
        with tarfile.open(fileobj=reader, mode="r|*") as archive:  # type: ignore[call-overload]
            extractor = _Extractor(root_fd, archive)
            for member in archive:
                extractor.apply(member)
            extractor.finish()
        return reader.drain()
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise UsageError(
            f"not a valid tar archive: {exc}", hint="give a tar file, optionally gzip, bzip2 or xz compressed"
        ) from exc
    finally:
        os.close(root_fd)
