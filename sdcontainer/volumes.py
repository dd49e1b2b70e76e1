"""Bind mounts of the host's files into a container: `-v HOST:CONTAINER[:OPTIONS]`, Docker's syntax.

A host path is the caller's to choose (sdc's user is the host's root); the container's path is
resolved inside the container's root by the launcher (linux.make_in_root), so a symlink of the
image's cannot aim the mount at the host. OPTIONS, comma-separated: `ro` or `rw` (the default);
`nosuid` and `nodev` unless `suid` or `dev` is given, and `exec` or `noexec` (Podman's); and `idmap`
(Podman's) for a container with --userns=auto: the host's files are seen through the container's
map, so the host's root-owned files are its root's and what it writes keeps its own ids on the
host. That makes its root the host's root in the volume, so an idmapped volume must be out of
reach of every other host user (a setuid-root file the container left there would be theirs to
run): a directory on its path only root may enter (linux.only_root_may_enter), checked here and
again by the launcher at every start. Without `idmap` a user-namespaced container writes as its
range's host ids, as Docker's userns-remap does. Named volumes are not made yet: the host path
must exist.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from sdcontainer.errors import UsageError

OPTIONS = ("ro", "rw", "idmap", "suid", "nosuid", "dev", "nodev", "exec", "noexec")
OPPOSITES = ({"ro", "rw"}, {"suid", "nosuid"}, {"dev", "nodev"}, {"exec", "noexec"})
HINT = "give HOST:CONTAINER[:ro|rw][,idmap][,suid][,dev][,noexec], both absolute paths: -v /srv/data:/data:ro"


def parse_volume(text: str) -> str:
    """-v as Docker takes it → "HOST:CONTAINER:OPTIONS", the host's path existing and real (its
    symlinks resolved now), the container's normalized, OPTIONS sorted."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise UsageError(f"invalid --volume {text!r}", hint=HINT)
    host, container = parts[0], parts[1]
    options = sorted(set(parts[2].split(","))) if len(parts) == 3 else []
    if not host.startswith("/"):
        raise UsageError(f"--volume {text}: named volumes are not supported yet",
                         hint="bind a host directory by its absolute path: -v /srv/data:/data")  # fmt: skip
    if not container.startswith("/") or ".." in container.split("/") or os.path.normpath(container) == "/":
        raise UsageError(f"--volume {text}: the container's path must be absolute, not / and without '..'",
                         hint=HINT)  # fmt: skip
    unknown = [o for o in options if o not in OPTIONS]
    if unknown or any(pair <= set(options) for pair in OPPOSITES):
        raise UsageError(f"--volume {text}: invalid options {parts[2]!r}", hint=HINT)
    try:
        os.stat(host)
    except OSError as exc:
        raise UsageError(f"--volume {text}: {host}: {exc.strerror}",
                         hint="sdc binds what exists: create it first (mkdir -p)") from None  # fmt: skip
    real = os.path.realpath(host)
    if ":" in real:
        raise UsageError(f"--volume {text}: {real} has a ':', which -v cannot say", hint="bind a path without one")
    kept = [o for o in options if o not in ("rw", "nosuid", "nodev")]  # the defaults go unsaid
    return f"{real}:{os.path.normpath(container)}:{','.join(kept)}"


def check_idmapped_source(path: str, text: str) -> None:
    """An idmapped volume's source, out of reach of every host user but root (see above)."""
    from sdcontainer.files import only_root_may_enter

    if not only_root_may_enter(path):
        raise UsageError(f"--volume {text}: other host users can reach {path}, or change the way to it, where the "
                         "container's root writes as the host's root (a setuid-root file it left would be theirs "
                         "to run)", hint=f"make {path} (or a directory above it) root's, mode 0700, on a path of "
                         "root's directories none but root may write; or drop idmap: the container then writes as "
                         "its own range's ids")  # fmt: skip


def check_volumes(volumes: Sequence[str], *, userns: bool) -> None:
    """The volumes of one container together: one mount per container path; idmap needs a user
    namespace (its map)."""
    seen: set[str] = set()
    for volume in volumes:
        _, container, options = volume.split(":")
        if container in seen:
            raise UsageError(f"--volume: {container} is mounted twice", hint="give each container path once")
        seen.add(container)
        if "idmap" in options.split(",") and not userns:
            raise UsageError(f"--volume {volume}: idmap needs a user namespace",
                             hint="add --userns=auto, or drop idmap")  # fmt: skip
        if "idmap" in options.split(","):
            check_idmapped_source(volume.split(":")[0], volume)


def config_mounts(volumes: Sequence[str]) -> list[dict[str, object]]:
    """The volumes as config.json mount entries, after sdc's own (a user's /etc/hosts wins):
    nosuid and nodev unless suid or dev was asked for, as Podman's."""
    mounts: list[dict[str, object]] = []
    for volume in volumes:
        host, container, options = volume.split(":")
        flags = [o for o in options.split(",") if o]
        options_ = ["rbind", "ro" if "ro" in flags else "rw", *(["nosuid"] if "suid" not in flags else []),
                    *(["nodev"] if "dev" not in flags else []), *(["noexec"] if "noexec" in flags else []),
                    *(["idmap"] if "idmap" in flags else [])]  # fmt: skip
        mounts.append({"destination": container, "type": "bind", "source": host, "options": options_})
    return mounts


def inspect_mounts(volumes: Sequence[str]) -> list[dict[str, object]]:
    """Docker's inspect Mounts."""
    out: list[dict[str, object]] = []
    for volume in volumes:
        host, container, options = volume.split(":")
        flags = [o for o in options.split(",") if o]
        out.append({"Type": "bind", "Source": host, "Destination": container, "Mode": ",".join(flags),
                    "RW": "ro" not in flags, "Propagation": "rprivate"})  # fmt: skip
    return out
