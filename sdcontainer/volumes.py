"""A container's mounts as the user asks for them, in Docker's grammar: `-v`, `--mount`, `--tmpfs`.

Three kinds, each kept in the spec as one colon-separated string:
- a bind of the host's files, "HOST:CONTAINER:OPTIONS" (`-v /srv/x:/x`, `-v ./conf:/etc/app`,
  `--mount type=bind,...`). A host path is the caller's to choose (sdc's user is the host's root);
  a relative one (`./x`, `../x`) is taken from the working directory, as Docker 23+ does;
- a volume of the store's, "NAME:CONTAINER:OPTIONS" (`-v pgdata:/db`, `--mount type=volume,...`),
  NAME empty for an anonymous one (`-v /data`) until the store names it (api/volumes.py);
- a tmpfs, "CONTAINER:OPTIONS" (`--tmpfs /run:size=16m`, `--mount type=tmpfs,...`).

The container's path is resolved inside the container's root by the launcher (linux.make_in_root),
so a symlink of the image's, or one a container planted, cannot aim the mount at the host.

Binds' OPTIONS, comma-separated: `ro` or `rw` (the default); `nosuid` and `nodev` unless `suid` or
`dev` is given, and `exec` or `noexec` (Podman's); and `idmap` (Podman's) for a container with
--userns=auto: the host's files are seen through the container's map, so the host's root-owned
files are its root's and what it writes keeps its own ids on the host. That makes its root the
host's root in the volume, so an idmapped bind must be out of reach of every other host user (a
setuid-root file the container left there would be theirs to run): a directory on its path only
root may enter (files.only_root_may_enter), checked here and again by the launcher at every start.
Without `idmap` a user-namespaced container writes as its range's host ids, as Docker's
userns-remap does. A volume of the store's is always idmapped for such a container (the store is
root's alone), so its files carry the ids a container sees, whichever container reads them next.

Accepted where they mean nothing here: `z` and `Z` (SELinux labels: sdc sets none), `U` on an
idmapped mount (its files are the container's users' as seen already), the propagation sdc gives
every mount (`private`, `rprivate`) and Docker Desktop's `cached`, `delegated`, `consistent`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from sdcontainer.errors import UsageError

BIND, VOLUME, TMPFS = "bind", "volume", "tmpfs"
OPTIONS = ("ro", "rw", "idmap", "suid", "nosuid", "dev", "nodev", "exec", "noexec")
VOLUME_OPTIONS = ("ro", "rw", "nocopy", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "U")
NO_OPS = ("z", "Z", "private", "rprivate", "cached", "delegated", "consistent")
OPPOSITES = ({"ro", "rw"}, {"suid", "nosuid"}, {"dev", "nodev"}, {"exec", "noexec"})
DEFAULTS = ("rw", "nosuid", "nodev")  # unsaid in the record
HINT = "give [HOST-PATH|VOLUME:]CONTAINER-PATH[:ro][,noexec]...: -v /srv/data:/data:ro, -v pgdata:/db, -v /cache"
# Docker's names of volumes: a letter or digit, then letters, digits, '_', '.', '-': two at least
VOLUME_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{1,127}\Z"
TMPFS_OPTIONS = ("size", "mode", "uid", "gid", "nr_inodes")
TMPFS_FLAGS = ("ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec")


def check_volume_name(name: str) -> str:
    import re

    if not re.match(VOLUME_NAME, name):
        raise UsageError(f"invalid volume name {name[:80]!r}", hint="use 2-128 letters, digits, '_', '.' or "
                         "'-', starting with a letter or digit")  # fmt: skip
    return name


def _container_path(path: str, text: str, flag: str) -> str:
    clean = "/" + os.path.normpath(path).strip("/")  # (normpath keeps a leading //: POSIX leaves it open)
    if not path.startswith("/") or ".." in path.split("/") or clean == "/" or ":" in path:
        raise UsageError(f"{flag} {text[:120]}: the container's path must be absolute, not / and without '..' or ':'",
                         hint=HINT)  # fmt: skip
    return clean


def _options(words: Sequence[str], allowed: Sequence[str], text: str, flag: str) -> list[str]:
    options = sorted(set(words) - {"", *NO_OPS})
    unknown = [o for o in options if o not in allowed]
    if unknown or any(pair <= set(options) for pair in OPPOSITES):
        raise UsageError(f"{flag} {text[:120]}: invalid options {','.join(words)!r}", hint=HINT)
    return [o for o in options if o not in DEFAULTS]


def _is_path(source: str) -> bool:
    """A host path (a bind), not a volume's name: absolute, or relative as ./x, ../x, . (Docker 23+)."""
    return source.startswith(("/", "./", "../")) or source in (".", "..")


