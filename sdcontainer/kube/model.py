"""Kubernetes YAML as sdc's pods and containers: what `kube play` makes, checked field by field.

The documents of a file: v1 Pod, apps/v1 Deployment (one replica: its pod named NAME-pod, as
Podman's) and v1 ConfigMap (for the configMap volumes of the pods beside it). Every field is
either mapped to what `sdc pod create` and `sdc run` do, or an error naming it (a field sdc would
ignore silently would be a promise broken on the first cluster): spec.containers[0].livenessProbe
says where. The file is the user's, and hostile until checked: a size and a node count bound it
(a YAML alias bomb expands to no more), and every name that becomes a path is checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from sdcontainer.containerspec import check_name
from sdcontainer.errors import UsageError
from sdcontainer.record import field, record, replace
from sdcontainer.volumes import check_volume_name

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": ""}
PULL = {"Always": "always", "IfNotPresent": "missing", "Never": "never"}
PROTOCOLS = ("TCP", "UDP", "SCTP")
KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")  # a ConfigMap's key (Kubernetes' own rule)


@record(kw_only=True)
class Volume:
    name: str
    kind: str  # hostPath, emptyDir, persistentVolumeClaim, configMap
    source: str = ""  # the host's path, the claim's name, the ConfigMap's name
    path_type: str = ""  # hostPath's type
    medium: str = ""  # emptyDir's: "" (a volume of the store's) or Memory (a tmpfs)
    read_only: bool = False
    items: tuple[tuple[str, str], ...] = ()  # configMap's: (key, path)
    mode: int = 0o644  # configMap's defaultMode: its files'


@record(kw_only=True)
class Container:
    name: str
    image: str
    command: tuple[str, ...] | None = None  # Kubernetes' command: the entrypoint
    args: tuple[str, ...] | None = None  # its args: the command
    flags: dict[str, Any] = field(default_factory=dict)  # `sdc run`'s (spec.RUN_FLAGS' parameters)
    mounts: tuple[tuple[str, str, bool], ...] = ()  # (volume, path in the container, read-only)


@record(kw_only=True)
class Pod:
    name: str
    kind: str  # Pod, Deployment
    source: str  # its document's name: Pod/web, Deployment/api
    labels: dict[str, str] = field(default_factory=dict)
    hostname: str = ""
    host_network: bool = False
    publish: tuple[str, ...] = ()
    containers: tuple[Container, ...] = ()
    volumes: tuple[Volume, ...] = ()


@record(kw_only=True)
class Plan:
    pods: tuple[Pod, ...]
    config_maps: dict[str, dict[str, str]]


class Fields:
    """One mapping of the document, read key by key: what is left unread at the end is an error
    naming it (done)."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise UsageError(f"{where or 'the document'}: not a mapping", hint="see the Kubernetes API reference")
        self.data, self.where = data, where
        self.read: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...] = object, default: Any = None) -> Any:
        self.read.add(key)
        value = self.data.get(key, default)
        if value is None:
            return default
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise UsageError(f"{self.at(key)}: not {_kind_name(kind)}", hint="see the Kubernetes API reference")
        return value

    def need(self, key: str, kind: type | tuple[type, ...] = str) -> Any:
        value = self.get(key, kind)
        if value is None or value == "":
            raise UsageError(f"{self.at(key)} is missing", hint="see the Kubernetes API reference")
        return value

    def ignore(self, *keys: str) -> None:
        self.read.update(keys)

    def sub(self, key: str) -> Fields | None:
        value = self.get(key, dict)
        return None if value is None else Fields(value, self.at(key))

    def items(self, key: str) -> Iterator[Fields]:
        for i, value in enumerate(self.get(key, list, [])):
            yield Fields(value, f"{self.at(key)}[{i}]")

    def done(self) -> None:
        for key in self.data:
            if key not in self.read:
                raise UsageError(f"{self.at(str(key))}: not supported by sdc",
                                 hint="remove it: sdc plays the fields its README lists (Kubernetes YAML)")  # fmt: skip


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "a mapping",
             float: "a number"}  # fmt: skip
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, f"a {k.__name__}") for k in kinds)


