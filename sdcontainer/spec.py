"""What a container is asked to be: frozen, validated data, no I/O.

Flag values are parsed here with Docker's syntax and limits, so that invalid
input is refused before anything is created. The checks that take regular expressions import
re themselves: a run with none of their flags imports none (~3 ms, issue 26).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from sdcontainer import devices
from sdcontainer.containerspec import (
    JOIN,
    NETWORK_MODES,
    STOP_TIMEOUT_MAX,
    UNLIMITED,
    ContainerSpec,
    Limits,
    check_name,
    has_own_network,
    is_name,
    parse_signal,
    signal_name,
)
from sdcontainer.errors import UsageError
from sdcontainer.files import read_given
from sdcontainer.paths import absolute
from sdcontainer.protocol import CAPABILITIES
from sdcontainer.record import record
from sdcontainer.text import is_decimal, parse_size
from sdcontainer.volumes import BIND, TMPFS, VOLUME, check_volumes, parse_mount, parse_tmpfs, parse_volume

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Any

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

PIDS_MAX = 1 << 22  # the kernel's pid_max at most (PID_MAX_LIMIT)
# Docker refuses memory limits below 6 MiB, what its runtime's first moments in the container's
# cgroup need. A detached container's launcher (Python) is in its unit until PID 1 has exec'ed:
# below 8 MiB the OOM killer ends it before that (a foreground one leaves its scope: 6 MiB do).
MIN_MEMORY = 8 * 1024 * 1024


@record
class RunFlag:
    """One `sdc run` flag: its names, the parameter it fills (build_run_spec's keyword and the
    typer command's), the type of its value (bool: a switch; list: repeatable), its default, and
    its help. RUN_FLAGS declares each flag once; typer's command (cli.py), the fast path's parser
    (entry.py), build_run_spec and ContainerSpec's defaults are all made from it."""

    names: tuple[str, ...]
    param: str
    kind: type
    default: object
    help: str


RUN_FLAGS = (
    RunFlag(("-d", "--detach"), "detach", bool, False, "Run as a service in the background; print its ID"),
    RunFlag(("--name",), "name", str, None, "Container name (unit sdc-NAME.service/.scope)"),
    RunFlag(("--pull",), "pull", str, None,
            "missing: pull the image when the store lacks it [default, as Docker's]; always; never; newer"),
    RunFlag(("--rm",), "rm", bool, False, "Remove the container when it exits"),
    RunFlag(("--log-driver",), "log_driver", str, None,
            "journald (the default: `sdc logs`, journalctl), none (kept nowhere) or passthrough (sdc's own "
            "stdout and stderr only, where what runs sdc keeps them: a unit's journal)"),
    RunFlag(("--log-opt",), "log_opt", list, None, "tag=NAME: the journal's SYSLOG_IDENTIFIER [default: the name]"),
    RunFlag(("-e", "--env"), "env", list, None, "Set NAME=VALUE; NAME alone passes on yours"),
    RunFlag(("--env-file",), "env_file", list, None, "Read NAME=VALUE lines (Docker's format) from a file"),
    RunFlag(("-l", "--label"), "label", list, None, "Set a label: KEY=VALUE (KEY alone: an empty value)"),
    RunFlag(("--label-file",), "label_file", list, None, "Read KEY=VALUE labels, a line each, from a file"),
    RunFlag(("-w", "--workdir"), "workdir", str, None,
            "Working directory inside, made when missing [default: the image's, or /]"),
    RunFlag(("-h", "--hostname"), "hostname", str, None, "Hostname [default: the name]"),
    RunFlag(("-u", "--user"), "user", str, None, "USER[:GROUP], names or ids [default: the image's, or root]"),
    RunFlag(("--entrypoint",), "entrypoint", str, None, "Run this program, not the image's entrypoint ('' for none)"),
    RunFlag(("-m", "--memory"), "memory", str, None, "Memory limit (MemoryMax), e.g. 64m"),
    RunFlag(("--memory-swap",), "memory_swap", str, None, "Memory + swap limit; -1 unlimited"),
    RunFlag(("-c", "--cpu-shares"), "cpu_shares", int, None, "Relative CPU weight (1024 = CPUWeight 100)"),
    RunFlag(("--cpus",), "cpus", float, None, "CPU quota in CPUs (CPUQuota)"),
    RunFlag(("--cpuset-cpus",), "cpuset_cpus", str, None, "CPUs allowed, e.g. 0-1,3"),
    RunFlag(("--pids-limit",), "pids_limit", int, None, "Tasks limit (TasksMax); -1 unlimited"),
    RunFlag(("--blkio-weight",), "blkio_weight", int, None, "Block IO weight 10-1000 (IOWeight)"),
    RunFlag(("--stop-timeout",), "stop_timeout", int, 10, "Seconds before SIGKILL on stop"),
    RunFlag(("--stop-signal",), "stop_signal", str, None,
            "Signal to stop the container [default: the image's, or SIGTERM]"),
    RunFlag(("-a", "--attach"), "attach", list, None,
            "In the foreground, only these of its streams are yours: stdin, stdout, stderr (again for each); "
            "the others go to its log alone [default: stdout and stderr, and stdin with -i]"),
    RunFlag(("-i", "--interactive"), "interactive", bool, False,
            "Keep stdin open: yours, relayed to the container's (without it, its stdin is /dev/null)"),
    RunFlag(("--cap-add",), "cap_add", list, None, "Add a capability (NET_ADMIN, CAP_SYS_PTRACE..., or ALL)"),
    RunFlag(("--cap-drop",), "cap_drop", list, None, "Drop a capability (or ALL)"),
    RunFlag(("--privileged",), "privileged", bool, False,
            "Every capability and device, no seccomp, /sys and /proc/sys writable: the host's root"),
    RunFlag(("--device",), "device", list, None,
            "Add a host device: HOST[:CONTAINER][:PERMS], PERMS of r, w, m (e.g. /dev/fuse)"),
    RunFlag(("--device-cgroup-rule",), "device_cgroup_rule", list, None,
            "Allow devices by number, as Docker's: 'c 10:200 rwm', 'b 7:* r'"),
    RunFlag(("-v", "--volume"), "volume", list, None,
            "A volume (NAME:PATH, or PATH alone: an anonymous one) or a host path (HOST:PATH, ./DIR:PATH), "
            "then :ro, :noexec, :idmap..."),
    RunFlag(("--mount",), "mount", list, None,
            "type=bind|volume|tmpfs,source=...,destination=...[,readonly][,tmpfs-size=16m]: Docker's --mount"),
    RunFlag(("--tmpfs",), "tmpfs", list, None, "A tmpfs at PATH[:size=16m,mode=1777,...] (noexec,nosuid,nodev)"),
    RunFlag(("--read-only",), "read_only", bool, False,
            "A read-only root (volumes, binds and tmpfs mounts as they are; /run, /tmp, /var/tmp tmpfs)"),
    RunFlag(("--read-only-tmpfs",), "read_only_tmpfs", str, None,
            "false: no tmpfs on /run, /tmp and /var/tmp of a --read-only container [default: true]"),
    RunFlag(("--userns",), "userns", str, None,
            "auto: the container's ids are a range of the host's of its own (/etc/subuid's sdc); host: the host's"),
    RunFlag(("--security-opt",), "security_opt", list, None,
            "seccomp=PROFILE.json (Docker's format) or seccomp=unconfined; no-new-privileges (always on)"),
    RunFlag(("-t", "--tty"), "tty", bool, False,
            "A terminal of its own (TERM=xterm); with -d its output goes to the journal"),
    RunFlag(("--restart",), "restart", str, None,
            "no, on-failure[:MAX], always or unless-stopped: systemd restarts the container (-d)"),
    RunFlag(("--systemd",), "systemd", str, None,
            "true: systemd's container interface when the command is systemd or init [default]; always; false"),
    RunFlag(("--sdnotify",), "sdnotify", str, None,
            "exec (the unit is active once PID 1 has exec'ed) or container (when the payload sends READY=1)"),
    RunFlag(("--enable",), "enable", bool, False,
            "Start it at boot too: an enabled sdc@NAME.service (units/sdc@.service), not a transient unit"),
    RunFlag(("--init",), "init", bool, False, "A small PID 1 (catatonit or tini) that reaps and forwards signals"),
    RunFlag(("--network", "--net"), "network", str, None,
            "bridge (sdc's default network, the default), a network's name, none (loopback only), host (the "
            "host's) or container:NAME (another container's)"),
    RunFlag(("--pod",), "pod", str, None,
            "Run in a pod (`sdc pod create`): its network, IPC and UTS namespaces, its ports and hostname"),
    RunFlag(("-p", "--publish"), "publish", list, None,
            "Publish a container's port: [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp|sctp] (needs a network)"),
    RunFlag(("-P", "--publish-all"), "publish_all", bool, False,
            "Publish every port the image exposes (EXPOSE) on a free host port"),
    RunFlag(("--ip",), "ip", str, None, "The container's address on its network"),
    RunFlag(("--mac-address",), "mac_address", str, None, "The container's MAC address on its network"),
    RunFlag(("--network-alias",), "network_alias", list, None,
            "Another name the container has on its network (a network of the user's, which has names)"),
    RunFlag(("--dns",), "dns", list, None, "A DNS server for the container (its resolv.conf)"),
    RunFlag(("--dns-search",), "dns_search", list, None, "A DNS search domain for the container"),
    RunFlag(("--dns-option",), "dns_option", list, None, "A resolv.conf option for the container (ndots:2)"),
    RunFlag(("--add-host",), "add_host", list, None, "A line of the container's /etc/hosts: HOST:IP"),
    RunFlag(("--ulimit",), "ulimit", list, None, "A resource limit of its processes: nofile=1024[:2048], nproc=..."),
    RunFlag(("--oom-score-adj",), "oom_score_adj", int, None, "Its PID 1's OOM score adjustment, -1000 to 1000"),
    RunFlag(("--shm-size",), "shm_size", str, None, "The size of its /dev/shm (a tmpfs) [default: 64m]"),
    RunFlag(("--tz",), "tz", str, None, "Its time zone: a zone (Europe/Berlin) or local (the host's): TZ and "
            "/etc/localtime"),
    RunFlag(("--cidfile",), "cidfile", str, None, "Write its ID to this file (which must not exist)"),
    RunFlag(("--replace",), "replace", bool, False, "Remove a container of that --name first, if there is one"),
    RunFlag(("-q", "--quiet"), "quiet", bool, False, "Say nothing of a pull"),
    RunFlag(("--preserve-fds",), "preserve_fds", int, None,
            "Pass N more fds (3 on) to its PID 1, in the foreground (socket activation's LISTEN_FDS: always)"),
    RunFlag(("--health-cmd",), "health_cmd", str, None,
            "A command checking it, run in it by a systemd timer: 'curl -f localhost' (sh -c), or a JSON array"),
    RunFlag(("--health-interval",), "health_interval", str, None, "Time between checks: 30s [default], 1m30s"),
    RunFlag(("--health-timeout",), "health_timeout", str, None, "Time a check may take: 30s [default]"),
    RunFlag(("--health-retries",), "health_retries", int, None, "Failures in a row that make it unhealthy [3]"),
    RunFlag(("--health-start-period",), "health_start_period", str, None,
            "Time from its start in which failures do not count [0s]"),
    RunFlag(("--no-healthcheck",), "no_healthcheck", bool, False, "No health check, not even the image's"),
)  # fmt: skip
RUN_DEFAULTS: dict[str, Any] = {flag.param: flag.default for flag in RUN_FLAGS}
LIMIT_FLAGS = ("memory", "memory_swap", "cpu_shares", "cpus", "cpuset_cpus", "pids_limit", "blkio_weight")


def parse_memory(text: str) -> int:
    value = parse_size(text, flag="--memory")
    if value < MIN_MEMORY:
        raise UsageError(f"memory limit {text} is below the minimum",
                         hint="the minimum memory limit is 8m (a container's start needs some)")  # fmt: skip
    return value


def parse_memory_swap(text: str) -> int:
    if text.strip() == "-1":
        return UNLIMITED
    return parse_size(text, flag="--memory-swap")


CPUS_MAX = 8192  # the kernel's NR_CPUS at most: a list beyond is no host's


def parse_cpuset(text: str) -> tuple[int, ...]:
    """A cpuset list as in cpuset(7): '0-2,5', each CPU below CPUS_MAX (checked before a range is
    spelled out: 0-30000000 is refused at once)."""
    import re

    cpus: set[int] = set()
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d{1,7})\s*(?:-\s*(\d{1,7})\s*)?", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise UsageError(f"invalid --cpuset-cpus {text[:60]!r}", hint="use a CPU list like 0-2,5")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        if last >= CPUS_MAX:
            raise UsageError(f"--cpuset-cpus {text[:60]!r} names CPU {last}, which no host has",
                             hint=f"CPUs are numbered from 0 (here: 0-{(os.cpu_count() or 1) - 1})")  # fmt: skip
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


