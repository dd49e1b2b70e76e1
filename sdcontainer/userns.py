"""User namespaces (--userns=auto): each container's ids are a range of 65,536 of the host's, its
own, so that its root is an unprivileged user on the host. The ranges come from the `sdc` lines
of /etc/subuid and /etc/subgid (subuid(5)), cut in blocks of 65,536; a container holds its block
while it exists (its config.json's uidMappings say which), and `rm` frees it.

Files keep the host's ids on disk: the launcher gives the container an idmapped mount of its
root (launcher.send_root), so the image's root-owned files are the container's root's, and every
container of an image shares the same layers."""

from __future__ import annotations

import json
import os

from sdcontainer import protocol
from sdcontainer.errors import UsageError
from sdcontainer.paths import Paths
from sdcontainer.text import is_decimal

SIZE = 65536
OWNER = "sdc"
SUBUID, SUBGID = "/etc/subuid", "/etc/subgid"
HINT = (f"add a line `{OWNER}:2147483648:2147418112` to {SUBUID} and {SUBGID} "
        "(32,767 containers' ids), or pass --userns=host")  # fmt: skip
FIRST, COUNT = 1 << 31, (1 << 31) - SIZE  # the range sdc takes on first use: the top half, less (uid_t)-1


def blocks(path: str, owner: str = OWNER) -> list[int]:
    """The first ids of the whole blocks of SIZE in owner's ranges of a subuid(5)-format file."""
    found: list[int] = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return found
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) != 3 or fields[0] != owner or not (is_decimal(fields[1]) and is_decimal(fields[2])):
            continue
        start, count = int(fields[1]), int(fields[2])
        found.extend(range(start, start + count - SIZE + 1, SIZE))
    return found


def prepare(path: str) -> None:
    """A range of ids for sdc where the file has none, as Docker makes its dockremap's on first use:
    the top half of the ids where no other owner's range is, else from above the highest one. A
    file that has no room (or cannot be written) is left as it is: allocate says what to do."""
    import sys

    from sdcontainer.files import write_atomically

    try:
        with open(path) as f:
            text = f.read()
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        text, mode = "", 0o644
    except OSError:
        return
    ends = [int(f[1]) + int(f[2]) for f in (line.strip().split(":") for line in text.splitlines())
            if len(f) == 3 and is_decimal(f[1]) and is_decimal(f[2])]  # fmt: skip
    first = max([FIRST, *ends])
    first = -(-first // SIZE) * SIZE  # (a whole block's start)
    count = min(COUNT, ((1 << 32) - SIZE - first) // SIZE * SIZE)
    if count < SIZE:
        return
    line = f"{OWNER}:{first}:{count}\n"
    try:
        write_atomically(path, (text + ("\n" if text and not text.endswith("\n") else "") + line).encode())
        os.chmod(path, mode)
    except OSError:
        return
    sys.stderr.write(f"sdc: --userns=auto: added {line.strip()} to {path}\n")


def taken(paths: Paths) -> tuple[set[int], set[int]]:
    """The first host uid and gid of each container's range, from the bundles' config.json."""
    uids: set[int] = set()
    gids: set[int] = set()
    try:
        names = os.listdir(paths.containers)
    except FileNotFoundError:
        return uids, gids
    for name in names:
        try:
            with open(paths.container(name) / protocol.CONFIG) as f:
                linux = json.load(f).get("linux", {})
        except (OSError, ValueError):
            continue  # being made (under the lock we hold: by a run that was killed) or removed
        uids.update(m["hostID"] for m in linux.get("uidMappings", []))
        gids.update(m["hostID"] for m in linux.get("gidMappings", []))
    return uids, gids


def allocate(paths: Paths, *, subuid: str = SUBUID, subgid: str = SUBGID) -> tuple[int, int]:
    """A free block of uids and of gids for a new container: call under the store's lock, and
    write its config.json before letting go of it."""
    for path in (subuid, subgid):
        if not blocks(path):
            prepare(path)
    uid_blocks, gid_blocks = blocks(subuid), blocks(subgid)
    if not uid_blocks or not gid_blocks:
        raise UsageError(f"--userns=auto: no ids for {OWNER} in {subuid if not uid_blocks else subgid}", hint=HINT)
    used_uids, used_gids = taken(paths)
    free_gids = (g for g in gid_blocks if g not in used_gids)
    for uid in uid_blocks:
        if uid not in used_uids:
            gid = next(free_gids, None)
            if gid is None:
                break
            return uid, gid
    raise UsageError(f"--userns=auto: every range of {OWNER}'s ids is in use", hint=HINT)
