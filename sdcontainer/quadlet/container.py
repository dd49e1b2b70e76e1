"""A Quadlet .container file's [Container] section (podman-systemd.unit(5)) as `sdc run`'s flags.

Every key of Podman's is either taken, as the sdc run flag that does the same, or refused with the
file, the line and the key named: a file is never run with a setting silently dropped. Values keep
systemd's specifiers (%N, %i...): systemd expands them in the generated unit's command lines, as
it does in Podman's; the checks here see them expanded for the unit being generated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sdcontainer.errors import SdcError, UsageError
from sdcontainer.quadlet.unitfile import Setting, split_words

if TYPE_CHECKING:
    from sdcontainer.containerspec import ContainerSpec
    from sdcontainer.paths import Paths

SECTION = "Container"

# key -> (sdc run flag, how its value is read): "one" (the last one given counts), "many" (each
# line one value; an empty one drops those before, as systemd's list settings do), "words" (each
# line a list of words, each one value), "bool" (the flag given for a true value).
FLAGS: dict[str, tuple[str, str]] = {
    "AddCapability": ("--cap-add", "words"),
    "AddDevice": ("--device", "many"),
    "AddHost": ("--add-host", "many"),
    "DNS": ("--dns", "many"),
    "DNSOption": ("--dns-option", "many"),
    "DNSSearch": ("--dns-search", "many"),
    "DropCapability": ("--cap-drop", "words"),
    "Entrypoint": ("--entrypoint", "one"),
    "Environment": ("--env", "words"),
    "EnvironmentFile": ("--env-file", "many"),
    "HealthCmd": ("--health-cmd", "one"),
    "HealthInterval": ("--health-interval", "one"),
    "HealthRetries": ("--health-retries", "one"),
    "HealthStartPeriod": ("--health-start-period", "one"),
    "HealthTimeout": ("--health-timeout", "one"),
    "HostName": ("--hostname", "one"),
    "IP": ("--ip", "one"),
    "Label": ("--label", "words"),
    "LogDriver": ("--log-driver", "one"),
    "LogOpt": ("--log-opt", "many"),
    "Memory": ("--memory", "one"),
    "Mount": ("--mount", "many"),
    "Network": ("--network", "one"),
    "NetworkAlias": ("--network-alias", "many"),
    "PidsLimit": ("--pids-limit", "one"),
    "Pod": ("--pod", "one"),
    "PublishPort": ("--publish", "many"),
    "Pull": ("--pull", "one"),
    "ReadOnly": ("--read-only", "bool"),
    "RunInit": ("--init", "bool"),
    "ShmSize": ("--shm-size", "one"),
    "StopSignal": ("--stop-signal", "one"),
    "StopTimeout": ("--stop-timeout", "one"),
    "Timezone": ("--tz", "one"),
    "Tmpfs": ("--tmpfs", "many"),
    "Ulimit": ("--ulimit", "many"),
    "UserNS": ("--userns", "one"),
    "Volume": ("--volume", "many"),
    "WorkingDir": ("--workdir", "one"),
}

# Podman's other keys, each with why sdc does not take it (and what to do instead, where there is).
REFUSED: dict[str, str] = {
    "Annotation": "sdc keeps no OCI annotations; a Label= is kept and shown",
    "AppArmor": "sdc loads no AppArmor profile; its seccomp filter, capabilities and namespaces confine",
    "CgroupsMode": "sdc's containers are always their unit's cgroup",
    "ContainersConfModule": "sdc reads no containers.conf",
    "EnvironmentHost": "sdc passes no host environment wholesale; name each variable with Environment=",
    "ExposeHostPort": "sdc has no --expose; publish it with PublishPort=",
    "GIDMap": "sdc maps IDs with UserNS=auto alone",
    "GroupAdd": "sdc has no --group-add",
    "HealthLogDestination": "sdc keeps health results in the container's record alone",
    "HealthMaxLogCount": "sdc keeps health results in the container's record alone",
    "HealthMaxLogSize": "sdc keeps health results in the container's record alone",
    "HealthOnFailure": "sdc has no --health-on-failure; a [Service] Restart= acts on the container's end",
    "HealthStartupCmd": "sdc has no start-up health checks",
    "HealthStartupInterval": "sdc has no start-up health checks",
    "HealthStartupRetries": "sdc has no start-up health checks",
    "HealthStartupSuccess": "sdc has no start-up health checks",
    "HealthStartupTimeout": "sdc has no start-up health checks",
    "IP6": "sdc has no --ip6",
    "Mask": "sdc masks the paths Docker does, and no others",
    "PodmanArgs": "sdc is not podman: say each setting with its own key",
    "ReloadCmd": "sdc has no reload command; ExecReload= in [Service] can run `sdc exec`",
    "ReloadSignal": "sdc has no reload signal; ExecReload= in [Service] can run `sdc kill -s`",
    "RemapGid": "sdc maps IDs with UserNS=auto alone",
    "RemapUid": "sdc maps IDs with UserNS=auto alone",
    "RemapUidSize": "sdc maps IDs with UserNS=auto alone",
    "RemapUsers": "sdc maps IDs with UserNS=auto alone",
    "Retry": "sdc's pull retries as it always does",
    "RetryDelay": "sdc's pull retries as it always does",
    "Rootfs": "sdc runs images: import the tree first (sdc import)",
    "Secret": "sdc has no secrets",
    "ServiceName": "the unit is named by its file: rename the file",
    "SecurityLabelDisable": "sdc sets no SELinux labels",
    "SecurityLabelFileType": "sdc sets no SELinux labels",
    "SecurityLabelLevel": "sdc sets no SELinux labels",
    "SecurityLabelNested": "sdc sets no SELinux labels",
    "SecurityLabelType": "sdc sets no SELinux labels",
    "SubGIDMap": "sdc maps IDs with UserNS=auto alone",
    "SubUIDMap": "sdc maps IDs with UserNS=auto alone",
    "Sysctl": "sdc has no --sysctl",
    "UIDMap": "sdc maps IDs with UserNS=auto alone",
    "Unmask": "sdc masks the paths Docker does, and no others",
    "VolatileTmp": "write Tmpfs=/tmp",
}

# The keys read below, by hand: what they mean is more than one flag's value.
OWN = ("ContainerName", "Image", "Exec", "Notify", "User", "Group", "ReadOnlyTmpfs", "NoNewPrivileges",
       "SeccompProfile", "GlobalArgs", "HttpProxy", "StartWithPod", "AutoUpdate")  # fmt: skip
SINGLE_QUOTED = ("one", "many")  # kinds whose value a pair of quotes around it may hold: taken off, as Podman does
PATH_FLAGS = ("--volume", "--mount", "--env-file")  # a relative host path in them: from the file's directory

TRUE = ("1", "yes", "y", "true", "t", "on")
FALSE = ("0", "no", "n", "false", "f", "off")


class QuadletError(UsageError):
    """What is wrong with a Quadlet file, its path and line first."""


@dataclass(frozen=True)
class ContainerUnit:
    """What a .container file asks for: the container's name, image and command, the `sdc run`
    options ((flag, value), None for a flag alone) and sdc's global flags, values with their
    specifiers; for each flag, the setting it came from (to name it in an error found later)."""

    name: str
    image: str
    command: tuple[str, ...]
    options: tuple[tuple[str, str | None], ...]
    global_args: tuple[str, ...] = ()
    origins: dict[str, Setting] = field(default_factory=dict, compare=False)

    def paths(self) -> Paths:
        """The store the unit's container is in: GlobalArgs=' --root, else sdc's default."""
        from sdcontainer.paths import Paths, root_of

        given = dict(zip(self.global_args[::2], self.global_args[1::2], strict=True))
        return Paths(root_of(given.get("--root")))

    def run_args(self) -> list[str]:
        """As `sdc run` takes them (after run): the options, --name, IMAGE, the command."""
        args = [word for flag, value in self.options for word in ((flag,) if value is None else (flag, value))]
        return [*args, "--name", self.name, "--", self.image, *self.command]

    def run_flags(self, expand: Callable[[str], str]) -> dict[str, Any]:
        """build_run_spec's keyword arguments, specifiers expanded by expand."""
        from sdcontainer.spec import RUN_FLAGS

        table = {name: flag for flag in RUN_FLAGS for name in flag.names}
        flags: dict[str, Any] = {"image": expand(self.image), "command": [expand(c) for c in self.command],
                                 "name": expand(self.name)}  # fmt: skip
        for name, value in self.options:
            flag = table[name]
            if value is None:
                flags[flag.param] = True
            elif flag.kind is list:
                flags.setdefault(flag.param, []).append(expand(value))
            else:
                try:
                    flags[flag.param] = flag.kind(expand(value))
                except ValueError:
                    s = self.origins[name]
                    why = f"takes a {flag.kind.__name__}, not {s.value!r}"
                    raise refuse(s, why, f"see {name} in `sdc run --help`") from None
        return flags


