"""ADD of a URL: the file fetched over HTTP(S) as Docker's builder fetches it, by sdc itself on
the host's network (as Docker's and Podman's: a build's --network is its RUN steps').

Only http and https, to a redirect too (at most MAX_REDIRECTS); TLS checked against the system's
authorities; a reply of more than the layer's size limit, or one slower than TIMEOUT between
reads, is an error; the body streamed into a file, hashed as it comes. What is fetched is named
by the URL's last path component, as Docker names it."""

from __future__ import annotations

import hashlib
import http.client
import posixpath
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import BinaryIO

from sdcontainer.build.dockerfile import DockerfileError

MAX_REDIRECTS = 10
TIMEOUT = 60.0
CHUNK = 1 << 20


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
    return name


def fetch(url: str, out: BinaryIO, *, at: str, max_size: int, timeout: float = TIMEOUT) -> Fetched:
    """url's body written to out."""
    name = name_of(url, at)
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise DockerfileError(f"{at}: ADD {url[:200]}: sdc fetches http and https URLs alone",
                                  hint="give an http:// or https:// URL")  # fmt: skip
        connection = _connection(parts, timeout, at, url)
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
        except (OSError, http.client.HTTPException) as exc:
            raise DockerfileError(f"{at}: ADD {url[:200]}: {exc}", hint="check the URL and the network") from None
        finally:
            connection.close()
    raise DockerfileError(f"{at}: ADD {url[:200]}: more than {MAX_REDIRECTS} redirects", hint="check the URL")


def _connection(parts: urllib.parse.SplitResult, timeout: float, at: str, url: str) -> http.client.HTTPConnection:
    try:
        port = parts.port
    except ValueError:
        raise DockerfileError(f"{at}: ADD {url[:200]}: a bad port", hint="check the URL") from None
    host = parts.hostname or ""
    if parts.scheme.lower() == "https":
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    return http.client.HTTPConnection(host, port, timeout=timeout)


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
    mtime = None
    modified = response.getheader("Last-Modified")
    if modified:
        try:
            mtime = email.utils.parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError, OverflowError):
            mtime = None
    return Fetched(name, "sha256:" + digest.hexdigest(), size, mtime)
