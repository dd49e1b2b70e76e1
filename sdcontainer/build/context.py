"""A build's context: the directory COPY and ADD read from, read safely and never copied whole.

Nothing outside it is read: the context is opened once, every path in it is opened from that
fd with openat2's RESOLVE_IN_ROOT (linux.open_in_root), so `..` and symlinks, absolute ones too,
resolve inside it as if it were /; a source is named as COPY names it (a path or a glob, cleaned:
`../x` is `x`, as BuildKit reads it). What .containerignore (else .dockerignore) leaves out is
not there for COPY and ADD: not found, not matched by a glob, not hashed.

content_hash() is what the build cache keys a COPY by: the sources' names, types, modes,
symlinks' targets and files' contents (sha256, read in chunks), not their times or owners
(a checkout's owners and times differ from machine to machine; COPY sets its own owner).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from sdcontainer import linux
from sdcontainer.build.ignore import NAMES, Ignore, IgnoreError, read_patterns
from sdcontainer.errors import UsageError

GLOB = re.compile(r"[*?\[]")
MAX_ENTRIES = 1_000_000  # a context's files and directories a build walks
CHUNK = 1 << 20


class ContextError(UsageError):
    pass


@dataclass(frozen=True)
class Source:
    path: str  # relative to the context, / separated, "" for the context itself
    mode: int  # its st_mode (a symlink's own)


class Context:
    """The context directory, open (close() when done)."""

    def __init__(self, directory: str, *, ignore_file: bool = True) -> None:
        try:
            self.fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ContextError(f"the build context {directory}: {exc.strerror}",
                               hint="give a directory to build from") from None  # fmt: skip
        self.directory = directory
        try:
            self.ignore = Ignore(self._ignore_patterns() if ignore_file else [])
        except IgnoreError as exc:
            os.close(self.fd)
            raise ContextError(f"{exc.message}", hint=exc.hint) from None

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
                fd = linux.open_beneath(self.fd, name, os.O_RDONLY)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ContextError(f"the context's {name}: {exc.strerror}", hint="make it a plain file") from None
            with os.fdopen(fd, "rb") as f:
                data = f.read(4 << 20)
            try:
                return read_patterns(data.decode("utf-8"))
            except UnicodeDecodeError:
                raise ContextError(f"the context's {name} is not UTF-8 text", hint="save it as UTF-8") from None
        return []

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        """path (relative, cleaned) opened inside the context, symlinks resolved inside it."""
        return linux.open_in_root(self.fd, path or ".", flags)

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

    def resolve(self, pattern: str, *, at: str) -> list[Source]:
        """What a COPY or ADD source names: one path, or what a glob matches (sorted); not one
        the ignore file leaves out. ContextError (at: the instruction's place) where none is."""
        cleaned = clean_source(pattern)
        if not GLOB.search(cleaned):
            if cleaned and self.ignore.ignored(cleaned):
                raise ContextError(f"{at}: {pattern!r} is left out of the context by its ignore file",
                                   hint="take it out of .containerignore/.dockerignore")  # fmt: skip
            try:
                st = self.lstat(cleaned)
            except FileNotFoundError:
                raise ContextError(f"{at}: {pattern!r} not found in the build context",
                                   hint="give a path inside the context directory") from None  # fmt: skip
            except OSError as exc:
                raise ContextError(f"{at}: {pattern!r}: {exc.strerror}", hint="check the path") from None
            return [Source(cleaned, st.st_mode)]
        found = [s for s in self._glob(cleaned.split("/"), "") if not self.ignore.ignored(s.path)]
        if not found:
            raise ContextError(f"{at}: no source files were specified: {pattern!r} matches none in the build context",
                               hint="check the pattern and the ignore file")  # fmt: skip
        return found

    def _glob(self, parts: list[str], prefix: str) -> Iterator[Source]:
        """The entries matching parts (one pattern per path part, Go's filepath.Match's), sorted."""
        first, rest = parts[0], parts[1:]
        if not GLOB.search(first):
            path = posixpath.join(prefix, first) if prefix else first
            try:
                st = self.lstat(path)
            except OSError:
                return
            if rest:
                if self._is_dir(path):
                    yield from self._glob(rest, path)
            else:
                yield Source(path, st.st_mode)
            return
        for name, st in self._entries(prefix):
            if not _match(first, name):
                continue
            path = posixpath.join(prefix, name) if prefix else name
            if rest:
                if self._is_dir(path):
                    yield from self._glob(rest, path)
            else:
                yield Source(path, st.st_mode)

    def _is_dir(self, path: str) -> bool:
        """path a directory, through symlinks resolved inside the context."""
        try:
            os.close(self.open(path, os.O_PATH | os.O_DIRECTORY))
        except OSError:
            return False
        return True

    def _entries(self, path: str) -> list[tuple[str, os.stat_result]]:
        try:
            fd = self.open(path or ".", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return []
        try:
            names = sorted(os.listdir(fd))
            return [(n, os.stat(n, dir_fd=fd, follow_symlinks=False)) for n in names]
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
                path = posixpath.join(directory, name) if directory else name
                if self.ignore.ignored(path):
                    if stat.S_ISDIR(st.st_mode) and self.ignore.exclusions:
                        below.append(path)  # (an exception may take back what is below it)
                    continue
                count += 1
                if count > MAX_ENTRIES:
                    raise ContextError(f"the build context has more than {MAX_ENTRIES} entries",
                                       hint="leave out what the build does not need with .containerignore")
                yield path, st
                if stat.S_ISDIR(st.st_mode):
                    below.append(path)
            todo += reversed(below)

    def content_hash(self, sources: list[Source]) -> str:
        """A digest of the sources as COPY takes them: names, types, permission bits, symlinks'
        targets and files' contents."""
        digest = hashlib.sha256()
        for source in sources:
            for path, st in self.walk(source):
                kind = stat.S_IFMT(st.st_mode)
                digest.update(f"{path}\0{kind:o}\0{stat.S_IMODE(st.st_mode):o}\0".encode("utf-8", "surrogateescape"))
                if stat.S_ISLNK(st.st_mode):
                    parent, name = posixpath.split(path)
                    fd = self.open(parent or ".", os.O_PATH | os.O_DIRECTORY)
                    try:
                        digest.update(os.readlink(name, dir_fd=fd).encode("utf-8", "surrogateescape"))
                    finally:
                        os.close(fd)
                elif stat.S_ISREG(st.st_mode):
                    digest.update(self._file_digest(path))
                digest.update(b"\0")
        return "sha256:" + digest.hexdigest()

    def _file_digest(self, path: str) -> bytes:
        fd = self.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            digest = hashlib.sha256()
            while chunk := os.read(fd, CHUNK):
                digest.update(chunk)
            return digest.digest()
        finally:
            os.close(fd)


def clean_source(pattern: str) -> str:
    """A COPY source as a path in the context: cleaned as if from its root (`../x` is `x`, `/a` is
    `a`), "" for the context itself."""
    cleaned = posixpath.normpath("/" + pattern).lstrip("/")
    return "" if cleaned == "." else cleaned


def _match(pattern: str, name: str) -> bool:
    """Go's filepath.Match of one path part: * ? [class] [^class] \\x; a dotfile matched as any name."""
    regex = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "\\" and i < len(pattern):
            regex.append(re.escape(pattern[i]))
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 1 if pattern[i : i + 1] in ("^", "!") else i)
            if end < 0:
                return False
            body = pattern[i:end]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            regex.append(f"[{body}]")
            i = end + 1
        else:
            regex.append({"*": "[^/]*", "?": "[^/]"}.get(ch) or re.escape(ch))
    try:
        return re.fullmatch("".join(regex), name, re.DOTALL) is not None
    except re.error:
        return False