# A host name (hostname(7)): dot-separated labels of letters, digits, '-' (not first or last)
# and '_' (container names have it, and a container's host name is its name by default), 64
# bytes at most (HOST_NAME_MAX), checked here: sethostname(2) refuses more only at the launch.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*"
HOST_NAME_MAX = 64


def check_hostname(text: str) -> str:
    import re

    if len(text) > HOST_NAME_MAX or not re.fullmatch(HOSTNAME, text):
        raise UsageError(f"invalid --hostname {text[:80]!r}",
                         hint="use at most 64 letters, digits, '-', '_', in labels separated by dots")  # fmt: skip
    return text


# A user or group: a letter, digit, '_' or '.', then up to 31 of those and '-' (checked by hand:
# every run checks its image's User, and re is ~3 ms of a run)
_ACCOUNT_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")
_ACCOUNT = _ACCOUNT_FIRST | {"-"}


def _is_account(text: str) -> bool:
    return 1 <= len(text) <= 32 and text[0] in _ACCOUNT_FIRST and _ACCOUNT.issuperset(text)


def check_user(text: str) -> str:
    """USER[:GROUP], each a name or an id: looked up in the image's files when the container is made."""
    user, colon, group = text.partition(":")
    if not _is_account(user) or (colon and not _is_account(group)):
        raise UsageError(f"invalid --user {text!r}", hint="give USER[:GROUP], names or ids, like app or 1000:1000")
    return text


