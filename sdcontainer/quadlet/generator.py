"""sdc's Quadlet generator: services from .container files, at every boot and daemon-reload.

systemd runs every executable in its generator directories (systemd.generator(7)) before it loads
units, with the directories to write units into. Ours reads Quadlet's files (podman-systemd.unit(5))
from sdc's own directories, SEARCH_DIRS: Podman's generator reads /etc/containers/systemd, and two
generators making the same web.service from one file would fight over it; a Podman user moves
the files over as they are. web.container becomes web.service, a service as `sdc run -d` makes
it: its ExecStartPre makes the container (`sdc _unit-create`: the image pulled where missing, its
layer and bundle; one of the same name an earlier run left is replaced), its ExecStart is sdc's
launcher, whose container's PID 1 becomes the unit's main process (Type=notify; no sdc process
stays), its ExecStopPost removes the container (Podman's --rm --replace). The container's
settings are the unit's properties (limits, devices, stop signal and timeout) as run -d sets them.

A file that cannot be read or is refused is said (on stderr: the journal at boot) and skipped;
the others are generated all the same, and the generator always exits 0: a broken file never
stops a boot. `sdc quadlet --dryrun` prints what would be generated, and the errors.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdcontainer.errors import SdcError
from sdcontainer.quadlet import container as quadlet_container
from sdcontainer.quadlet import kube
from sdcontainer.quadlet.container import QuadletError
from sdcontainer.quadlet.unitfile import Setting, parse, quote_words, split_words

if TYPE_CHECKING:
    from sdcontainer.containerspec import ContainerSpec
    from sdcontainer.paths import Paths
    from sdcontainer.quadlet.image import ImageUnit
    from sdcontainer.quadlet.pod import PodUnit
    from sdcontainer.quadlet.resources import ResourceUnit

SEARCH_DIRS = (Path("/run/sdc/systemd"), Path("/etc/sdc/systemd"), Path("/usr/share/sdc/systemd"))
DIRS_VARIABLE = "SDC_QUADLET_UNIT_DIRS"  # a ":"-separated list in place of SEARCH_DIRS (Podman's QUADLET_UNIT_DIRS)
KINDS = {".container": ".service", ".kube": ".service", ".volume": "-volume.service", ".network": "-network.service",
         ".pod": "-pod.service", ".image": "-image.service", ".build": "-build.service"}  # fmt: skip
LATER = (".artifact",)  # Podman's others: not yet sdc's
HEADER = "# Made by sdc's Quadlet generator (`sdc quadlet --dryrun` shows it) from"
PULL_TIMEOUT = 900  # s: a generated unit's TimeoutStartSec= (a [Service] line of the file's overrides it)
GENERATOR = "sdc-generator"  # its file's name in systemd's generator directories


@dataclass(frozen=True)
class Generated:
    unit: str  # web.service
    source: Path
    text: str
    install: tuple[Setting, ...]  # its [Install] settings: the links the generator makes
    beside: tuple[tuple[str, str], ...] = ()  # units it needs, made with it: (name, text)
    pod: str = ""  # a .pod file's: the pod its unit makes (and removes as it stops)


def search_dirs() -> list[Path]:
    given = os.environ.get(DIRS_VARIABLE)
    return [Path(d) for d in given.split(":") if d] if given else list(SEARCH_DIRS)


def sources(dirs: Sequence[Path]) -> dict[str, Path]:
    """Quadlet files by name, a name's first found in dirs' order (and theirs below them) taken."""
    found: dict[str, Path] = {}
    for directory in dirs:
        for path in sorted(_walk(directory)):
            if path.suffix in (*KINDS, *LATER):
                found.setdefault(path.name, path)
    return found


def _walk(directory: Path) -> Iterator[Path]:
    """The files below directory; a directory linked to is not entered (a loop, say: Podman's
    walk does not follow them either); a file linked to is taken (web@1.container -> web@.container)."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if not entry.name.endswith(".d"):
                    yield from _walk(Path(entry.path))
            elif entry.is_file():
                yield Path(entry.path)
        except OSError:
            continue  # (a link that loops, or points nowhere)


def dropins(name: str, dirs: Sequence[Path]) -> list[Path]:
    """The drop-ins of Quadlet file name (web.container): NAME.d/*.conf, a template's for its
    instances (web@.container.d), and those of its kind (container.d); a drop-in's name found
    first in dirs' order taken, all applied in the order of their names."""
    stem, suffix = name.rsplit(".", 1)
    wanted = [f"{suffix}.d"]
    if "@" in stem and not stem.endswith("@"):
        wanted.append(f"{stem.split('@')[0]}@.{suffix}.d")
    wanted.append(f"{name}.d")
    chosen: dict[str, Path] = {}
    for directory in dirs:
        for sub in wanted:
            try:
                names = sorted(os.listdir(directory / sub))
            except OSError:
                continue
            for conf in names:
                if conf.endswith(".conf"):
                    chosen.setdefault(f"{sub}/{conf}", directory / sub / conf)
    return [chosen[key] for key in sorted(chosen, key=lambda k: k.rsplit("/", 1)[1])]


# Within generate_all: what each file reads as and generates, read once (a pod's file reads its
# containers' files, a container's the files it names: without it, a directory of many is slow).
_cache: tuple[dict[Path, list[Setting]], dict[Path, Generated | SdcError]] | None = None
_generating: list[Path] = []  # the files being generated now, one naming the next: a loop is refused


def read_settings(path: Path, dirs: Sequence[Path]) -> list[Setting]:
    if _cache is not None and path in _cache[0]:
        return list(_cache[0][path])
    settings = parse(path.read_text(encoding="utf-8"), str(path))
    for conf in dropins(path.name, dirs):
        settings += parse(conf.read_text(encoding="utf-8"), str(conf))
    if _cache is not None:
        _cache[0][path] = list(settings)
    return settings