def load(text: str) -> list[dict[str, Any]]:
    """The file's documents (YAML, PyYAML's safe loader: no tags of Python's, and no aliases), bounded."""
    if len(text.encode(errors="replace")) > MAX_BYTES:
        raise UsageError("the file is larger than 4 MiB", hint="split it")
    import yaml

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        """PyYAML's safe loader without aliases: an alias (and a merge key of one) may expand a
        small file into a vast one before anything is counted; Kubernetes' files need none."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(None, None, "an alias (*name): sdc takes none",
                                                  event.start_mark)  # fmt: skip
            return super().compose_node(parent, index)

    try:
        docs = [d for d in yaml.load_all(text, Loader=Loader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = str(getattr(exc, "problem", "") or exc).splitlines()[0]
        raise UsageError(f"not YAML{where}: {problem}", hint="check the file with a YAML linter") from None
    except RecursionError:
        raise UsageError("the YAML nests too deep", hint="flatten it") from None
    _bounded(docs)
    return docs


def _bounded(docs: list[Any]) -> None:
    """At most MAX_NODES nodes, counted as the document is walked (an alias counts each time)."""
    count, stack = 0, list(docs)
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise UsageError(f"the YAML has more than {MAX_NODES} nodes (aliases expanded)", hint="make it smaller")
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def parse(text: str) -> Plan:
    config_maps: dict[str, dict[str, str]] = {}
    pods = []
    for i, doc in enumerate(load(text)):
        top = Fields(doc, "")
        kind, version = top.need("kind"), top.need("apiVersion")
        name = f"{kind}/{(doc.get('metadata') or {}).get('name', i)}" if isinstance(doc.get("metadata"), dict) \
            else f"{kind}/{i}"  # fmt: skip
        where = f"{name}: "
        try:
            if (kind, version) == ("Pod", "v1"):
                pods.append(_pod(top, kind))
            elif (kind, version) == ("Deployment", "apps/v1"):
                pods.append(_deployment(top))
            elif (kind, version) == ("ConfigMap", "v1"):
                cm_name, data = _config_map(top)
                config_maps[cm_name] = data
            else:
                raise UsageError(f"kind {kind} of {version}: not one sdc plays",
                                 hint="sdc plays v1 Pod, apps/v1 Deployment and v1 ConfigMap")  # fmt: skip
        except UsageError as exc:
            raise UsageError(where + exc.message, hint=exc.hint) from None
    if not pods:
        raise UsageError("no Pod nor Deployment in the file", hint="give a v1 Pod or an apps/v1 Deployment")
    names = [p.name for p in pods]
    if len(set(names)) != len(names):
        raise UsageError("two pods of the same name in the file", hint="name each one differently")
    for pod in pods:
        for volume in pod.volumes:
            if volume.kind == "configMap" and volume.source not in config_maps:
                raise UsageError(f"{pod.source}: volume {volume.name}: no ConfigMap {volume.source} in the file",
                                 hint="add the ConfigMap's document to the same file")  # fmt: skip
    return Plan(pods=tuple(pods), config_maps=config_maps)


def _metadata(top: Fields) -> tuple[str, dict[str, str], dict[str, str]]:
    meta = top.sub("metadata")
    if meta is None:
        raise UsageError("metadata is missing", hint="give metadata.name")
    name = meta.need("name")
    namespace = meta.get("namespace", str, "default")
    if namespace != "default":
        raise UsageError(f"metadata.namespace {namespace!r}: sdc has no namespaces but the default",
                         hint="remove it")  # fmt: skip
    labels = _labels(meta, "labels")
    annotations = _labels(meta, "annotations")
    meta.ignore("creationTimestamp")
    meta.done()
    return name, labels, annotations


def _strings(fields: Fields, key: str) -> dict[str, str]:
    found = fields.get(key, dict, {})
    for k, v in found.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise UsageError(f"{fields.at(key)}: {str(k)[:40]!r} is not a string's", hint="quote the value")
    return dict(found)


def _labels(fields: Fields, key: str) -> dict[str, str]:
    """Labels (or annotations, which sdc keeps as labels), checked as --label's are."""
    from sdcontainer.spec import parse_labels

    found = _strings(fields, key)
    for k in found:
        if "=" in k or not k:
            raise UsageError(f"{fields.at(key)}: {k[:40]!r} is not a label's name", hint="no '='")
    try:
        parse_labels([f"{k}={v}" for k, v in found.items()])
    except UsageError as exc:
        raise UsageError(f"{fields.at(key)}: {exc.message}", hint=exc.hint) from None
    return found