def _is_options(text: str) -> bool:
    return all(o in (*OPTIONS, *VOLUME_OPTIONS, *NO_OPS) for o in text.split(","))


def parse_volume(text: str) -> tuple[str, str]:
    """-v as Docker takes it → (BIND, "HOST:CONTAINER:OPTIONS"), the host's path existing and real
    (its symlinks resolved now), or (VOLUME, "NAME:CONTAINER:OPTIONS"), NAME "" for an anonymous
    volume; the container's path normalized, OPTIONS sorted, the defaults unsaid."""
    parts = text.split(":")
    if len(parts) == 1 or (len(parts) == 2 and parts[0].startswith("/") and _is_options(parts[1])):
        return VOLUME, f":{_container_path(parts[0], text, '--volume')}:{','.join(_volume_options(parts[1:], text))}"
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise UsageError(f"invalid --volume {text[:120]!r}", hint=HINT)
    source, container = parts[0], _container_path(parts[1], text, "--volume")
    words = parts[2].split(",") if len(parts) == 3 else []
    if not _is_path(source):
        return VOLUME, f"{check_volume_name(source)}:{container}:{','.join(_volume_options(words, text))}"
    options = _options(words, (*OPTIONS, "U"), text, "--volume")
    return BIND, f"{_host_path(source, text, '--volume')}:{container}:{','.join(options)}"


def _volume_options(words: Sequence[str], text: str) -> list[str]:
    return _options([w for part in words for w in part.split(",")], VOLUME_OPTIONS, text, "--volume")


def _host_path(source: str, text: str, flag: str) -> str:
    from sdcontainer.paths import absolute

    host = os.fspath(absolute(source, flag))
    try:
        os.stat(host)
    except OSError as exc:
        raise UsageError(f"{flag} {text[:120]}: {host}: {exc.strerror}",
                         hint="sdc binds what exists: create it first (mkdir -p)") from None  # fmt: skip
    real = os.path.realpath(host)
    if ":" in real or "," in real:
        raise UsageError(f"{flag} {text[:120]}: {real} has a ':' or ',', which sdc's records cannot say",
                         hint="bind a path without one")  # fmt: skip
    return real


def _csv_fields(text: str) -> list[str]:
    """--mount's fields: comma-separated, each may be double-quoted (Docker reads them as CSV)."""
    import csv

    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error:
        raise UsageError(f"invalid --mount {text[:120]!r}", hint="give KEY=VALUE fields separated by commas") from None
    return rows[0] if rows else []


MOUNT_HINT = "give type=bind|volume|tmpfs,source=...,destination=...[,readonly]: --mount type=volume,src=data,dst=/data"
_TRUE, _FALSE = ("", "1", "true"), ("0", "false")


def parse_mount(text: str) -> tuple[str, str]:
    """--mount as Docker takes it → (BIND|VOLUME|TMPFS, the same string -v or --tmpfs would give)."""
    fields: dict[str, str] = {}
    for field in _csv_fields(text):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if not key or key in fields:
            raise UsageError(f"invalid --mount {text[:120]!r}: {'repeated ' if key else 'empty '}field {key!r}",
                             hint=MOUNT_HINT)  # fmt: skip
        fields[key] = value if eq else ""
    kind = fields.pop("type", VOLUME)
    source = fields.pop("source", None) or fields.pop("src", None) or ""
    dest = next((fields.pop(k) for k in ("destination", "dst", "target") if k in fields), "")
    if not dest:
        raise UsageError(f"--mount {text[:120]}: no destination", hint=MOUNT_HINT)
    words = []
    for key in ("readonly", "ro"):
        if key in fields:
            value = fields.pop(key).lower()
            if value not in (*_TRUE, *_FALSE):
                raise UsageError(f"--mount {text[:120]}: {key}={value!r} is neither true nor false", hint=MOUNT_HINT)
            words += ["ro"] if value in _TRUE else []
    fields.pop("consistency", None)
    if fields.pop("bind-propagation", "rprivate") not in ("private", "rprivate"):
        raise UsageError(f"--mount {text[:120]}: sdc's mounts propagate nothing (rprivate)",
                         hint="drop bind-propagation, or give rprivate")  # fmt: skip
    if kind == TMPFS:
        if source:
            raise UsageError(f"--mount {text[:120]}: a tmpfs has no source", hint="drop source=")
        options = [f"size={fields.pop('tmpfs-size')}" for _ in [0] if "tmpfs-size" in fields]
        options += [f"mode={fields.pop('tmpfs-mode')}" for _ in [0] if "tmpfs-mode" in fields]
        _no_more(fields, text)
        return TMPFS, parse_tmpfs(":".join([dest, ",".join(words + options)]) if words or options else dest)
    if kind == VOLUME:
        if _flag(fields, "volume-nocopy", text):
            words.append("nocopy")
        _no_more(fields, text)
        if source and _is_path(source):
            raise UsageError(f"--mount {text[:120]}: a volume's source is its name", hint="use type=bind for a path")
        return VOLUME, f"{check_volume_name(source) if source else ''}:{_container_path(dest, text, '--mount')}:" + \
            ",".join(_volume_options(words, text))  # fmt: skip
    if kind == BIND:
        if _flag(fields, "idmap", text):
            words.append("idmap")
        _no_more(fields, text)
        if not source:
            raise UsageError(f"--mount {text[:120]}: a bind needs a source", hint="give source=/host/path")
        return BIND, f"{_host_path(source, text, '--mount')}:{_container_path(dest, text, '--mount')}:" + \
            ",".join(_options(words, OPTIONS, text, "--mount"))  # fmt: skip
    raise UsageError(f"--mount {text[:120]}: type {kind!r} is not sdc's", hint="use type=bind, volume or tmpfs")