def generate(path: Path, dirs: Sequence[Path], found: dict[str, Path] | None = None) -> Generated:
    """The unit of Quadlet file path; SdcError (naming the file and line) where it is refused.
    found: the Quadlet files there are (sources), which its [Unit] dependencies may name."""
    if _cache is not None and path in _cache[1]:
        cached = _cache[1][path]
        if isinstance(cached, SdcError):
            raise cached
        return cached
    if path in _generating:
        raise QuadletError(f"{path}: the files it names lead back to it ({' -> '.join(p.name for p in _generating)})",
                           hint="a container cannot share its own network, even through others")  # fmt: skip
    _generating.append(path)
    try:
        made = _generate(path, dirs, found)
    except SdcError as exc:
        if _cache is not None:
            _cache[1][path] = exc
        raise
    finally:
        _generating.pop()
    if _cache is not None:
        _cache[1][path] = made
    return made


def _generate(path: Path, dirs: Sequence[Path], found: dict[str, Path] | None) -> Generated:
    if path.suffix in LATER:
        raise QuadletError(f"{path}: {path.suffix} files are not taken by sdc yet",
                       hint="sdc generates services from .container files")  # fmt: skip
    stem = path.name[: -len(path.suffix)]
    unit = _unit_of(path.name)
    check_unit_name(unit, path)
    if unit.startswith(("sdc-", "sdc@")):
        raise QuadletError(f"{path}: its unit {unit} would be named as sdc's own units are (sdc-NAME)",
                           hint="name the file otherwise")  # fmt: skip
    _check_path(path)
    settings = read_settings(path, dirs)
    found = found if found is not None else sources(dirs)
    if path.suffix == ".kube":
        return _generate_kube(path, unit, settings, found)
    if path.suffix in (".volume", ".network"):
        return _generate_resource(path, unit, settings, found)
    if path.suffix == ".image":
        return _generate_image(path, unit, settings, found)
    if path.suffix == ".build":
        return _generate_build(path, unit, settings, found)
    if path.suffix == ".pod":
        return _generate_pod(path, unit, _references(settings, found, dirs, section="Pod"), found, dirs)
    _refuse_in_other_sections(settings)
    settings = _references(settings, found, dirs)
    templated = "@" in stem  # a template (web@.container) or an instance's own file (web@a.container)
    declared = quadlet_container.read_container(settings, default_name="systemd-%p_%i" if templated else "systemd-%N",
                                                path=str(path))  # fmt: skip
    quadlet_container.check_specifiers(declared, frozenset(SPECIFIERS))
    skip = INSTANCE if stem.endswith("@") else ()  # a template's %i: its instances', checked as each starts
    spec = quadlet_container.check(declared, lambda value: expand(value, unit), skip=skip)
    if spec.pod and spec.userns == "auto":  # (a Quadlet pod shares its IPC namespace: run --pod refuses it)
        s = declared.origins["--userns"]
        raise QuadletError(f"{s.where()}: UserNS=auto in a pod, whose IPC namespace is the host user namespace's",
                           hint="remove it, or run the container outside the pod")  # fmt: skip
    settings = _dependencies(settings, found)
    _check_install(settings, templated=stem.endswith("@"))
    text = render(unit, path, settings, declared, spec)
    return Generated(unit, path, text, tuple(s for s in settings if s.section == "Install"), _beside(declared))


UNIT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@")


def _check_path(path: Path) -> None:
    """path one the unit can name (SourcePath=): UTF-8, without control characters."""
    text = str(path)
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xDC80 <= ord(c) <= 0xDCFF for c in text):
        raise QuadletError(f"{_shown(path)}: a Quadlet file's path with control characters or bytes not UTF-8",
                           hint="move it to a directory whose name is plain text")  # fmt: skip


def check_unit_name(unit: str, path: Path) -> None:
    """unit a name systemd takes for a unit (systemd.unit(5): ASCII letters, digits, ":-_.\\@", 255
    bytes at most, one "@" at most)."""
    if len(unit) > 255 or not set(unit) <= UNIT_CHARS or unit.count("@") > 1 or unit.startswith((".", "@")):
        raise QuadletError(f"{path}: {unit!r} is no unit name systemd takes",
                       hint="name the file with ASCII letters, digits and :-_. alone (web.container)")  # fmt: skip


# systemd's keys that name other units (Podman's list): a Quadlet file named there is its unit
DEPENDENCIES = ("After", "Before", "BindsTo", "Conflicts", "OnFailure", "OnSuccess", "PartOf", "PropagatesReloadTo",
                "PropagatesStopTo", "ReloadPropagatedFrom", "Requires", "Requisite", "StopPropagatedFrom", "Upholds",
                "Wants")  # fmt: skip


def _dependencies(settings: Sequence[Setting], found: dict[str, Path]) -> list[Setting]:
    """settings with [Unit]'s dependencies on Quadlet files (After=db.container) made ones on
    their units (db.service); SdcError naming the line for a file there is none of."""
    import dataclasses

    out = []
    for s in settings:
        if s.section == "Unit" and s.key in DEPENDENCIES:
            words = s.value.split()
            for word in words:
                if word.endswith(LATER):  # (systemd would ignore it: no unit type of that name)
                    raise QuadletError(f"{s.where()}: {s.key}={word}: sdc generates no unit of a "
                                       f"{word.rsplit('.', 1)[-1]} file", hint="name a .container or .kube file, "
                                       "or a unit")  # fmt: skip
                if word.endswith(tuple(KINDS)) and word not in found:
                    raise QuadletError(f"{s.where()}: {s.key}={word}: no Quadlet file {word} is there",
                                       hint="name a .container file of the same directories, or a unit")  # fmt: skip
            s = dataclasses.replace(s, value=" ".join(_unit_of(w) for w in words))
        out.append(s)
    return out


