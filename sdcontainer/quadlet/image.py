"""Quadlet's .image files (podman-systemd.unit(5), [Image]): a oneshot service that pulls an image.

base.image becomes base-image.service (Podman's name), which runs `sdc pull` of Image= and stays
active (RemainAfterExit=); a .container file's Image=base.image names that image (ImageTag=, else
Image=), and its unit Requires= and is After= base-image.service. Every [Image] key of Podman's is
taken or refused by file, line and key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sdcontainer.quadlet.container import QuadletError, _global_args, parse_bool, refuse, unquoted
from sdcontainer.quadlet.unitfile import Setting

REFUSED = {
    "AllTags": "sdc pulls one tag: give each in a file of its own",
    "CertDir": "sdc trusts the host's certificate authorities (/etc/ssl/certs)",
    "ContainersConfModule": "sdc reads no containers.conf",
    "Creds": "sdc reads credentials from its auth files: `sdc login`, or AuthFile=",
    "DecryptionKey": "sdc pulls no encrypted images",
    "PodmanArgs": "sdc takes no options but those of keys",
    "Retry": "sdc's pull retries as it always does",
    "RetryDelay": "sdc's pull retries as it always does",
    "ServiceName": "the unit is named after the file",
}
TRANSPORT = "docker://"  # Podman's transport of a registry's image, the one sdc pulls from
OTHER_TRANSPORTS = ("oci:", "oci-archive:", "docker-archive:", "dir:", "containers-storage:", "docker-daemon:",
                    "sif:")  # fmt: skip


@dataclass(frozen=True)
class ImageUnit:
    image: str  # what is pulled
    name: str  # what containers use: ImageTag=, else image
    pull: tuple[str, ...]  # `sdc pull`'s options
    auth_file: str = ""
    global_args: tuple[str, ...] = ()


def image_name(settings: Sequence[Setting]) -> str:
    """The image an .image file's containers run: its ImageTag=, else its Image= (without docker://)."""
    given = {s.key: unquoted(s).value for s in settings if s.section == "Image" and s.key in ("Image", "ImageTag")}
    return given.get("ImageTag") or given.get("Image", "").removeprefix(TRANSPORT)


def read_image(settings: Sequence[Setting], *, path: str) -> ImageUnit:
    values: dict[str, Setting] = {}
    global_args: list[str] = []
    for s in (s for s in settings if s.section == "Image"):
        if s.key in ("Image", "ImageTag", "Arch", "OS", "Variant", "TLSVerify", "AuthFile"):
            values[s.key] = unquoted(s)
        elif s.key == "GlobalArgs":
            global_args += _global_args(s)
        elif s.key == "Policy":
            if s.value != "always":
                raise refuse(s, f"{s.value!r} is not taken: the unit pulls at each start (always)",
                             "remove it, or give the container's Pull= instead of an .image file")  # fmt: skip
        elif s.key in REFUSED:
            raise refuse(s, f"is not taken: {REFUSED[s.key]}", "remove it")
        else:
            raise refuse(s, "is not a key of [Image]", "see podman-systemd.unit(5) and sdc's README for the keys")
    if "Image" not in values or not values["Image"].value:
        raise QuadletError(f"{path}: [Image] has no Image=", hint="name the image to pull: Image=NAME[:TAG]")
    image = _reference(values["Image"], values["Image"].value.removeprefix(TRANSPORT))
    name = _reference(values["ImageTag"], values["ImageTag"].value) if values.get("ImageTag", None) and \
        values["ImageTag"].value else image  # fmt: skip
    pull: list[str] = []
    platform = _platform(values)
    if platform:
        pull += ["--platform", platform]
    if "TLSVerify" in values:
        pull.append("--tls-verify" if parse_bool(values["TLSVerify"]) else "--no-tls-verify")
    auth = values["AuthFile"].value if "AuthFile" in values else ""
    if auth and (not auth.startswith("/") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in auth)):
        raise refuse(values["AuthFile"], "needs an absolute path", "write AuthFile=/etc/sdc/auth.json")
    return ImageUnit(image=image, name=name, pull=tuple(pull), auth_file=auth, global_args=tuple(global_args))


def _reference(s: Setting, value: str) -> str:
    """value, an image's reference as sdc pull takes it (checked where it holds no specifier)."""
    from sdcontainer.errors import UsageError
    from sdcontainer.images import reference

    if value.startswith(("-", *OTHER_TRANSPORTS)):
        raise refuse(s, f"{value!r} is no image sdc pulls (a registry's: NAME[:TAG|@DIGEST])",
                     "archives are loaded with `sdc load`, not by a unit")  # fmt: skip
    if "%" not in value:
        try:
            reference.parse(value)
        except UsageError as exc:
            raise refuse(s, exc.message, exc.hint or "write Image=NAME[:TAG]") from None
    return value


def _platform(values: dict[str, Setting]) -> str:
    """Arch=, OS= and Variant= as sdc pull's --platform OS/ARCH[/VARIANT] ("" where none is given)."""
    if not any(k in values for k in ("Arch", "OS", "Variant")):
        return ""
    from sdcontainer.images.archive import ARCHITECTURES
    from sdcontainer.images.pull import host_platform

    host_os, host_arch = host_platform().split("/")
    given = {key: s.value for key, s in values.items()}
    given["Arch"] = ARCHITECTURES.get(given.get("Arch", host_arch), given.get("Arch", host_arch))  # (aarch64: arm64)
    os_, arch, variant = given.get("OS", host_os), given.get("Arch", host_arch), given.get("Variant", "")
    for key, value in (("OS", os_), ("Arch", arch), ("Variant", variant)):
        if key in values and (not value or not value.replace("_", "").replace("-", "").isalnum()):
            raise refuse(values[key], f"{value!r} is no platform's part sdc takes", "write e.g. OS=linux, Arch=arm64, "
                         "Variant=v8")  # fmt: skip
    return f"{os_}/{arch}/{variant}" if variant else f"{os_}/{arch}"