def refuse(setting: Setting, why: str, hint: str) -> QuadletError:
    return QuadletError(f"{setting.where()}: {setting.key}= {why}", hint=hint)


def parse_bool(setting: Setting) -> bool:
    value = setting.value.lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise refuse(setting, f"takes a boolean, not {setting.value!r}", "write true or false")


def read_container(settings: Sequence[Setting], *, default_name: str, path: str = "the file") -> ContainerUnit:
    """The [Container] settings of file path (and its drop-ins, in order) as a ContainerUnit;
    QuadletError for a key refused or unknown, or a value this reading cannot take. A relative
    host path (Volume=./data:/data, EnvironmentFile=env) is the file's directory's, as Podman's."""
    flags: dict[str, list[tuple[str, Setting]]] = {}  # flag -> its values, in order
    own: dict[str, Setting] = {}
    command: list[str] | None = None
    globals_: list[str] = []
    for s in (s for s in settings if s.section == SECTION):
        if s.key in FLAGS:
            _take(flags, s)
        elif s.key == "Exec":
            command = split_words(s.value, where=f"{s.where()}: {s.key}=")
            own["Exec"] = s
        elif s.key == "GlobalArgs":
            globals_ += _global_args(s)
        elif s.key == "StartWithPod":  # (read by the pod's file: quadlet/pod.py)
            parse_bool(s)
        elif s.key in OWN:
            own[s.key] = unquoted(s) if s.key in ("Image", "ContainerName") else s
            if s.key == "Image":
                _no_quadlet_reference(s, own[s.key].value)
                if own[s.key].value.startswith("-"):
                    raise refuse(s, f"{own[s.key].value!r} is no image name", "name the image: Image=NAME[:TAG]")
        elif s.key in REFUSED:
            raise refuse(s, "is not taken by sdc", REFUSED[s.key])
        else:
            raise refuse(s, "is not a key of [Container]", "see podman-systemd.unit(5) and sdc's README for the keys")
    if "Image" not in own or not own["Image"].value:
        where = settings[0].path if settings else path
        raise QuadletError(f"{where}: [Container] has no Image=", hint="name the image to run: Image=NAME[:TAG]")
    options: list[tuple[str, str | None]] = []
    origins: dict[str, Setting] = {}
    for flag, values in flags.items():
        for value, setting in values:
            if flag in PATH_FLAGS:
                value = _from_files_directory(flag, value, setting.path if path == "the file" else path)
            options.append((flag, None if FLAGS[setting.key][1] == "bool" else value))
            origins[flag] = setting
    for flag, own_value, setting in _own_flags(own):
        options.append((flag, own_value))
        origins[flag] = setting
    name = own["ContainerName"].value if "ContainerName" in own else default_name
    if "ContainerName" in own:
        origins["--name"] = own["ContainerName"]
    origins.update({key: own[key] for key in ("Image", "Exec") if key in own})
    return ContainerUnit(name=name, image=own["Image"].value, command=tuple(command or ()), options=tuple(options),
                         global_args=tuple(globals_), origins=origins)  # fmt: skip


