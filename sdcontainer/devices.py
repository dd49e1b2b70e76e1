"""The devices a container may use: the nodes in its /dev (config.json's linux.devices, made by
the launcher) and its unit's device cgroup (DevicePolicy=closed and DeviceAllow=, enforced by the
kernel on open and mknod whatever the process's capabilities).

By default, Docker's: the nodes the launcher makes and the container's ptys, and mknod of any
node (which then cannot be opened). `--device HOST[:CONTAINER][:PERMS]` adds one host node and
its rule; `--device-cgroup-rule 'TYPE MAJOR:MINOR PERMS'` a rule alone (for nodes made inside);
--privileged every host node, and no device cgroup (DevicePolicy=auto)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from sdcontainer.errors import UsageError

# The nodes the launcher makes in every container's /dev: name, major, minor (all 0666)
DEFAULT_NODES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))

# The unit's DeviceAllow= by default: those nodes, the container's ptys (devpts' major), and
# mknod ("m") of any node, as Docker allows it.
DEFAULT_ALLOW = (
    *((f"/dev/{name}", "rwm") for name, _, _ in DEFAULT_NODES),
    ("/dev/ptmx", "rwm"),
    ("char-pts", "rwm"),
    ("char-*", "m"),
    ("block-*", "m"),
)

# sdc's own key in a config.json device: the host's node, which a container in a user namespace
# (where mknod is not allowed) gets as a bind mount (runtime-spec: readers ignore unknown keys)
HOST_PATH = "hostPath"

_PERMS = r"(?!.*(.).*\1)[rwm]{1,3}"  # each of r, w, m at most once
_RULE = r"([abc]) (\*|\d+):(\*|\d+) ((?!.*(.).*\5)[rwm]{1,3})"


def parse_device(text: str) -> str:
    """--device as Docker takes it: HOST, HOST:CONTAINER, HOST:PERMS or HOST:CONTAINER:PERMS;
    → "HOST:CONTAINER:PERMS", the host's node checked, the container's path inside /dev."""
    import re

    parts = text.split(":")
    if len(parts) == 1:
        host, container, perms = parts[0], parts[0], "rwm"
    elif len(parts) == 2:
        host, container, perms = (parts[0], parts[0], parts[1]) if re.fullmatch(_PERMS, parts[1]) else (*parts, "rwm")
    elif len(parts) == 3:
        host, container, perms = parts
    if len(parts) > 3 or not re.fullmatch(_PERMS, perms):
        raise UsageError(f"invalid --device {text!r}",
                         hint="HOST[:CONTAINER][:PERMS], PERMS of r, w and m: /dev/fuse:/dev/fuse:rwm")  # fmt: skip
    try:
        mode = os.stat(host).st_mode if host.startswith("/") else 0
    except OSError as exc:
        raise UsageError(f"--device {text}: {host}: {exc.strerror}", hint="name a device node of this host") from None
    if not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
        raise UsageError(f"--device {text}: {host} is not a device node",
                         hint="name a device node of this host, e.g. /dev/fuse")  # fmt: skip
    inside = os.path.normpath(container)
    special = inside.startswith(("/dev/pts/", "/dev/shm/", "/dev/mqueue/"))  # sdc's own mounts
    if not container.startswith("/dev/") or inside != container.rstrip("/") or special:
        raise UsageError(f"--device {text}: the container's path must be a node of its own under /dev",
                         hint="e.g. /dev/xvdc; sdc makes device nodes only in the container's /dev")  # fmt: skip
    return f"{os.path.realpath(host)}:{inside}:{perms}"


def parse_rule(text: str) -> str:
    """--device-cgroup-rule as Docker takes it: 'c 42:* rmw' (type a, b or c; a number or * for the
    major and the minor); one systemd can express, checked here."""
    import re

    match = re.fullmatch(_RULE, " ".join(text.split()))
    if not match:
        raise UsageError(f"invalid --device-cgroup-rule {text!r}",
                         hint="TYPE MAJOR:MINOR PERMS, e.g. 'c 10:200 rwm' or 'b 7:* r'")  # fmt: skip
    allow_of(match.group(0))  # one systemd cannot express is refused now, not at the start
    return match.group(0)


def allow_of(rule: str) -> list[tuple[str, str]]:
    """A checked rule as DeviceAllow= entries: a node by number (/dev/char/MAJ:MIN, which systemd
    parses rather than opens), a major by its name in /proc/devices (char-NAME), or all (char-*)."""
    import re

    match = re.fullmatch(_RULE, rule)
    assert match, rule
    kind, major, minor, perms = match.group(1, 2, 3, 4)
    kinds = ("char", "block") if kind == "a" else ("char",) if kind == "c" else ("block",)
    if major == "*" and minor != "*":
        raise UsageError(f"--device-cgroup-rule {rule!r}: systemd has no form for one minor of every major",
                         hint="name the major too, or allow * of both")  # fmt: skip
    if major == "*":
        return [(f"{k}-*", perms) for k in kinds]
    if minor != "*":
        return [(f"/dev/{k}/{major}:{minor}", perms) for k in kinds]
    names = _proc_devices()
    entries = [(f"{k}-{names[k, int(major)]}", perms) for k in kinds if (k, int(major)) in names]
    if not entries:
        raise UsageError(f"--device-cgroup-rule {rule!r}: no driver of this host has major {major}",
                         hint="see /proc/devices; systemd allows a whole major by its driver's name")  # fmt: skip
    return entries


def _proc_devices() -> dict[tuple[str, int], str]:
    """/proc/devices: (char|block, major) → the driver's name."""
    names: dict[tuple[str, int], str] = {}
    kind = "char"
    with open("/proc/devices") as f:
        for line in f:
            if line.startswith("Block devices"):
                kind = "block"
            fields = line.split()
            if len(fields) == 2 and fields[0].isdigit():
                names.setdefault((kind, int(fields[0])), fields[1])
    return names


