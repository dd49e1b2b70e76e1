"""A container's OCI runtime bundle: config.json, as the launcher reads it.

Pure: builds the runtime-spec document (github.com/opencontainers/runtime-spec,
config.md and config-linux.md) from a spec and an image's config.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from sdcontainer import devices, protocol, volumes
from sdcontainer.containerspec import ContainerSpec
from sdcontainer.errors import UsageError
from sdcontainer.record import record
from sdcontainer.spec import capabilities, seccomp_profile
from sdcontainer.text import is_decimal

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# systemd's container interface: the manager names itself to the container's init in $container.
CONTAINER_ENV = "sdc"

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


@record
class Account:
    """Who the container's command runs as, resolved in the image's own files."""

    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()  # supplementary: the groups of /etc/group that list the user
    home: str = "/"


ROOT = Account()


def _entries(text: str, fields: int) -> list[list[str]]:
    return [e for e in (line.split(":") for line in text.splitlines()) if len(e) >= fields]


def resolve_account(user: str, passwd: str, group: str) -> Account:
    """USER[:GROUP] (names or ids; "" for root) as runc resolves it in an image's /etc/passwd and
    /etc/group (libcontainer/user): a name must be there; an id need not be, and then has group
    0 and home /; without a GROUP, the primary group is the user's, and the groups listing the
    user's name are supplementary ones."""
    name, _, group_spec = user.partition(":")
    users = _entries(passwd, 7)
    if not name or is_decimal(name):
        uid = _id(name or "0", "the uid")
        entry = next((e for e in users if e[2] == str(uid)), None)
    else:
        entry = next((e for e in users if e[0] == name), None)
        if entry is None:
            raise UsageError(f"no user {name!r} in the image's /etc/passwd", hint="give a user the image has, or a uid")
        uid = _id(entry[2], f"user {name}'s uid")
    gid = _id(entry[3], f"user {entry[0]}'s gid") if entry else 0
    home = entry[5] if entry and entry[5].startswith("/") else "/"
    groups = _entries(group, 4)
    extra: tuple[int, ...]
    if is_decimal(group_spec):
        gid, extra = _id(group_spec, "the gid"), ()
    elif group_spec:
        found = next((g for g in groups if g[0] == group_spec), None)
        if found is None:
            raise UsageError(f"no group {group_spec!r} in the image's /etc/group", hint="give a group it has, or a gid")
        gid, extra = _id(found[2], f"group {group_spec}'s gid"), ()
    else:
        member = entry[0] if entry else None
        extra = tuple(sorted({_id(g[2], "a gid") for g in groups if member and member in g[3].split(",")} - {gid}))
    return Account(uid=uid, gid=gid, groups=extra, home=home)


def _id(text: str, what: str) -> int:
    if not is_decimal(text) or int(text) > 0xFFFFFFFE:
        raise UsageError(f"{what} is not a number: {text[:20]!r}", hint="the image's account files are corrupt")
    return int(text)


def write_systemd_files(container_dir: Path, container_id: str) -> list[str]:
    """/run/host's os-release and container-manager (systemd's container interface), made in
    the container's directory for systemd_mounts to bind; their names, for the caller to give a
    user namespace's root. (Its machine ID the launcher writes into its layer: a bound
    /etc/machine-id is a mount point, which systemd-machine-id-commit.service fails on.)"""
    host = container_dir / "run-host"
    host.mkdir(mode=0o755, exist_ok=True)
    for source in ("/etc/os-release", "/usr/lib/os-release"):
        with contextlib.suppress(OSError):
            (host / "os-release").write_bytes(Path(source).read_bytes())
            break
    (host / "container-manager").write_text("sdc\n")
    return ["run-host", "run-host/os-release", "run-host/container-manager"]


def container_uuid(container_id: str) -> str:
    hexid = container_id[:32]
    return f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:32]}"


