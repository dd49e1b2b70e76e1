"""A hostile registry bounds nothing of sdc's (issue 21, item 6): an error, redirect, auth or retry
reply of 1 GiB is read 64 KiB at most, a manifest or token over its limit is refused unread, and a
layer of 300,000 empty files (1.8 MB gzipped) is charged for its entries against --max-size, one
budget for the image. Each: a one-line error, the store as it was, and sdc's peak memory (RSS)
under 100 MB."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import io
import json
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.integration.conftest import Sdc, store_state
from tests.integration.registry import serve, upload

GIB = 1 << 30
PEAK_RSS = 100 << 20

# Prints the peak RSS (bytes) of the command it runs, after the command's own stderr.
MEASURED = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, file=sys.stderr); "
            "sys.exit(p.returncode)")  # fmt: skip


def measured(sdc: Sdc, *args: str, timeout: float = 120) -> tuple[int, str, int]:
    """sdc args: its status, its stderr, its peak RSS."""
    proc = subprocess.run([sys.executable, "-c", MEASURED, *sdc.argv(*args)], capture_output=True, text=True,
                          env=sdc.env(), timeout=timeout)  # fmt: skip
    *lines, rss = proc.stderr.rstrip("\n").split("\n")
    return proc.returncode, "\n".join(lines) + "\n", int(rss)


def refused_within_bounds(sdc: Sdc, *args: str, expected: str) -> None:
    before = store_state(sdc.root)
    started = time.monotonic()
    code, stderr, rss = measured(sdc, *args)
    errors = [line for line in stderr.splitlines() if line.startswith("sdc: error:")]
    assert code == 125 and len(errors) == 1 and expected in errors[0] and "Traceback" not in stderr, stderr
    assert rss < PEAK_RSS, f"peak RSS {rss >> 20} MiB"
    assert time.monotonic() - started < 60
    assert store_state(sdc.root) == before


Reply = tuple[int, dict[str, str], int]  # status, headers, how many zero bytes of body (< 0: bodies[path])


@contextlib.contextmanager
def hostile(reply: Callable[[str], Reply], bodies: dict[str, bytes] | None = None) -> Iterator[str]:
    """A registry that answers each GET path as reply says, with a body of that many bytes, written
    until the reader goes away (or, for a negative size, the body bodies has for the path)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            status, headers, size = reply(self.path)
            body = (bodies or {}).get(self.path, b"") if size < 0 else None
            self.send_response(status)
            for key, value in {"Content-Length": str(len(body) if body is not None else size), **headers}.items():
                self.send_header(key, value.replace("{port}", str(server.server_address[1])))
            self.end_headers()
            if body is not None:
                self.wfile.write(body)
                return
            chunk = b"\0" * (1 << 20)
            try:
                while size > 0:
                    self.wfile.write(chunk[: min(size, len(chunk))])
                    size -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


BEARER = {"WWW-Authenticate": 'Bearer realm="http://127.0.0.1:{port}/token",service="evil"'}
CASES: dict[str, tuple[Callable[[str], Reply], str]] = {
    "401 with 1 GiB": (lambda path: (401, {"WWW-Authenticate": 'Basic realm="x"'}, GIB), "refused access"),
    "404 with 1 GiB": (lambda path: (404, {}, GIB), "HTTP 404"),
    "503s with 1 GiB": (lambda path: (503, {}, GIB), "HTTP 503"),
    "redirects with 1 GiB": (lambda path: (302, {"Location": path}, GIB), "too many redirects"),
    "a token of 1 GiB": (lambda path: (200, {}, GIB) if path.startswith("/token") else (401, BEARER, 10),
                         "the token is too big"),
    "a manifest of 1 GiB": (lambda path: (200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, GIB)
                            if "/manifests/" in path else (200, {}, 0), "is too big"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_registrys_huge_reply_costs_a_bounded_read(sdc: Sdc, case: str) -> None:
    reply, expected = CASES[case]
    with hostile(reply) as address:
        refused_within_bounds(sdc, "pull", f"{address}/evil:1", expected=expected)


def many_files(count: int) -> bytes:
    """A gzipped layer of count empty files, in directories of 1,000."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            for d in range(count // 1000):
                info = tarfile.TarInfo(f"d{d}")
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                for f in range(1000):
                    tar.addfile(tarfile.TarInfo(f"d{d}/f{f}"))
    return out.getvalue()


@pytest.fixture(scope="module")
def entries_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("entries-registry")) as address:
        layer = many_files(300_000)
        diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()  # fmt: skip

        def descriptor(kind: str, data: bytes) -> dict[str, object]:
            return {"mediaType": kind, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}

        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": descriptor("application/vnd.oci.image.config.v1+json", config),
                    "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)]}  # fmt: skip
        upload(address, "many/files", "1", [layer, config], manifest)
        yield address


def test_a_layer_of_300000_empty_files_is_charged_for_its_entries(sdc: Sdc, entries_registry: str) -> None:
    """1.8 MB of gzip, no byte of file content: under a 64 MiB limit (each entry counts 1 KiB),
    refused once 64 MiB of entries are charged, never having held them all in memory."""
    refused_within_bounds(sdc, "pull", "--max-size", "64m", f"{entries_registry}/many/files:1",
                          expected="larger than the limit of 64 MiB")  # fmt: skip


def _manifest_of(layer_digest: str, layer_size: int) -> tuple[bytes, bytes]:
    """A config of one layer and an OCI manifest naming it, as a hostile registry serves them."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": layer_size}],
    }).encode()  # fmt: skip
    return config, manifest


def test_a_blob_is_read_no_further_than_its_descriptor_says(sdc: Sdc) -> None:
    """The manifest says 100 bytes; the registry sends 64 MiB: sdc stops at 101."""
    layer = "sha256:" + "ab" * 32
    config, manifest = _manifest_of(layer, 100)
    config_path = "/v2/evil/blobs/sha256:" + hashlib.sha256(config).hexdigest()

    def reply(path: str) -> Reply:
        if path.endswith("/manifests/1"):
            return 200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, -len(manifest)
        if path == config_path:
            return 200, {}, -len(config)
        return 200, {}, 64 << 20

    bodies = {"/v2/evil/manifests/1": manifest, config_path: config}
    with hostile(reply, bodies) as address:
        refused_within_bounds(sdc, "pull", f"{address}/evil:1", expected="bigger than its descriptor says")


def test_an_image_too_big_by_its_manifest_is_refused_before_a_byte_of_it(sdc: Sdc) -> None:
    config, manifest = _manifest_of("sha256:" + "cd" * 32, 8 << 30)
    config_path = "/v2/evil/blobs/sha256:" + hashlib.sha256(config).hexdigest()
    asked: list[str] = []

    def reply(path: str) -> Reply:
        asked.append(path)
        if path.endswith("/manifests/1"):
            return 200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, -len(manifest)
        return (200, {}, -len(config)) if path == config_path else (500, {}, 0)

    with hostile(reply, {"/v2/evil/manifests/1": manifest, config_path: config}) as address:
        refused_within_bounds(sdc, "pull", "--max-size", "1g", f"{address}/evil:1", expected="more than the limit")
    assert not [p for p in asked if "/blobs/" in p and p != config_path], asked