def unquoted(s: Setting) -> Setting:
    """s with a pair of quotes around its whole value taken off (Image="name": Podman's reading)."""
    v = s.value
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return dataclasses.replace(s, value=v[1:-1])
    return s


OTHER_KINDS = (".container", ".volume", ".network", ".pod", ".kube", ".image", ".build", ".artifact")


def _no_quadlet_reference(s: Setting, name: str) -> None:
    """A name of another Quadlet file (Image=app.build, Network=db.network, Volume=data.volume:/d)
    is Podman's way to use what that file makes: the generator resolves those sdc takes where
    they are taken (quadlet.generator._references); any other is refused."""
    if name.endswith(OTHER_KINDS) and not name.startswith(("/", ".")):
        raise refuse(s, f"names the Quadlet file {name}, which sdc does not take here",
                     "name the image, network or volume itself")  # fmt: skip


def _take(flags: dict[str, list[tuple[str, Setting]]], s: Setting) -> None:
    flag, kind = FLAGS[s.key]
    if kind in SINGLE_QUOTED:
        s = unquoted(s)
    if flag in ("--network", "--volume", "--pod"):
        _no_quadlet_reference(s, s.value.partition(":")[0])
    elif flag == "--mount":
        for field in s.value.split(","):
            key, _, value = field.partition("=")
            if key in ("source", "src"):
                _no_quadlet_reference(s, value)
    if kind == "one":
        flags[flag] = [(s.value, s)] if s.value else []
    elif kind == "bool":
        flags[flag] = [("", s)] if parse_bool(s) else []
    elif not s.value:
        flags[flag] = []  # an empty assignment drops the values before it
    elif kind == "many":
        flags.setdefault(flag, []).append((s.value, s))
    else:
        flags.setdefault(flag, []).extend((word, s) for word in split_words(s.value, where=f"{s.where()}: {s.key}="))


