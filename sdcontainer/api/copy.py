"""`sdc cp` and `sdc export`: files between a container and the host, as tar archives.

The container's side runs in a child of ours whose root is the container's own: a running
container's mount namespace (setns through its PID 1's pidfd, and its user namespace with
--userns=auto, where the child is the container's root and no more), or, for a stopped one, a
chroot into its files (a read-only view of them to copy out: storage.Driver.frozen_view; its
writable root to copy in). Every path the container names, every symlink it planted, resolves
there: nothing of the host's is in reach. The host's side is this process: an archive from the
container is hostile input, extracted as a layer is (layers.extract_copy: no name leaves the
destination, no symlink is followed), into a directory of its own beside the destination, then
moved into place; a copy that fails leaves no half file. Out of a container, device nodes are
left out and setuid and setgid bits cleared, and the files are the caller's (Docker's rules)
unless -a; into it, they are its root's unless -a.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sdcontainer.api.containers import find, live_units
from sdcontainer.errors import Conflict, SdcError, UsageError
from sdcontainer.log import get_logger
from sdcontainer.record import record

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.containers import Container

log = get_logger(__name__)
HINT = "give CONTAINER:PATH and a host path (or - for a tar stream), one each way: sdc cp web:/etc/os-release ."


def parse_location(text: str) -> tuple[str | None, str]:
    """CONTAINER:PATH → (CONTAINER, PATH); a host path (one with a ':' in it starts with / or ./,
    as Docker's), or - → (None, text)."""
    ref, sep, path = text.partition(":")
    if sep and ref and "/" not in ref and not text.startswith("."):
        return ref, path or "/"
    return None, text


@record
class View:
    """Where the child finds the container's files: a running one's namespaces (pidfd), or a
    directory to chroot into (root), with the overlay to mount there first (mount)."""

    pidfd: int | None = None
    userns: bool = False
    root: str = ""
    mount: dict[str, object] | None = None


def copy(ctx: Context, source: str, dest: str, *, archive: bool = False, follow: bool = False) -> None:
    src_ref, src_path = parse_location(source)
    dst_ref, dst_path = parse_location(dest)
    if (src_ref is None) == (dst_ref is None):
        raise UsageError("sdc cp copies between a container and the host: one side CONTAINER:PATH, the other not",
                         hint=HINT)  # fmt: skip
    if src_ref is not None:
        if src_path == "-":
            raise UsageError("a container's path cannot be -", hint=HINT)
        _copy_out(ctx, find(ctx, src_ref), _container_path(src_path), dst_path, archive=archive, follow=follow)
    else:
        assert dst_ref is not None
        _copy_in(ctx, src_path, find(ctx, dst_ref), _container_path(dst_path), archive=archive, follow=follow)


def _container_path(path: str) -> str:
    """Relative to the container's / (Docker's), its trailing / or /. kept."""
    if "\0" in path:
        raise UsageError("a path with a NUL in it", hint=HINT)
    return path if path.startswith("/") else f"/{path}"


def _contents(path: str) -> bool:
    """SRC/. : what is in the directory, not the directory."""
    return path.endswith("/.") or path == "."


@contextlib.contextmanager
def _view(ctx: Context, container: Container, *, writing: bool) -> Iterator[View]:
    """The container's files for the child: its namespaces while it runs, else its files (a
    frozen view to read; to write, its root, the container claimed meanwhile: no start)."""
    from sdcontainer import cgroups, linux, protocol

    if container.unit in live_units(ctx):
        try:
            pid = int((Path(container.bundle) / protocol.PID).read_text())
            pidfd = linux.pidfd_open(pid)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pidfd = None
        if pidfd is not None:
            try:
                if cgroups.in_unit(pid, container.unit):
                    yield View(pidfd=pidfd, userns=container.spec.userns == "auto")
                    return
            finally:
                os.close(pidfd)
        raise Conflict(f"container {container.name} is starting or stopping", hint="try again in a moment")
    ctx.claim(container.name)
    try:
        driver = ctx.driver()
        if not writing:
            with driver.frozen_view(container.id) as view:
                yield View(root=str(view))
            return
        mount = driver.root_mount(container.id)
        if mount is not None and container.spec.userns == "auto":
            raise Conflict(f"container {container.name} is stopped, on the overlay driver, in a user namespace: "
                           "sdc copies into such a container while it runs",
                           hint=f"sdc start {container.name}")  # fmt: skip
        yield View(root=str(driver.container_path(container.id)), mount=mount)
    finally:
        ctx.release_name(container.name)


def _enter(view: View) -> None:
    """The child's root made the container's (see the module's docstring)."""
    from sdcontainer import linux

    if view.pidfd is not None:
        linux.setns(view.pidfd, linux.CLONE_NEWNS | (linux.CLONE_NEWUSER if view.userns else 0))
        if view.userns:  # its root, by its map: what we write is its root's, and we can do no more
            os.setgroups([])
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        os.chdir("/")
        return
    if view.mount is not None:
        from sdcontainer.launcher import mount_root

        linux.unshare(linux.CLONE_NEWNS)
        linux.mount("none", "/", None, linux.MS_REC | linux.MS_PRIVATE)
        mount_root(view.root, view.mount)
    os.chroot(view.root)
    os.chdir("/")


def _in_child(view: View, job: Callable[[], None], keep: int) -> tuple[int, int]:
    """job run in a child whose root is the container's (_enter), with no fd of ours but keep,
    its error pipe and PROC (a /proc whose self is it: the container's is another PID
    namespace's), and nothing to import from there: every module it needs is imported here,
    first, and its import path emptied (a module the container planted in its own root is never
    run). The child's PID and the read end of its error pipe (a message, a tab, a hint)."""
    import signal

    import sdcontainer.layers
    import sdcontainer.storage.driver  # noqa: F401 - imported here: the child's root has no sdcontainer

    if view.mount is not None:
        import sdcontainer.launcher  # noqa: F401
    global PROC
    if PROC < 0:
        PROC = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    errors_r, errors_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            signal.signal(signal.SIGTERM, _ended)  # the parent gave up: its finally clauses run
            os.close(errors_r)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            _close_all_but({errors_w, keep, PROC, null, *([view.pidfd] if view.pidfd is not None else [])})
            _enter(view)
            sys.path[:] = []
            sys.path_importer_cache.clear()
            job()
            code = 0
        except SdcError as exc:
            os.write(errors_w, f"{exc}\t{exc.hint or ''}".encode()[:4000])
        except OSError as exc:
            os.write(errors_w, f"{exc.strerror or exc}\t".encode()[:4000])
        except BaseException as exc:  # noqa: BLE001 - said, never a traceback in the container's root
            os.write(errors_w, f"{type(exc).__name__}: {exc}\t".encode()[:4000])
        finally:
            os._exit(code)
    os.close(errors_w)
    os.close(null)
    del keep
    return pid, errors_r


PROC = -1  # the host's /proc, O_PATH (opened once, for the children)


def _ended(*_: object) -> None:
    raise SystemExit(1)


def _close_all_but(keep: set[int]) -> None:
    start = 3
    for fd in sorted(f for f in keep if f >= 3):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, 1 << 20)


