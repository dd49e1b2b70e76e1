"""Quadlet's .kube files (podman-systemd.unit(5), [Kube]): a service that plays Kubernetes YAML.

app.kube becomes app.service: a oneshot that stays active (RemainAfterExit=) once `sdc kube play
--replace` has made the file's pods and their containers, each of them units of their own (no
service container: no process of sdc's stays), and whose ExecStopPost= is `sdc kube down` of
the same files. Every [Kube] key of Podman's is taken or refused by file, line and key.
"""

from __future__ import annotations

import os.path
from collections.abc import Sequence
from dataclasses import dataclass

from sdcontainer.quadlet.container import QuadletError, _global_args, refuse
from sdcontainer.quadlet.unitfile import Setting, split_words

# Podman's [Kube] keys (quadlet.go's supported keys) that sdc refuses, and why
REFUSED = {
    "AutoUpdate": "sdc's auto-update reads its containers' label: give the YAML's pods the label "
                  "io.containers.autoupdate",
    "ConfigMap": "sdc plays the ConfigMap documents of the YAML file itself",
    "ContainersConfModule": "sdc reads no containers.conf",
    "ExitCodePropagation": "sdc keeps no service container: each container is a unit of its own",
    "KubeDownForce": "sdc's kube down removes the pods' emptyDir volumes and keeps their claims' volumes",
    "LogDriver": "the pods' containers log to the journal",
    "LogOpt": "the pods' containers log to the journal",
    "PodmanArgs": "sdc takes no options but those of keys",
    "PublishPort": "the YAML's hostPorts are what a pod publishes",
    "RemapGid": "sdc maps IDs with UserNS=auto alone", "RemapUid": "sdc maps IDs with UserNS=auto alone",
    "RemapUidSize": "sdc maps IDs with UserNS=auto alone", "RemapUsers": "sdc maps IDs with UserNS=auto alone",
    "ServiceName": "the unit is named after the file",
    "SetWorkingDirectory": "the YAML's paths are its own (absolute), and the files' found from the .kube file's",
    "UserNS": "sdc's kube play runs a pod's containers in the host's user namespace",
}  # fmt: skip


@dataclass(frozen=True)
class KubeUnit:
    yaml: tuple[str, ...]  # absolute, or with a specifier
    network: str = ""
    global_args: tuple[str, ...] = ()


def read_kube(settings: Sequence[Setting], *, path: str) -> KubeUnit:
    yaml: list[str] = []
    network = ""
    global_args: list[str] = []
    for s in settings:
        if s.section != "Kube":
            continue
        if s.key == "Yaml":
            for word in split_words(s.value, where=f"{s.where()}: Yaml="):
                if word.endswith((".container", ".pod", ".network", ".volume", ".image", ".build")):
                    raise refuse(s, f"names a Quadlet file ({word})", "give the YAML file's path")
                yaml.append(word if word.startswith(("/", "%")) else os.path.normpath(
                    os.path.join(os.path.dirname(path), word)))  # fmt: skip
        elif s.key == "Network":
            network = _network(s)
        elif s.key == "GlobalArgs":
            global_args += _global_args(s)
        elif s.key in REFUSED:
            raise refuse(s, f"is not taken: {REFUSED[s.key]}", "remove it")
        else:
            raise QuadletError(f"{s.where()}: {s.key}= is not a key of [Kube]",
                               hint="see podman-systemd.unit(5): sdc takes Yaml=, Network=, GlobalArgs=")  # fmt: skip
    if not yaml:
        raise QuadletError(f"{path}: [Kube] has no Yaml=", hint="give the YAML file to play: Yaml=app.yaml")
    for word in yaml:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in word):
            raise QuadletError(f"{path}: Yaml={word!r} has control characters", hint="give a plain path")
    return KubeUnit(yaml=tuple(yaml), network=network, global_args=tuple(global_args))


def _network(s: Setting) -> str:
    from sdcontainer.errors import UsageError
    from sdcontainer.spec import parse_network

    if s.value.endswith((".network", ".container", ".pod")):
        raise refuse(s, f"names a Quadlet file ({s.value}), and sdc generates none of that kind",
                     "give a network of sdc's (`sdc network create NAME`)")  # fmt: skip
    try:
        network = parse_network(s.value)
    except UsageError as exc:
        raise refuse(s, exc.message, exc.hint or "give a network's name") from None
    if network.startswith("container:"):
        raise refuse(s, "a pod's network is its own", "give a network's name, none or host")
    return network
