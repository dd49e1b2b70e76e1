"""A container's OCI runtime bundle: config.json, as the launcher reads it.

Pure: builds the runtime-spec document (github.com/opencontainers/runtime-spec,
config.md and config-linux.md) from a spec and an image's config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sdcontainer import protocol
from sdcontainer.spec import ContainerSpec

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# systemd's container interface: the manager names itself to the container's init in $container.
CONTAINER_ENV = "sdc"

# Docker's default capability set: what a root process in a container keeps.
DEFAULT_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# sdc's own key in config.json's "linux" object: the file, in the bundle, holding the seccomp
# filter sdc built for the container (a BPF program, see seccomp.py), which the launcher loads.
# runtime-spec: readers ignore properties they do not know.
SECCOMP_KEY = "seccompProgram"

DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))


def build_env(image_env: Sequence[str], extra: Sequence[str], *, hostname: str, home: str, tty: bool) -> list[str]:
    """The container's environment as Docker builds it: PATH, HOSTNAME, HOME (the user's, from the
    image's /etc/passwd), TERM=xterm with -t, and container=sdc; then the image's variables, then
    -e's: a later value of a name replaces an earlier one, in its place."""
    merged = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": home}
    if tty:
        merged["TERM"] = "xterm"
    merged["container"] = CONTAINER_ENV
    for item in (*image_env, *extra):
        key, _, value = item.partition("=")
        merged[key] = value
    return [f"{k}={v}" for k, v in merged.items()]


def home_of(passwd: str, uid: int) -> str:
    """The home directory of uid in an /etc/passwd; / when it has no entry (as runc's default user)."""
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[2] == str(uid) and fields[5].startswith("/"):
            return fields[5]
    return "/"


def _mounts(container_dir: Path) -> list[dict[str, object]]:
    ns = ["nosuid", "noexec", "nodev"]
    mounts: list[dict[str, object]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ns},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": [*ns, "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ns},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*ns, "ro"]},
    ]
    for name in ("hostname", "hosts", "resolv.conf"):
        mounts.append(
            {
                "destination": f"/etc/{name}",
                "type": "bind",
                "source": str(container_dir / name),
                "options": ["bind", "rw"],
            }
        )
    return mounts


def build_runtime_config(
    spec: ContainerSpec,
    *,
    image_config: Mapping[str, Any],
    container_dir: Path,
    home: str = "/",
) -> dict[str, object]:
    """home: the user's home directory, from the image's /etc/passwd (see home_of)."""
    image_env = [str(e) for e in image_config.get("Env") or []]
    uid, gid = spec.user
    hostname = spec.hostname or spec.name
    caps = list(DEFAULT_CAPS) if uid == 0 else []
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": gid, "additionalGids": []},
            "args": list(spec.command),
            "env": build_env(image_env, spec.env, hostname=hostname, home=home, tty=spec.tty),
            "cwd": spec.workdir,
            "capabilities": {
                "bounding": list(DEFAULT_CAPS),
                "effective": caps,
                "permitted": caps,
                "inheritable": caps,
                "ambient": [],
            },
            "noNewPrivileges": True,
        },
        # Relative to the bundle, as runtime-spec suggests: bundle/rootfs links to the snapshot.
        "root": {"path": "rootfs", "readonly": False},
        "hostname": hostname,
        "mounts": _mounts(container_dir),
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "devices": [
                {"path": f"/dev/{n}", "type": "c", "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
                for n, ma, mi in DEVICES
            ],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
            SECCOMP_KEY: protocol.SECCOMP,
            "resources": _resources(spec),
        },
    }


def _resources(spec: ContainerSpec) -> dict[str, object]:
    """What the launcher applies itself: systemd enforces the rest (units.py). The CPUs: a scope
    takes no CPUAffinity=, which is a property of processes systemd starts."""
    cpus = spec.limits.cpuset_cpus
    return {"cpu": {"cpus": ",".join(str(c) for c in cpus)}} if cpus else {}


def build_hosts(hostname: str) -> str:
    return f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