def _unit_of(word: str) -> str:
    """The unit of Quadlet file word: web.container's web.service, data.volume's data-volume.service
    (a template's, data@.volume: data-volume@.service, as Podman names them); a unit's own name."""
    for kind, suffix in KINDS.items():
        if word.endswith(kind):
            stem = word[: -len(kind)]
            if "@" in stem and suffix != ".service":
                prefix, _, instance = stem.partition("@")
                return f"{prefix}{suffix.removesuffix('.service')}@{instance}.service"
            return stem + suffix
    return word


def _check_install(settings: Sequence[Setting], *, templated: bool) -> None:
    """[Install]'s names: units (WantedBy=, RequiredBy=, UpheldBy=, Alias=) and an instance
    (DefaultInstance=); an Alias= may be in a directory below the generator's (Podman's), but
    no name leads out of it (no "..", no absolute path)."""
    for s in (s for s in settings if s.section == "Install"):
        if s.key in LINKS or s.key == "Alias":
            for word in split_words(s.value, where=f"{s.where()}: {s.key}="):
                *parts, name = word.split("/")
                if s.key != "Alias" and parts or any(p in ("", ".", "..") for p in parts):
                    raise QuadletError(f"{s.where()}: {s.key}={word} leads out of the generator's directory",
                                       hint="name a unit: multi-user.target")  # fmt: skip
                check_unit_name(name, Path(f"{s.where()}: {s.key}="))
        elif s.key == "DefaultInstance":
            if not templated or not s.value or not set(s.value) <= UNIT_CHARS - {"@"} or len(s.value) > 200:
                hint = "a template's (web@.container) DefaultInstance= is a unit name's part"
                raise QuadletError(f"{s.where()}: DefaultInstance={s.value} is no instance of this unit", hint=hint)
        else:
            raise QuadletError(f"{s.where()}: {s.key}= is not a key of [Install] sdc's generator takes",
                               hint="it takes WantedBy=, RequiredBy=, UpheldBy=, Alias=, DefaultInstance=")  # fmt: skip


LINKS = {"WantedBy": ".wants", "RequiredBy": ".requires", "UpheldBy": ".upholds"}  # [Install]'s, by directory


OWNED = ("ExecStart", "Type", "NotifyAccess", "RemainAfterExit", "PIDFile")  # [Service] settings sdc's unit needs


def _refuse_in_other_sections(settings: Sequence[Setting], *, own: str = "Container") -> None:
    """[Service]'s User=, Group=, DynamicUser= (the launcher runs as root: the container's user
    is User= of [Container]) and [Quadlet]'s keys but DefaultDependencies=, as Podman refuses them;
    and a section of another kind's file (own: this one's)."""
    for s in settings:
        if s.section in KIND_SECTIONS and s.section != own:
            raise QuadletError(f"{s.where()}: [{s.section}] in a file of [{own}]",
                               hint=f"a .{s.section.lower()} file's section; this one takes [{own}]")  # fmt: skip
        if own != "Container" and s.section == "Service" and s.key == "Type" and s.value == "oneshot":
            continue  # (what sdc's unit of a .kube, .volume, .network or .pod file is)
        if own != "Container" and s.section == "Service" and s.key == "Restart" and s.value in ("always", "on-success"):
            raise QuadletError(f"{s.where()}: Restart={s.value} in [Service] is not taken: sdc's unit of a "
                               f".{own.lower()} file is a oneshot that stays active, which systemd restarts on "
                               "failure alone", hint="write Restart=on-failure, or remove it")  # fmt: skip
        if s.section == "Service" and s.key in ("User", "Group", "DynamicUser"):
            raise QuadletError(f"{s.where()}: {s.key}= in [Service] is not taken: sdc's launcher runs as root",
                               hint="the container's own user is [Container]'s User=")  # fmt: skip
        if s.section == "Service" and (s.key in OWNED or (s.key in ("ExecStartPre", "ExecStopPost") and not s.value)):
            raise QuadletError(f"{s.where()}: {s.key}={s.value} in [Service] is not taken: sdc's unit needs its own",
                               hint="the container's command is [Container]'s Exec=")  # fmt: skip
        if s.section == "Quadlet" and s.key != "DefaultDependencies":
            raise QuadletError(f"{s.where()}: {s.key}= is not a key of [Quadlet]", hint="it takes DefaultDependencies=")


KIND_SECTIONS = ("Container", "Kube", "Volume", "Network", "Pod", "Image", "Build", "Artifact")


def _beside(declared: quadlet_container.ContainerUnit | kube.KubeUnit | ResourceUnit | PodUnit | ImageUnit,
            ) -> tuple[tuple[str, str], ...]:  # fmt: skip
    """The mount unit of the store's loopback pool, where it has one (persist.pool_mount_unit, as
    an enabled container's): mounted at boot before the unit that requires it starts."""
    from sdcontainer.persist import mount_unit_name, pool_mount_unit

    paths = _store(declared.global_args)
    return ((mount_unit_name(paths.storage), pool_mount_unit(paths)),) if paths.pool_image.exists() else ()


def _store(global_args: Sequence[str]) -> Paths:
    """The store GlobalArgs= names (--root), else sdc's default."""
    from sdcontainer.paths import Paths, root_of

    given = dict(zip(global_args[::2], global_args[1::2], strict=True))
    return Paths(root_of(given.get("--root")))


