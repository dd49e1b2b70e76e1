"""A registry client: the OCI distribution spec (the Docker Registry HTTP API v2), over http.client.

http.client, not a third-party library: it streams responses, keeps one connection per host
alive, verifies TLS through ssl's default context, adds no dependency, and its imports (~10 ms)
are paid by pull, push and login only. What the protocol needs beyond it is here: the auth
challenge (WWW-Authenticate: Bearer, with a token from the realm it names, or Basic), redirects
(blobs are often served by another host, which gets no credentials), and retries of what fails
for a moment.

HTTPS with verification always, but for a registry on this machine's loopback (which may speak
plain HTTP, as Docker allows) or one named with --tls-verify=false.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sdcontainer.digests import Digest
from sdcontainer.errors import NotFound, SdcError, UsageError
from sdcontainer.log import get_logger
from sdcontainer.record import record
from sdcontainer.text import is_decimal

log = get_logger(__name__)

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
# What a reply may hold (containers/image's limits): a manifest, index or config larger than
# SMALL_MAX is not one; a token, TOKEN_MAX; an error's text, or a reply sdc does not use (a
# redirect's, a retry's, a 2xx's), DISCARD_MAX is read, and a connection with more is closed.
SMALL_MAX = 4 << 20
TOKEN_MAX = 1 << 20
DISCARD_MAX = 64 << 10
RETRIES = 3
TIMEOUT = 60.0
USER_AGENT = "sdc"


Body = bytes | BinaryIO | Iterable[bytes] | None  # an iterable goes chunked (http.client)


class RegistryError(SdcError):
    """A registry refused, or could not be reached."""


@record
class Credentials:
    username: str
    password: str


@dataclass
class Registry:
    """One registry: where it is, how to authenticate to it, its open connections."""

    domain: str
    credentials: Credentials | None = None
    tls_verify: bool = True
    _scheme: str | None = None
    _tokens: dict[str, str] = field(default_factory=dict)  # scope -> bearer token
    _basic: bool = False
    _connections: dict[tuple[str, str], http.client.HTTPConnection] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    # --- the API ------------------------------------------------------------------------------

    def manifest(self, repository: str, reference: str | Digest) -> tuple[str, bytes, Digest]:
        """(media type, bytes, digest) of a manifest or index, by tag (checked by reference.py)
        or digest."""
        response = self.request("GET", f"/v2/{repository}/manifests/{reference}", repository,
                                headers={"Accept": ", ".join(MANIFEST_TYPES)})  # fmt: skip
        body = _read_small(response, f"the manifest of {repository}:{reference}")
        media = response.getheader("Content-Type", "").split(";")[0].strip()
        return media, body, Digest.of(body)

    def blob(self, repository: str, digest: Digest) -> http.client.HTTPResponse:
        """A blob, streaming: the caller reads it (and checks its digest) and closes it."""
        return self.request("GET", f"/v2/{repository}/blobs/{digest}", repository)

    def small_blob(self, repository: str, descriptor: dict[str, Any]) -> bytes:
        """A config (or another small blob), checked against its descriptor's digest and size."""
        digest = Digest.parse(descriptor.get("digest"), what="a descriptor's digest in the manifest")
        with self.blob(repository, digest) as response:
            data = _read_small(response, f"blob {digest.short}...")
        if not digest.matches(data) or len(data) != descriptor.get("size"):
            raise RegistryError(f"blob {digest.short}... is not what its descriptor says",
                                hint="the registry served other bytes than its manifest names")  # fmt: skip
        return data

    def check_login(self) -> None:
        """Whether the registry takes these credentials: /v2/, and its challenge answered."""
        try:
            response = self._send("GET", self._url("/v2/"), {}, None, "")
            if response.status == 401:
                challenge = response.getheader("WWW-Authenticate", "")
                self.discard(response)
                kind, _, rest = challenge.partition(" ")
                if kind.lower() == "bearer":
                    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
                    self._token(params.get("realm", ""), {"service": params.get("service", "")})
                    return
                self._basic = True
                response = self._send("GET", self._url("/v2/"), {}, None, "")
        except (OSError, http.client.HTTPException) as exc:
            raise self._unreachable(exc) from exc
        self.discard(response)
        if response.status == 401:
            raise RegistryError(f"{self.domain} refused the credentials", hint="check the user name and password")
        if not 200 <= response.status < 300:
            raise RegistryError(f"{self.domain}: HTTP {response.status} {response.reason}",
                                hint="is it a registry?")  # fmt: skip

    # --- requests -----------------------------------------------------------------------------

    def request(self, method: str, path: str, repository: str, *, headers: dict[str, str] | None = None,
                body: Body = None, push: bool = False) -> http.client.HTTPResponse:  # fmt: skip
        """A response with a 2xx status (others are errors), after authentication and redirects.
        A request with a streamed body is not retried: its caller does that."""
        scope = f"repository:{repository}:{'pull,push' if push else 'pull'}"
        for attempt in range(RETRIES):
            try:
                response = self._send(method, self._url(path), headers or {}, body, scope)
                if response.status == 401 and self._authenticate(response, scope):
                    response = self._send(method, self._url(path), headers or {}, body, scope)
                if response.status in (429, 502, 503, 504) and attempt < RETRIES - 1 and not _streamed(body):
                    self.discard(response)
                    time.sleep(0.5 * 2**attempt)
                    continue
                return self._checked(response, method, path)
            except (OSError, http.client.HTTPException) as exc:
                if attempt == RETRIES - 1 or _streamed(body) or isinstance(exc, ssl.SSLCertVerificationError):
                    raise self._unreachable(exc) from exc
                log.debug("retrying %s %s after %s", method, path, exc)
                self._forget_connections()
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def _send(self, method: str, url: str, headers: dict[str, str], body: Body,
              scope: str) -> http.client.HTTPResponse:  # fmt: skip
        """One request, following redirects (5 at most); credentials go to the registry's host only."""
        for _ in range(6):
            parsed = urllib.parse.urlsplit(url)
            # Credentials to the registry itself, as it was reached: never over plain HTTP to it
            # when it speaks HTTPS (a redirect to http://registry/ would have them in the clear).
            ours = parsed.netloc == self._netloc() and parsed.scheme == self._scheme
            sent = {"User-Agent": USER_AGENT, **headers}
            if ours and (auth := self._authorization(scope)):
                sent["Authorization"] = auth
            connection = self._connection(parsed.scheme, parsed.netloc)
            target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
            try:
                connection.request(method, target, body=body, headers=sent)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException):
                self._forget_connections()
                raise
            if response.status in (301, 302, 303, 307, 308) and (location := response.getheader("Location")):
                self.discard(response)
                url = redirect_target(self.domain, url, location)
                if response.status == 303:
                    method, body = "GET", None
                continue
            return response
        raise RegistryError(f"too many redirects from {self.domain}", hint="the registry is misconfigured")

    def _checked(self, response: http.client.HTTPResponse, method: str, path: str) -> http.client.HTTPResponse:
        if 200 <= response.status < 300:
            return response
        text = self.discard(response).decode(errors="replace")
        message = _error_message(text) or f"HTTP {response.status} {response.reason}"
        if response.status == 404:
            raise NotFound(f"{self.domain}: {message}", hint="check the image's name and tag, and the registry")
        if response.status in (401, 403):
            raise RegistryError(f"{self.domain} refused access: {message}",
                                hint=f"log in first: sdc login {self.domain}")  # fmt: skip
        raise RegistryError(f"{self.domain}: {method} {path.split('?')[0]}: {message}",
                            hint="the registry refused the request")  # fmt: skip

    # --- authentication -----------------------------------------------------------------------

    def _authorization(self, scope: str) -> str | None:
        if scope in self._tokens:
            return f"Bearer {self._tokens[scope]}"
        if self._basic and self.credentials is not None:
            return "Basic " + _basic(self.credentials)
        return None

    def _authenticate(self, response: http.client.HTTPResponse, scope: str) -> bool:
        """Answer a 401's challenge; True when the request is worth sending again."""
        challenge = response.getheader("WWW-Authenticate", "")
        self.discard(response)
        kind, _, rest = challenge.partition(" ")
        if kind.lower() == "basic":
            if self.credentials is None or self._basic:
                return False
            self._basic = True
            return True
        if kind.lower() != "bearer" or scope in self._tokens:
            return False
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{self.domain} asks for a token from nowhere: {challenge[:200]!r}",
                                hint="the registry's auth is misconfigured")  # fmt: skip
        # Ours, not the challenge's, for our repository: a HEAD before a push is challenged for pull
        # only, and a token for that would not do for the upload that follows.
        asked = params.get("scope", scope)
        same_repository = asked.rsplit(":", 1)[0] == scope.rsplit(":", 1)[0]
        query = {"service": params.get("service", ""), "scope": scope if same_repository else asked}
        self._tokens[scope] = self._token(realm, query)
        return True

    def _token(self, realm: str, query: dict[str, str]) -> str:
        parsed = token_url(self.domain, realm, query)
        headers = {"User-Agent": USER_AGENT}
        if self.credentials is not None:
            headers["Authorization"] = "Basic " + _basic(self.credentials)
        connection = self._connection(parsed.scheme, parsed.netloc)
        try:
            connection.request("GET", parsed.path + f"?{parsed.query}", headers=headers)
            response = connection.getresponse()
            body = _read_small(response, "the token", limit=TOKEN_MAX)
        except (OSError, http.client.HTTPException) as exc:
            self._forget_connections()
            raise self._unreachable(exc) from exc
        if response.status in (401, 403):
            raise RegistryError(f"{self.domain} refused the credentials" if self.credentials else
                                f"{self.domain} wants credentials", hint=f"sdc login {self.domain}")  # fmt: skip
        try:
            reply = json.loads(body)
            return str(reply.get("token") or reply["access_token"])
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(f"the token server of {self.domain} gave no token",
                                hint="the registry's auth is misconfigured") from None  # fmt: skip

    # --- connections --------------------------------------------------------------------------

    def _netloc(self) -> str:
        return self.host

    def _url(self, path: str) -> str:
        """The URL of a path of the registry's; an upload's Location (absolute, or relative to /v2/) checked."""
        if self._scheme is None:
            self._scheme = self._probe_scheme()
        if path.startswith("/") and not path.startswith("//"):
            return f"{self._scheme}://{self.host}{path}"
        return redirect_target(self.domain, f"{self._scheme}://{self.host}/v2/", path)  # an upload's Location

    def _probe_scheme(self) -> str:
        """https; a loopback registry (or one named with --tls-verify=false) that speaks plain HTTP
        gets http, as Docker's insecure registries do."""
        if self.tls_verify and not _loopback(self.host.rsplit(":", 1)[0].strip("[]")):
            return "https"
        try:
            connection = self._connection("https", self.host)
            connection.request("GET", "/v2/", headers={"User-Agent": USER_AGENT})
            self.discard(connection.getresponse())
            return "https"
        except (ssl.SSLError, http.client.HTTPException, ConnectionResetError):
            self._forget_connections()
            return "http"
        except OSError as exc:
            raise self._unreachable(exc) from exc

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        if key not in self._connections:
            if scheme == "https":
                context = ssl.create_default_context()
                if not self.tls_verify or (netloc == self.host and _loopback(_hostname(netloc))):
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._connections[key] = http.client.HTTPSConnection(netloc, timeout=TIMEOUT, context=context)
            elif scheme == "http":
                self._connections[key] = http.client.HTTPConnection(netloc, timeout=TIMEOUT)
            else:
                raise RegistryError(f"a redirect to {scheme}://{netloc}", hint="the registry is misconfigured")
        return self._connections[key]

    def _forget_connections(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def close(self) -> None:
        self._forget_connections()

    def discard(self, response: http.client.HTTPResponse) -> bytes:
        """Read a reply sdc does not use, DISCARD_MAX at most: what it read. A reply that holds
        more is cut off, its connection closed (a registry that sends a GiB with a 401 costs
        us 64 KiB), and the next request opens another."""
        data = response.read(DISCARD_MAX)
        if not response.isclosed():
            response.close()
            self._forget_connections()
        return data

    def fork(self) -> Registry:
        """The same registry, credentials and tokens, on connections of its own: for another thread
        (an http.client connection carries one request at a time)."""
        return Registry(self.domain, self.credentials, self.tls_verify, _scheme=self._scheme, _tokens=self._tokens,
                        _basic=self._basic)  # fmt: skip

    def _unreachable(self, exc: BaseException) -> RegistryError:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return RegistryError(f"{self.domain}: its TLS certificate does not verify: {exc.verify_message}",
                                 hint="trust its CA, or use --tls-verify=false for a registry you trust")  # fmt: skip
        if isinstance(exc, socket.gaierror):
            return RegistryError(f"cannot find {self.host}: {exc.strerror}", hint="check the registry's name")
        return RegistryError(f"cannot reach {self.domain}: {exc}", hint="check the network and the registry")


def _streamed(body: object) -> bool:
    return body is not None and not isinstance(body, bytes)


def _split(url: str) -> urllib.parse.SplitResult | None:
    """url's parts, when it is an http(s) URL with a host and a port that can be (None if not)."""
    try:
        parsed = urllib.parse.urlsplit(url)
        _ = parsed.port  # ValueError for a port out of range or not a number
    except ValueError:  # a bracketed host left open, say
        return None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    return parsed


def redirect_target(domain: str, url: str, location: str) -> str:
    """Where a registry's Location (a redirect's, an upload's) from url goes: an http(s) URL,
    never from HTTPS to plain HTTP (RegistryError if not)."""
    try:
        following = urllib.parse.urljoin(url, location) if "\0" not in location else ""
    except ValueError:  # a bracketed host left open
        following = ""
    parsed = _split(following)
    if parsed is None:
        raise RegistryError(f"{domain} sends sdc to {location[:100]!r}, which is no HTTP URL",
                            hint="the registry is misconfigured")  # fmt: skip
    if urllib.parse.urlsplit(url).scheme == "https" and parsed.scheme != "https":
        raise RegistryError(f"{domain} redirects from HTTPS to {following[:100]}",
                            hint="a registry's redirect may not leave HTTPS")  # fmt: skip
    return following


def token_url(domain: str, realm: str, query: dict[str, str]) -> urllib.parse.SplitResult:
    """The token server's URL a challenge names, with the query sdc asks it: HTTPS, or plain
    HTTP on the loopback only (RegistryError for another)."""
    url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode({k: v for k, v in query.items() if v})
    parsed = _split(url) if realm.startswith(("https://", "http://")) else None
    if parsed is None:
        raise RegistryError(f"{domain} asks for a token from nowhere: {realm[:200]!r}",
                            hint="the registry's auth is misconfigured")  # fmt: skip
    if parsed.scheme == "http" and not _loopback(parsed.hostname or ""):
        raise RegistryError(f"the token server {parsed.netloc} is plain HTTP", hint="it must be HTTPS")
    return parsed


def _hostname(netloc: str) -> str:
    return urllib.parse.urlsplit(f"//{netloc}").hostname or netloc


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _basic(credentials: Credentials) -> str:
    return base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()


def _read_small(response: http.client.HTTPResponse, what: str, *, limit: int = SMALL_MAX) -> bytes:
    length = response.getheader("Content-Length", "")
    if is_decimal(length) and int(length) > limit:
        raise UsageError(f"{what} is too big to be what it says ({int(length)} bytes)",
                         hint="the registry served something else")  # fmt: skip
    data = response.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{what} is too big to be what it says", hint="the registry served something else")
    return data


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _error_message(text: str) -> str:
    """The first message of a registry's JSON error body (distribution spec: {"errors": [...]})."""
    try:
        errors = json.loads(text).get("errors") or []
        first = errors[0]
        return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""
