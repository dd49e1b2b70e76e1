"""A container's record of what it was asked to be (ContainerSpec, Limits): frozen data, and the
few rules every command reads it by. What builds one from flags, and checks them, is spec.py's:
the commands that read or stop containers import this alone."""

from __future__ import annotations

from collections.abc import Sequence

from sdcontainer.errors import UsageError
from sdcontainer.record import field, record
from sdcontainer.text import is_decimal

UNLIMITED = -1
STOP_TIMEOUT_MAX = 1 << 31  # seconds (systemd's timeouts are µs in a uint64)
NETWORK_MODES = ("none", "host", "pod")
JOIN = "container:"  # --network container:NAME


@record(kw_only=True)
class Limits:
    """Resource limits; None means 'not set', UNLIMITED means explicitly unlimited."""

    memory: int | None = None  # bytes
    memory_swap: int | None = None  # Docker's total of memory + swap, bytes or UNLIMITED
    cpu_shares: int | None = None  # Docker's relative weight, 2..262144
    cpus: float | None = None  # number of CPUs' worth of time
    cpuset_cpus: tuple[int, ...] = ()
    pids_limit: int | None = None  # tasks, or UNLIMITED
    blkio_weight: int | None = None  # 10..1000


@record(kw_only=True)
class ContainerSpec:
    name: str
    image: str
    command: tuple[str, ...]
    env: tuple[str, ...] = ()
    workdir: str = ""  # "": the image's, or /
    hostname: str = ""
    user: str = ""  # USER[:GROUP], names or ids; "": the image's, or root
    entrypoint: tuple[str, ...] | None = None  # None: the image's (api.run.resolve_spec)
    detach: bool = False
    auto_remove: bool = False
    tty: bool = False
    interactive: bool = False  # the caller's stdin relayed (else /dev/null)
    stop_timeout: int = 10
    stop_signal: str = ""  # "": the image's, or SIGTERM
    seccomp: str = ""  # "": sdc's default profile (Docker's); "unconfined"; or a profile's absolute path
    cap_add: tuple[str, ...] = ()  # CAP_ names, or ALL
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    userns: str = ""  # "auto": a user namespace, a range of the host's ids; "" or "host": none
    devices: tuple[str, ...] = ()  # HOST:CONTAINER:PERMS, checked (devices.parse_device)
    device_rules: tuple[str, ...] = ()  # 'c 10:200 rwm', checked (devices.parse_rule)
    volumes: tuple[str, ...] = ()  # binds: HOST:CONTAINER:OPTIONS, checked (volumes.parse_volume)
    named_volumes: tuple[str, ...] = ()  # NAME:CONTAINER:OPTIONS, NAME "" until the store names it
    tmpfs: tuple[str, ...] = ()  # CONTAINER:OPTIONS (volumes.parse_tmpfs)
    read_only: bool = False
    read_only_tmpfs: bool = True  # with read_only: tmpfs on /run, /tmp, /var/tmp (Podman's)
    pull: str = "missing"  # missing, always, never, newer (PULL_POLICIES)
    restart: str = ""  # "" (no), on-failure, on-failure:MAX, always, unless-stopped (parse_restart)
    init: bool = False
    sdnotify: str = ""  # "": the launcher says READY=1 after the exec; "container": the payload does
    systemd: str = "true"  # true (when the command is systemd's: runs_systemd), always, false
    enable: bool = False  # runs as sdc@NAME.service (persist.py)
    network: str = "none"  # none (a namespace with loopback only), host (the host's), or a network's name
    # (pod: its pod's namespaces, set by the store when it makes a container of a pod's)
    pod: str = ""  # --pod: the pod whose network, IPC and UTS namespaces it shares (api/pods.py)
    publish: tuple[str, ...] = ()  # -p values, checked (ports.parse_publish)
    publish_all: bool = False  # -P: the image's ExposedPorts too (api.run.resolve_spec)
    ip: str = ""  # --ip: an address on the network (checked against its subnet when the container is made)
    mac_address: str = ""  # --mac-address: 02:42:ac:11:00:99 (checked: unicast)
    network_aliases: tuple[str, ...] = ()  # its other names on its network (one with names: dns)
    dns: tuple[str, ...] = ()  # resolv.conf's nameservers (on a network with names: their upstream)
    dns_search: tuple[str, ...] = ()  # resolv.conf's search domains ("." for none)
    dns_options: tuple[str, ...] = ()  # resolv.conf's options
    add_hosts: tuple[str, ...] = ()  # /etc/hosts lines: NAME:ADDRESS (parse_add_host)
    labels: tuple[str, ...] = ()  # KEY=VALUE, the image's then the flags' (resolve_spec merges them)
    log_driver: str = "journald"  # journald, none, passthrough (LOG_DRIVERS)
    log_tag: str = ""  # --log-opt tag=: the journal's SYSLOG_IDENTIFIER ("": the name)
    ulimits: tuple[str, ...] = ()  # NAME=SOFT:HARD, checked (parse_ulimit); -1 unlimited
    oom_score_adj: int | None = None  # -1000..1000; None: the launcher's own (systemd's, 0)
    shm_size: int = 0  # bytes of /dev/shm; 0: 64 MiB (Docker's)
    tz: str = ""  # a zone's name, or "local": TZ, and /etc/localtime bound from the host's zoneinfo
    cidfile: str = ""  # --cidfile: where its ID was written
    replace: bool = False  # remove a container of the name first
    quiet: bool = False  # no pull progress
    preserve_fds: int = 0  # fds 3..3+N-1 of the caller's passed to a foreground PID 1
    attach: tuple[str, ...] = ()  # -a: the streams a foreground run relays (ATTACHABLE); (): stdout and stderr
    # Docker's Healthcheck: Test is ("CMD-SHELL", cmd), ("CMD", argv...) or ("NONE",) (none, not
    # even the image's); () leaves it to the image's (api.run.resolve_spec). Times in seconds.
    health_test: tuple[str, ...] = ()
    health_interval: float = 0.0  # 0: 30 s
    health_timeout: float = 0.0  # 0: 30 s
    health_retries: int = 0  # 0: 3
    health_start_period: float = 0.0
    image_volumes: bool = True  # the image's VOLUMEs as anonymous volumes (Docker's); a build's RUN: none
    limits: Limits = field(default_factory=Limits)

    @property
    def argv(self) -> tuple[str, ...]:
        """What PID 1 runs: the entrypoint, then the command (its arguments)."""
        return (*(self.entrypoint or ()), *self.command)

    @property
    def networked(self) -> bool:
        """On one of sdc's networks (not none, nor the host's)."""
        return has_own_network(self.network)

    @property
    def joins(self) -> str:
        """--network container:NAME: NAME, the container whose network namespace it shares ("" else)."""
        return self.network.removeprefix(JOIN) if self.network.startswith(JOIN) else ""

    @property
    def runs_systemd(self) -> bool:
        """PID 1 is systemd (--systemd, as Podman's): it gets systemd's container interface."""
        return self.systemd == "always" or (self.systemd == "true" and self.argv[:1] in SYSTEMD_ARGV0)


