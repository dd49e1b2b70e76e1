"""sdc's metadata on disk: atomic JSON files and the store lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sdcontainer.errors import StorageError
from sdcontainer.paths import Paths


def write_json(path: Path, data: Any) -> None:
    """Write whole or not at all: a temp file in the same directory, fsync, rename(2).

    The directory must exist: a record never brings back a removed container."""
    # A name of our own rather than tempfile's: that module pulls shutil, random and more into
    # every command that writes a record.
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise StorageError(f"corrupt metadata file {path}: {exc}", hint="remove or repair the file") from exc


@contextlib.contextmanager
def locked(paths: Paths) -> Iterator[None]:
    """Serialise changes to the store between concurrent sdc commands (flock(2)).

    Never held while waiting on systemd: a unit's ExecStopPost runs sdc too."""
    paths.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