def resolve_env(items: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """-e values as Docker takes them: NAME=VALUE as given; NAME alone passes on the caller's value
    of NAME, and nothing when the caller has none."""
    resolved = []
    for item in items:
        name, eq, _ = item.partition("=")
        if not name or "\0" in item:
            raise UsageError(f"invalid --env {item!r}", hint="use NAME=VALUE, or NAME to pass on your own value")
        if eq:
            resolved.append(item)
        elif name in environ:
            resolved.append(f"{name}={environ[name]}")
    return resolved


def parse_env_file(text: str, *, path: str, environ: Mapping[str, str]) -> list[str]:
    """Docker's --env-file format: a variable a line, NAME=VALUE (the value as it is: no quotes
    removed, no spaces trimmed) or NAME alone (the caller's value, if any); blank lines and lines
    starting with # are skipped; leading whitespace is ignored."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        if not name or any(c.isspace() for c in name) or "\0" in line:
            raise UsageError(
                f"--env-file {path}, line {number}: invalid variable {name!r}",
                hint="write NAME=VALUE or NAME on each line, # for comments",
            )
        if eq:
            entries.append(f"{name}={value}")
        elif name in environ:
            entries.append(f"{name}={environ[name]}")
    return entries


def read_env_files(paths: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    entries = []
    for path in paths:
        if "\0" in path:
            raise UsageError(f"no such --env-file: {path!r}", hint="give a file's path")
        try:
            text = read_given(path).decode("utf-8-sig")  # -sig: a byte order mark is not part of a name
        except OSError as exc:
            raise UsageError(f"cannot read --env-file {path}: {exc.strerror}", hint="give a readable file") from None
        except UnicodeDecodeError:
            raise UsageError(f"--env-file {path} is not UTF-8 text", hint="write NAME=VALUE lines") from None
        entries += parse_env_file(text, path=path, environ=environ)
    return entries


# Docker's --ulimit names, as setrlimit(2)'s RLIMIT_ ones
ULIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
           "rtprio", "rttime", "sigpending", "stack")  # fmt: skip
RLIM_INFINITY = -1


def parse_ulimit(text: str) -> str:
    """--ulimit NAME=SOFT[:HARD] (Docker's): NAME=SOFT:HARD, each a count or -1 (unlimited)."""
    import re

    m = re.fullmatch(r"([a-z]+)=(-1|\d{1,19})(?::(-1|\d{1,19}))?", text)
    if not m or m.group(1) not in ULIMITS:
        raise UsageError(f"invalid --ulimit {text[:60]!r}",
                         hint="give NAME=SOFT[:HARD], NAME one of " + ", ".join(ULIMITS))  # fmt: skip
    soft = int(m.group(2))
    hard = int(m.group(3)) if m.group(3) is not None else soft
    if soft >= 1 << 63 or hard >= 1 << 63:
        raise UsageError(f"invalid --ulimit {text[:60]!r}: too large", hint="give -1 for unlimited")
    if hard != RLIM_INFINITY and (soft == RLIM_INFINITY or soft > hard):
        raise UsageError(f"invalid --ulimit {text}: the soft limit is above the hard one", hint="give SOFT <= HARD")
    return f"{m.group(1)}={soft}:{hard}"


def check_oom_score_adj(value: int | None) -> int | None:
    if value is not None and not -1000 <= value <= 1000:
        raise UsageError(f"invalid --oom-score-adj {value}", hint="give a number from -1000 to 1000")
    return value


ZONEINFO = "/usr/share/zoneinfo"


def check_tz(text: str) -> str:
    """--tz: local (the host's /etc/localtime) or a zone of the host's zoneinfo, by its name."""
    import re

    if text == "local":
        return text
    if not re.fullmatch(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+){0,3}", text) or not os.path.isfile(
            os.path.join(ZONEINFO, text)):  # fmt: skip
        raise UsageError(f"unknown --tz {text[:60]!r}", hint=f"give local, or a zone of {ZONEINFO}: Europe/Berlin, UTC")
    return text


def check_cidfile(path: str) -> str:
    if "\0" in path:
        raise UsageError("invalid --cidfile", hint="give a file's path")
    if os.path.lexists(path):
        raise UsageError(f"--cidfile {path} is there already",
                         hint="a container may be using it: remove the file, or give another")  # fmt: skip
    return str(absolute(path, "--cidfile"))


PRESERVE_MAX = 1000


ATTACHABLE = ("stdin", "stdout", "stderr")


def parse_attach(streams: Sequence[str], *, detach: bool) -> tuple[str, ...]:
    """-a/--attach as Docker's: stdin, stdout, stderr (any case), for a foreground run."""
    found = []
    for text in streams:
        stream = text.lower()
        if stream not in ATTACHABLE:
            raise UsageError(f"invalid --attach {text!r}", hint="give stdin, stdout or stderr (again for each)")
        if stream not in found:
            found.append(stream)
    if found and detach:
        raise UsageError("--attach and --detach cannot be combined", hint="-a says what of a foreground run is yours")
    return tuple(s for s in ATTACHABLE if s in found)


def check_preserve_fds(count: int | None, *, detach: bool) -> int:
    if count is None or count == 0:
        return 0
    if not 0 < count <= PRESERVE_MAX:
        raise UsageError(f"invalid --preserve-fds {count}", hint=f"give a count of fds from 1 to {PRESERVE_MAX}")
    if detach:
        raise UsageError("--preserve-fds needs a foreground run", hint="a service's fds are systemd's: drop -d")
    return count


def check_replace(replace: bool, name: str | None) -> bool:
    if replace and not name:
        raise UsageError("--replace needs --name", hint="give the name of the container to replace")
    return replace


HEALTH_INTERVAL, HEALTH_TIMEOUT, HEALTH_RETRIES = 30.0, 30.0, 3  # Docker's defaults
HEALTH_MIN = 1.0  # seconds: the shortest interval and timeout (a check a second at most)
HEALTH_MAX = 24 * 3600.0


def parse_duration(text: str, *, flag: str) -> float:
    """Go's durations as Docker takes them: 30s, 1m30s, 500ms, 2h; a bare number is seconds."""
    import re

    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    if re.fullmatch(r"\d{1,9}(\.\d{1,9})?", text):
        return float(text)
    parts = re.findall(r"(\d{1,9}(?:\.\d{1,9})?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f"invalid {flag} {text[:40]!r}", hint="give a duration: 30s, 1m30s, 500ms")
    return sum(float(n) * units[u] for n, u in parts)


def parse_health(cmd: str | None, interval: str | None, timeout: str | None, retries: int | None,
                 start_period: str | None, *, none: bool) -> dict[str, Any]:  # fmt: skip
    """--health-* (and --no-healthcheck) as the spec's health_ fields."""
    if none:
        if cmd is not None:
            raise UsageError("--no-healthcheck and --health-cmd given", hint="give one of them")
        return {"health_test": ("NONE",)}
    test: tuple[str, ...] = ()
    if cmd is not None:
        if not cmd.strip() or "\0" in cmd:
            raise UsageError("an empty --health-cmd", hint="give a command: 'curl -f http://localhost/'")
        if cmd.lstrip().startswith("["):
            import json

            try:
                argv = json.loads(cmd)
            except ValueError:
                argv = None
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and "\0" not in a for a in argv):
                raise UsageError(f"invalid --health-cmd {cmd[:60]!r}", hint='a JSON array of strings: ["CMD", "x"]')
            test = tuple(argv) if argv[0] in ("CMD", "CMD-SHELL") else ("CMD", *argv)
        else:
            test = ("CMD-SHELL", cmd)
    times = {}
    for key, value, flag in (("health_interval", interval, "--health-interval"),
                             ("health_timeout", timeout, "--health-timeout"),
                             ("health_start_period", start_period, "--health-start-period")):  # fmt: skip
        if value is not None:
            seconds = parse_duration(value, flag=flag)
            least = 0.0 if key == "health_start_period" else HEALTH_MIN
            if not least <= seconds <= HEALTH_MAX:
                raise UsageError(f"invalid {flag} {value}", hint=f"give {least:g}s to 24h")
            times[key] = seconds
    if retries is not None and not 1 <= retries <= 1000:
        raise UsageError(f"invalid --health-retries {retries}", hint="give a count from 1 to 1000")
    return {"health_test": test, **times, **({"health_retries": retries} if retries is not None else {})}


LOG_DRIVERS = ("journald", "none", "passthrough")


def parse_log_driver(text: str) -> str:
    """--log-driver: sdc's containers log to the journal; none keeps nothing; passthrough leaves
    a foreground container's output to sdc's own stdout and stderr (a detached one's is its unit's,
    the journal's, either way). k8s-file, json-file... are another tool's files."""
    if text not in LOG_DRIVERS:
        raise UsageError(f"log driver {text[:40]!r} is not sdc's",
                         hint="sdc logs to the journal: journald (the default), none or passthrough")  # fmt: skip
    return text


def parse_log_opts(values: Sequence[str]) -> str:
    """--log-opt: tag=NAME (the journal's SYSLOG_IDENTIFIER, as Docker's journald driver takes it)."""
    tag = ""
    for value in values:
        key, eq, text = value.partition("=")
        if key != "tag" or not eq:
            raise UsageError(f"invalid --log-opt {value[:60]!r}", hint="sdc's journald driver takes tag=NAME")
        import re

        if not re.fullmatch(r"[A-Za-z0-9_.@:+-]{1,64}", text):
            raise UsageError(f"invalid --log-opt tag {text[:60]!r}", hint="use up to 64 letters, digits, '_.@:+-'")
        tag = text
    return tag


LABELS_MAX = 64 * 1024  # bytes of labels a container may have (they are kept in its record)


def parse_labels(values: Sequence[str], files: Sequence[str] = ()) -> tuple[str, ...]:
    """--label-file's lines, then --label's values, as KEY=VALUE (KEY alone: an empty value),
    a later value of a key winning; a key is any text but '=', newlines and NULs (Docker's)."""
    given = []
    for path in files:
        try:
            text = read_given(path).decode("utf-8-sig")
        except OSError as exc:
            raise UsageError(f"cannot read --label-file {path}: {exc.strerror}", hint="give a readable file") from None
        except (UnicodeDecodeError, ValueError):
            raise UsageError(f"--label-file {path!r} is not UTF-8 text", hint="write KEY=VALUE lines") from None
        given += [line for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]
    labels: dict[str, str] = {}
    for value in [*given, *values]:
        key, _, text = value.partition("=")
        if not key.strip() or any(c in value for c in "\0\n\r") or not _utf8(value):
            raise UsageError(f"invalid label {value[:80]!r}", hint="give KEY=VALUE (or KEY) of UTF-8 text, a line each")
        labels[key] = text
    merged = tuple(f"{k}={v}" for k, v in labels.items())
    if sum(len(m) for m in merged) > LABELS_MAX:
        raise UsageError("the labels are too long", hint="keep them under 64 KiB in all")
    return merged


def _utf8(text: str) -> bool:
    """Text that is UTF-8 (not the surrogates a command line's undecodable bytes become)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def build_limits(
    *,
    memory: str | None = None,
    memory_swap: str | None = None,
    cpu_shares: int | None = None,
    cpus: float | None = None,
    cpuset_cpus: str | None = None,
    pids_limit: int | None = None,
    blkio_weight: int | None = None,
) -> Limits:
    """Validate flag values with Docker's rules and return Limits."""
    mem = parse_memory(memory) if memory is not None else None
    swap = parse_memory_swap(memory_swap) if memory_swap is not None else None
    if swap is not None and swap != UNLIMITED:
        if mem is None:
            raise UsageError("--memory-swap needs --memory", hint="set -m as well; --memory-swap is memory + swap")
        if swap < mem:
            raise UsageError(
                "--memory-swap is smaller than --memory", hint="--memory-swap is the total of memory + swap"
            )
    if cpu_shares is not None and cpu_shares != 0 and not 2 <= cpu_shares <= 262144:
        raise UsageError(
            f"invalid --cpu-shares {cpu_shares}", hint="use a weight from 2 to 262144 (1024 is the default)"
        )
    if cpus is not None and (not math.isfinite(cpus) or not 0 < cpus <= CPUS_MAX):
        raise UsageError(f"invalid --cpus {cpus}", hint="use a positive number of CPUs, like 1.5")
    if pids_limit is not None and not UNLIMITED <= pids_limit <= PIDS_MAX:
        raise UsageError(f"invalid --pids-limit {pids_limit}", hint="use a positive count, or -1 for unlimited")
    if blkio_weight is not None and blkio_weight != 0 and not 10 <= blkio_weight <= 1000:
        raise UsageError(f"invalid --blkio-weight {blkio_weight}", hint="use a weight from 10 to 1000")
    return Limits(
        memory=mem,
        memory_swap=swap,
        cpu_shares=cpu_shares or None,
        cpus=cpus,
        cpuset_cpus=parse_cpuset(cpuset_cpus) if cpuset_cpus is not None else (),
        pids_limit=UNLIMITED if pids_limit == 0 else pids_limit,
        blkio_weight=blkio_weight or None,
    )


PULL_POLICIES = ("missing", "always", "never", "newer")


def parse_pull(text: str) -> str:
    """--pull: missing (pull an image the store lacks), always, never, newer (pull, and use the
    store's own where the registry cannot be reached: Podman's)."""
    if text not in PULL_POLICIES:
        raise UsageError(f"invalid --pull {text[:30]!r}", hint="use missing, always, never or newer")
    return text


def parse_bool(text: str, *, flag: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise UsageError(f"invalid {flag} {text[:20]!r}", hint=f"give {flag}=true or {flag}=false")
    return text.lower() in ("true", "1")


def build_run_spec(
    *, image: str, command: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ, **flags: Any
) -> ContainerSpec:
    """`sdc run`'s flag values, by RUN_FLAGS' parameter names, the rest their defaults → a checked
    spec. Without --name the name is left empty: the store picks a free one when it creates the
    container. environ: the caller's, for -e NAME and --env-file's NAME."""
    unknown = set(flags) - set(RUN_DEFAULTS)
    if unknown:
        raise TypeError(f"not flags of sdc run: {sorted(unknown)}")
    f = {**RUN_DEFAULTS, **flags}
    limits = build_limits(**{k: f[k] for k in LIMIT_FLAGS})
    # sdc's default network, as Docker's and Podman's (or $SDC_NETWORK's, for every run that sees it)
    network = f["network"] or environ.get("SDC_NETWORK") or "bridge"
    if f["pod"] is not None:
        network = check_pod_flags(f)
    userns = check_userns(f["userns"] or environ.get("SDC_USERNS", ""), privileged=f["privileged"])
    mounts = [parse_volume(v) for v in f["volume"] or ()] + [parse_mount(m) for m in f["mount"] or ()]
    tmpfs = tuple(m for kind, m in mounts if kind == TMPFS) + tuple(parse_tmpfs(t) for t in f["tmpfs"] or ())
    volumes = tuple(m for kind, m in mounts if kind == BIND)
    named = tuple(m for kind, m in mounts if kind == VOLUME)
    check_volumes(volumes, named, tmpfs, userns=userns == "auto")
    if not 0 <= f["stop_timeout"] <= STOP_TIMEOUT_MAX:
        raise UsageError(f"invalid --stop-timeout {f['stop_timeout']}", hint="give a number of seconds >= 0")
    return ContainerSpec(
        name=check_name(f["name"]) if f["name"] is not None else "",
        image=image,
        command=tuple(command or ()),
        # Docker's order: the files first, then -e, a later value of a name overriding an earlier one.
        env=tuple(read_env_files(f["env_file"] or [], environ) + resolve_env(f["env"] or [], environ)),
        workdir=f["workdir"] or "",
        hostname=check_hostname(f["hostname"]) if f["hostname"] else "",
        user=check_user(f["user"]) if f["user"] else "",
        entrypoint=None if f["entrypoint"] is None else (f["entrypoint"],) if f["entrypoint"] else (),
        detach=f["detach"],
        auto_remove=f["rm"],
        tty=f["tty"],
        interactive=f["interactive"] or "stdin" in parse_attach(f["attach"] or (), detach=f["detach"]),
        stop_timeout=f["stop_timeout"],
        stop_signal=signal_name(parse_signal(f["stop_signal"])) if f["stop_signal"] else "",
        seccomp=parse_security_opts(f["security_opt"] or []),
        cap_add=tuple(capability_name(c, flag="--cap-add") for c in f["cap_add"] or ()),
        cap_drop=tuple(capability_name(c, flag="--cap-drop") for c in f["cap_drop"] or ()),
        privileged=f["privileged"],
        # the store-wide default: $SDC_USERNS (e.g. in the environment of every sdc command)
        userns=userns,
        devices=tuple(devices.parse_device(d) for d in f["device"] or ()),
        device_rules=tuple(devices.parse_rule(r) for r in f["device_cgroup_rule"] or ()),
        volumes=volumes,
        named_volumes=named,
        tmpfs=tmpfs,
        read_only=f["read_only"],
        pull=parse_pull(f["pull"] or "missing"),
        read_only_tmpfs=parse_bool(f["read_only_tmpfs"], flag="--read-only-tmpfs") if f["read_only_tmpfs"] else True,
        restart=parse_restart(f["restart"] or "", auto_remove=f["rm"]),
        init=f["init"],
        sdnotify=parse_sdnotify(f["sdnotify"] or ""),
        systemd=parse_systemd(f["systemd"] or "true"),
        enable=check_enable(f["enable"], auto_remove=f["rm"]),
        network="pod" if f["pod"] else parse_network(network),
        pod=f["pod"] or "",
        publish=check_publish(f["publish"] or (), network=network),
        publish_all=f["publish_all"],
        ip=check_ip(f["ip"] or "", network=network),
        mac_address=check_mac(f["mac_address"] or "", network=network),
        network_aliases=check_aliases(f["network_alias"] or (), network=network),
        dns=tuple(check_address(a, flag="--dns") for a in f["dns"] or ()),
        dns_search=tuple(check_domain(d) for d in f["dns_search"] or ()),
        dns_options=tuple(check_dns_option(o) for o in f["dns_option"] or ()),
        add_hosts=tuple(parse_add_host(h) for h in f["add_host"] or ()),
        labels=parse_labels(f["label"] or (), f["label_file"] or ()),
        log_driver=parse_log_driver(f["log_driver"] or "journald"),
        log_tag=parse_log_opts(f["log_opt"] or ()),
        ulimits=tuple(parse_ulimit(u) for u in f["ulimit"] or ()),
        oom_score_adj=check_oom_score_adj(f["oom_score_adj"]),
        shm_size=parse_size(f["shm_size"], flag="--shm-size") if f["shm_size"] is not None else 0,
        tz=check_tz(f["tz"]) if f["tz"] else "",
        cidfile=check_cidfile(f["cidfile"]) if f["cidfile"] else "",
        replace=check_replace(f["replace"], f["name"]),
        quiet=f["quiet"],
        preserve_fds=check_preserve_fds(f["preserve_fds"], detach=f["detach"]),
        attach=parse_attach(f["attach"] or (), detach=f["detach"]),
        **parse_health(f["health_cmd"], f["health_interval"], f["health_timeout"], f["health_retries"],
                       f["health_start_period"], none=f["no_healthcheck"]),
        limits=limits,
    )


# What a pod's container cannot have of its own: its pod's (`sdc pod create` takes them)
POD_OWNS = {"network": "--network", "publish": "-p", "publish_all": "-P", "ip": "--ip", "mac_address": "--mac-address",
            "network_alias": "--network-alias", "hostname": "--hostname", "enable": "--enable"}  # fmt: skip


def check_pod_flags(f: Mapping[str, Any]) -> str:
    """--pod NAME's run: its network is its pod's ("pod": the store resolves it), and the flags
    that would give it a network or a hostname of its own are errors."""
    if not is_name(f["pod"]):
        raise UsageError(f"invalid --pod {f['pod'][:80]!r}", hint="give a pod's name or ID (`sdc pod ls`)")
    given = [flag for param, flag in POD_OWNS.items() if f[param]]
    if given:
        raise UsageError(f"{given[0]} with --pod: a pod's containers share its network and hostname",
                         hint=f"give it to `sdc pod create` ({given[0]} there), or run without --pod")  # fmt: skip
    return "pod"


def parse_network(text: str) -> str:
    """--network: none (its own namespace, loopback only), host (the host's namespace; the mount,
    PID, IPC, UTS and user namespaces, seccomp and capabilities stay the container's),
    container:NAME (that container's namespace, while it runs), or a network's name (bridge:
    sdc's default), which the store resolves when it makes the container."""
    if text == "pod":
        raise UsageError("--network pod is a pod's containers' own", hint="give --pod NAME")
    if text in NETWORK_MODES:
        return text
    if text.startswith(JOIN):
        if not is_name(text.removeprefix(JOIN)):
            raise UsageError(f"invalid --network {text[:80]!r}", hint="give container:NAME, a container's name or ID")
        return text
    if not is_name(text):
        raise UsageError(f"invalid --network {text[:80]!r}",
                         hint="use none, host, bridge, container:NAME or a network's name")  # fmt: skip
    return text


def check_publish(values: Sequence[str], *, network: str) -> tuple[str, ...]:
    if values:
        from sdcontainer.ports import parse_publish  # (ipaddress: not for a run without -p)

    for value in values:
        parse_publish(value)  # (an IPv6 host address needs a network with IPv6: api.networks.plan)
    if values and not has_own_network(network):
        raise UsageError(f"-p needs a network: --network {network} has none of its own to publish from",
                         hint="add --network bridge (sdc's default network) or a network's name")  # fmt: skip
    return tuple(values)


def check_ip(text: str, *, network: str) -> str:
    if not text:
        return ""
    import ipaddress  # (not for a run without --ip)

    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        raise UsageError(f"invalid --ip {text!r}", hint="give an IPv4 address, like 10.90.0.50") from None
    if not has_own_network(network):
        raise UsageError(f"--ip needs a network: --network {network} has no address to give",
                         hint="add --network bridge or a network's name")  # fmt: skip
    return text


def check_mac(text: str, *, network: str) -> str:
    if not text:
        return ""
    import re

    if not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", text) or int(text[:2], 16) & 1:
        raise UsageError(f"invalid --mac-address {text[:40]!r}",
                         hint="give a unicast MAC address, like 02:42:ac:11:00:99")  # fmt: skip
    if not has_own_network(network):
        raise UsageError(f"--mac-address needs a network: --network {network} has no interface to give it",
                         hint="add --network bridge or a network's name")  # fmt: skip
    return text.lower()


def check_aliases(values: Sequence[str], *, network: str) -> tuple[str, ...]:
    for value in values:
        if not is_name(value):
            raise UsageError(f"invalid --network-alias {value[:80]!r}",
                             hint="use letters, digits, '_', '.' or '-', starting with a letter or digit")  # fmt: skip
    if values and not has_own_network(network):
        raise UsageError(f"--network-alias needs a network: --network {network} has no names",
                         hint="add --network and a network of yours (`sdc network create`)")  # fmt: skip
    return tuple(values)


def check_address(text: str, *, flag: str) -> str:
    """An IP address, without an IPv6 zone (ipaddress keeps whatever follows a %, newlines too)."""
    import ipaddress

    try:
        if "%" in text:
            raise ValueError("a scoped address")
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise UsageError(f"invalid {flag} {text[:80]!r}", hint="give an IP address, like 192.0.2.53") from None


_DOMAIN_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DOMAIN = rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*\.?"


def check_domain(text: str) -> str:
    """A --dns-search domain ("." : none at all, as Docker's)."""
    import re

    if text != "." and (len(text) > 253 or not re.fullmatch(_DOMAIN, text)):
        raise UsageError(f"invalid --dns-search {text[:80]!r}", hint="give a domain name, like corp.example")
    return text


def check_dns_option(text: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}(:[0-9]{1,5})?", text):
        raise UsageError(f"invalid --dns-option {text[:80]!r}", hint="give a resolv.conf option, like ndots:2 or edns0")
    return text


def parse_add_host(text: str) -> str:
    """--add-host HOST:IP (or HOST=IP; an IPv6 address after the first colon, as Docker's), as
    NAME:ADDRESS (the first colon parts them)."""
    import re

    sep = "=" if "=" in text else ":"
    name, found, address = text.partition(sep)
    if not found or len(name) > 253 or not re.fullmatch(_DOMAIN, name) or name.endswith("."):
        raise UsageError(f"invalid --add-host {text[:80]!r}", hint="give HOST:IP, like gw:10.90.0.1")
    return f"{name}:{check_address(address.strip('[]'), flag='--add-host')}"


def check_enable(enable: bool, *, auto_remove: bool) -> bool:
    if enable and auto_remove:
        raise UsageError("--enable and --rm conflict", hint="a container that comes back after a reboot is kept")
    return enable


def parse_systemd(text: str) -> str:
    if text not in ("true", "false", "always"):
        raise UsageError(f"invalid --systemd {text!r}",
                         hint="use true (when the command is systemd's), always or false")  # fmt: skip
    return text


def parse_sdnotify(text: str) -> str:
    """--sdnotify as Podman's, less conmon's: exec (the default) or container."""
    if text not in ("", "exec", "container"):
        raise UsageError(f"invalid --sdnotify {text!r}",
                         hint="use container (the payload sends READY=1) or exec (the default)")  # fmt: skip
    return "" if text == "exec" else text


RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")


def parse_restart(text: str, *, auto_remove: bool) -> str:
    """--restart as Docker takes it: no, on-failure[:MAX] (MAX > 0 restarts), always,
    unless-stopped; "" for no. Not with --rm, as Docker's."""
    policy, _, count = text.partition(":")
    if policy not in ("", *RESTART_POLICIES) or (count and (policy != "on-failure" or not is_decimal(count)
                                                           or int(count) < 1)):  # fmt: skip
        raise UsageError(f"invalid --restart {text!r}", hint="use no, on-failure[:MAX], always or unless-stopped")
    if policy in ("", "no"):
        return ""
    if auto_remove:
        raise UsageError("--restart and --rm conflict", hint="a container that restarts is not removed when it ends")
    return text


def check_userns(mode: str, *, privileged: bool) -> str:
    """--userns: auto or host, as Podman's; --privileged is the host's root, so not with auto."""
    if mode not in ("", "auto", "host"):
        raise UsageError(f"invalid --userns {mode!r}", hint="use auto (a range of ids of its own) or host")
    if mode == "auto" and privileged:
        raise UsageError("--privileged is the host's root: it takes no --userns=auto",
                         hint="add --userns=host (the default is $SDC_USERNS), or drop --privileged")  # fmt: skip
    return mode


def capability_name(text: str, *, flag: str) -> str:
    """Docker's forms (NET_ADMIN, net_admin, CAP_NET_ADMIN, ALL) as config.json names them."""
    name = text.strip().upper()
    if name == "ALL":
        return name
    name = name if name.startswith("CAP_") else f"CAP_{name}"
    if name not in CAPABILITIES:
        raise UsageError(f"unknown capability {text!r} for {flag}",
                         hint="see capabilities(7): NET_ADMIN, SYS_PTRACE...")  # fmt: skip
    return name


def seccomp_profile(spec: ContainerSpec) -> str | None:
    """The profile the container runs under: None for sdc's default, "unconfined", or a path.
    --privileged is unconfined unless a profile is named."""
    if spec.seccomp:
        return spec.seccomp
    return "unconfined" if spec.privileged else None


def capabilities(spec: ContainerSpec, *, available: frozenset[str] | None = None) -> tuple[str, ...]:
    """The capabilities a container's root has, as Docker works them out: every one with ALL
    added (or --privileged), but those dropped; only those added with ALL dropped; otherwise
    Docker's default set, with those added and without those dropped (added wins).
    available: those the host can grant (the bounding sets of the caller and of systemd); ALL
    and the defaults mean those of them, and a --cap-add of one it cannot grant is refused."""
    every = [c for c in CAPABILITIES if available is None or c in available]
    adds, drops = set(spec.cap_add), set(spec.cap_drop)
    missing = sorted(adds - {"ALL"} - set(every))
    if missing:
        raise UsageError(f"--cap-add {missing[0]}: this host cannot grant it (not in its bounding set)",
                         hint="see CapBnd in /proc/1/status and /proc/self/status")  # fmt: skip
    if spec.privileged or "ALL" in adds:
        chosen = set(every) - drops
    elif "ALL" in drops:
        chosen = adds
    else:
        chosen = (set(DEFAULT_CAPS) | adds) - (drops - adds)
    return tuple(c for c in every if c in chosen)


def parse_security_opts(options: Sequence[str]) -> str:
    """--security-opt as Docker takes it (KEY=VALUE or KEY:VALUE): the seccomp profile asked for
    ("", "unconfined" or an absolute path). no_new_privs is always set (a setuid file raises no
    privilege in a container), so no-new-privileges is accepted and its false refused."""
    chosen = ""
    for option in options:
        key, _, value = option.partition("=" if "=" in option else ":")  # Docker's older form: KEY:VALUE
        if key == "seccomp" and value:
            chosen = value if value == "unconfined" else str(absolute(value, "--security-opt seccomp="))
        elif key == "no-new-privileges" and value.lower() in ("", "true"):
            continue
        elif key == "no-new-privileges":
            raise UsageError(f"--security-opt {option}: sdc always sets no-new-privileges",
                             hint="a container never gains privileges through setuid files")  # fmt: skip
        else:
            raise UsageError(f"unsupported --security-opt {option!r}",
                             hint="sdc takes seccomp=PROFILE.json, seccomp=unconfined, no-new-privileges")  # fmt: skip
    return chosen