# The commands --systemd=true takes for systemd's (Podman's list, and Debian's own path).
SYSTEMD_COMMANDS = ("/sbin/init", "/usr/sbin/init", "/usr/local/sbin/init", "/lib/systemd/systemd",
                    "/usr/lib/systemd/systemd")  # fmt: skip
SYSTEMD_ARGV0 = tuple((command,) for command in SYSTEMD_COMMANDS)


def has_own_network(network: str) -> bool:
    """A network of sdc's (not none, nor the host's, nor another container's)."""
    return network not in NETWORK_MODES and not network.startswith(JOIN)


_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _NAME_FIRST | frozenset("_.-")


def is_name(text: str) -> bool:
    """1-63 ASCII letters, digits, '_', '.' or '-', the first a letter or a digit (Docker's names'
    rule, without a regular expression: re is ~5 ms of a command's start)."""
    return 0 < len(text) <= 63 and text[0] in _NAME_FIRST and all(c in _NAME_CHARS for c in text)


def check_name(name: str) -> str:
    if not is_name(name):
        raise UsageError(
            f"invalid container name {name!r}",
            hint="use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def label_map(labels: Sequence[str]) -> dict[str, str]:
    return dict(label.partition("=")[::2] for label in labels)


def signals() -> dict[str, int]:
    """signal.Signals' members, name -> number (aliases too: SIGIOT, SIGCLD, SIGPOLL), from
    _signal: signal's enums import enum (~1 ms of every run)."""
    import _signal  # type: ignore[import-not-found]

    return {name: getattr(_signal, name) for name in dir(_signal)
            if name.isupper() and name.startswith("SIG") and not name.startswith("SIG_")}  # fmt: skip


def parse_signal(sig: str) -> int:
    """A signal by name (KILL, SIGKILL, kill), number, or real-time offset (RTMIN+3: systemd's
    halt, which images of systemd stop with), as docker kill -s and a StopSignal take it."""
    known = signals()
    low, high = known["SIGRTMIN"], known["SIGRTMAX"]
    name = sig.upper()
    realtime = name.removeprefix("SIG")
    offset = realtime[5:]
    if is_decimal(name):
        number = int(name)
        if number in known.values() or low <= number <= high:
            return number
    elif realtime[:5] in ("RTMIN", "RTMAX") and (not offset or (offset[0] in "+-" and is_decimal(offset[1:]))):
        number = (low if realtime[:5] == "RTMIN" else high) + int(offset or 0)
        if low <= number <= high:
            return number
    else:
        name = name if name.startswith("SIG") else f"SIG{name}"
        if name in known:
            return known[name]
    raise UsageError(f"invalid signal {sig!r}", hint="use a name like TERM, KILL, HUP, RTMIN+3 or a number")


def signal_name(number: int) -> str:
    """The name a signal is kept by: SIGTERM (of aliases, the first in alphabetical order, as
    signal.Signals has it: SIGABRT, SIGCHLD, SIGIO), or SIGRTMIN+3 for a real-time one."""
    known = signals()
    names = sorted(name for name, value in known.items() if value == number)
    return names[0] if names else f"SIGRTMIN+{number - known['SIGRTMIN']}"
