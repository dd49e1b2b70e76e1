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
