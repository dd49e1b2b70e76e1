"""`sdc kube play` and `kube down`: a file's pods made (api.pods) with their containers (`run -d
--pod`), and removed. Every container's flags are checked before anything is made; a play that
fails half way removes what it made."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sdcontainer.errors import Conflict, SdcError
from sdcontainer.kube import model
from sdcontainer.record import replace

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.api.pods import Pod
    from sdcontainer.containers import Container
    from sdcontainer.containerspec import ContainerSpec

CONFIG_MAPS = "configmaps"  # in a pod's directory: its configMap volumes' files, bound read-only


def read(path: str) -> str:
    """The file's text (- for stdin), at most model.MAX_BYTES of it."""
    import sys

    if path == "-":
        data = sys.stdin.buffer.read(model.MAX_BYTES + 1)
    else:
        try:
            with open(path, "rb") as f:
                data = f.read(model.MAX_BYTES + 1)
        except OSError as exc:
            raise SdcError(f"cannot read {path}: {exc.strerror}", hint="give a YAML file of Kubernetes'") from None
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise SdcError(f"{path} is not UTF-8 text", hint="give a YAML file of Kubernetes'") from None


def play(ctx: Context, text: str, *, network: str = "",
         replace_pods: bool = False) -> list[tuple[Pod, list[Container]]]:  # fmt: skip
    from sdcontainer.api import pods

    plan = model.parse(text)
    for kube_pod in plan.pods:  # every flag checked first (what play makes to bind: "/" meanwhile)
        checked = {k: v if k in _existing(kube_pod) else "/" for k, v in _mounts(ctx, kube_pod).items()}
        for container in kube_pod.containers:
            _spec(kube_pod, container, checked)
    for kube_pod in plan.pods:
        if pods.pod_exists(ctx.paths, kube_pod.name) and not replace_pods:
            raise Conflict(f"pod {kube_pod.name} exists already",
                           hint="`sdc kube down FILE` first, or play it with --replace")  # fmt: skip
    played: list[tuple[Pod, list[Container]]] = []
    try:
        for kube_pod in plan.pods:
            if replace_pods and pods.pod_exists(ctx.paths, kube_pod.name):
                _remove(ctx, kube_pod)
            played.append(_play_pod(ctx, kube_pod, plan.config_maps, network=network))
    except BaseException:
        for kube_pod in plan.pods[: len(played)]:  # (the one that failed has removed itself)
            with contextlib.suppress(SdcError):
                _remove(ctx, kube_pod)
        raise
    return played


def _existing(kube_pod: model.Pod) -> set[str]:
    """Its volumes whose sources are there before play makes anything (not a ConfigMap's files,
    nor a hostPath play makes)."""
    return {v.name for v in kube_pod.volumes if v.kind in ("emptyDir", "persistentVolumeClaim")
            or (v.kind == "hostPath" and not v.path_type.endswith("OrCreate"))}  # fmt: skip


def _play_pod(ctx: Context, kube_pod: model.Pod, config_maps: dict[str, dict[str, str]],
              *, network: str) -> tuple[Pod, list[Container]]:  # fmt: skip
    from sdcontainer.api import pods, run

    pod = pods.create(ctx, name=kube_pod.name, publish=kube_pod.publish,
                      network="host" if kube_pod.host_network else network, hostname=kube_pod.hostname,
                      labels=[f"{k}={v}" for k, v in kube_pod.labels.items()])  # fmt: skip
    made = []
    try:
        _host_paths(kube_pod)
        _write_config_maps(Path(pod.directory), kube_pod, config_maps)
        _empty_dirs(ctx, kube_pod, pod)
        mounts = _mounts(ctx, kube_pod)
        for container in kube_pod.containers:
            made.append(run.run_detached(ctx, _spec(kube_pod, container, mounts)))
    except BaseException:
        with contextlib.suppress(SdcError):
            _remove(ctx, kube_pod)
        raise
    return pod, made


def _mounts(ctx: Context, kube_pod: model.Pod) -> dict[str, str]:
    """Each volume's -v source: the host's path, a volume of the store's (a claim's, or the pod's
    own for an emptyDir: removed by `kube down`), or the pod's files of a ConfigMap."""
    from sdcontainer.api import pods

    found = {}
    for v in kube_pod.volumes:
        if v.kind == "hostPath":
            found[v.name] = v.source
        elif v.kind == "persistentVolumeClaim":
            found[v.name] = v.source
        elif v.kind == "emptyDir":
            found[v.name] = empty_dir_volume(kube_pod, v)
        else:
            found[v.name] = str(pods.pods_dir(ctx.paths) / kube_pod.name / CONFIG_MAPS / v.name)
    return found


