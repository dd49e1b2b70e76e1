"""Registry credentials: what `sdc login` keeps, and what Docker's and the containers tools' files hold.

All of them use Docker's format: {"auths": {"REGISTRY": {"auth": base64("user:password")}}}. sdc's
own file is in its store (root's only); it is read first, then $REGISTRY_AUTH_FILE,
containers' /run/containers/0/auth.json, and Docker's ~/.docker/config.json (credential helpers
are not consulted).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from sdcontainer.errors import UsageError
from sdcontainer.files import write_atomically
from sdcontainer.images.registry import DOCKER_HUB, Credentials
from sdcontainer.paths import Paths

# How the files name Docker Hub: Docker's own key is its old index URL.
HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io", DOCKER_HUB)


def sdc_file(paths: Paths) -> Path:
    return paths.root / "auth.json"


def files(paths: Paths) -> list[Path]:
    candidates = [sdc_file(paths)]
    if os.environ.get("REGISTRY_AUTH_FILE"):
        candidates.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    candidates += [Path("/run/containers/0/auth.json"), Path.home() / ".docker/config.json"]
    return candidates


def _keys(domain: str) -> tuple[str, ...]:
    return HUB_KEYS if domain == DOCKER_HUB else (domain, f"https://{domain}", f"http://{domain}")


def lookup(paths: Paths, domain: str) -> Credentials | None:
    """The credentials the first file that has some for domain gives."""
    for path in files(paths):
        auths = _auths(path)
        for key in _keys(domain):
            entry = auths.get(key)
            if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
                try:
                    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    raise UsageError(f"{path}: the credentials for {key} are not base64",
                                     hint="log in again with sdc login") from None  # fmt: skip
                return Credentials(user, password)
    return None


def _auths(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the credentials in {path}: {exc}", hint="fix or remove the file") from None
    auths = data.get("auths") if isinstance(data, dict) else None
    return auths if isinstance(auths, dict) else {}


def store(paths: Paths, domain: str, credentials: Credentials | None) -> None:
    """Keep (or, with None, forget) credentials for domain in sdc's own file."""
    path = sdc_file(paths)
    data = {"auths": _auths(path)}
    for key in _keys(domain):
        data["auths"].pop(key, None)
    if credentials is not None:
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        data["auths"][_keys(domain)[0]] = {"auth": token}
    paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(str(path), (json.dumps(data, indent=2) + "\n").encode())