def _from_files_directory(flag: str, value: str, path: str) -> str:
    """value with its host path, where relative (./data, ../x; not %h/x: a specifier's), made
    the one in file path's directory."""
    import os.path

    def absolute(source: str) -> str:
        if flag != "--env-file" and not source.startswith("."):  # (a volume's name, Volume=data:/d)
            return source
        if source.startswith(("/", "%")):
            return source
        return os.path.normpath(os.path.join(os.path.dirname(path), source))

    if flag == "--volume":
        source, colon, rest = value.partition(":")
        return absolute(source) + colon + rest if colon else value
    if flag == "--mount":
        fields = value.split(",")
        return ",".join(f"{k}={absolute(v)}" if k in ("source", "src") and eq else field
                        for field in fields for k, eq, v in [field.partition("=")])  # fmt: skip
    return absolute(value)


def host_paths(unit: ContainerUnit) -> list[str]:
    """The absolute host paths the container binds (Volume=, Mount=): its unit's
    RequiresMountsFor=, so that a boot mounts them before it starts."""
    found = []
    for flag, value in unit.options:
        if flag == "--volume" and value and value.startswith("/") and ":" in value:
            found.append(value.partition(":")[0])
        elif flag == "--mount" and value:
            found += [v for k, _, v in (f.partition("=") for f in value.split(",")) if k in ("source", "src")
                      and v.startswith("/")]  # fmt: skip
    return found


def _own_flags(own: dict[str, Setting]) -> list[tuple[str, str | None, Setting]]:
    """The flags of the keys that are more than one flag's value."""
    found: list[tuple[str, str | None, Setting]] = []
    for key, read in _OWN_READERS.items():
        if key in own:
            found += [(flag, value, own[key]) for flag, value in read(own[key], own)]
    return found


def _notify(s: Setting, own: dict[str, Setting]) -> list[tuple[str, str | None]]:
    if s.value.lower() == "healthy":
        raise refuse(s, "healthy is not taken by sdc", "sdc's units are ready when PID 1 runs, or with Notify=true "
                                                      "when the container says READY=1 itself")  # fmt: skip
    return [("--sdnotify", "container")] if parse_bool(s) else []