def _references(settings: list[Setting], found: dict[str, Path], dirs: Sequence[Path], *,
                section: str = "Container") -> list[Setting]:  # fmt: skip
    """[Container]'s (or [Pod]'s) Network=app.network, Volume=data.volume:/d and Mount=...source=
    data.volume made the names of what those files make, and the unit made to require theirs
    (Podman's). A container's Pod=app.pod (its pod's name) and Network=db.container or
    container:NAME of a Quadlet container (container:ITS-NAME) make it bound to that unit:
    stopped with it, started after it."""
    import dataclasses

    from sdcontainer.quadlet import build as quadlet_build
    from sdcontainer.quadlet import image, pod, resources

    out: list[Setting] = []
    needed: list[tuple[str, Setting]] = []
    bound: list[tuple[str, Setting]] = []

    def named(word: str, s: Setting) -> str:
        if not word.endswith((".volume", ".network")) or word.startswith(("/", ".")):
            return word
        kind = word.rsplit(".", 1)[1]
        needed.append((_unit_of(_found(word, s, found, dirs)), s))
        return resources.resource_name(read_settings(found[word], dirs), kind, word[: -len(kind) - 1])

    for s in settings:
        if s.section == section == "Container" and s.key == "Pod":
            if not s.value.endswith(".pod"):
                raise QuadletError(f"{s.where()}: Pod={s.value} is no Quadlet .pod file",
                                   hint="name a .pod file: its unit is what the container's is bound to")  # fmt: skip
            bound.append((_unit_of(_found(s.value, s, found, dirs)), s))
            s = dataclasses.replace(s, value=pod.pod_name(read_settings(found[s.value], dirs), s.value[:-4]))
        elif s.section == section == "Container" and s.key == "Network" and (
                s.value.endswith(".container") or s.value.startswith("container:")):  # fmt: skip
            unit, name = _container_named(s, found, dirs)
            bound.append((unit, s))
            s = dataclasses.replace(s, value=f"container:{name}")
        elif s.section == section == "Container" and s.key == "Image" and \
                quadlet_container.unquoted(s).value.endswith((".image", ".build")):  # fmt: skip
            word = quadlet_container.unquoted(s).value
            needed.append((_unit_of(_found(word, s, found, dirs)), s))
            made_by = image if word.endswith(".image") else quadlet_build
            s = dataclasses.replace(s, value=made_by.image_name(read_settings(found[word], dirs)))
        elif s.section == section and s.key == "Network":
            s = dataclasses.replace(s, value=named(s.value, s))
        elif s.section == "Container" and s.key == "Volume":
            source, colon, rest = s.value.partition(":")
            s = dataclasses.replace(s, value=named(source, s) + colon + rest)
        elif s.section == "Container" and s.key == "Mount":
            fields = [f"{k}={named(v, s)}" if k in ("source", "src") and eq else field
                      for field in s.value.split(",") for k, eq, v in [field.partition("=")]]  # fmt: skip
            s = dataclasses.replace(s, value=",".join(fields))
        out.append(s)
    for unit, s in dict((u, s) for u, s in needed).items():
        out += [Setting("Unit", "Requires", unit, s.path, s.line), Setting("Unit", "After", unit, s.path, s.line)]
    for unit, s in dict((u, s) for u, s in bound).items():
        out += [Setting("Unit", "BindsTo", unit, s.path, s.line), Setting("Unit", "After", unit, s.path, s.line)]
    return out


def _found(word: str, s: Setting, found: dict[str, Path], dirs: Sequence[Path] = ()) -> str:
    """word, the name of a Quadlet file there is (found); with dirs, one whose unit is made (a
    .volume, .network, .image or .pod file's: they name no .container file, so no loop)."""
    if word not in found:
        raise QuadletError(f"{s.where()}: {s.key}={word}: no Quadlet file {word} is there",
                           hint="put it beside this one, or name what it makes itself")  # fmt: skip
    if dirs:
        try:
            generate(found[word], dirs, found)
        except (SdcError, OSError, UnicodeError) as exc:
            why = exc.message if isinstance(exc, SdcError) else str(exc)
            raise QuadletError(f"{s.where()}: {s.key}={word}: that file makes no unit ({why})",
                               hint=f"mend {word} first") from None  # fmt: skip
    return word


def _container_named(s: Setting, found: dict[str, Path], dirs: Sequence[Path]) -> tuple[str, str]:
    """Network=db.container's, or container:NAME's (NAME a Quadlet container's): its unit and its
    container's name. One of another container is refused: sdc's generator could not bind the
    unit to that container's (a transient unit, or an enabled one's: which one is not known
    before it runs), and a unit not bound to it would run on in a namespace torn down."""
    if s.value.endswith(".container"):
        _found(s.value, s, found, dirs)
        return _unit_of(s.value), _container_name(s.value, found, dirs)
    name = s.value.removeprefix("container:")
    for word in (w for w in found if w.endswith(".container") and "@" not in w):
        theirs = ""
        with _suppressed():
            theirs = _container_name(word, found, dirs)
        if theirs == name:
            _found(word, s, found, dirs)
            return _unit_of(word), name
    raise QuadletError(f"{s.where()}: Network={s.value}: no Quadlet .container file makes container {name}",
                       hint="name its Quadlet file (Network=db.container): the unit is bound to its unit")


def _container_name(word: str, found: dict[str, Path], dirs: Sequence[Path]) -> str:
    """The container Quadlet file word runs, its specifiers expanded as its unit's systemd expands them."""
    names = [s.value for s in read_settings(found[word], dirs) if s.section == "Container" and s.key == "ContainerName"]
    name = quadlet_container.unquoted(Setting("Container", "", names[-1], "", 0)).value if names else "systemd-%N"
    return expand(name, _unit_of(word))


def _suppressed() -> contextlib.AbstractContextManager[None]:
    """A file that cannot be read is no match (its own generation says why)."""
    return contextlib.suppress(OSError, UnicodeError, SdcError)