def _said_or_raise(pid: int, errors_r: int, container: Container) -> None:
    """Our side failed: the child ended (SIGTERM: it removes its work; SIGKILL after a while);
    what it said, if anything, is the error (the archive it left unfinished is only the
    consequence); else the caller raises ours."""
    import signal
    import time

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
    try:
        _finish(pid, errors_r, container)
    except UsageError as said:
        if "the copy failed" not in str(said):
            raise said from None


def _finish(pid: int, errors_r: int, container: Container) -> None:
    with os.fdopen(errors_r, "rb") as f:
        said = f.read().decode(errors="replace")
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:  # reaped already (_said_or_raise)
        status = 1 << 8
    if os.waitstatus_to_exitcode(status) != 0 or said:
        message, _, hint = said.partition("\t")
        raise UsageError(f"{container.name}: {message or 'the copy failed'}", hint=hint or None)


def _copy_out(ctx: Context, container: Container, path: str, dest: str, *, archive: bool, follow: bool) -> None:
    from sdcontainer import layers

    contents = _contents(path) or os.path.normpath(path) == "/"
    target = None if dest == "-" else _host_destination(dest)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)

    def job() -> None:
        parent, name = _source_entry(path, follow=follow)
        with os.fdopen(write_end, "wb") as out:
            layers.write_tree(parent, name, out, contents=contents, proc=PROC)

    with _view(ctx, container, writing=False) as view:
        pid, errors = _in_child(view, job, write_end)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as stream:
            try:
                if target is None:
                    _pour(stream, sys.stdout.buffer)
                else:
                    # setuid bits and file capabilities only with -a, and never a user-namespaced
                    # container's (its root is not the host's)
                    policy = layers.CopyPolicy(owner=None if archive else (os.getuid(), os.getgid()),
                                               setid=archive and container.spec.userns != "auto",
                                               devices=False)  # fmt: skip
                    _extract_and_place(stream, target, policy, contents=contents,
                                       top=None if contents else _basename(path))  # fmt: skip
                    if policy.skipped:
                        log.warning("left out %d device node(s): %s", policy.skipped_count[0],
                                    ", ".join(repr(n) for n in policy.skipped))  # fmt: skip
            except BaseException:
                _said_or_raise(pid, errors, container)
                raise
        _finish(pid, errors, container)