def _user(s: Setting, own: dict[str, Setting]) -> list[tuple[str, str | None]]:
    group = own.get("Group")
    return [("--user", f"{s.value}:{group.value}" if group and group.value else s.value)] if s.value else []


def _group(s: Setting, own: dict[str, Setting]) -> list[tuple[str, str | None]]:
    if "User" not in own and s.value:
        raise refuse(s, "needs a User= beside it", "give the user too: User=NAME and Group=GROUP")
    return []


def _read_only_tmpfs(s: Setting, own: dict[str, Setting]) -> list[tuple[str, str | None]]:
    return [("--read-only-tmpfs", "true" if parse_bool(s) else "false")]


def _no_new_privileges(s: Setting, own: dict[str, Setting]) -> list[tuple[str, str | None]]:
    if not parse_bool(s):
        raise refuse(s, "false is not taken by sdc", "sdc always sets no_new_privs: drop the line")
    return []


def _seccomp(s: Setting, own: dict[str, Setting]) -> list[tuple[str, str | None]]:
    return [("--security-opt", f"seccomp={s.value}")] if s.value else []


def _http_proxy(s: Setting, own: dict[str, Setting]) -> list[tuple[str, str | None]]:
    if parse_bool(s):
        hint = "sdc passes no proxy variable of the host's: set them with Environment= (false is what sdc does)"
        raise refuse(s, "true is not taken by sdc", hint)
    return []


def _auto_update(s: Setting, own: dict[str, Setting]) -> list[tuple[str, str | None]]:
    """AutoUpdate=registry|local: the label `sdc auto-update` looks for (Podman's)."""
    if s.value not in ("registry", "local"):
        raise refuse(s, f"{s.value!r} is no policy of auto-update's", "write registry or local")
    return [("--label", f"io.containers.autoupdate={s.value}")]


def _none(s: Setting, own: dict[str, Setting]) -> list[tuple[str, str | None]]:
    return []  # (read where the unit is made: ContainerName, Image)


_OWN_READERS: dict[str, Callable[[Setting, dict[str, Setting]], list[tuple[str, str | None]]]] = {
    "Notify": _notify, "User": _user, "Group": _group, "ReadOnlyTmpfs": _read_only_tmpfs,
    "NoNewPrivileges": _no_new_privileges, "SeccompProfile": _seccomp, "ContainerName": _none, "Image": _none,
    "HttpProxy": _http_proxy, "AutoUpdate": _auto_update,
}  # fmt: skip


def _global_args(s: Setting) -> list[str]:
    """GlobalArgs=: sdc's own global flag --root DIR alone (the store's directory)."""
    words = split_words(s.value, where=f"{s.where()}: {s.key}=")
    taken: list[str] = []
    it = iter(words)
    for word in it:
        flag, eq, value = word.partition("=")
        if flag != "--root":
            hint = "a store keeps the driver it was made with; sdc's other settings have keys of their own"
            raise refuse(s, f"takes --root alone, not {word!r}", hint)
        value = value if eq else next(it, "")
        if not value.startswith("/") or "%" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise refuse(s, f"--root needs an absolute path (no specifier, no control character), not {value!r}",
                         "write --root /var/lib/sdc-other")  # fmt: skip
        taken += [flag, value]
    return taken


def check_specifiers(unit: ContainerUnit, known: frozenset[str]) -> None:
    """Every % of the file's values a specifier systemd knows (%% for a %): systemd refuses a
    command line with another, and the unit would not start."""
    values = [(flag, value) for flag, value in unit.options if value] + [("--name", unit.name)]
    values += [("Image", unit.image), *(("Exec", c) for c in unit.command)]
    for flag, value in values:
        if bad := unknown_specifier(value, known):
            s = unit.origins.get(flag)
            where = f"{s.where()}: {s.key}=" if s else f"{unit.name}: {flag}"
            raise QuadletError(f"{where} {bad!r} is no specifier systemd knows", hint="write %% for a %")