def _node(st: os.stat_result) -> dict[str, object]:
    """A host's device node as config.json lists one: its type, numbers, mode and owner."""
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
    major, minor, mode = os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode)
    return {"type": kind, "major": major, "minor": minor, "fileMode": mode, "uid": st.st_uid, "gid": st.st_gid}


def config_devices(added: Sequence[str], *, privileged: bool) -> list[dict[str, object]]:
    """config.json's linux.devices: the default nodes, those --device adds (which win over a
    default of the same path), and with --privileged the host's."""
    nodes = {f"/dev/{name}": {"type": "c", "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0,
                              HOST_PATH: f"/dev/{name}"} for name, major, minor in DEFAULT_NODES}  # fmt: skip
    if privileged:
        for node in host_devices():
            nodes.setdefault(str(node["path"]), {**node, HOST_PATH: node["path"]})
    for entry in added:
        host, inside, _ = entry.split(":")
        nodes[inside] = {**_node(os.stat(host)), HOST_PATH: host}
    return [{**node, "path": path} for path, node in nodes.items()]


def device_allow(added: Sequence[str], rules: Sequence[str]) -> list[tuple[str, str]]:
    """The unit's DeviceAllow=: the defaults, each --device's node by number, each rule."""
    allow = list(DEFAULT_ALLOW)
    for entry in added:
        host, _, perms = entry.split(":")
        node = _node(os.stat(host))
        allow.append((f"/dev/{'char' if node['type'] == 'c' else 'block'}/{node['major']}:{node['minor']}", perms))
    for rule in rules:
        allow.extend(allow_of(rule))
    return allow


# /dev's entries runc leaves out of a privileged container's: sdc's own mounts, and what is
# not a device of the host's
_NOT_HOST_DEVICES = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev", "console", "ptmx"})


def host_devices(root: str = "/dev") -> list[dict[str, object]]:
    """The host's device nodes as config.json lists devices, for --privileged (as runc does)."""
    found: list[dict[str, object]] = []
    for directory, dirs, files in os.walk(root):
        if directory == root:
            dirs[:] = [d for d in dirs if d not in _NOT_HOST_DEVICES]
            files = [f for f in files if f not in _NOT_HOST_DEVICES]
        for name in sorted(files):
            path = os.path.join(directory, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue  # gone meanwhile
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                found.append({"path": path, **_node(st)})
    return found