def systemd_mounts(container_dir: Path) -> list[dict[str, object]]:
    """What systemd as PID 1 expects of its container manager (systemd's CONTAINER_INTERFACE.md):
    tmpfs on /run, /run/lock and /tmp, and /run/host."""
    fs = ["nosuid", "nodev"]
    return [
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": [*fs, "mode=755", "size=20%"]},
        {"destination": "/run/lock", "type": "tmpfs", "source": "tmpfs",
         "options": [*fs, "noexec", "mode=1777", "size=5m"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": [*fs, "mode=1777", "size=20%"]},
        {"destination": "/run/host", "type": "bind", "source": str(container_dir / "run-host"),
         "options": ["bind", "ro"]},
    ]  # fmt: skip


def _mounts(container_dir: Path, *, sys_writable: bool = False, systemd: bool = False,
            shm_size: int = 0) -> list[dict[str, object]]:  # fmt: skip
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
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": [*ns, "mode=1777", f"size={-(-(shm_size or SHM_SIZE) // 1024)}k"]},  # fmt: skip (0k: no limit)
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ns},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*ns, "rw" if sys_writable else "ro"]},
        # Its own cgroup, in each hierarchy it has one in (launcher.own_cgroup_hierarchies): where
        # runtimes read their limits.
        # Read-only, as Docker's, unless --privileged or systemd runs there: its unit has
        # Delegate=yes, so the subtree is the container's to manage, and only it is mounted (and
        # of v1's hierarchies only systemd's own: the controllers' stay read-only).
        {"destination": protocol.CGROUP_ROOT, "type": "cgroup", "source": "cgroup",
         "options": [*ns, "rw" if sys_writable or systemd else "ro",
                     *([protocol.CGROUP_CONTROLLERS_READ_ONLY] if systemd and not sys_writable else [])]},
        *(systemd_mounts(container_dir) if systemd else []),
    ]
    return mounts


# The files sdc writes for a container (api.run.create) and the launcher writes into its layer at
# each start: no bind mount of the bundle's, whose file on the host's /var the container could grow
# without bound; in its own layer, what it writes there costs its own storage, as any file does.
OWN_FILES = [["/etc/hostname", "hostname"], ["/etc/hosts", "hosts"], ["/etc/resolv.conf", "resolv.conf"]]


# --init's PID 1: a static binary (the container may have no libc), bound read-only at INIT_PATH,
# on the container's own /dev tmpfs so that nothing of it lands in the container's layer.
INIT_BINARIES = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit", "/usr/bin/tini-static")
INIT_PATH = "/dev/init"


def init_binary() -> str:
    """The host's init for --init: catatonit (Podman's) or tini-static (Docker's docker-init)."""
    for path in INIT_BINARIES:
        if os.access(path, os.X_OK):
            return path
    raise UsageError("--init needs catatonit or tini-static on this host",
                     hint="apt install catatonit (or tini)")  # fmt: skip


def build_runtime_config(
    spec: ContainerSpec,
    *,
    image_config: Mapping[str, Any],
    container_dir: Path,
    account: Account = ROOT,
    caps: Sequence[str] | None = None,
    idmap: tuple[int, int] | None = None,
    container_id: str = "",
    netns: str = "",
    joined: dict[str, str] | None = None,
    volumes_at: str = "",
) -> dict[str, object]:
    """spec as resolved against its image (api.run.resolve_spec); account: its user's, looked up in
    the container's files (resolve_account); caps: spec's capabilities as the kernel knows them
    (spec.capabilities); idmap: the first host uid and gid of its range, for --userns=auto
    (userns.allocate); container_id: for systemd's container_uuid; netns: the network namespace
    its unit makes (a network's: netns.py), which PID 1 is born in; joined: the other namespaces
    it is born in, by their OCI type (a pod's ipc and uts: podns.py); volumes_at: where the
    store's volumes are (storage.Driver.volumes)."""
    image_env = [str(e) for e in image_config.get("Env") or []]
    hostname = spec.hostname or spec.name
    at = {"network": netns, **(joined or {})}
    bounding = list(capabilities(spec) if caps is None else caps)
    held = bounding if account.uid == 0 else []  # another user's are cleared by the kernel at setuid
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            # relayed in the foreground, kept for the journal with -d (launcher); systemd's console
            "terminal": spec.tty or spec.runs_systemd,
            "user": {"uid": account.uid, "gid": account.gid, "additionalGids": list(account.groups)},
            "args": [INIT_PATH, "--", *spec.argv] if spec.init else list(spec.argv),
            "env": build_env(image_env, [*(["TZ=:/etc/localtime"] if spec.tz else []), *spec.env], hostname=hostname,
                             home=account.home, tty=spec.tty)  # fmt: skip
            + ([f"container_uuid={container_uuid(container_id)}"] if spec.runs_systemd and container_id else []),
            "cwd": spec.workdir or "/",
            "capabilities": {
                "bounding": bounding,
                "effective": held,
                "permitted": held,
                "inheritable": held,
                "ambient": [],
            },
            "noNewPrivileges": not spec.privileged,
            **({"rlimits": rlimits(spec.ulimits)} if spec.ulimits else {}),
            **({"oomScoreAdj": spec.oom_score_adj} if spec.oom_score_adj is not None else {}),
        },
        # Relative to the bundle, as runtime-spec suggests: bundle/rootfs links to the snapshot.
        "root": {"path": "rootfs", "readonly": spec.read_only},
        "hostname": hostname,
        protocol.OWN_FILES: OWN_FILES,
        **({"annotations": annotations} if (annotations := _annotations(spec, container_id)) else {}),
        "mounts": _with_read_only_tmpfs(spec, [
            *_mounts(container_dir, sys_writable=spec.privileged, systemd=spec.runs_systemd, shm_size=spec.shm_size),
            *_tz_mount(spec),
            *volumes.config_mounts(spec.volumes, spec.named_volumes, spec.tmpfs, volumes_at=volumes_at,
                                   userns=idmap is not None),
            *_init_mount(spec)]),  # fmt: skip
        "linux": {
            "namespaces": [({"type": t, "path": at[t]} if at.get(t) else {"type": t})
                           for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")
                           if t != "network" or spec.network != "host"]
            + ([{"type": "user"}] if idmap else []),
            **(_id_mappings(*idmap) if idmap else {}),
            "devices": devices.config_devices(spec.devices, privileged=spec.privileged),
            # --privileged: the host's /proc and /sys as they are
            "maskedPaths": [] if spec.privileged else list(MASKED_PATHS),
            "readonlyPaths": [] if spec.privileged else list(READONLY_PATHS),
            # no program for an unconfined container
            **({} if seccomp_profile(spec) == "unconfined" else {SECCOMP_KEY: protocol.SECCOMP}),
            "resources": _resources(spec),
        },
    }


