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

from sdcontainer.errors import NotFound, SdcError, UsageError

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
                docs += _documents(ctx, container.name, [container], None)
                continue
        docs += _documents(ctx, pod.name, pods.members(ctx.paths, pod), pod)
    return str(yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False))


def _documents(ctx: Context, name: str, members: list[Container], pod: Pod | None) -> list[dict[str, Any]]:
    _kubernetes_name(name, "pod")
    volumes: dict[str, dict[str, Any]] = {}
    config_maps: list[dict[str, Any]] = []
    containers = []
    for i, container in enumerate(members):
        publish = (pod.publish if pod is not None else container.spec.publish) if i == 0 else ()
        containers.append(_container(ctx, container, name, publish, volumes, config_maps, pod))
    spec: dict[str, Any] = {"containers": containers}
    first = members[0].spec if members else None
    if first is not None:
        restart = first.restart
        if restart.startswith("on-failure:"):
            raise UsageError(f"container {members[0].name} restarts {restart}: Kubernetes counts no restarts",
                             hint="restart it with on-failure, always or no (sdc update --restart)")  # fmt: skip
        spec["restartPolicy"] = "OnFailure" if restart == "on-failure" else RESTART.get(restart, "Never")
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


# What Kubernetes' Pod cannot say of a container (sdc's record field, the flag): generate refuses
# it rather than write a container less confined, or otherwise run, than this one
UNSAID = {"userns": "--userns", "seccomp": "--security-opt seccomp=", "devices": "--device",
          "device_rules": "--device-cgroup-rule", "ulimits": "--ulimit", "init": "--init",
          "oom_score_adj": "--oom-score-adj", "add_hosts": "--add-host", "dns": "--dns"}  # fmt: skip


def _kubernetes_name(name: str, what: str) -> str:
    if not re.fullmatch(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?", name):
        raise UsageError(f"the {what} name {name!r} is not one Kubernetes takes",
                         hint="lowercase letters, digits and '-' (sdc rename, or a pod of such a name)")  # fmt: skip
    return name


def _container(ctx: Context, container: Container, pod_name: str, publish: tuple[str, ...],
               volumes: dict[str, dict[str, Any]], config_maps: list[dict[str, Any]],
               pod: Pod | None) -> dict[str, Any]:  # fmt: skip
    spec = container.spec
    given = [flag for field, flag in UNSAID.items() if getattr(spec, field) not in ("", (), False, None, "host")]
    if spec.limits.pids_limit is not None:
        given.append("--pids-limit")
    if given:
        raise UsageError(f"container {container.name} has {given[0]}, which a Kubernetes Pod cannot say",
                         hint="make it without, or write its YAML yourself")  # fmt: skip
    name = _kubernetes_name(container.name.removeprefix(f"{pod_name}-") if pod is not None else container.name,
                            "container")  # fmt: skip
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
    mounts = _mounts(ctx, container, pod_name, volumes, config_maps, pod)
    if mounts:
        out["volumeMounts"] = mounts
    resources = _resources(container)
    if resources:
        out["resources"] = resources
    security = _security(ctx, container)
    if security:
        out["securityContext"] = security
    return out


def _dns_label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return label or "volume"


def _ports(value: str) -> list[dict[str, Any]]:
    """A -p value's ports (a range's, one each); one the host picked has no hostPort."""
    from sdcontainer.ports import parse_publish

    m = parse_publish(value)
    ports = []
    if not m.host_port:
        raise UsageError(f"-p {value}: a host port the host picks, which a Kubernetes Pod cannot say",
                         hint="publish it on a port of your choosing (-p HOSTPORT:PORT)")  # fmt: skip
    for i in range(m.count):
        port: dict[str, Any] = {"containerPort": m.container_port + i, "protocol": m.protocol.upper(),
                                "hostPort": m.host_port + i}  # fmt: skip
        if m.host_ip:
            port["hostIP"] = m.host_ip
        ports.append(port)
    return ports


def _mounts(ctx: Context, container: Container, pod_name: str, volumes: dict[str, dict[str, Any]],
            config_maps: list[dict[str, Any]], pod: Pod | None) -> list[dict[str, Any]]:  # fmt: skip
    from sdcontainer.api.volumes import inspect_volume
    from sdcontainer.kube.play import CONFIG_MAPS, POD_LABEL

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
        labels = inspect_volume(ctx, source).get("Labels", {}) if source else {}
        if pod is not None and labels.get(POD_LABEL) == pod.id:  # kube play's of an emptyDir
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
    words = [w for w in options.split(",") if w and w not in ("ro", "rw")]
    if words:
        raise UsageError(f"the mount of {path} has {','.join(words)}, which a Kubernetes Pod cannot say",
                         hint="mount it without those options")  # fmt: skip
    return {"name": volume, "mountPath": path, **({"readOnly": True} if "ro" in options.split(",") else {})}


def _config_map(volume: str, directory: Path, pod_name: str, config_maps: list[dict[str, Any]]) -> dict[str, Any]:
    """A configMap volume, its ConfigMap added to config_maps: its files, each a key (the path, its
    slashes as '.') and an item giving it its path back."""
    data, items, modes = {}, [], set()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink()):
        modes.add(path.stat().st_mode & 0o777)
        relative = str(path.relative_to(directory))
        key = relative.replace("/", ".")
        n = 1
        while key in data:  # (a/b.c and a.b/c)
            key, n = f"{relative.replace('/', '.')}-{n}", n + 1
        data[key] = path.read_text(errors="replace")
        items.append({"key": key, "path": relative})
    name = f"{pod_name}-{volume}"
    config_maps.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
    mode = {"defaultMode": modes.pop()} if len(modes) == 1 and modes != {0o644} else {}
    return {"name": volume, "configMap": {"name": name, "items": items, **mode}}


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


def _security(ctx: Context, container: Container) -> dict[str, Any]:
    from sdcontainer import images

    spec = container.spec
    found: dict[str, Any] = {}
    user, _, group = spec.user.partition(":")
    try:
        images_user = str(images.find_image(ctx.paths, container.image_id).runtime.get("User") or "")
    except (SdcError, OSError, ValueError):
        images_user = ""
    if spec.user == images_user:  # its image's: the image gives it again
        user, group = "", ""
    elif spec.user not in ("", "root", "0", "0:0") and not (user.isdigit() and (not group or group.isdigit())):
        raise UsageError(f"container {container.name} runs as {spec.user!r}, a name a Kubernetes Pod cannot say",
                         hint="run it as a numeric uid[:gid] (--user 1000:1000)")  # fmt: skip
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
