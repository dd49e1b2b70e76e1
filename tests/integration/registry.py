"""A real registry server (Debian's docker-registry: distribution 2.8) for the tests, on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(work: Path, *, auth: dict[str, Any] | None = None) -> Iterator[str]:
    """A registry storing under work, listening on 127.0.0.1 (its packaged config listens on every
    interface: never used); its address, host:port."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(work / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if auth:
        config["auth"] = auth
    (work / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    with open(work / "registry.log", "w") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(work / "config.yml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (work / "registry.log").read_text()
                assert time.monotonic() < deadline, "the registry did not come up"
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def blob_file(work: Path, digest: str) -> Path:
    """Where the registry keeps a blob (distribution's filesystem layout)."""
    hexa = digest.removeprefix("sha256:")
    return work / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexa[:2] / hexa / "data"


def push(source: str, address: str, name: str, *args: str) -> None:
    """skopeo copies an image into the registry (plain HTTP on loopback)."""
    proc = subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", *args, source,
                           f"docker://{address}/{name}"], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def manifest_digest(address: str, name: str) -> str:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{address}/{name}"],
                         capture_output=True, check=True).stdout  # fmt: skip
    import hashlib

    return "sha256:" + hashlib.sha256(out).hexdigest()


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@contextlib.contextmanager
def serve_with_tokens(work: Path, *, users: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """A registry that wants a Bearer token, and the token server it names (distribution's token
    auth: a JWT signed by a key whose certificate the registry trusts), both on 127.0.0.1. The
    server gives tokens to users (name -> password) only; yields the registry's address and the
    scopes it was asked for."""
    import base64
    import http.server
    import secrets
    import threading
    import urllib.parse

    work.mkdir(parents=True, exist_ok=True)
    key, cert = work / "token.key", work / "token.pem"
    make_cert = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                 "-days", "1", "-subj", "/CN=sdc-test-token"]  # fmt: skip
    subprocess.run(make_cert, check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER"], check=True,
                         capture_output=True).stdout  # fmt: skip
    scopes: list[str] = []

    def token(user: str, service: str, scope: str) -> str:
        access = []
        if scope:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": "sdc-test-issuer", "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": secrets.token_hex(8), "access": access}  # fmt: skip
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)], input=signing_input.encode(),
                                   check=True, capture_output=True).stdout  # fmt: skip
        return f"{signing_input}.{_b64url(signature)}"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            scopes.append(query.get("scope", ""))
            given = self.headers.get("Authorization", "")
            user, _, password = base64.b64decode(given.removeprefix("Basic ") or b"").decode().partition(":")
            if not given.startswith("Basic ") or users.get(user) != password:
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps({"token": token(user, query.get("service", ""), query.get("scope", ""))}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    auth = {"token": {"realm": f"http://127.0.0.1:{server.server_address[1]}/token", "service": "sdc-test-registry",
                      "issuer": "sdc-test-issuer", "rootcertbundle": str(cert)}}  # fmt: skip
    try:
        with serve(work / "registry", auth=auth) as address:
            yield address, scopes
    finally:
        server.shutdown()
        server.server_close()


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def upload(address: str, repository: str, tag: str, blobs: list[bytes], manifest: dict[str, Any]) -> None:
    """Puts blobs and a manifest straight into the registry through its API, as a hostile publisher
    would: no tool on the way checks what the blobs hold."""
    import hashlib
    import http.client

    conn = http.client.HTTPConnection(address, timeout=30)
    try:
        for blob in blobs:
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            conn.request("POST", f"/v2/{repository}/blobs/uploads/")
            response = conn.getresponse()
            response.read()
            assert response.status == 202, response.status
            location = response.headers["Location"]
            location = location.split(address, 1)[-1]
            sep = "&" if "?" in location else "?"
            conn.request("PUT", f"{location}{sep}digest={digest}", body=blob,
                         headers={"Content-Type": "application/octet-stream"})  # fmt: skip
            response = conn.getresponse()
            response.read()
            assert response.status == 201, (response.status, digest)
        body = json.dumps(manifest).encode()
        conn.request("PUT", f"/v2/{repository}/manifests/{tag}", body=body,
                     headers={"Content-Type": str(manifest.get("mediaType", OCI_MANIFEST))})  # fmt: skip
        response = conn.getresponse()
        detail = response.read()
        assert response.status == 201, (response.status, detail)
    finally:
        conn.close()


class Proxy:
    """What a flaky, slow network does to a registry's blobs, and a record of what was asked.

    A plain-HTTP proxy on 127.0.0.1 in front of a registry: each blob's body is held back for
    `delay` seconds (so downloads that overlap are seen to), faults[digest] lists what the next
    GETs of that blob meet ("503": Service Unavailable; "cut": half the body, then the connection
    closes), gets counts the GETs of each blob, and most is the most blob GETs at once."""

    def __init__(self, upstream: str, *, delay: float = 0.0) -> None:
        self.upstream, self.delay = upstream, delay
        self.faults: dict[str, list[str]] = {}
        self.gets: dict[str, int] = {}
        self.most = 0
        self._now = 0

    def _blob(self, path: str) -> str | None:
        head, _, digest = path.partition("/blobs/")
        return digest if head.startswith("/v2/") and digest.startswith("sha256:") else None

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        import http.client
        import http.server
        import threading

        proxy, lock = self, threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
                self.forward()

            def do_GET(self) -> None:  # noqa: N802
                digest = proxy._blob(self.path)
                if digest is None:
                    self.forward()
                    return
                with lock:
                    proxy.gets[digest] = proxy.gets.get(digest, 0) + 1
                    fault = proxy.faults.get(digest, [None]).pop(0) if proxy.faults.get(digest) else None
                    proxy._now += 1
                    proxy.most = max(proxy.most, proxy._now)
                try:
                    if fault == "503":
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    time.sleep(proxy.delay)
                    self.forward(cut=fault == "cut")
                finally:
                    with lock:
                        proxy._now -= 1

            def forward(self, *, cut: bool = False) -> None:
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=30)
                try:
                    upstream.request(self.command, self.path, headers=dict(self.headers.items()))
                    response = upstream.getresponse()
                    body = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(key, value)
                length = int(response.getheader("Content-Length") or len(body)) if self.command == "HEAD" else len(body)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if cut:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