def _pod(top: Fields, kind: str) -> Pod:
    own, own_labels, annotations = _metadata(top)
    check_name(own)
    top.ignore("status")  # the cluster's, as `kubectl get -o yaml` writes it
    spec = top.sub("spec")
    if spec is None:
        raise UsageError("spec is missing", hint="give spec.containers")
    pod = _pod_spec(spec, own, kind, {**own_labels, **annotations})
    top.done()
    return pod


def _pod_spec(spec: Fields, name: str, kind: str, labels: dict[str, str]) -> Pod:
    restart = spec.get("restartPolicy", str, "Always")
    if restart not in RESTART:
        raise UsageError(f"{spec.at('restartPolicy')} {restart!r}", hint="Always, OnFailure or Never")
    grace = spec.get("terminationGracePeriodSeconds", int)
    hostname = spec.get("hostname", str, "")
    host_network = spec.get("hostNetwork", bool, False)
    pod_security = spec.sub("securityContext")
    pod_user = _run_as(pod_security) if pod_security is not None else ("", False)
    if pod_security is not None:
        pod_security.done()
    spec.ignore("enableServiceLinks", "dnsPolicy")  # (the cluster's DNS and service variables: none here)
    volumes = tuple(_volume(v) for v in spec.items("volumes"))
    known = {v.name for v in volumes}
    if len(known) != len(volumes):
        raise UsageError(f"{spec.at('volumes')}: two volumes of one name", hint="name each one differently")
    containers, publish = [], []
    for c in spec.items("containers"):
        container, ports = _container(c, name, known, restart=RESTART[restart], user=pod_user, grace=grace,
                                      host_network=host_network)  # fmt: skip
        containers.append(container)
        publish.extend(ports)
    if not containers:
        raise UsageError(f"{spec.at('containers')} is missing", hint="give at least one container")
    if len({c.name for c in containers}) != len(containers):
        raise UsageError(f"{spec.at('containers')}: two containers of one name", hint="name each one differently")
    spec.done()
    return Pod(name=name, kind=kind, source=f"{kind}/{name}", labels=labels, hostname=hostname,
               host_network=host_network, publish=tuple(publish), containers=tuple(containers),
               volumes=volumes)  # fmt: skip


def _deployment(top: Fields) -> Pod:
    name, labels, annotations = _metadata(top)
    top.ignore("status")
    spec = top.sub("spec")
    if spec is None:
        raise UsageError("spec is missing", hint="give spec.template")
    replicas = spec.get("replicas", int, 1)
    if replicas != 1:
        raise UsageError(f"spec.replicas {replicas}: sdc runs one replica", hint="give replicas: 1")
    spec.ignore("selector", "strategy", "revisionHistoryLimit", "progressDeadlineSeconds", "minReadySeconds")
    template = spec.sub("template")
    if template is None:
        raise UsageError("spec.template is missing", hint="give the pod's template")
    meta = template.sub("metadata")
    pod_labels: dict[str, str] = {}
    if meta is not None:
        pod_labels = {**_labels(meta, "labels"), **_labels(meta, "annotations")}
        meta.ignore("name", "creationTimestamp")
        meta.done()
    pod_spec = template.sub("spec")
    if pod_spec is None:
        raise UsageError("spec.template.spec is missing", hint="give the pod's containers")
    check_name(name)
    pod = _pod_spec(pod_spec, f"{name}-pod", "Deployment", {**labels, **annotations, **pod_labels})
    template.done()
    spec.done()
    top.done()
    return replace(pod, source=f"Deployment/{name}")


