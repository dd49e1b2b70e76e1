"""A pull's layers, downloaded side by side while they are applied one after another.

A layer's subvolume is a snapshot of its parent's, so layers are applied in order; but nothing
makes their downloads wait. The layer being applied streams from the network straight into its
subvolume (no copy anywhere); up to AHEAD of the layers after it download meanwhile, each on its
own connection, into an unnamed file in the store (O_TMPFILE: no name, so nothing to clean up
after a crash), which that layer's application then reads, following the download as it grows
when it gets there first. Docker downloads three layers at a time as well; unlike it, nothing
waits for a whole layer to arrive before its application starts.

Whatever goes wrong with a download ahead (a broken connection, an error status) is not
reported by it: the layer's application then fetches it itself, as it would have without this,
and reports what that meets. Each download reads at most its descriptor's size (plus one byte,
to see more), so a registry cannot fill the disk through it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from sdcontainer.digests import Digest
from sdcontainer.errors import SdcError
from sdcontainer.images.archive import Retry
from sdcontainer.log import get_logger

if TYPE_CHECKING:
    from sdcontainer.images.registry import Registry

log = get_logger(__name__)

AHEAD = 2  # downloads ahead of the layer being applied: three at once, as Docker's default
CHUNK = 1 << 20


class Progress(Protocol):
    """What a pull tells its caller as it goes; called from the downloads' threads as well."""

    def layer(self, digest: str, size: int) -> None: ...  # a layer to fetch, of size bytes

    def advance(self, digest: str, status: str, done: int) -> None: ...  # "Downloading", "Extracting"; bytes

    def finished(self, digest: str, status: str) -> None: ...  # "Download complete", "Pull complete"...


class Fetcher:
    """The layers (descriptors) of one repository of registry to fetch, in the order they apply.

    opener(i) gives what store_found wants for layer i: a function that opens its bytes. Use as a
    context manager: leaving it stops the downloads still running and frees their files."""

    def __init__(self, registry: Registry, repository: str, layers: list[dict[str, Any]], spool: Path,
                 progress: Progress) -> None:  # fmt: skip
        self.registry, self.repository, self.layers = registry, repository, layers
        self.spool, self.progress = spool, progress
        self._lock = threading.Lock()
        self._downloads: dict[int, _Download] = {}
        self._queue: list[int] = []  # layers to download ahead, in order
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._stopping = True
            self._queue.clear()
            downloads = list(self._downloads.values())
        for download in downloads:
            download.interrupt()
        for thread in self._threads:
            thread.join(timeout=10)
        for download in downloads:
            download.close()

    def start(self, indices: list[int]) -> None:
        """Download these layers (those the store lacks, in order), the first in the caller's thread
        when its turn comes, AHEAD of the others at a time meanwhile."""
        self._queue = list(indices[1:])
        for _ in range(min(AHEAD, len(self._queue))):
            thread = threading.Thread(target=self._work, name="sdc-download", daemon=True)
            self._threads.append(thread)
            thread.start()

    def opener(self, index: int) -> Callable[[], BinaryIO]:
        layer = self.layers[index]
        digest, size = Digest.parse(layer["digest"]), int(layer["size"])  # checked (pull._parts)

        def open_layer() -> BinaryIO:
            with self._lock:
                if index in self._queue:  # not started yet: it is this thread's now
                    self._queue.remove(index)
                download = self._downloads.pop(index, None)
            if download is not None and download.usable():
                return _Following(download, self.progress)  # type: ignore[return-value]
            if download is not None:
                download.close()
            self.progress.advance(str(digest), "Downloading", 0)
            response = self.registry.blob(self.repository, digest)
            return _Streamed(response, str(digest), size, self.progress)  # type: ignore[return-value]

        return open_layer

    def _work(self) -> None:
        registry = self.registry.fork()  # a connection of its own
        try:
            while True:
                with self._lock:
                    if self._stopping or not self._queue:
                        return
                    index = self._queue.pop(0)
                    download = _Download(self.layers[index], self.spool)
                    self._downloads[index] = download
                download.run(registry, self.repository, self.progress)
        finally:
            registry.close()