def _generate_image(path: Path, unit: str, settings: list[Setting], found: dict[str, Path]) -> Generated:
    """An .image file's unit (quadlet/image.py): a oneshot that stays active once the image is pulled."""
    from sdcontainer.quadlet import image

    declared = image.read_image(settings, path=str(path))
    settings, store, sdc, commands = _image_unit(unit, settings, found, "Image", declared)
    commands += [f"ExecStart={quote_words([*sdc, 'pull', '--quiet', *declared.pull, declared.image])}"]
    if declared.name != declared.image:  # ImageTag=: the name its containers use
        commands += [f"ExecStart={quote_words([*sdc, 'tag', declared.image, declared.name])}"]
    return _oneshot(path, unit, settings, "Image", declared, store=store, service_lines=commands)


def _generate_build(path: Path, unit: str, settings: list[Setting], found: dict[str, Path]) -> Generated:
    """A .build file's unit (quadlet/build.py): a oneshot that builds, and does not stay active
    (Podman's: each start of a container that needs it builds again, from the cache)."""
    from sdcontainer.quadlet import build

    declared = build.read_build(settings, path=str(path), ours=_ours)
    for s in (s for s in settings if s.section == "Build"):
        if bad := quadlet_container.unknown_specifier(s.value, frozenset(SPECIFIERS)):
            raise QuadletError(f"{s.where()}: {s.key}= {bad!r} is no specifier systemd knows", hint="write %% for a %")
    settings, store, sdc, commands = _image_unit(unit, settings, found, "Build", declared)
    commands[0] = "TimeoutStartSec=infinity"  # (a build takes what it takes; [Service]'s own says otherwise)
    if declared.working_directory:
        commands += [f"WorkingDirectory={declared.working_directory}"]
    build_args = [*sdc, "build", *declared.arguments, "--", declared.context]
    commands += [f"ExecStart={quote_words(build_args)}"]
    return _oneshot(path, unit, settings, "Build", declared, store=store, service_lines=commands, remain=False)


def _image_unit(unit: str, settings: list[Setting], found: dict[str, Path], own: str,
                declared: Any) -> tuple[list[Setting], Paths, list[str], list[str]]:  # fmt: skip
    """What an .image's or a .build's unit has alike: its settings checked ([Unit]'s dependencies
    made units', [Install]), its store, sdc's command for it, and its first service lines (a pull's
    timeout; the auth file sdc's pull reads, images/auth.py)."""
    from sdcontainer.api.run import sdc_argv

    _refuse_in_other_sections(settings, own=own)
    settings = _dependencies(settings, found)
    _check_install(settings, templated=unit.split(".")[0].endswith("@"))
    store = _store(declared.global_args)
    commands = [f"TimeoutStartSec={PULL_TIMEOUT}"]
    if declared.auth_file:
        commands += [f"Environment={quote_words(['REGISTRY_AUTH_FILE=' + declared.auth_file])}"]
    return settings, store, [_ours(w) for w in sdc_argv(store.root)], commands


def _oneshot(path: Path, unit: str, settings: list[Setting], own: str, declared: Any, *, store: Paths,
             unit_lines: Sequence[str] = (), service_lines: Sequence[str] = (), wait_network: bool = True,
             pod: str = "", remain: bool = True) -> Generated:  # fmt: skip
    """The unit of a .kube, .volume, .network, .image or .pod file: a oneshot that stays active
    (RemainAfterExit=) with service_lines its commands, the file's [Unit] and [Service] settings
    around sdc's as a .container's are, and [X-OWN] its own section, for `systemctl cat`."""
    lines = [HEADER, f"#   {path}", "", f"[X-{own}]", *(f"{s.key}={s.value}" for s in settings if s.section == own)]
    lines += ["", "[Unit]", f"SourcePath={path}", f"RequiresMountsFor={store.root}"]
    if wait_network and _default_dependencies(settings):
        lines += ["Wants=network-online.target", "After=network-online.target"]
    if store.pool_image.exists():
        from sdcontainer.persist import mount_unit_name

        lines += [f"Requires={mount_unit_name(store.storage)}", f"After={mount_unit_name(store.storage)}"]
    lines += [f"{s.key}={s.value}" for s in settings if s.section == "Unit"]
    lines += unit_lines
    service = [s for s in settings if s.section == "Service"]
    lines += ["", "[Service]", *(f"{s.key}={s.value}" for s in service if s.key == "ExecStartPre")]
    lines += ["Type=oneshot", *(["RemainAfterExit=yes"] if remain else []), "SyslogIdentifier=%N", *service_lines]
    lines += [f"{s.key}={s.value}" for s in service if s.key not in ("ExecStartPre", "Type")]
    skipped = ("Unit", "Service", own, "Quadlet")
    for section in dict.fromkeys(s.section for s in settings if s.section not in skipped):
        lines += ["", f"[{section}]", *(f"{s.key}={s.value}" for s in settings if s.section == section)]
    return Generated(unit, path, "\n".join(lines) + "\n", tuple(s for s in settings if s.section == "Install"),
                     _beside(declared), pod=pod)  # fmt: skip