def unknown_specifier(value: str, known: frozenset[str]) -> str:
    """The first % of value that is no specifier systemd knows ("%Z", or "%" at its end), else ""."""
    i = value.find("%")
    while i >= 0:
        if value[i + 1 : i + 2] not in known or i + 1 == len(value):
            return value[i : i + 2]
        i = value.find("%", i + 2)
    return ""


def check(unit: ContainerUnit, expand: Callable[[str], str], *, skip: Sequence[str] = ()) -> ContainerSpec:
    """The spec `sdc run --detach --rm` makes of the file's settings, specifiers expanded by expand,
    checked as sdc run checks its flags; an error names the setting it comes from. A value holding
    one of skip (a template's %i) is checked as each instance starts, not here."""
    if skip:
        kept = tuple(o for o in unit.options if not any(k in (o[1] or "") for k in skip))
        unit = dataclasses.replace(unit, options=kept)
    try:
        return _spec(unit, expand)
    except QuadletError:
        raise
    except SdcError as exc:
        setting = _culprit(unit, expand)
        where = f"{setting.where()}: {setting.key}=" if setting else f"{unit.name}:"
        raise QuadletError(f"{where} {exc.message}", hint=exc.hint) from None


def _spec(unit: ContainerUnit, expand: Callable[[str], str]) -> ContainerSpec:
    """The spec of unit's settings, without looking at the host's files: a boot's generator runs
    before the file systems they are on are mounted, and the unit's start checks them (its
    ExecStartPre is `sdc run`'s checks): a bind's host path is taken for / here, an environment
    file, a seccomp profile and a device (udev may not have made it yet) are not looked at."""
    from sdcontainer.spec import build_run_spec

    expanded = [(flag, None if value is None else expand(value)) for flag, value in unit.options]
    options = tuple(_without_host_files(flag, value) for flag, value in expanded
                    if flag not in ("--env-file", "--device") and not (value or "").startswith("seccomp="))  # fmt: skip
    checkable = dataclasses.replace(unit, options=options, name=expand(unit.name), image=expand(unit.image),
                                    command=tuple(expand(c) for c in unit.command))  # fmt: skip
    return build_run_spec(**{**checkable.run_flags(lambda v: v), "detach": True, "rm": True}, environ={})


def _without_host_files(flag: str, value: str | None) -> tuple[str, str | None]:
    if flag == "--volume" and value and value.startswith("/") and ":" in value:  # (not an anonymous one: /data)
        return flag, "/:" + value.partition(":")[2]
    if flag == "--mount" and value:
        fields = [f"{k}=/" if k in ("source", "src") and v.startswith("/") else field
                  for field in value.split(",") for k, _, v in [field.partition("=")]]  # fmt: skip
        return flag, ",".join(fields)
    return flag, value


def _culprit(unit: ContainerUnit, expand: Callable[[str], str]) -> Setting | None:
    """The setting whose flag makes the spec fail: its name (with the image and command alone,
    ContainerName=), else the first option that fails alone with them, or with its pod or network
    (PublishPort= with Pod=; linear: a long file is checked in its length's time); None where only
    options together fail (a path mounted twice: the message names it)."""
    base = dataclasses.replace(unit, options=())
    try:
        _spec(base, expand)
    except SdcError:
        return unit.origins.get("--name")
    for option in unit.options:
        try:
            _spec(dataclasses.replace(unit, options=(option,)), expand)
        except SdcError:
            return unit.origins.get(option[0])
    context = tuple(o for o in unit.options if o[0] in ("--pod", "--network"))  # what others are checked against
    try:
        _spec(dataclasses.replace(unit, options=context), expand)
    except SdcError:  # (Pod= and Network= together: the later line)
        return max((unit.origins[flag] for flag, _ in context if flag in unit.origins), key=lambda s: (s.path, s.line),
                   default=None)  # fmt: skip
    for option in (o for o in unit.options if o not in context):
        try:
            _spec(dataclasses.replace(unit, options=(*context, option)), expand)
        except SdcError:
            return unit.origins.get(option[0])
    return None
