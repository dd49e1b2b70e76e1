"""sdc's metadata on disk: atomic JSON files and the store lock."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sdcontainer.errors import StorageError
from sdcontainer.files import StoreLock, write_atomically
from sdcontainer.paths import Paths


def write_json(path: Path, data: Any) -> None:
    """Write whole or not at all (files.write_atomically); the directory must exist."""
    try:
        write_atomically(os.fspath(path), (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
            raise
        raise StorageError(f"cannot write {path}: {exc.strerror}", hint="free space on its file system") from exc


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
    paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)  # root's only: see storage.make_private
    with StoreLock(os.fspath(paths.lock)):
        yield
