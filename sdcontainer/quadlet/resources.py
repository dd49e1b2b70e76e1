"""Quadlet's .volume and .network files (podman-systemd.unit(5), [Volume], [Network]): oneshot
services that make a volume or a network of sdc's, which .container files name (Volume=data.volume:/d,
Network=app.network) and so require.

data.volume becomes data-volume.service, which runs `sdc volume create NAME` (a volume there already
is kept, as Podman's --ignore); app.network becomes app-network.service, `sdc network create --ignore
NAME`. NAME is VolumeName= / NetworkName=, else systemd-STEM (Podman's). Every key of Podman's is
taken or refused by file, line and key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sdcontainer.quadlet.container import QuadletError, _global_args, parse_bool, refuse
from sdcontainer.quadlet.unitfile import Setting, split_words

VOLUME_REFUSED = {
    "ContainersConfModule": "sdc reads no containers.conf",
    "Device": "sdc's volumes are the store's own (btrfs subvolumes): they mount no device",
    "Type": "sdc's volumes are the store's own (btrfs subvolumes): they mount no device",
    "Options": "sdc's volumes are the store's own (btrfs subvolumes): they take no mount options",
    "Image": "sdc makes no volume of an image (an image's files are copied into a new volume at its first use)",
    "User": "sdc's volume create sets no owner: a container's first use of it gives it the image's",
    "Group": "sdc's volume create sets no owner: a container's first use of it gives it the image's",
    "UID": "sdc's volume create sets no owner: a container's first use of it gives it the image's",
    "GID": "sdc's volume create sets no owner: a container's first use of it gives it the image's",
    "PodmanArgs": "sdc takes no options but those of keys",
    "ServiceName": "the unit is named after the file",
}
NETWORK_REFUSED = {
    "ContainersConfModule": "sdc reads no containers.conf",
    "DNS": "a network of sdc's has its own names (aardvark-dns); a container's DNS= sets its servers",
    "IPAMDriver": "sdc leases its networks' addresses itself",
    "IPRange": "sdc leases from the whole subnet",
    "InterfaceName": "sdc names its networks' bridges itself",
    "Label": "sdc's networks have no labels",
    "Options": "sdc's bridges take no driver options",
    "PodmanArgs": "sdc takes no options but those of keys",
    "ServiceName": "the unit is named after the file",
}


@dataclass(frozen=True)
class ResourceUnit:
    kind: str  # volume, network
    name: str
    create: tuple[str, ...]  # `sdc volume create` / `network create`'s arguments after the command
    delete_on_stop: bool = False
    global_args: tuple[str, ...] = ()


def resource_name(settings: Sequence[Setting], kind: str, stem: str) -> str:
    """The name of what a .volume or .network file makes: VolumeName= or NetworkName=, else systemd-STEM."""
    key = "VolumeName" if kind == "volume" else "NetworkName"
    given = [s.value for s in settings if s.section == kind.capitalize() and s.key == key and s.value]
    if given:
        return given[-1]
    return f"systemd-{stem.partition('@')[0]}-%i" if "@" in stem else f"systemd-{stem}"  # (Podman's)


def read_volume(settings: Sequence[Setting], *, stem: str) -> ResourceUnit:
    from sdcontainer.volumes import check_volume_name

    labels: list[str] = []
    globals_: list[str] = []
    for s in (s for s in settings if s.section == "Volume"):
        if s.key == "Label":
            labels += _labels(s)
        elif s.key == "Driver":
            if s.value != "local":
                raise refuse(s, f"{s.value!r} is no driver of sdc's", "sdc's volumes are the store's: local")
        elif s.key == "Copy":
            if not parse_bool(s):
                raise refuse(s, "false is not taken: sdc copies an image's files into a new volume at its first "
                             "use, as Docker does", "remove it")  # fmt: skip
        else:
            globals_ += _common(s, "VolumeName", VOLUME_REFUSED)
    name = resource_name(settings, "volume", stem)
    _checked(settings, "VolumeName", name, check_volume_name)
    create = tuple(w for label in labels for w in ("--label", label)) + (name,)
    return ResourceUnit(kind="volume", name=name, create=create, global_args=tuple(globals_))


def read_network(settings: Sequence[Setting], *, stem: str) -> ResourceUnit:
    from sdcontainer.network import check_name

    flags: list[str] = []
    subnets: list[Setting] = []
    gateways: list[Setting] = []
    globals_: list[str] = []
    delete = False
    for s in (s for s in settings if s.section == "Network"):
        if s.key in ("DisableDNS", "Internal", "IPv6"):
            if parse_bool(s):
                flags.append({"DisableDNS": "--disable-dns", "Internal": "--internal", "IPv6": "--ipv6"}[s.key])
        elif s.key == "Driver":
            if s.value != "bridge":
                raise refuse(s, f"{s.value!r} is no driver of sdc's", "sdc's networks are bridges: bridge")
        elif s.key == "Subnet":
            subnets.append(s)
        elif s.key == "Gateway":
            gateways.append(s)
        elif s.key == "NetworkDeleteOnStop":
            delete = parse_bool(s)
        else:
            globals_ += _common(s, "NetworkName", NETWORK_REFUSED)
    if len(gateways) > len(subnets):
        raise refuse(gateways[-1], "without a Subnet= of its own", "give the subnet it is an address of")
    four = [s for s in subnets if ":" not in s.value]
    if len(four) > 1 or len(subnets) - len(four) > 1:
        raise refuse(subnets[-1], "one more of a kind: sdc takes one IPv4 subnet and one IPv6 one", "remove it")
    for s in subnets:
        flags += ["--subnet", s.value]
    for s in gateways:
        if ":" in s.value:
            raise refuse(s, "an IPv6 gateway: sdc takes an IPv4 network's alone", "remove it")
        flags += ["--gateway", s.value]
    name = resource_name(settings, "network", stem)
    _checked(settings, "NetworkName", name, check_name)
    return ResourceUnit(kind="network", name=name, create=("--ignore", *flags, name), delete_on_stop=delete,
                        global_args=tuple(globals_))  # fmt: skip


def _common(s: Setting, name_key: str, refused: dict[str, str]) -> list[str]:
    """The keys of a .volume's and a .network's alike: GlobalArgs= (its words returned), the name
    (read by resource_name), a key refused with its reason, or one the section has not."""
    if s.key == "GlobalArgs":
        return _global_args(s)
    if s.key == name_key:
        return []
    if s.key in refused:
        raise refuse(s, f"is not taken: {refused[s.key]}", "remove it")
    raise refuse(s, f"is not a key of [{s.section}]", "see podman-systemd.unit(5)")


def _labels(s: Setting) -> list[str]:
    words = split_words(s.value, where=f"{s.where()}: {s.key}=")
    for word in words:
        if "=" not in word or word.startswith("="):
            raise refuse(s, f"{word!r} is no KEY=VALUE", "write Label=key=value")
    return words


def _checked(settings: Sequence[Setting], key: str, name: str, check: object) -> None:
    from sdcontainer.errors import UsageError

    origin = next((s for s in reversed(settings) if s.key == key), None)
    try:
        check(name.replace("%i", "instance"))  # type: ignore[operator]  # (a template's: its instance's name)
    except UsageError as exc:
        if origin is not None:
            raise refuse(origin, exc.message, exc.hint or "") from None
        raise QuadletError(f"{settings[0].path if settings else 'the file'}: its name {name!r}: {exc.message}",
                           hint="give VolumeName= or NetworkName=") from None  # fmt: skip