def _generate_pod(path: Path, unit: str, settings: list[Setting], found: dict[str, Path],
                  dirs: Sequence[Path]) -> Generated:  # fmt: skip
    """A .pod file's unit (quadlet/pod.py)."""
    from sdcontainer.api.run import launcher_argv, sdc_argv
    from sdcontainer.podns import UNIT_VARIABLE
    from sdcontainer.quadlet import pod
    from sdcontainer.units import pod_slice

    _refuse_in_other_sections(settings, own="Pod")
    stem = path.name[: -len(path.suffix)]
    declared = pod.read_pod(settings, stem=stem, path=str(path))
    settings = _dependencies(settings, found)
    _check_install(settings, templated=False)
    store = _store(declared.global_args)
    sdc = [_ours(w) for w in sdc_argv(store.root)]
    directory = _ours(f"{store.root}/pods/{declared.name}")
    members = _members(path.name, found, dirs)
    unit_lines = [line for member in members for line in (f"Wants={member}", f"Before={member}")]
    if declared.stop_when_unneeded and members and not any(s.section == "Install" for s in settings):
        # ExitPolicy=stop: stopped once no container of its is bound to it (not one with no
        # container starting with it: it would stop as it starts; nor one a target wants: that
        # keeps it), as Podman's stops once its last container has ended
        unit_lines += ["StopWhenUnneeded=yes"]
    create = [*sdc, "_pod-unit-create", "%n", "--name", _ours(declared.name), *declared.create]
    up, down = ([*(_ours(w) for w in launcher_argv(mode)), directory] for mode in ("--pod-up", "--pod-down"))
    commands = [f"TimeoutStartSec={PULL_TIMEOUT}", f"Slice={_ours(pod_slice(declared.name))}",
                f"Environment={UNIT_VARIABLE}=%n", f"ExecStartPre={quote_words(create)}",
                f"ExecStart={quote_words(up)}", f"ExecStopPost=-{quote_words(down)}",
                f"ExecStopPost=-{quote_words([*sdc, '_pod-unit-cleanup', '%n', _ours(declared.name)])}"]  # fmt: skip
    return _oneshot(path, unit, settings, "Pod", declared, store=store, unit_lines=unit_lines,
                    service_lines=commands, pod=declared.name)  # fmt: skip


def _members(name: str, found: dict[str, Path], dirs: Sequence[Path]) -> list[str]:
    """The units of the .container files whose Pod= is pod file name and that start with it
    (StartWithPod=, true unless said; not a template's: no instance of it is known)."""
    from sdcontainer.quadlet.pod import starts_with_pod

    units = []
    for word, source in found.items():
        if not word.endswith(".container") or word[: -len(".container")].endswith("@"):
            continue
        with _suppressed():
            settings = read_settings(source, dirs)
            pods = [s.value for s in settings if s.section == "Container" and s.key == "Pod"]
            if pods and pods[-1] == name and starts_with_pod(settings):
                units.append(_unit_of(word))
    return units


def _generate_resource(path: Path, unit: str, settings: list[Setting], found: dict[str, Path]) -> Generated:
    """A .volume or .network file's unit (quadlet/resources.py): a oneshot that stays active once
    what it makes is there."""
    from sdcontainer.api.run import sdc_argv
    from sdcontainer.quadlet import resources

    kind = path.suffix[1:]
    _refuse_in_other_sections(settings, own=kind.capitalize())
    stem = path.name[: -len(path.suffix)]
    declared = (resources.read_volume if kind == "volume" else resources.read_network)(settings, stem=stem)
    settings = _dependencies(settings, found)
    _check_install(settings, templated=stem.endswith("@"))
    store = _store(declared.global_args)
    sdc = [_ours(w) for w in sdc_argv(store.root)]
    commands = [f"ExecStart={quote_words([*sdc, kind, 'create', *(_ours(w) for w in declared.create)])}"]
    if declared.delete_on_stop:
        commands += [f"ExecStopPost=-{quote_words([*sdc, kind, 'rm', _ours(declared.name)])}"]
    return _oneshot(path, unit, settings, kind.capitalize(), declared, store=store, service_lines=commands,
                    wait_network=False)  # fmt: skip


def _generate_kube(path: Path, unit: str, settings: list[Setting], found: dict[str, Path]) -> Generated:
    """A .kube file's unit (quadlet/kube.py)."""
    _refuse_in_other_sections(settings, own="Kube")
    declared = kube.read_kube(settings, path=str(path))
    settings = _dependencies(settings, found)
    _check_install(settings, templated=unit.split(".")[0].endswith("@"))
    from sdcontainer.api.run import sdc_argv

    store = _store(declared.global_args)
    sdc = [_ours(w) for w in sdc_argv(store.root)]
    network = ["--network", _ours(declared.network)] if declared.network else []
    # A oneshot that stays active: the pods and their containers are units of their own (no
    # service container), made by kube play and removed by kube down, whatever ends the unit.
    commands = [f"TimeoutStartSec={PULL_TIMEOUT}"]
    commands += [f"ExecStart={quote_words([*sdc, 'kube', 'play', '--replace', *network, y])}" for y in declared.yaml]
    commands += [f"ExecStopPost=-{quote_words([*sdc, 'kube', 'down', y])}" for y in reversed(declared.yaml)]
    return _oneshot(path, unit, settings, "Kube", declared, store=store, service_lines=commands,
                    unit_lines=[f"RequiresMountsFor={y}" for y in declared.yaml if "%" not in y])  # fmt: skip


INSTANCE = ("%i", "%I", "%n", "%N")  # a template's specifiers that only its instance knows

SPECIFIERS = {"%": "%", "n": "", "N": "", "p": "", "i": "", "I": "", "j": "", "J": "", "t": "/run",
              "S": "/var/lib", "C": "/var/cache", "L": "/var/log", "E": "/etc", "T": "/tmp", "V": "/var/tmp",
              "h": "/root", "u": "root", "U": "0", "g": "root", "G": "0", "H": "localhost", "l": "localhost",
              "m": "0" * 32, "b": "0" * 32, "o": "linux", "v": "6", "a": "x86-64", "s": "/bin/sh", "y": "",
              "Y": "", "w": "", "W": "", "A": "", "B": "", "M": "", "q": "localhost", "d": "", "R": ""}  # fmt: skip


