"""`sdc build`: its arguments read (the Containerfile, the context, the build args), and the
build run (build/builder.py)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from sdcontainer.errors import UsageError

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.images import Image

NAMES = ("Containerfile", "Dockerfile")  # looked for in the context, in this order (Podman's)
MAX_CONTAINERFILE = 4 << 20


def build(ctx: Context, context: str, *, file: str | None = None, tags: Sequence[str] = (),
          build_args: Sequence[str] = (), target: str = "", no_cache: bool = False, pull: bool = False,
          quiet: bool = False, labels: Sequence[str] = (), remove: bool = True, force_remove: bool = False,
          network: str = "", squash: str = "", layers: bool = True) -> Image:  # fmt: skip
    from sdcontainer import images
    from sdcontainer.build.builder import Options, Progress
    from sdcontainer.build.builder import build as run_build

    for tag in tags:
        images.normalize_reference(tag)
    if network not in ("", "default", "none", "host"):
        raise UsageError(f"invalid --network {network[:40]!r}", hint="give none or host (RUN steps' network)")
    context_dir = None if context == "-" else context
    if context_dir is not None and not os.path.isdir(context_dir):
        raise UsageError(f"the build context {context_dir} is no directory", hint="give a directory, or - for none")
    data, where = _containerfile(file, context_dir)
    options = Options(tags=tuple(tags), build_args=_build_args(build_args), target=target, no_cache=no_cache,
                      pull=pull, remove=remove, force_remove=force_remove, labels=_labels(labels), network=network,
                      where=where, squash=squash, layers=layers)  # fmt: skip
    with _quieted(quiet):
        return run_build(ctx, data, context_dir, options, Progress(None if quiet else sys.stdout))


def _containerfile(file: str | None, context_dir: str | None) -> tuple[bytes, str]:
    """The Containerfile's bytes and its name: -f's file (or standard input), else the context's
    Containerfile or Dockerfile, opened inside the context (a symlink there leads nowhere out of
    it). Each must be a regular file (a FIFO would hold the build)."""
    from sdcontainer import linux
    from sdcontainer.build.context import read_plain

    if file == "-" or (file is None and context_dir is None):
        return sys.stdin.buffer.read(MAX_CONTAINERFILE + 1), "Containerfile"
    root = -1 if file is not None else os.open(context_dir or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    candidates = [file] if file is not None else [os.path.join(context_dir or ".", name) for name in NAMES]
    try:
        for path in candidates:
            try:
                if root < 0:
                    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                else:
                    fd = linux.open_in_root(root, os.path.basename(path), os.O_RDONLY | os.O_NONBLOCK)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise UsageError(f"cannot read {path}: {exc.strerror}", hint="check the file") from None
            data = read_plain(fd, MAX_CONTAINERFILE + 1)
            if data is None:
                raise UsageError(f"{path} is not a regular file", hint="give the Containerfile with -f")
            return data, os.path.basename(path)
    finally:
        if root >= 0:
            os.close(root)
    raise UsageError(f"no Containerfile or Dockerfile in {context_dir}" if file is None else f"no file {file}",
                     hint="give one with -f FILE")  # fmt: skip


def _build_args(given: Sequence[str]) -> dict[str, str]:
    """--build-arg NAME=VALUE, or NAME alone: this environment's value (none where it has none)."""
    return _pairs(given, "--build-arg", "NAME=VALUE", from_environment=True)


def _labels(given: Sequence[str]) -> dict[str, str]:
    return _pairs(given, "--label", "KEY=VALUE", from_environment=False)


def _pairs(given: Sequence[str], flag: str, form: str, *, from_environment: bool) -> dict[str, str]:
    found = {}
    for text in given:
        name, eq, value = text.partition("=")
        if not name:
            raise UsageError(f"invalid {flag} {text[:40]!r}", hint=f"give {form}")
        if eq or not from_environment:
            found[name] = value
        elif name in os.environ:
            found[name] = os.environ[name]
    return found


@contextlib.contextmanager
def _quieted(quiet: bool) -> Iterator[None]:
    """With -q, the steps' own output (RUN's, on our stdout and stderr) goes nowhere; what fails is
    said once they are back."""
    if not quiet:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, old in zip((1, 2), saved, strict=True):
            os.dup2(old, fd)
            os.close(old)
        os.close(null)