def _init_mount(spec: ContainerSpec) -> list[dict[str, object]]:
    return [{"destination": INIT_PATH, "type": "bind", "source": init_binary(), "options": ["bind", "ro"]}] \
        if spec.init else []  # fmt: skip


# --read-only's writable places (Podman's --read-only-tmpfs): where programs expect to write
READ_ONLY_TMPFS = (("/run", "755"), ("/tmp", "1777"), ("/var/tmp", "1777"))


def _with_read_only_tmpfs(spec: ContainerSpec, mounts: list[dict[str, object]]) -> list[dict[str, object]]:
    if not (spec.read_only and spec.read_only_tmpfs):
        return mounts
    taken = {m["destination"] for m in mounts}
    return mounts + [{"destination": path, "type": "tmpfs", "source": "tmpfs",
                      "options": ["nosuid", "nodev", f"mode={mode}"]}
                     for path, mode in READ_ONLY_TMPFS if path not in taken]  # fmt: skip


def _annotations(spec: ContainerSpec, container_id: str) -> dict[str, str]:
    found = {protocol.SDNOTIFY: spec.sdnotify} if spec.sdnotify else {}
    if container_id:  # its output's journal entries name it (launcher.JournalCopy)
        found.update({protocol.CONTAINER_ID: container_id, protocol.CONTAINER_NAME: spec.name,
                      protocol.IMAGE: spec.image})  # fmt: skip
    if spec.log_driver != "journald":
        found[protocol.LOG_DRIVER] = spec.log_driver
    if spec.log_tag:
        found[protocol.LOG_TAG] = spec.log_tag
    if spec.attach:
        found[protocol.ATTACH] = ",".join(spec.attach)
    if spec.runs_systemd and container_id:
        found[protocol.MACHINE_ID] = container_id[:32]
        # systemd says READY=1 to its container manager once booted: a detached container's unit
        # is active, and `sdc run -d` returns, then (as nspawn's --notify-ready=yes)
        found[protocol.SDNOTIFY] = "container"
    return found


def _id_mappings(uid: int, gid: int) -> dict[str, object]:
    from sdcontainer.userns import SIZE

    return {"uidMappings": [{"containerID": 0, "hostID": uid, "size": SIZE}],
            "gidMappings": [{"containerID": 0, "hostID": gid, "size": SIZE}]}  # fmt: skip


SHM_SIZE = 64 << 20  # Docker's /dev/shm
RLIM_INFINITY = 2**64 - 1  # the OCI config's unlimited (uint64)


def rlimits(ulimits: Sequence[str]) -> list[dict[str, object]]:
    """--ulimit's NAME=SOFT:HARD (spec.parse_ulimit) as the OCI config's process.rlimits."""
    found = []
    for entry in ulimits:
        name, _, values = entry.partition("=")
        soft, hard = (RLIM_INFINITY if int(v) < 0 else int(v) for v in values.split(":"))
        found.append({"type": f"RLIMIT_{name.upper()}", "soft": soft, "hard": hard})
    return found