class _Download:
    """One layer's blob, downloading into an unnamed file in the store."""

    def __init__(self, layer: dict[str, Any], spool: Path) -> None:
        self.digest, self.size = str(layer["digest"]), int(layer["size"])  # checked (pull._parts)
        self.fd = _unnamed_file(spool)
        self.written = 0
        self.done = False
        self.failed: str | None = None
        self.changed = threading.Condition()
        self._response: http.client.HTTPResponse | None = None
        self._interrupted = False

    def run(self, registry: Registry, repository: str, progress: Progress) -> None:
        try:
            progress.advance(self.digest, "Downloading", 0)
            self._response = registry.blob(repository, Digest.parse(self.digest))
            with self._response:
                while not self._interrupted:
                    data = self._response.read(CHUNK)
                    if not data:
                        break
                    if self.written + len(data) > self.size:
                        raise SdcError("the blob is bigger than its descriptor says")
                    os.pwrite(self.fd, data, self.written)
                    with self.changed:
                        self.written += len(data)
                        self.changed.notify_all()
                    progress.advance(self.digest, "Downloading", self.written)
            if self.written < self.size and not self._interrupted:
                raise SdcError(f"the connection closed after {self.written} of {self.size} bytes")
            if not self._interrupted:
                progress.finished(self.digest, "Download complete")
        except (SdcError, OSError, http.client.HTTPException, ValueError) as exc:
            log.debug("downloading %s ahead: %s", self.digest, exc)
            with self.changed:
                self.failed = str(exc) or type(exc).__name__
        finally:
            with self.changed:
                self.done = True
                self.changed.notify_all()

    def usable(self) -> bool:
        with self.changed:
            return self.failed is None and not self._interrupted

    def interrupt(self) -> None:
        """Stop a download that is waiting on the network (from another thread)."""
        self._interrupted = True
        response = self._response
        sock = getattr(getattr(response, "fp", None), "raw", None)
        sock = getattr(sock, "_sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop it, and free its file once its thread has let go of it."""
        self.interrupt()
        with self.changed:
            if self.fd < 0 or not self.changed.wait_for(lambda: self.done, timeout=10):
                return  # a thread stuck on the network: the file goes with the process
            os.close(self.fd)
            self.fd = -1


class _Following:
    """A layer's bytes as its download writes them: a read waits for more while it goes on."""

    def __init__(self, download: _Download, progress: Progress) -> None:
        self.download, self.progress, self.offset = download, progress, 0

    def read(self, size: int = -1) -> bytes:
        d = self.download
        with d.changed:
            while self.offset >= d.written and not d.done:
                d.changed.wait()
            if self.offset >= d.written and d.failed is not None:
                raise Retry(f"the download broke off: {d.failed}", hint="try again")
            available = d.written - self.offset
        data = os.pread(d.fd, available if size < 0 else min(size, available), self.offset)
        self.offset += len(data)
        self.progress.advance(d.digest, "Extracting", self.offset)
        return data

    def __enter__(self) -> _Following:
        return self

    def __exit__(self, *exc: object) -> None:
        self.download.close()


class _Streamed:
    """A blob's response, read by the layer's extraction: a break in it may be retried, and each
    read reports progress."""

    def __init__(self, response: http.client.HTTPResponse, digest: str, size: int, progress: Progress) -> None:
        self.response, self.digest, self.size, self.progress = response, digest, size, progress
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.response.read(size)
        except (OSError, http.client.HTTPException) as exc:
            raise Retry(f"the download broke off: {exc}", hint="try again") from exc
        if not data and size and (self.response.length or self.done < self.size):
            # http.client's read(n) meets a connection closed early as an end, not an error
            raise Retry(f"the download broke off after {self.done} of {self.size} bytes", hint="try again")
        self.done += len(data)
        if self.done > self.size:  # no Content-Length, or one that says more than the manifest
            raise SdcError(f"blob {self.digest[7:19]}... is bigger than its descriptor says ({self.size} bytes)",
                           hint="the registry served other bytes than its manifest names")  # fmt: skip
        self.progress.advance(self.digest, "Downloading", self.done)
        return data

    def __enter__(self) -> _Streamed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.response.close()


def _unnamed_file(directory: Path) -> int:
    """A file in directory's filesystem that no name reaches: gone with its last descriptor."""
    try:
        return os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError:  # a filesystem without O_TMPFILE: a name, unlinked at once
        import tempfile

        fd, name = tempfile.mkstemp(dir=directory)
        os.unlink(name)
        return fd
