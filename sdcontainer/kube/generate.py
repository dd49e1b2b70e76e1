"""`sdc kube generate`: a pod of sdc's (or a container) as Kubernetes YAML, a v1 Pod with the
ConfigMaps of its configMap volumes, which `kube play` plays back to the same containers and
`kubectl apply --dry-run=client` takes (a test validates it against Kubernetes' OpenAPI schema).

What it writes is what sdc's records say: the flags each container was run with (not its
image's: the same image gives them again), its pod's ports and network, and its volumes: a
bind as a hostPath, a named volume as a persistentVolumeClaim (or, one that `kube play` made for
an emptyDir, named POD-VOLUME, as that emptyDir), a tmpfs as an emptyDir in memory, and a
ConfigMap's files that `kube play` wrote as that ConfigMap."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdcontainer.errors import NotFound

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.api.pods import Pod
    from sdcontainer.containers import Container

RESTART = {"always": "Always", "unless-stopped": "Always", "": "Never"}  # on-failure[:N]: OnFailure
PULL = {"always": "Always", "never": "Never", "missing": "IfNotPresent", "newer": "IfNotPresent"}


def generate(ctx: Context, refs: list[str]) -> str:
    """The YAML of each ref (a pod's name or ID, else a container's), as documents of one file."""
    import yaml

    from sdcontainer.api import containers as lifecycle
    from sdcontainer.api import pods

    docs: list[dict[str, Any]] = []
    for ref in refs:
        try:
            pod = pods.find_pod(ctx.paths, ref)
        except NotFound:
            container = lifecycle.find(ctx, ref)
            if container.spec.pod:
                pod = pods.find_pod(ctx.paths, container.spec.pod)
            else:
                docs += _documents(container.name, [container], None)
                continue
        docs += _documents(pod.name, pods.members(ctx.paths, pod), pod)
    return str(yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False))


def _documents(name: str, members: list[Container], pod: Pod | None) -> list[dict[str, Any]]:
    volumes: dict[str, dict[str, Any]] = {}
    config_maps: list[dict[str, Any]] = []
    containers = []
    for i, container in enumerate(members):
        publish = (pod.publish if pod is not None else container.spec.publish) if i == 0 else ()
        containers.append(_container(container, name, publish, volumes, config_maps, pod))
    spec: dict[str, Any] = {"containers": containers}
    first = members[0].spec if members else None
    if first is not None:
        restart = first.restart
        spec["restartPolicy"] = "OnFailure" if restart.startswith("on-failure") else RESTART.get(restart, "Never")
        spec["terminationGracePeriodSeconds"] = first.stop_timeout
    if pod is not None and pod.hostname != pod.name:
        spec["hostname"] = pod.hostname
    if (pod.network if pod is not None else first.network if first else "") == "host":
        spec["hostNetwork"] = True
    if volumes:
        spec["volumes"] = list(volumes.values())
    labels = dict(label.partition("=")[::2] for label in pod.labels) if pod is not None else {}
    metadata: dict[str, Any] = {"name": name, **({"labels": labels} if labels else {})}
    return [*config_maps, {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}]


def _container(container: Container, pod_name: str, publish: tuple[str, ...], volumes: dict[str, dict[str, Any]],
               config_maps: list[dict[str, Any]], pod: Pod | None) -> dict[str, Any]:  # fmt: skip
    spec = container.spec
    name = _dns_label(container.name.removeprefix(f"{pod_name}-") if pod is not None else container.name)
    out: dict[str, Any] = {"name": name, "image": spec.image}
    if spec.entrypoint:
        out["command"] = list(spec.entrypoint)
    if spec.command:
        out["args"] = list(spec.command)
    if spec.env:
        out["env"] = [{"name": k, "value": v} for k, _, v in (e.partition("=") for e in spec.env)]
    if spec.workdir and spec.workdir != "/":
        out["workingDir"] = spec.workdir
    out["imagePullPolicy"] = PULL.get(spec.pull, "IfNotPresent")
    if spec.tty:
        out["tty"] = True
    if spec.interactive:
        out["stdin"] = True
    ports = [port for value in publish for port in _ports(value)]
    if ports:
        out["ports"] = ports
    mounts = _mounts(container, pod_name, volumes, config_maps, pod)
    if mounts:
        out["volumeMounts"] = mounts
    resources = _resources(container)
    if resources:
        out["resources"] = resources
    security = _security(container)
    if security:
        out["securityContext"] = security
    return out


def _dns_label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return label or "container"


def _ports(value: str) -> list[dict[str, Any]]:
    """A -p value's ports (a range's, one each); one the host picked has no hostPort."""
    from sdcontainer.ports import parse_publish

    m = parse_publish(value)
    ports = []
    for i in range(m.count):
        port: dict[str, Any] = {"containerPort": m.container_port + i, "protocol": m.protocol.upper()}
        if m.host_port:
            port["hostPort"] = m.host_port + i
        if m.host_ip:
            port["hostIP"] = m.host_ip
        ports.append(port)
    return ports


def _mounts(container: Container, pod_name: str, volumes: dict[str, dict[str, Any]],
            config_maps: list[dict[str, Any]], pod: Pod | None) -> list[dict[str, Any]]:  # fmt: skip
    from sdcontainer.kube.play import CONFIG_MAPS

    mounts = []
    spec = container.spec
    for value in spec.volumes:
        host, path, options = value.split(":", 2)
        config_at = Path(pod.directory) / CONFIG_MAPS if pod is not None else None
        if config_at is not None and Path(host).parent == config_at:
            volume_name = Path(host).name
            volumes.setdefault(volume_name, _config_map(volume_name, Path(host), pod_name, config_maps))
        else:
            volume_name = _volume_name(volumes, "host", {"hostPath": {"path": host}})
        mounts.append(_mount(volume_name, path, options))
    for value in spec.named_volumes:
        source, path, options = value.split(":", 2)
        if pod is not None and source.startswith(f"{pod_name}-"):  # kube play's of an emptyDir
            volume_name = source.removeprefix(f"{pod_name}-")
            volumes.setdefault(volume_name, {"name": volume_name, "emptyDir": {}})
        else:
            volume_name = _volume_name(volumes, _dns_label(source), {"persistentVolumeClaim": {"claimName": source}})
        mounts.append(_mount(volume_name, path, options))
    for value in spec.tmpfs:
        path, _, options = value.partition(":")
        volume_name = _volume_name(volumes, "tmpfs", {"emptyDir": {"medium": "Memory"}}, unique=True)
        mounts.append(_mount(volume_name, path, ""))
    return mounts


def _volume_name(volumes: dict[str, dict[str, Any]], base: str, source: dict[str, Any], *,
                 unique: bool = False) -> str:  # fmt: skip
    """The name of the pod's volume of source: one it has already, or a new one (base-N)."""
    if not unique:
        for name, volume in volumes.items():
            if {k: v for k, v in volume.items() if k != "name"} == source:
                return name
    n = 1
    while f"{base}-{n}" in volumes:
        n += 1
    volumes[f"{base}-{n}"] = {"name": f"{base}-{n}", **source}
    return f"{base}-{n}"