def _config_map(top: Fields) -> tuple[str, dict[str, str]]:
    name, _, _ = _metadata(top)
    data = _strings(top, "data")
    for key in data:
        if not KEY.fullmatch(key) or key in (".", ".."):
            raise UsageError(f"data: key {key[:60]!r} is not a ConfigMap's", hint="letters, digits, '-', '_', '.'")
    top.ignore("immutable")
    top.done()
    return name, data


DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")


def _volume(v: Fields) -> Volume:
    name = v.need("name")
    if not DNS_LABEL.fullmatch(name):
        raise UsageError(f"{v.at('name')} {name[:70]!r} is not a volume's name",
                         hint="a DNS label: lowercase, digits, '-'")  # fmt: skip
    given = [k for k in ("hostPath", "emptyDir", "persistentVolumeClaim", "configMap") if k in v.data]
    v.ignore(*given)
    v.done()  # (a kind sdc does not play, secret say, is named)
    if len(given) != 1:
        raise UsageError(f"{v.at('name')} {name}: give one of hostPath, emptyDir, persistentVolumeClaim, configMap",
                         hint="the kinds of volume sdc plays")  # fmt: skip
    kind = given[0]
    source = Fields(v.data[kind] if v.data[kind] is not None else {}, v.at(kind))
    volume = Volume(name=name, kind=kind)
    if kind == "hostPath":
        path = source.need("path")
        path_type = source.get("type", str, "")
        if path_type not in ("", "Directory", "DirectoryOrCreate", "File", "FileOrCreate"):
            raise UsageError(f"{source.at('type')} {path_type!r}",
                             hint="Directory, DirectoryOrCreate, File or FileOrCreate")  # fmt: skip
        if not path.startswith("/") or any(c in path for c in ":,\0\n"):
            raise UsageError(f"{source.at('path')} {path[:60]!r}: not an absolute path sdc binds",
                             hint="an absolute path without ':' or ','")  # fmt: skip
        volume = Volume(name=name, kind=kind, source=path, path_type=path_type)
    elif kind == "emptyDir":
        medium = source.get("medium", str, "")
        if medium not in ("", "Memory"):
            raise UsageError(f"{source.at('medium')} {medium!r}", hint="\"\" or Memory")
        volume = Volume(name=name, kind=kind, medium=medium)
    elif kind == "persistentVolumeClaim":
        claim = source.need("claimName")
        try:
            check_volume_name(claim)
        except UsageError:
            raise UsageError(f"{source.at('claimName')} {claim[:60]!r} is not a volume's name",
                             hint="letters, digits, '_', '.', '-'") from None  # fmt: skip
        volume = Volume(name=name, kind=kind, source=claim, read_only=source.get("readOnly", bool, False))
    else:
        items = []
        for item in source.items("items"):
            key, path = item.need("key"), item.need("path")
            if not KEY.fullmatch(key) or any(part in ("", ".", "..") for part in path.split("/")) \
                    or path.startswith("/") or not re.fullmatch(r"[-._a-zA-Z0-9/]{1,253}", path):  # fmt: skip
                raise UsageError(f"{item.at('path')} {path[:60]!r}: not a relative path of its own",
                                 hint="give a path like conf/app.ini")  # fmt: skip
            item.done()
            items.append((key, path))
        mode = source.get("defaultMode", int, 0o644)
        if not 0 <= mode <= 0o777:
            raise UsageError(f"{source.at('defaultMode')} {mode}: not a file's mode", hint="0 to 0777 (511)")
        volume = Volume(name=name, kind=kind, source=source.need("name"), items=tuple(items), mode=mode)
    source.done()
    return volume