def expand(value: str, unit: str) -> str:
    """value's specifiers expanded as systemd would for unit (a template's instance taken as
    "instance"), for the checks of the generated command line; an unknown one left as it is
    (systemd says so at the start)."""
    prefix, _, instance = unit.rsplit(".", 1)[0].partition("@")
    instance = instance or ("instance" if "@" in unit else "")
    known = {**SPECIFIERS, "n": unit, "N": unit.rsplit(".", 1)[0], "p": prefix, "i": instance, "I": instance,
             "j": prefix.rsplit("-", 1)[-1], "J": prefix.rsplit("-", 1)[-1]}  # fmt: skip
    out, i = [], 0
    while i < len(value):
        if value[i] == "%" and i + 1 < len(value) and value[i + 1] in known:
            out.append(known[value[i + 1]])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def render(unit: str, source: Path, settings: Sequence[Setting], declared: quadlet_container.ContainerUnit,
           spec: ContainerSpec) -> str:  # fmt: skip
    paths = declared.paths()
    lines = [f"{HEADER}", f"#   {source}", "", "[X-Container]"]  # (systemd skips X- sections: `systemctl cat`)
    lines += [f"{s.key}={s.value}" for s in settings if s.section == "Container"]
    lines += ["", "[Unit]", f"SourcePath={source}", f"RequiresMountsFor={paths.root}"]
    lines += [f"RequiresMountsFor={p}" for p in quadlet_container.host_paths(declared)]  # what it binds
    if _default_dependencies(settings):
        lines += ["Wants=network-online.target", "After=network-online.target"]
    if paths.pool_image.exists():  # a loopback pool: mounted first (its mount unit made beside: _beside)
        from sdcontainer.persist import mount_unit_name

        mount = mount_unit_name(paths.storage)
        lines += [f"Requires={mount}", f"After={mount}"]
    lines += [f"{s.key}={s.value}" for s in settings if s.section == "Unit"]  # after sdc's: `After=` resets them
    # The file's ExecStartPre= first (its `mkdir -p` of what the container binds, say), then sdc's,
    # then the rest of its [Service], over sdc's settings.
    service = [s for s in settings if s.section == "Service"]
    lines += ["", "[Service]", *(f"{s.key}={s.value}" for s in service if s.key == "ExecStartPre")]
    lines += _service(declared, spec, paths.root)
    lines += [f"{s.key}={s.value}" for s in service if s.key != "ExecStartPre"]
    skipped = ("Unit", "Service", "Container", "Quadlet")
    for section in dict.fromkeys(s.section for s in settings if s.section not in skipped):
        lines += ["", f"[{section}]", *(f"{s.key}={s.value}" for s in settings if s.section == section)]
    return "\n".join(lines) + "\n"


def _default_dependencies(settings: Sequence[Setting]) -> bool:
    """[Quadlet] DefaultDependencies= (true unless said): the unit waits for the network to be up."""
    chosen = [s for s in settings if s.section == "Quadlet" and s.key == "DefaultDependencies"]
    return quadlet_container.parse_bool(chosen[-1]) if chosen else True


def _service(declared: quadlet_container.ContainerUnit, spec: ContainerSpec, root: Path) -> list[str]:
    """The [Service] settings of the container's unit: those of `sdc run -d`'s (units.
    build_service_properties, rendered as an enabled container's drop-in is: persist), for the
    spec the file makes. Its command lines are written here, in systemd's own quoting (a newline
    a value holds cannot end the line): sdc's own words with their % and $ escaped, the file's
    values as it wrote them, for systemd to expand their specifiers and variables as in Podman's."""
    from sdcontainer import persist, units
    from sdcontainer.api.run import launcher_argv, sdc_argv

    sdc = [_ours(w) for w in sdc_argv(root)]
    name = declared.name  # (the file's)
    bundle = _ours(f"{root}/containers/") + name
    launcher = [_ours(w) for w in launcher_argv()]
    read_only = [os.path.realpath(sys.executable)]
    props = units.build_service_properties(spec, launcher=["-"], cleanup=["-"], read_only=read_only)
    commands: list[tuple[str, bool, list[str]]] = [
        ("ExecStartPre", False, [*sdc, "_unit-create", "%n", *declared.run_args()]),
        *([("ExecStartPre", False, [*launcher, "--net-up", bundle])] if spec.networked else []),
        ("ExecStart", False, [*launcher, "--notify", bundle]),
        *([("ExecStartPost", True, [*sdc, "healthcheck", "timer", name])] if _checked(spec) else []),
        # (as run -d --rm's unit: the namespace, veth and rules unmade from the host's mount
        # namespace first, then the container removed, its leases freed)
        *([("ExecStopPost", True, [*launcher, "--net-down", bundle])] if spec.networked else []),
        ("ExecStopPost", True, [*sdc, "_unit-cleanup", "%n"]),
    ]  # fmt: skip
    # A PID 1 that ends as it is told to, by the stop signal: an init (RunInit=) or a shell says
    # so with 128 + the signal's number, which is no failure of the unit's (`systemctl stop`).
    props["SuccessExitStatus"] = 128 + int(props["KillSignal"])  # type: ignore[call-overload]
    props["TimeoutStartUSec"] = PULL_TIMEOUT * units.USEC  # (its start may pull the image)
    lines = [f"SyslogIdentifier={name}"]
    for key, value in props.items():
        if not key.startswith("Exec") and key not in ("Description", "CollectMode", "SyslogIdentifier"):
            lines += persist.setting_lines(key, value)
    lines += [f"{key}={'-' if ignore else ''}{quote_words(argv)}" for key, ignore, argv in commands]
    return lines


def _checked(spec: ContainerSpec) -> bool:
    return bool(spec.health_test) and spec.health_test[0] != "NONE"


