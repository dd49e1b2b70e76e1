"""Quadlet's .pod files (podman-systemd.unit(5), [Pod]): a service that holds a pod of sdc's.

app.pod becomes app-pod.service (Podman's name): a oneshot that stays active with no process
(RemainAfterExit=), as the transient unit of `sdc pod create`'s pods is. Its ExecStartPre makes
the pod (`sdc _pod-unit-create`: its record, its address and ports leased), its ExecStart makes
its namespaces (the launcher's --pod-up), its ExecStopPost unmakes them and removes the pod, its
containers with it (Podman's `pod rm --force`). A .container file's Pod=app.pod runs it in that
pod: its unit BindsTo= and is After= app-pod.service, and app-pod.service Wants= it and is Before=
it (unless StartWithPod=false, or it is a template), so starting the pod starts its containers.

ExitPolicy=stop (Podman's default here) stops the pod once its last container has ended:
systemd's StopWhenUnneeded=, the containers' BindsTo= being what needs it. Every [Pod] key of
Podman's is taken or refused by file, line and key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sdcontainer.quadlet.container import QuadletError, _global_args, parse_bool, refuse, unquoted
from sdcontainer.quadlet.unitfile import Setting, split_words

FLAGS = {"PublishPort": "--publish", "HostName": "--hostname", "IP": "--ip", "Network": "--network"}
REFUSED = {
    "AddHost": "sdc's pods take no host entries of their own",
    "ContainersConfModule": "sdc reads no containers.conf",
    "DNS": "sdc's pods take no DNS settings of their own: a pod on one of sdc's networks has its names",
    "DNSOption": "sdc's pods take no DNS settings of their own: a pod on one of sdc's networks has its names",
    "DNSSearch": "sdc's pods take no DNS settings of their own: a pod on one of sdc's networks has its names",
    "IP6": "sdc has no --ip6",
    "NetworkAlias": "sdc's pods have no network aliases",
    "PodmanArgs": "sdc takes no options but those of keys",
    "ServiceName": "the unit is named after the file",
    "ShmSize": "each container has its own /dev/shm: give ShmSize= in its .container file",
    "StopTimeout": "each container is stopped with its own: give StopTimeout= in its .container file",
    "Volume": "sdc's pods have no volumes of their own: give Volume= in each .container file",
    **dict.fromkeys(("UserNS", "UIDMap", "GIDMap", "SubUIDMap", "SubGIDMap", "RemapUsers", "RemapUid", "RemapGid",
                     "RemapUidSize"), "a pod's containers share its IPC namespace, the host user namespace's: "
                    "sdc maps no IDs for a pod"),
}  # fmt: skip
EXIT_POLICIES = ("stop", "continue")


@dataclass(frozen=True)
class PodUnit:
    name: str  # the pod's: PodName=, else systemd-STEM
    create: tuple[str, ...]  # `sdc _pod-unit-create UNIT`'s options
    network: str = ""  # its Network= (a .network file's already made its network's name by the generator)
    stop_when_unneeded: bool = True  # ExitPolicy=stop
    global_args: tuple[str, ...] = ()


def pod_name(settings: Sequence[Setting], stem: str) -> str:
    """The pod a .pod file makes: PodName=, else systemd-STEM (Podman's)."""
    given = [unquoted(s).value for s in settings if s.section == "Pod" and s.key == "PodName" and s.value]
    return given[-1] if given else f"systemd-{stem}"


def read_pod(settings: Sequence[Setting], *, stem: str, path: str) -> PodUnit:
    from sdcontainer.containerspec import check_name
    from sdcontainer.errors import UsageError

    if "@" in stem:
        raise QuadletError(f"{path}: a template .pod file is not taken by sdc",
                           hint="name one pod per file: app.pod")  # fmt: skip
    create: list[str] = []
    global_args: list[str] = []
    network = ""
    stop = True
    for s in (s for s in settings if s.section == "Pod"):
        if s.key in FLAGS:
            value = unquoted(s).value
            if s.key == "Network":
                network = _network(s, value)
            elif value:
                create += [FLAGS[s.key], value]
        elif s.key == "Label":
            for word in split_words(s.value, where=f"{s.where()}: Label="):
                if "=" not in word or word.startswith("="):
                    raise refuse(s, f"{word!r} is no KEY=VALUE", "write Label=key=value")
                create += ["--label", word]
        elif s.key == "ExitPolicy":
            if s.value not in EXIT_POLICIES:
                raise refuse(s, f"{s.value!r} is no exit policy sdc takes", "write stop or continue")
            stop = s.value == "stop"
        elif s.key == "GlobalArgs":
            global_args += _global_args(s)
        elif s.key == "PodName":
            continue
        elif s.key in REFUSED:
            raise refuse(s, f"is not taken: {REFUSED[s.key]}", "remove it")
        else:
            raise refuse(s, "is not a key of [Pod]", "see podman-systemd.unit(5) and sdc's README for the keys")
    name = pod_name(settings, stem)
    try:
        check_name(name)
    except UsageError as exc:
        origin = next((s for s in reversed(settings) if s.key == "PodName"), None)
        if origin is not None:
            raise refuse(origin, exc.message, exc.hint or "") from None
        raise QuadletError(f"{path}: its pod's name {name!r}: {exc.message}", hint="give PodName=") from None
    if network:
        create += ["--network", network]
    _check_specifiers(create, settings, path)
    _check(create, settings, path)
    return PodUnit(name=name, create=tuple(create), network=network, stop_when_unneeded=stop,
                   global_args=tuple(global_args))  # fmt: skip


def _network(s: Setting, value: str) -> str:
    from sdcontainer.errors import UsageError
    from sdcontainer.spec import parse_network

    if value.endswith((".container", ".pod", ".kube", ".volume", ".image", ".build")):
        raise refuse(s, f"names a Quadlet file ({value}) that is no network", "give a .network file or a network")
    try:
        network = parse_network(value)
    except UsageError as exc:
        raise refuse(s, exc.message, exc.hint or "give a network's name") from None
    if network.startswith("container:"):
        raise refuse(s, "a pod's network is its own", "give a network's name, none or host")
    return network


def _check(create: Sequence[str], settings: Sequence[Setting], path: str) -> None:
    """The values as `sdc pod create` checks them, an error naming the line it comes from."""
    from sdcontainer import spec as specs
    from sdcontainer.errors import UsageError

    given = dict(zip(create[::2], create[1::2], strict=True))
    network = given.get("--network", "bridge")
    checks: dict[str, Callable[[str], object]] = {
        "--publish": lambda v: specs.check_publish([v], network=network),
        "--hostname": specs.check_hostname,
        "--ip": lambda v: specs.check_ip(v, network=network),
    }
    keys = {flag: key for key, flag in FLAGS.items()}
    for flag, value in zip(create[::2], create[1::2], strict=True):
        if flag not in checks or "%" in value:
            continue
        try:
            checks[flag](value)
        except UsageError as exc:
            origin = next((s for s in settings if s.section == "Pod" and s.key == keys[flag]
                           and unquoted(s).value == value), None)  # fmt: skip
            if origin is None:
                raise QuadletError(f"{path}: {exc.message}", hint=exc.hint) from None
            raise refuse(origin, exc.message, exc.hint or "") from None


def _check_specifiers(create: Sequence[str], settings: Sequence[Setting], path: str) -> None:
    from sdcontainer.quadlet.container import unknown_specifier
    from sdcontainer.quadlet.generator import SPECIFIERS

    for value in create:
        if bad := unknown_specifier(value, frozenset(SPECIFIERS)):
            origin = next((s for s in settings if s.section == "Pod" and value in s.value), None)
            where = f"{origin.where()}: {origin.key}=" if origin else f"{path}:"
            raise QuadletError(f"{where} {bad!r} is no specifier systemd knows", hint="write %% for a %")


def starts_with_pod(settings: Sequence[Setting]) -> bool:
    """A .container file's StartWithPod= (true unless said)."""
    chosen = [s for s in settings if s.section == "Container" and s.key == "StartWithPod"]
    return parse_bool(chosen[-1]) if chosen else True