def _container(c: Fields, pod: str, volumes: set[str], *, restart: str, user: tuple[str, bool],
               grace: int | None, host_network: bool) -> tuple[Container, list[str]]:  # fmt: skip
    name = c.need("name")
    image = c.need("image")
    command = _words(c, "command")
    args = _words(c, "args")
    flags: dict[str, Any] = {"detach": True, "name": f"{pod}-{name}", "pod": pod, "restart": restart or None}
    if grace is not None:
        flags["stop_timeout"] = grace
    env = []
    for e in c.items("env"):
        key = e.need("name")
        value = e.get("value", str, "")
        if "=" in key or "\0" in key or "\0" in value:
            raise UsageError(f"{e.at('name')} {key[:40]!r}: not an environment variable's name", hint="no '='")
        e.done()
        env.append(f"{key}={value}")
    if env:
        flags["env"] = env
    if workdir := c.get("workingDir", str, ""):
        flags["workdir"] = workdir
    # IfNotPresent when not said, for :latest too (Kubernetes would say Always there): sdc's run pulls
    # what the store lacks, and a file played twice runs the same image (README)
    policy = c.get("imagePullPolicy", str, "IfNotPresent")
    if policy not in PULL:
        raise UsageError(f"{c.at('imagePullPolicy')} {policy!r}", hint="Always, IfNotPresent or Never")
    flags["pull"] = PULL[policy]
    flags["tty"] = c.get("tty", bool, False)
    flags["interactive"] = c.get("stdin", bool, False)
    c.ignore("terminationMessagePath", "terminationMessagePolicy")
    ports = []
    for p in c.items("ports"):
        port = p.need("containerPort", int)
        host = p.get("hostPort", int)
        proto = p.get("protocol", str, "TCP")
        if proto not in PROTOCOLS:
            raise UsageError(f"{p.at('protocol')} {proto!r}", hint="TCP, UDP or SCTP")
        host_ip = p.get("hostIP", str, "")
        p.ignore("name")
        p.done()
        if host is not None and host_network:  # the host's ports are the pod's already
            if host != port:
                raise UsageError(f"{p.at('hostPort')} {host} with hostNetwork: not its containerPort {port}",
                                 hint="give hostPort equal to containerPort, or none")  # fmt: skip
        elif host is not None:  # (a containerPort alone publishes nothing: it is the pod's to reach)
            ip = (f"[{host_ip}]:" if ":" in host_ip else f"{host_ip}:") if host_ip else ""
            ports.append(f"{ip}{host}:{port}/{proto.lower()}")
    mounts = []
    for m in c.items("volumeMounts"):
        volume, path = m.need("name"), m.need("mountPath")
        if not path.startswith("/") or any(c in path for c in ":,\0\n"):
            raise UsageError(f"{m.at('mountPath')} {path[:60]!r}: not an absolute path sdc mounts",
                             hint="an absolute path without ':' or ','")  # fmt: skip
        if volume not in volumes:
            raise UsageError(f"{m.at('name')} {volume!r}: no such volume in the pod", hint="add it to spec.volumes")
        mounts.append((volume, path, m.get("readOnly", bool, False)))
        m.done()
    resources = c.sub("resources")
    if resources is not None:
        flags.update(_resources(resources))
        resources.done()
    security = c.sub("securityContext")
    if security is not None:
        user = _run_as(security, user)
        flags["privileged"] = security.get("privileged", bool, False)
        flags["read_only"] = security.get("readOnlyRootFilesystem", bool, False)
        escalation = security.get("allowPrivilegeEscalation", bool)
        if escalation and not flags["privileged"]:
            raise UsageError(f"{security.at('allowPrivilegeEscalation')}: sdc's containers have no_new_privs",
                             hint="remove it, or make the container privileged")  # fmt: skip
        caps = security.sub("capabilities")
        if caps is not None:
            flags["cap_add"] = _words(caps, "add") or None
            flags["cap_drop"] = _words(caps, "drop") or None
            caps.done()
        security.done()
    if user[1] and (not user[0] or user[0].split(":")[0] == "0"):
        raise UsageError(f"{c.at('securityContext')}: runAsNonRoot without a runAsUser other than 0",
                         hint="give runAsUser (sdc does not check the image's user)")  # fmt: skip
    if user[0]:
        flags["user"] = user[0]
    c.done()
    return Container(name=name, image=image, command=command, args=args, flags=flags, mounts=tuple(mounts)), ports