def _ours(word: str) -> str:
    """A word of sdc's own in a unit's command line: nothing in it for systemd to expand."""
    return word.replace("%", "%%").replace("$", "$$")


def write(generated: Generated, directory: Path) -> None:
    """The unit into a generator's directory, and the links its [Install] section asks for
    (systemd does not read [Install] of a generated unit: its generator makes them); names
    checked by _check_install."""
    (directory / generated.unit).write_text(generated.text, encoding="utf-8")
    for name, text in generated.beside:
        (directory / name).write_text(text, encoding="utf-8")
    default_instance = next((s.value for s in generated.install if s.key == "DefaultInstance"), "")
    linked = generated.unit
    if generated.unit.split(".")[0].endswith("@"):  # a template: linked as its default instance, if any
        if not default_instance:
            return
        linked = generated.unit.replace("@.", f"@{default_instance}.")
    for s in generated.install:
        for word in split_words(s.value) if s.key in (*LINKS, "Alias") else ():
            if s.key == "Alias":
                link, target = directory / word, "../" * word.count("/") + generated.unit
            else:
                link, target = directory / f"{word}{LINKS[s.key]}" / linked, f"../{generated.unit}"
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(target)


def generate_all(dirs: Sequence[Path]) -> tuple[list[Generated], list[SdcError]]:
    global _cache
    _cache = ({}, {})
    try:
        return _generate_all(dirs)
    finally:
        _cache = None


def _generate_all(dirs: Sequence[Path]) -> tuple[list[Generated], list[SdcError]]:
    made: list[Generated] = []
    errors: list[SdcError] = []
    found = sources(dirs)
    units: dict[str, Path] = {}
    pods: dict[str, Path] = {}
    for path in found.values():
        try:
            generated = generate(path, dirs, found)
            if generated.unit in units:  # (app-pod.container and app.pod, say)
                raise QuadletError(f"{path}: its unit {generated.unit} is {units[generated.unit]}'s",
                                   hint="rename one of the files")  # fmt: skip
            if generated.pod and generated.pod in pods:  # (each unit removes the pod of its name: one unit's alone)
                raise QuadletError(f"{path}: its pod {generated.pod} is {pods[generated.pod]}'s",
                                   hint="give each .pod file a PodName= of its own")  # fmt: skip
            units[generated.unit] = path
            pods[generated.pod] = path
            made.append(generated)
        except SdcError as exc:
            errors.append(exc)
        except (OSError, UnicodeError) as exc:
            errors.append(SdcError(f"{_shown(path)}: cannot be read: {exc}", hint="check the file"))
        except Exception as exc:  # noqa: BLE001 - a generator that fails stops no file but this one
            errors.append(SdcError(f"{_shown(path)}: sdc's generator failed on it: {exc!r}",
                                   hint="report it: sdc's generator should say what is wrong"))  # fmt: skip
    return made, errors


def _shown(path: Path) -> str:
    text = str(path)
    return text if text.isprintable() else repr(text)


def main(argv: Sequence[str]) -> int:
    """As systemd runs a generator: NORMAL_DIR [EARLY_DIR LATE_DIR]."""
    if not argv:
        print("usage: sdc-generator NORMAL_DIR [EARLY_DIR LATE_DIR]", file=sys.stderr)
        return 0
    made, errors = generate_all(search_dirs())
    for exc in errors:
        print(f"sdc-generator: {exc.message} (skipped; {exc.hint})" if exc.hint else
              f"sdc-generator: {exc.message} (skipped)", file=sys.stderr)  # fmt: skip
    for generated in made:
        try:
            write(generated, Path(argv[0]))
        except (OSError, UnicodeError) as exc:
            print(f"sdc-generator: {generated.source}: cannot write {generated.unit}: {exc}", file=sys.stderr)
    return 0


def script_text(python: str, lib: str, *, site: bool) -> str:
    """The generator's executable, for systemd's generator directories: python running this
    module from lib (where the sdcontainer package is), isolated, and with site where the sdc it
    is of needs it (a venv's: its dependencies are there); the units it makes run sdc so too."""
    return (f"#!{python} {'-I' if site else '-IS'}\n# sdc's Quadlet generator (systemd.generator(7)): services from "
            f"{', '.join(str(d) for d in SEARCH_DIRS)}/*.container\nimport sys\n\nsys.path.insert(0, {lib!r})\n"
            "from sdcontainer.quadlet.generator import main\n\nsys.exit(main(sys.argv[1:]))\n")  # fmt: skip


SYSTEM_GENERATORS = Path("/etc/systemd/system-generators")  # the administrator's (pip installs)
PACKAGE_GENERATORS = Path("/usr/lib/systemd/system-generators")  # the Debian package's


def install_generator(directory: Path = SYSTEM_GENERATORS) -> Path:
    """The generator of this sdc (its interpreter, its package's directory) into directory, for
    an sdc installed by pip; the package's own is used where the package installed it."""
    from sdcontainer.files import write_atomically

    if (PACKAGE_GENERATORS / GENERATOR).exists() and directory == SYSTEM_GENERATORS:
        raise SdcError(f"sdc's package installed the generator already: {PACKAGE_GENERATORS / GENERATOR}",
                       hint="`systemctl daemon-reload` runs it")  # fmt: skip
    lib = str(Path(__file__).resolve().parents[2])
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    path = directory / GENERATOR
    write_atomically(str(path), script_text(sys.executable, lib, site=not sys.flags.no_site).encode())
    path.chmod(0o755)
    return path


def remove_generator(directory: Path = SYSTEM_GENERATORS) -> bool:
    try:
        (directory / GENERATOR).unlink()
    except FileNotFoundError:
        return False
    return True