def _flag(fields: dict[str, str], key: str, text: str) -> bool:
    if key not in fields:
        return False
    value = fields.pop(key).lower()
    if value not in (*_TRUE, *_FALSE):
        raise UsageError(f"--mount {text[:120]}: {key}={value!r} is neither true nor false", hint=MOUNT_HINT)
    return value in _TRUE


def _no_more(fields: dict[str, str], text: str) -> None:
    if fields:
        raise UsageError(f"--mount {text[:120]}: sdc does not know {', '.join(sorted(fields))}", hint=MOUNT_HINT)


TMPFS_HINT = "give PATH[:size=64m,mode=1777,uid=ID,gid=ID,ro,exec,...]: --tmpfs /run:size=16m"


def parse_tmpfs(text: str) -> str:
    """--tmpfs as Docker takes it → "CONTAINER:OPTIONS": a size in bytes, an octal mode, ids,
    the flags (noexec, nosuid, nodev unless exec, suid, dev: Docker's defaults)."""
    import re

    from sdcontainer.text import SIZE_MAX, parse_size

    path, _, rest = text.partition(":")
    container = _container_path(path, text, "--tmpfs")
    flags: set[str] = set()
    values: dict[str, str] = {}
    for word in filter(None, rest.split(",")):
        key, eq, value = word.partition("=")
        if not eq and key in TMPFS_FLAGS:
            flags.add(key)
        elif eq and key in TMPFS_OPTIONS and key not in values:
            if key == "size":
                value = str(parse_size(value, flag="--tmpfs size"))
            elif key == "mode" and not re.fullmatch(r"0?[0-7]{1,4}", value):
                raise UsageError(f"--tmpfs {text[:120]}: mode {value!r} is not an octal mode", hint=TMPFS_HINT)
            elif key in ("uid", "gid", "nr_inodes") and not (value.isdecimal() and len(value) < 12
                                                              and int(value) < SIZE_MAX):  # fmt: skip
                raise UsageError(f"--tmpfs {text[:120]}: {key} {value[:20]!r} is not a number", hint=TMPFS_HINT)
            values[key] = value
        elif word not in NO_OPS and word not in ("tmpcopyup", "notmpcopyup"):
            raise UsageError(f"--tmpfs {text[:120]}: invalid option {word[:40]!r}", hint=TMPFS_HINT)
    if any(pair <= flags for pair in OPPOSITES):
        raise UsageError(f"--tmpfs {text[:120]}: opposite options", hint=TMPFS_HINT)
    words = sorted(f for f in flags if f not in ("rw", "noexec", "nosuid", "nodev"))
    return f"{container}:{','.join(words + [f'{k}={values[k]}' for k in sorted(values)])}"


def destinations(binds: Sequence[str], named: Sequence[str], tmpfs: Sequence[str]) -> list[str]:
    return [b.split(":")[1] for b in (*binds, *named)] + [t.split(":")[0] for t in tmpfs]


