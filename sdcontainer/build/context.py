"""A build's context: the directory COPY and ADD read from, read safely and never copied whole.

Nothing outside it is read: the context is opened once, every path in it is opened from that
fd with openat2's RESOLVE_IN_ROOT (linux.open_in_root), so `..` and symlinks, absolute ones too,
resolve inside it as if it were /; a source is named as COPY names it (a path or a glob, cleaned:
`../x` is `x`, as BuildKit reads it), and a source that is a symlink is followed (inside the
context), as BuildKit follows one. What .containerignore (else .dockerignore) leaves out is not
there for COPY and ADD: not found, not matched by a glob, not hashed, not copied, whatever the
path that leads to it (a symlink to a directory above it included: its real path is matched).
Files are opened non-blocking and checked to be regular files: a FIFO stops no build.

content_hash() is what the build cache keys a COPY by: the sources' names, types, modes,
symlinks' targets and files' contents (sha256, read in chunks), not their times or owners
(a checkout's owners and times differ from machine to machine; COPY sets its own owner).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from sdcontainer import linux
from sdcontainer.build import pattern
from sdcontainer.build.ignore import NAMES, Ignore, IgnoreError, read_patterns
from sdcontainer.errors import UsageError

GLOB_CHARS = "*?["
MAX_ENTRIES = 1_000_000  # a context's files and directories a build walks (and a glob's visits)
MAX_LINKS = 40  # symlinks on one path, as the kernel's walk allows
CHUNK = 1 << 20


class ContextError(UsageError):
    pass


@dataclass(frozen=True)
class Source:
    path: str  # its real path in the context, / separated, "" for the context itself
    mode: int  # its st_mode (a symlink's target's: it is followed)
    name: str = ""  # its name as COPY named it (a symlink's own name), for a copy into a directory


def _is_glob(text: str) -> bool:
    return any(c in text for c in GLOB_CHARS)


class Context:
    """The context directory, open (close() when done)."""

    def __init__(self, directory: str, *, ignore_file: bool = True) -> None:
        try:
            self.fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ContextError(f"the build context {directory}: {exc.strerror}",
                               hint="give a directory to build from") from None  # fmt: skip
        self.directory = directory
        self.visits = 0
        try:
            self.ignore = Ignore(self._ignore_patterns() if ignore_file else [])
        except IgnoreError as exc:
            os.close(self.fd)
            raise ContextError(f"{exc.message}", hint=exc.hint) from None
        except ContextError:
            os.close(self.fd)
            raise

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ignore_patterns(self) -> list[str]:
        for name in NAMES:
            try:
                fd = linux.open_beneath(self.fd, name, os.O_RDONLY | os.O_NONBLOCK)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ContextError(f"the context's {name}: {exc.strerror}", hint="make it a plain file") from None
            data = read_plain(fd, 4 << 20)
            if data is None:
                raise ContextError(f"the context's {name} is not a plain file", hint="make it a plain file")
            try:
                return read_patterns(data.decode("utf-8"))
            except UnicodeDecodeError:
                raise ContextError(f"the context's {name} is not UTF-8 text", hint="save it as UTF-8") from None
        return []

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        """path (relative, cleaned) opened inside the context, symlinks resolved inside it."""
        return linux.open_in_root(self.fd, path or ".", flags)

    def open_file(self, path: str) -> int:
        """The regular file path opened for reading (not a FIFO, a device or a directory)."""
        fd = self.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ContextError(f"{path!r} in the build context is not a regular file", hint="copy regular files")
        return fd

    def lstat(self, path: str) -> os.stat_result:
        """path's own stat, its parents resolved inside the context."""
        parent, name = posixpath.split(path)
        if not name:
            return os.stat(self.fd)
        fd = self.open(parent or ".", os.O_PATH | os.O_DIRECTORY)
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)

    def xattrs(self, path: str) -> dict[str, bytes]:
        """The xattrs COPY keeps (a layer's: user ones, ACLs, file capabilities) of path, a file
        or a directory; a symlink has none COPY keeps."""
        from sdcontainer.layers import kept_xattrs

        fd = self.open(path, os.O_PATH | os.O_NOFOLLOW)
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                return {}
            return kept_xattrs(f"/proc/self/fd/{fd}")
        except OSError:  # (a file system without xattrs)
            return {}
        finally:
            os.close(fd)

    def readlink(self, path: str) -> str:
        parent, name = posixpath.split(path)
        fd = self.open(parent or ".", os.O_PATH | os.O_DIRECTORY)
        try:
            return os.readlink(name, dir_fd=fd)
        finally:
            os.close(fd)

    def real(self, path: str) -> str:
        """path with every symlink on it resolved inside the context (an absolute target from the
        context's root, `..` stopping there): the path the ignore file is matched against."""
        rest = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        links = 0
        while rest:
            name = rest.pop(0)
            if name == "..":
                if done:
                    done.pop()
                continue
            current = "/".join([*done, name])
            try:
                st = self.lstat(current)
            except OSError:
                return "/".join([current, *rest])  # (not there: named as it is)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise ContextError(f"{path!r}: too many levels of symbolic links in the context",
                                       hint="check its symlinks")  # fmt: skip
                target = self.readlink(current)
                rest[:0] = [p for p in target.split("/") if p not in ("", ".")]
                if target.startswith("/"):
                    done = []
                continue
            done.append(name)
        return "/".join(done)

    def ignored(self, path: str) -> bool:
        return bool(path) and self.ignore.ignored(self.real(path))

    def resolve(self, source: str, *, at: str) -> list[Source]:
        """What a COPY or ADD source names: one path, or what a glob matches (sorted); not one
        the ignore file leaves out; a symlink followed. ContextError (at: the instruction's place)
        where none is."""
        cleaned = clean_source(source)
        if not _is_glob(cleaned):
            if self.ignored(cleaned):
                raise ContextError(f"{at}: {source!r} is left out of the context by its ignore file",
                                   hint="take it out of .containerignore/.dockerignore")  # fmt: skip
            try:
                return [self._followed(cleaned)]
            except FileNotFoundError:
                raise ContextError(f"{at}: {source!r} not found in the build context",
                                   hint="give a path inside the context directory") from None  # fmt: skip
            except OSError as exc:
                raise ContextError(f"{at}: {source!r}: {exc.strerror}", hint="check the path") from None
        self.visits = 0
        matched: dict[str, Source] = {}
        for path in self._glob(cleaned.split("/"), "", at):
            try:
                if not self.ignored(path):
                    one = self._followed(path)
                    matched.setdefault(one.path, one)
            except (OSError, ContextError):
                continue  # (a symlink leading nowhere in the context, or in a loop: no source)
        if not matched:
            raise ContextError(f"{at}: no source files were specified: {source!r} matches none in the build context",
                               hint="check the pattern and the ignore file")  # fmt: skip
        return list(matched.values())

    def _followed(self, path: str) -> Source:
        """path's source: itself, or what it leads to where it is a symlink (named as path)."""
        real = self.real(path)
        if real and self.ignore.ignored(real):
            raise FileNotFoundError(path)
        st = self.lstat(real)
        return Source(real, st.st_mode, posixpath.basename(path))

    def _glob(self, parts: list[str], prefix: str, at: str) -> Iterator[str]:
        """The paths matching parts (one pattern per path part, Go's filepath.Match's), sorted."""
        first, rest = parts[0], parts[1:]
        names = [first] if not _is_glob(first) else None
        program = pattern.glob_program(first) if names is None else None
        if names is None and program is None:
            return
        for name in names if names is not None else [n for n, _ in self._entries(prefix, missing_ok=True)]:
            if program is not None and not pattern.full_match(program, name):
                continue
            self.visits += 1
            if self.visits > MAX_ENTRIES:
                raise ContextError(f"{at}: the pattern visits more than {MAX_ENTRIES} entries of the context",
                                   hint="give a narrower pattern (a symlink loop?)")  # fmt: skip
            path = posixpath.join(prefix, name) if prefix else name
            if not rest:
                try:
                    self.lstat(path)
                except OSError:
                    continue
                yield path
            elif self._is_dir(path):
                yield from self._glob(rest, self.real(path), at)

    def _is_dir(self, path: str) -> bool:
        """path a directory, through symlinks resolved inside the context."""
        try:
            os.close(self.open(path, os.O_PATH | os.O_DIRECTORY))
        except OSError:
            return False
        return True

    def _entries(self, path: str, *, missing_ok: bool = False) -> list[tuple[str, os.stat_result]]:
        try:
            fd = self.open(path or ".", os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            if missing_ok:
                return []
            raise
        try:
            names = sorted(os.listdir(fd))
            return [(n, os.stat(n, dir_fd=fd, follow_symlinks=False)) for n in names]
        except OSError as exc:
            raise ContextError(f"the build context's {path or '.'}: {exc.strerror}",
                               hint="check its files' permissions and names") from None  # fmt: skip
        finally:
            os.close(fd)

    def walk(self, source: Source) -> Iterator[tuple[str, os.stat_result]]:
        """source and, for a directory, what is below it (not what the ignore file leaves out),
        in a sorted order; symlinks are not followed below it."""
        yield source.path, self.lstat(source.path)
        if not stat.S_ISDIR(source.mode):
            return
        count = 0
        todo = [source.path]
        while todo:
            directory = todo.pop()
            below = []
            for name, st in self._entries(directory):
                count += 1
                if count > MAX_ENTRIES:
                    raise ContextError(f"the build context has more than {MAX_ENTRIES} entries",
                                       hint="leave out what the build does not need with .containerignore")
                path = posixpath.join(directory, name) if directory else name
                if self.ignore.ignored(path):
                    if stat.S_ISDIR(st.st_mode) and self.ignore.exclusions:
                        below.append(path)  # (an exception may take back what is below it)
                    continue
                yield path, st
                if stat.S_ISDIR(st.st_mode):
                    below.append(path)
            todo += reversed(below)

    def content_hash(self, sources: list[Source]) -> str:
        """A digest of the sources as COPY takes them: names, types, permission bits, symlinks'
        targets, files' contents and the xattrs it keeps."""
        digest = Digest()
        for source in sources:
            for path, st in self.walk(source):
                digest.entry(self, path, st)
        return digest.hexdigest()

    def file_digest(self, path: str) -> bytes:
        fd = self.open_file(path)
        try:
            digest = hashlib.sha256()
            while chunk := os.read(fd, CHUNK):
                digest.update(chunk)
            return digest.digest()
        finally:
            os.close(fd)


class Digest:
    """The content hash of what COPY takes (Context.content_hash), fed an entry at a time; the
    same of entries read as they are copied (builder: a file changed between the hash and the
    copy makes another digest, and that step is not cached)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def entry(self, context: Context, path: str, st: os.stat_result, content: bytes | None = None,
              xattrs: dict[str, bytes] | None = None) -> None:  # fmt: skip
        """One entry; content: its file's sha256, xattrs: those kept, where the caller read them."""
        kind = stat.S_IFMT(st.st_mode)
        self._hash.update(f"{path}\0{kind:o}\0{stat.S_IMODE(st.st_mode):o}\0".encode("utf-8", "surrogateescape"))
        if stat.S_ISLNK(st.st_mode):
            self._hash.update(context.readlink(path).encode("utf-8", "surrogateescape"))
        elif stat.S_ISREG(st.st_mode):
            self._hash.update(content if content is not None else context.file_digest(path))
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            for key, value in (context.xattrs(path) if xattrs is None else xattrs).items():
                name = key.encode("utf-8", "surrogateescape")
                self._hash.update(b"\0x%d:%s%d:%s" % (len(name), name, len(value), value))
        self._hash.update(b"\0")

    def hexdigest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def read_plain(fd: int, limit: int) -> bytes | None:
    """What the file open at fd (non-blocking: a FIFO holds nothing up) holds, limit bytes at most;
    None where it is no regular file. fd is closed."""
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return f.read(limit)


def clean_source(source: str) -> str:
    """A COPY source as a path in the context: cleaned as if from its root (`../x` is `x`, `/a` is
    `a`), "" for the context itself."""
    cleaned = posixpath.normpath("/" + source).lstrip("/")
    return "" if cleaned == "." else cleaned