def _words(fields: Fields, key: str) -> tuple[str, ...] | None:
    found = fields.get(key, list)
    if found is None:
        return None
    if not all(isinstance(w, str) for w in found):
        raise UsageError(f"{fields.at(key)}: not a list of strings", hint="quote each word")
    return tuple(found)


def _run_as(security: Fields, inherited: tuple[str, bool] = ("", False)) -> tuple[str, bool]:
    """(the user, runAsNonRoot) of a securityContext, over what the pod's gives (inherited)."""
    uid = security.get("runAsUser", int)
    gid = security.get("runAsGroup", int)
    non_root = security.get("runAsNonRoot", bool)
    if gid is not None and uid is None:
        raise UsageError(f"{security.at('runAsGroup')} needs runAsUser", hint="give both")
    user = inherited[0] if uid is None else f"{uid}:{gid}" if gid is not None else str(uid)
    return user, inherited[1] if non_root is None else non_root


def _resources(resources: Fields) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    limits = resources.sub("limits")
    if limits is not None:
        if (memory := limits.get("memory", (str, int))) is not None:
            flags["memory"] = str(quantity(memory, limits.at("memory")))
        if (cpu := limits.get("cpu", (str, int, float))) is not None:
            flags["cpus"] = cpus(cpu, limits.at("cpu"))
        limits.done()
    requests = resources.sub("requests")
    if requests is not None:
        if (cpu := requests.get("cpu", (str, int, float))) is not None:  # a share of the CPUs: their weight
            flags["cpu_shares"] = max(2, min(262144, round(cpus(cpu, requests.at("cpu")) * 1024)))
        if requests.get("memory", (str, int)) is not None:
            raise UsageError(f"{requests.at('memory')}: sdc reserves no memory", hint="give limits.memory")
        requests.done()
    return flags


SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "k": 10**3, "M": 10**6,
            "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 10**-3, "": 1}  # fmt: skip
QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m|)")


def quantity(value: str | int, where: str) -> int:
    """A Kubernetes quantity of bytes (128Mi, 1G, 1000000) as a whole number."""
    match = QUANTITY.fullmatch(str(value).strip())
    if match is None:
        raise UsageError(f"{where} {str(value)[:30]!r} is not a quantity", hint="like 128Mi, 1Gi or 500M")
    from decimal import Decimal

    amount = int(Decimal(match[1]) * Decimal(SUFFIXES[match[2]]))
    if amount <= 0:
        raise UsageError(f"{where} {value!r} is not a positive quantity", hint="like 128Mi")
    return amount


def cpus(value: str | int | float, where: str) -> float:
    """CPUs of a Kubernetes quantity (500m, 1.5, 2)."""
    match = QUANTITY.fullmatch(str(value).strip())
    if match is None or match[2] not in ("", "m"):
        raise UsageError(f"{where} {str(value)[:30]!r} is not a number of CPUs", hint="like 500m or 1.5")
    amount = float(match[1]) * SUFFIXES[match[2]]
    if amount <= 0:
        raise UsageError(f"{where} {value!r} is not a positive number of CPUs", hint="like 500m")
    return amount


def run_flags(pod: Pod, container: Container, mounts: Mapping[str, str]) -> dict[str, Any]:
    """`sdc run`'s flags of a container of pod: mounts, each volume's -v source (play's)."""
    flags = {k: v for k, v in container.flags.items() if v is not None}
    volumes = []
    tmpfs = []
    for volume_name, path, read_only in container.mounts:
        volume = next(v for v in pod.volumes if v.name == volume_name)
        if volume.kind == "emptyDir" and volume.medium == "Memory":
            tmpfs.append(path)
            continue
        ro = read_only or volume.read_only or volume.kind == "configMap"
        volumes.append(f"{mounts[volume_name]}:{path}{':ro' if ro else ''}")
    if volumes:
        flags["volume"] = volumes
    if tmpfs:
        flags["tmpfs"] = tmpfs
    return flags