def _tz_mount(spec: ContainerSpec) -> list[dict[str, object]]:
    """--tz: the zone's file of the host's zoneinfo (or the host's own, for local), read-only at
    /etc/localtime; resolved now, the container made."""
    if not spec.tz:
        return []
    from sdcontainer.spec import ZONEINFO

    source = os.path.realpath("/etc/localtime" if spec.tz == "local" else os.path.join(ZONEINFO, spec.tz))
    return [{"destination": "/etc/localtime", "type": "bind", "source": source,
             "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}]  # fmt: skip


def _resources(spec: ContainerSpec) -> dict[str, object]:
    """What the launcher applies itself: systemd enforces the rest (units.py). The CPUs: a scope
    takes no CPUAffinity=, which is a property of processes systemd starts."""
    cpus = spec.limits.cpuset_cpus
    return {"cpu": {"cpus": ",".join(str(c) for c in cpus)}} if cpus else {}


def build_hosts(hostname: str, address: str = "", extra: Sequence[str] = ()) -> str:
    """/etc/hosts: localhost, the container's name at its address on its network (or 127.0.1.1),
    then --add-host's NAME:ADDRESS lines (spec.parse_add_host)."""
    return (f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"{address or '127.0.1.1'}\t{hostname}\n") + added_hosts(extra)  # fmt: skip


def added_hosts(extra: Sequence[str]) -> str:
    """--add-host's NAME:ADDRESS as /etc/hosts lines (one whose words would be more is none)."""
    return "".join(f"{a}\t{n}\n" for n, _, a in (h.partition(":") for h in extra if _one_word(h)))


def _one_word(text: str) -> bool:
    return bool(text) and not any(c.isspace() or c == "#" for c in text)


RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf"  # systemd-resolved's servers, where /etc's names its stub
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")  # Docker's, where the host has no server a container can reach
DNS_DOMAIN = "dns.podman"  # aardvark-dns's domain for the names on a network


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """A resolv.conf's nameservers, search domains and options (resolv.conf(5): the last search
    or domain line wins)."""
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            servers.append(words[1])
        elif words[:1] in (["search"], ["domain"]):
            search = words[1:]
        elif words[:1] == ["options"]:
            options += words[1:]
    return servers, search, options


def build_resolv_conf(host: str, *, mode: str, names_at: str = "", dns: Sequence[str] = (),
                      search: Sequence[str] = (), options: Sequence[str] = (), upstream: str = "") -> str:  # fmt: skip
    """The container's resolv.conf, from the host's (host), as Docker and Podman make it.

    mode: "host" (the host's namespace: the host's servers as they are), "none" (no network: the
    host's, unused) or "network": a server on the host's loopback (systemd-resolved's 127.0.0.53)
    is no server inside, nor an IPv6 one on IPv4 networks: left out, and where none is left,
    systemd-resolved's upstream servers (upstream: its file's text), else FALLBACK_DNS. names_at:
    the network's DNS server (aardvark-dns on its gateway), the only nameserver then (it asks the
    host's, or --dns's, for other names) and its domain searched first. dns, search and options:
    --dns (where names_at is not), --dns-search ("." for none) and --dns-option, replacing the host's."""
    servers, host_search, host_options = parse_resolv_conf(host)
    if mode == "network":
        servers = [s for s in servers if _reachable(s)]
        if not servers:
            servers = [s for s in parse_resolv_conf(upstream)[0] if _reachable(s)] or list(FALLBACK_DNS)
    if dns and not names_at:
        servers = [s for s in dns if _one_word(s)]
    if names_at:
        servers = [names_at]
    domains = [d for d in search if d != "." and _one_word(d)] if search else host_search
    if names_at and not search:
        domains = [DNS_DOMAIN, *domains]
    lines = ["# made by sdc for this container"]
    if domains:
        lines.append("search " + " ".join(domains))
    lines += [f"nameserver {server}" for server in servers]
    chosen = [o for o in options if _one_word(o)] or host_options
    if chosen:
        lines.append("options " + " ".join(chosen))
    return "\n".join(lines) + "\n"


def _reachable(server: str) -> bool:
    """A nameserver a container on one of sdc's (IPv4) networks can reach: IPv4, not loopback."""
    return server.count(".") == 3 and ":" not in server and not server.startswith("127.")