def check_volumes(binds: Sequence[str], named: Sequence[str] = (), tmpfs: Sequence[str] = (), *,
                  userns: bool) -> None:  # fmt: skip
    """The mounts of one container together: one mount per container path; idmap needs a user
    namespace (its map), and U an idmapped mount, where it means nothing (see above)."""
    seen: set[str] = set()
    for path in destinations(binds, named, tmpfs):
        if path in seen:
            raise UsageError(f"{path} is mounted twice", hint="give each container path once")
        seen.add(path)
    for volume in binds:
        options = volume.split(":")[2].split(",")
        if "idmap" in options and not userns:
            raise UsageError(f"--volume {volume}: idmap needs a user namespace",
                             hint="add --userns=auto, or drop idmap")  # fmt: skip
        if "U" in options and "idmap" not in options:
            raise UsageError(f"--volume {volume}: U would chown the host's files",
                             hint="chown them yourself, or bind them with idmap and --userns=auto")  # fmt: skip
        if "idmap" in options:
            check_idmapped_source(volume.split(":")[0], volume)
    for volume in named:
        if "U" in volume.split(":")[2].split(",") and not userns:
            raise UsageError(f"--volume {volume}: U would chown the volume's files to the container's ids, "
                             "which are the host's here", hint="drop U: the files are as the container writes "
                             "them")  # fmt: skip


def check_idmapped_source(path: str, text: str) -> None:
    """An idmapped bind's source, out of reach of every host user but root (see above)."""
    from sdcontainer.files import only_root_may_enter

    if not only_root_may_enter(path):
        raise UsageError(f"--volume {text}: other host users can reach {path}, or change the way to it, where the "
                         "container's root writes as the host's root (a setuid-root file it left would be theirs "
                         "to run)", hint=f"make {path} (or a directory above it) root's, mode 0700, on a path of "
                         "root's directories none but root may write; or drop idmap: the container then writes as "
                         "its own range's ids")  # fmt: skip


def _bind_options(flags: Sequence[str]) -> list[str]:
    return ["rbind", "ro" if "ro" in flags else "rw", *(["nosuid"] if "suid" not in flags else []),
            *(["nodev"] if "dev" not in flags else []), *(["noexec"] if "noexec" in flags else []),
            *(["idmap"] if "idmap" in flags else [])]  # fmt: skip


def config_mounts(binds: Sequence[str], named: Sequence[str] = (), tmpfs: Sequence[str] = (), *,
                  volumes_at: str = "", userns: bool = False) -> list[dict[str, object]]:  # fmt: skip
    """The mounts as config.json entries, after sdc's own (a user's /etc/hosts wins): binds and
    volumes nosuid and nodev unless suid or dev was asked for, as Podman's; a volume idmapped
    for a user-namespaced container; volumes_at: where the store keeps volumes (by name)."""
    mounts: list[dict[str, object]] = []
    for volume in binds:
        host, container, options = volume.split(":")
        mounts.append({"destination": container, "type": "bind", "source": host,
                       "options": _bind_options(options.split(","))})  # fmt: skip
    for volume in named:
        name, container, options = volume.split(":")
        flags = [*options.split(","), *(["idmap"] if userns else [])]
        mounts.append({"destination": container, "type": "bind", "source": os.path.join(volumes_at, name),
                       "options": _bind_options(flags)})  # fmt: skip
    for entry in tmpfs:
        container, options = entry.split(":")
        mounts.append({"destination": container, "type": "tmpfs", "source": "tmpfs",
                       "options": tmpfs_options(options)})  # fmt: skip
    return mounts


def tmpfs_options(options: str) -> list[str]:
    words = [w for w in options.split(",") if w]
    flags = [f for f in words if "=" not in f]
    return [*(["ro"] if "ro" in flags else []), *(["nosuid"] if "suid" not in flags else []),
            *(["nodev"] if "dev" not in flags else []), *(["noexec"] if "exec" not in flags else []),
            *(["mode=1777"] if not any(w.startswith("mode=") for w in words) else []),
            *[w for w in words if "=" in w]]  # fmt: skip


def inspect_mounts(binds: Sequence[str], named: Sequence[str] = (), tmpfs: Sequence[str] = (), *,
                   volumes_at: str = "") -> list[dict[str, object]]:  # fmt: skip
    """Docker's inspect Mounts."""
    out: list[dict[str, object]] = []
    for volume in binds:
        host, container, options = volume.split(":")
        flags = [o for o in options.split(",") if o]
        out.append({"Type": "bind", "Source": host, "Destination": container, "Mode": ",".join(flags),
                    "RW": "ro" not in flags, "Propagation": "rprivate"})  # fmt: skip
    for volume in named:
        name, container, options = volume.split(":")
        flags = [o for o in options.split(",") if o]
        out.append({"Type": "volume", "Name": name, "Source": os.path.join(volumes_at, name), "Destination": container,
                    "Driver": "local", "Mode": ",".join(flags), "RW": "ro" not in flags,
                    "Propagation": ""})  # fmt: skip
    for entry in tmpfs:
        container, options = entry.split(":")
        out.append({"Type": "tmpfs", "Source": "", "Destination": container, "Mode": options,
                    "RW": "ro" not in options.split(","), "Propagation": ""})  # fmt: skip
    return out