def _mount(volume: str, path: str, options: str) -> dict[str, Any]:
    return {"name": volume, "mountPath": path, **({"readOnly": True} if "ro" in options.split(",") else {})}


def _config_map(volume: str, directory: Path, pod_name: str, config_maps: list[dict[str, Any]]) -> dict[str, Any]:
    """A configMap volume, its ConfigMap added to config_maps: its files, each a key (the path, its
    slashes as '.') and an item giving it its path back."""
    data, items = {}, []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = str(path.relative_to(directory))
        key = relative.replace("/", ".")
        data[key] = path.read_text(errors="replace")
        items.append({"key": key, "path": relative})
    name = f"{pod_name}-{volume}"
    config_maps.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
    return {"name": volume, "configMap": {"name": name, "items": items}}


def _resources(container: Container) -> dict[str, Any]:
    limits = container.spec.limits
    found: dict[str, Any] = {}
    if limits.memory:
        found.setdefault("limits", {})["memory"] = str(limits.memory)
    if limits.cpus:
        found.setdefault("limits", {})["cpu"] = f"{round(limits.cpus * 1000)}m"
    if limits.cpu_shares:
        found.setdefault("requests", {})["cpu"] = f"{round(limits.cpu_shares * 1000 / 1024)}m"
    return found


def _security(container: Container) -> dict[str, Any]:
    spec = container.spec
    found: dict[str, Any] = {}
    user, _, group = spec.user.partition(":")
    if user.isdigit() and user != "0":
        found["runAsUser"] = int(user)
        if group.isdigit():
            found["runAsGroup"] = int(group)
    if spec.privileged:
        found["privileged"] = True
    if spec.read_only:
        found["readOnlyRootFilesystem"] = True
    caps = {k: [c.removeprefix("CAP_") for c in v] for k, v in (("add", spec.cap_add), ("drop", spec.cap_drop)) if v}
    if caps:
        found["capabilities"] = caps
    return found