def empty_dir_volume(kube_pod: model.Pod, volume: model.Volume) -> str:
    return f"{kube_pod.name}-{volume.name}"


def _spec(kube_pod: model.Pod, container: model.Container, mounts: dict[str, str]) -> ContainerSpec:
    from sdcontainer.spec import build_run_spec

    flags = model.run_flags(kube_pod, container, mounts)
    try:
        spec = build_run_spec(image=container.image, command=container.args if container.command is None else None,
                              **flags)  # fmt: skip
    except SdcError as exc:
        raise type(exc)(f"{kube_pod.source}: container {container.name}: {exc.message}", hint=exc.hint) from None
    if container.command is not None:  # Kubernetes' command is the entrypoint: the image's Cmd goes with it
        spec = replace(spec, entrypoint=container.command, command=container.args or ())
    return spec


def _host_paths(kube_pod: model.Pod) -> None:
    """hostPath's types: DirectoryOrCreate and FileOrCreate made where missing; Directory and File checked."""
    for v in kube_pod.volumes:
        if v.kind != "hostPath" or not v.path_type:
            continue
        path = Path(v.source)
        if v.path_type == "DirectoryOrCreate":
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
        elif v.path_type == "FileOrCreate" and not path.exists():
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # (not through a dangling symlink's target)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
        if (v.path_type.startswith("Directory") and not path.is_dir()) or (
                v.path_type.startswith("File") and not path.is_file()):  # fmt: skip
            kind = v.path_type.removesuffix("OrCreate").lower()
            raise SdcError(f"{kube_pod.source}: volume {v.name}: {path} is not a {kind}",
                           hint="make it, or change its type")  # fmt: skip


def _write_config_maps(directory: Path, kube_pod: model.Pod, config_maps: dict[str, dict[str, str]]) -> None:
    """Each configMap volume's files, in the pod's directory (its keys, or its items' paths)."""
    for v in kube_pod.volumes:
        if v.kind != "configMap":
            continue
        data = config_maps[v.source]
        at = directory / CONFIG_MAPS / v.name
        at.mkdir(mode=0o755, parents=True)
        for key, path in v.items or tuple((key, key) for key in sorted(data)):
            if key not in data:
                raise SdcError(f"{kube_pod.source}: volume {v.name}: ConfigMap {v.source} has no key {key}",
                               hint="give one of its data's keys")  # fmt: skip
            target = at / path
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w") as f:
                os.fchmod(f.fileno(), v.mode)  # its defaultMode, whatever the umask
                f.write(data[key])


POD_LABEL = "io.sdc.kube.pod"  # an emptyDir's volume: the ID of the pod `kube play` made it for


def _empty_dirs(ctx: Context, kube_pod: model.Pod, pod: Pod) -> None:
    """The pod's emptyDir volumes made, labelled with its ID: a volume of the name already there
    is someone's data, not an empty directory (and `kube down` would remove it)."""
    from sdcontainer.api import volumes

    for v in kube_pod.volumes:
        if v.kind == "emptyDir" and not v.medium:
            name = empty_dir_volume(kube_pod, v)
            if name in volumes.names(ctx.paths):
                raise Conflict(f"{kube_pod.source}: volume {v.name}: a volume {name} is there already, "
                               "not an empty one",
                               hint=f"remove it (`sdc volume rm {name}`), or rename the volume")  # fmt: skip
            volumes.create_volume(ctx, name, labels={POD_LABEL: pod.id})


def down(ctx: Context, text: str) -> list[str]:
    """The file's pods removed, with their containers and emptyDir volumes: their names."""
    from sdcontainer.api import pods

    plan = model.parse(text)
    removed = []
    for kube_pod in plan.pods:
        if pods.pod_exists(ctx.paths, kube_pod.name):
            removed.append(kube_pod.name)
        _remove(ctx, kube_pod)
    return removed


def _remove(ctx: Context, kube_pod: model.Pod) -> None:
    """The pod removed with its containers, and the emptyDir volumes `kube play` made for it (by
    their label: a volume of the name that is not the pod's stays)."""
    from sdcontainer.api import pods, volumes

    if not pods.pod_exists(ctx.paths, kube_pod.name):
        return
    pod_id = pods.find_pod(ctx.paths, kube_pod.name).id
    pods.remove(ctx, [kube_pod.name], force=True)
    empty = []
    for v in kube_pod.volumes:
        name = empty_dir_volume(kube_pod, v)
        if v.kind == "emptyDir" and not v.medium and name in volumes.names(ctx.paths):
            if volumes.inspect_volume(ctx, name).get("Labels", {}).get(POD_LABEL) == pod_id:
                empty.append(name)
    if empty:
        volumes.remove_volumes(ctx, empty, force=True)