def _basename(path: str) -> str:
    """The name a copy of path has (a symlink's copy with -L too: the link's name, as Docker's)."""
    return os.path.basename(os.path.normpath(path))


def _source_entry(path: str, *, follow: bool) -> tuple[int, str]:
    """In the child: the source's directory (an fd) and its name there; with follow, a symlink's
    target (resolved here, inside the container's root)."""
    clean = os.path.normpath(path[:-2] if path.endswith("/.") else path)
    if follow:
        clean = os.path.realpath(clean)
    directory, name = os.path.split(clean)
    if not name:  # the root itself
        return os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), "."
    parent = os.open(directory or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except OSError as exc:
        os.close(parent)
        raise UsageError(f"{path}: {exc.strerror}", hint="give a path that is in the container") from None
    if path.endswith("/") and not stat.S_ISDIR(st.st_mode):
        os.close(parent)
        raise UsageError(f"{path}: not a directory", hint="drop the trailing /")
    return parent, name


def _pour(source: BinaryIO, out: BinaryIO) -> None:
    while chunk := source.read(1 << 20):
        out.write(chunk)
    out.flush()


@record
class Destination:
    """Where a copy goes: into the directory `directory` (name None: each entry of the archive
    there, directories merged), or as its entry `name` (the archive's one top entry renamed)."""

    directory: str
    name: str | None


def _host_destination(dest: str) -> Destination:
    return _destination(dest, where="on the host")


def _destination(dest: str, *, where: str) -> Destination:
    """Docker's rules: an existing directory (or DEST/.) takes the source inside; else DEST is
    the source's new name, in a directory that exists."""
    trailing = dest.endswith("/")
    clean = os.path.normpath(dest)
    if os.path.isdir(clean):
        return Destination(clean, None)
    if trailing or dest.endswith("/."):
        raise UsageError(f"{dest}: no such directory {where}", hint="make it first, or drop the trailing /")
    parent = os.path.dirname(clean) or "."
    if not os.path.isdir(parent):
        raise UsageError(f"{dest}: {parent} is not a directory {where}", hint="make it first")
    return Destination(parent, os.path.basename(clean))


def _extract_and_place(stream: BinaryIO, target: Destination, policy: object, *, contents: bool,
                       top: str | None) -> None:  # fmt: skip
    """The archive extracted into a directory of its own in target's directory, then moved into
    place: nothing of a copy that fails is left (its directory is removed)."""
    from sdcontainer import layers
    from sdcontainer.storage.driver import remove_tree

    assert isinstance(policy, layers.CopyPolicy)
    work = Path(target.directory) / f".sdc-cp-{os.urandom(6).hex()}"
    work.mkdir(mode=0o700)
    try:
        fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            layers.extract_copy(stream, fd, policy)
        finally:
            os.close(fd)
        _place(work, target, contents=contents, top=top)
    finally:
        if work.exists():
            remove_tree(work)


def _place(work: Path, target: Destination, *, contents: bool, top: str | None) -> None:
    """What was extracted into work moved into place: with top (the source's name as given),
    the archive's one entry, as top in target's directory or as target's name; else each entry
    into target's directory, or work itself as target's new directory."""
    entries = sorted(os.listdir(work))
    directory = Path(target.directory)
    if contents or top is None:
        if target.name is None:  # into the directory: each entry, directories merged
            for entry in entries:
                _merge(work / entry, directory / entry)
        else:  # the archive's entries are the new directory's
            work.chmod(0o755)
            os.rename(work, directory / target.name)
        return
    if len(entries) != 1:
        raise UsageError("the archive holds no one entry to copy", hint="check the source path")
    source, final = work / entries[0], directory / (target.name or top)
    if source.is_dir() and not source.is_symlink() and final.exists() and not final.is_dir():
        raise UsageError(f"cannot copy a directory over the file {str(final)!r}", hint="give a directory to copy into")
    _merge(source, final)


def _merge(source: Path, dest: Path) -> None:
    """source moved to dest: a directory over a directory merged entry by entry, anything else
    renamed over what is there (rename(2): the old or the new, never half of either)."""
    both_dirs = source.is_dir() and not source.is_symlink() and dest.is_dir() and not dest.is_symlink()
    if both_dirs:
        for entry in sorted(os.listdir(source)):
            _merge(source / entry, dest / entry)
        return
    if dest.is_dir() and not dest.is_symlink():
        raise UsageError(f"cannot copy a non-directory over the directory {str(dest)!r}", hint="remove it first")
    try:
        os.rename(source, dest)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise UsageError(f"cannot copy a directory over {str(dest)!r}", hint="remove it first") from None
        raise


def _copy_in(ctx: Context, source: str, container: Container, path: str, *, archive: bool, follow: bool) -> None:
    from sdcontainer import layers

    if container.spec.read_only and container.unit in live_units(ctx):
        raise Conflict(f"container {container.name} has a read-only root", hint="copy into one of its volumes")
    if source == "-":  # (decompressed here: the child imports nothing)
        feed: Callable[[BinaryIO], None] = lambda out: _pour(  # noqa: E731
            layers.decompressed(layers.HashingReader(sys.stdin.buffer)), out)
        top = None
    else:
        parent_path, name = _host_source(source, follow=follow)
        contents = _contents(source)

        def feed(out: BinaryIO) -> None:
            parent = os.open(parent_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                layers.write_tree(parent, name, out, contents=contents)
            finally:
                os.close(parent)

        top = None if contents else _basename(source)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)

    def job() -> None:
        target = _destination(path, where="in the container")
        if source == "-" and target.name is not None:
            raise UsageError(f"{path}: no such directory in the container", hint="a tar stream goes into a directory")
        policy = layers.CopyPolicy(owner=None if archive else (0, 0))
        with os.fdopen(read_end, "rb") as stream:
            _extract_and_place(stream, target, policy, contents=source != "-" and _contents(source), top=top)

    with _view(ctx, container, writing=True) as view:
        pid, errors = _in_child(view, job, read_end)
        os.close(read_end)
        try:
            with os.fdopen(write_end, "wb") as out:
                feed(out)
        except BrokenPipeError:
            pass  # the child ended early: it says why
        except BaseException:
            _said_or_raise(pid, errors, container)
            raise
        _finish(pid, errors, container)


def _host_source(source: str, *, follow: bool) -> tuple[str, str]:
    clean = os.path.normpath(source[:-2] if source.endswith("/.") else source)
    if follow:
        clean = os.path.realpath(clean)
    if not os.path.lexists(clean):
        raise UsageError(f"{source}: no such file or directory on the host", hint="give a path that exists")
    directory, name = os.path.split(os.path.abspath(clean))
    return directory or "/", name


def export(ctx: Context, ref: str, out: BinaryIO) -> None:
    """`sdc export`: the container's files (its layer over its image's, not its volumes nor what
    is mounted there) as a tar stream, read from a frozen view of them, no symlink followed."""
    from sdcontainer import layers

    container = find(ctx, ref)
    with ctx.driver().frozen_view(container.id) as view:
        root = os.open(view, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            layers.write_root(root, out)
        finally:
            os.close(root)
