"""ADD of a URL: the file fetched over HTTP(S) as Docker's builder fetches it, by sdc itself on
the host's network (as Docker's and Podman's: a build's --network is its RUN steps').

Only http and https, to a redirect too (at most MAX_REDIRECTS); TLS checked against the system's
authorities; a reply of more than the layer's size limit, or one slower than TIMEOUT between
reads, or slower than DEADLINE in all, is an error (a watchdog closes the connection: no reply
holds a build, and the store's lock it holds, for ever); a body shorter than its Content-Length
too. The body streamed into a file, hashed as it comes. What is fetched is named by the URL's
last path component, as Docker names it."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import posixpath
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import BinaryIO

from sdcontainer.build.dockerfile import DockerfileError

MAX_REDIRECTS = 10
TIMEOUT = 60.0  # s between reads
DEADLINE = 1800.0  # s for a whole fetch, redirects included
CHUNK = 1 << 20
NAME_MAX = 255  # bytes of a file name


@dataclass(frozen=True)
class Fetched:
    name: str  # the file's name: the URL's last path component
    digest: str  # sha256:HEX of its contents
    size: int
    mtime: float | None  # Last-Modified, where the server says it


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def name_of(url: str, at: str) -> str:
    """The name Docker gives what url fetches: its path's last component."""
    name = posixpath.basename(urllib.parse.urlsplit(url).path)
    name = urllib.parse.unquote(name)
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise DockerfileError(f"{at}: ADD {url[:200]}: its URL names no file to make",
                              hint="give the destination's file name: ADD URL /path/name")  # fmt: skip
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX or any(c in name for c in "*?[\\"):
        raise DockerfileError(f"{at}: ADD {url[:200]}: its file name is too long or has a wildcard (*?[\\)",
                              hint="fetch it in a RUN step, and name it there")  # fmt: skip
    return name


def fetch(url: str, out: BinaryIO, *, at: str, max_size: int, timeout: float = TIMEOUT,
          deadline: float = DEADLINE) -> Fetched:  # fmt: skip
    """url's body written to out."""
    name = name_of(url, at)
    expired = threading.Event()
    current: list[http.client.HTTPConnection] = []

    def expire() -> None:
        expired.set()
        for connection in current:
            sock = connection.sock
            if sock is not None:  # (shut down: a read that waits on it returns, and the fetch ends)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(deadline, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        return _fetch(url, out, name, at=at, max_size=max_size, timeout=timeout, current=current, expired=expired)
    finally:
        watchdog.cancel()


def _fetch(url: str, out: BinaryIO, name: str, *, at: str, max_size: int, timeout: float,
           current: list[http.client.HTTPConnection], expired: threading.Event) -> Fetched:  # fmt: skip
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise DockerfileError(f"{at}: ADD {url[:200]}: sdc fetches http and https URLs alone",
                                  hint="give an http:// or https:// URL")  # fmt: skip
        connection = _connection(parts, timeout, at, url)
        current[:] = [connection]
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", path, headers={"User-Agent": "sdc-build", "Accept-Encoding": "identity"})
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                url = urllib.parse.urljoin(url, response.getheader("Location", ""))
                continue
            if response.status != 200:
                raise DockerfileError(f"{at}: ADD {url[:200]}: the server replied {response.status} "
                                      f"{response.reason[:80]}", hint="check the URL")  # fmt: skip
            return _body(response, out, name, at=at, url=url, max_size=max_size)
        except (OSError, http.client.HTTPException, UnicodeError, ValueError) as exc:
            why = f"no reply in {DEADLINE:.0f} s" if expired.is_set() else str(exc)[:200]
            raise DockerfileError(f"{at}: ADD {url[:200]}: {why}", hint="check the URL and the network") from None
        finally:
            connection.close()
    raise DockerfileError(f"{at}: ADD {url[:200]}: more than {MAX_REDIRECTS} redirects", hint="check the URL")


def _connection(parts: urllib.parse.SplitResult, timeout: float, at: str, url: str) -> http.client.HTTPConnection:
    try:
        port = parts.port
    except ValueError:
        raise DockerfileError(f"{at}: ADD {url[:200]}: a bad port", hint="check the URL") from None
    host = parts.hostname or ""
    if parts.scheme.lower() == "https":  # (the port given: an IPv6 address's colons are not one)
        return http.client.HTTPSConnection(host, port or 443, timeout=timeout, context=ssl.create_default_context())
    return http.client.HTTPConnection(host, port or 80, timeout=timeout)


def _body(response: http.client.HTTPResponse, out: BinaryIO, name: str, *, at: str, url: str,
          max_size: int) -> Fetched:  # fmt: skip
    import email.utils

    length = response.getheader("Content-Length")
    if length is not None and length.isdigit() and int(length) > max_size:
        raise DockerfileError(f"{at}: ADD {url[:200]}: {length} bytes, more than a layer may hold",
                              hint="fetch less")  # fmt: skip
    digest = hashlib.sha256()
    size = 0
    while chunk := response.read(CHUNK):
        size += len(chunk)
        if size > max_size:
            raise DockerfileError(f"{at}: ADD {url[:200]}: more than a layer may hold", hint="fetch less")
        digest.update(chunk)
        out.write(chunk)
    if length is not None and length.isdigit() and size != int(length):
        raise DockerfileError(f"{at}: ADD {url[:200]}: {size} bytes came of the {length} the server said",
                              hint="fetch it again")  # fmt: skip
    mtime = None
    modified = response.getheader("Last-Modified")
    if modified:
        try:
            mtime = email.utils.parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError, OverflowError):
            mtime = None
    return Fetched(name, "sha256:" + digest.hexdigest(), size, mtime)
