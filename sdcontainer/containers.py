"""Container records on disk: the bundle directory of each container.

containers/<name>/                 flock(2)ed by the sdc that creates and starts it (name lock)
containers/<name>/container.json   what was asked: spec, image, unit, storage; written first
containers/<name>/starting         there until `sdc run` has started it (or handed it to systemd)
containers/<name>/config.json      the OCI runtime config the launcher reads
containers/<name>/state.json       how it last ended (written when it stops)
containers/<name>/pid, launch-error  the launcher's record of the launch
containers/<name>/{hostname,hosts,resolv.conf}   bind-mounted into /etc
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sdcontainer import files, protocol
from sdcontainer.containerspec import ContainerSpec, Limits, check_name
from sdcontainer.errors import NotFound, SdcError, StorageError
from sdcontainer.log import get_logger
from sdcontainer.paths import Paths
from sdcontainer.record import asdict, field, fields, record, replace
from sdcontainer.records import read_json, write_json

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Any

_HEX = "0123456789abcdef"
log = get_logger(__name__)

_ADJECTIVES = ("brave", "calm", "eager", "fond", "keen", "lucid", "merry", "nimble", "quiet", "swift", "witty", "bold")
_NOUNS = (
    "turing",
    "hopper",
    "lovelace",
    "ritchie",
    "thompson",
    "torvalds",
    "poettering",
    "knuth",
    "liskov",
    "hamilton",
)


RECORD_VERSION = 1  # of container.json's shape: "version" in it (a record of none is version 0)


class RecordError(StorageError):
    """A container record that cannot be read as one."""


@record(kw_only=True)
class Container:
    id: str
    spec: ContainerSpec
    image_id: str
    unit: str
    driver: str
    rootfs: str
    bundle: str
    created: float
    former_names: tuple[str, ...] = ()  # the names it had before (rename): its journal's units had them
    # The systemd invocation ID of the unit that runs it, where that unit is not sdc's own (a
    # Quadlet file's: quadlet.generator), which cannot name it on its journal lines: its lines are its.
    invocation: str = ""
    # What a record held that this sdc does not know (a later sdc's fields), kept as it was: by
    # where it was ("" the record's own, "spec", "limits"), written back with the rest.
    extra: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        data = {**extra.get("", {}), **data, "version": RECORD_VERSION}
        data["spec"] = {**extra.get("spec", {}), **data["spec"]}
        data["spec"]["limits"] = {**extra.get("limits", {}), **data["spec"]["limits"]}
        return data

    @classmethod
    def from_json(cls, data: object) -> Container:
        """A record read back, as any record of an earlier or a later sdc: what this sdc knows
        checked (its ID and name name paths of the store), what it does not kept (extra), what is
        missing defaulted; RecordError for what is no record."""
        if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
            raise RecordError("a container record that is not one", hint="the store's records are corrupt")
        if not isinstance(data.get("id"), str) or len(data["id"]) != 64 or not set(data["id"]) <= set(_HEX):
            raise RecordError(f"a container record with a bad ID: {str(data.get('id'))[:80]!r}",
                              hint="the store's records are corrupt")  # fmt: skip
        spec_data = dict(data["spec"])
        limits_data = spec_data.pop("limits", {})
        if not isinstance(limits_data, dict):
            raise RecordError("a container record's limits are not an object", hint="the store's records are corrupt")
        limits, limits_extra = _fields_of(Limits, limits_data)
        spec, spec_extra = _fields_of(ContainerSpec, spec_data)
        try:
            check_name(str(spec.get("name")))
        except SdcError as exc:
            raise RecordError(f"a container record's {exc}", hint="the store's records are corrupt") from None
        own, own_extra = _fields_of(cls, {k: v for k, v in data.items() if k not in ("spec", "version", "extra")})
        try:
            return cls(spec=ContainerSpec(**spec, limits=Limits(**limits)), **own,
                       extra={"": own_extra, "spec": spec_extra, "limits": limits_extra})  # fmt: skip
        except TypeError as exc:  # a field this sdc needs is missing
            raise RecordError(f"a container record lacks what sdc needs: {exc}",
                              hint="the store's records are corrupt") from None  # fmt: skip


_wrong: object = object()  # a value not of its field's type
# A field's annotation (from __future__ annotations: a string) -> how a record's value of it is read.
_READERS: dict[str, Any] = {
    "str": lambda v: v if isinstance(v, str) else _wrong,
    "bool": lambda v: v if isinstance(v, bool) else _wrong,
    "int": lambda v: v if isinstance(v, int) and not isinstance(v, bool) else _wrong,
    "float": lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else _wrong,
    "int | None": lambda v: v if v is None or (isinstance(v, int) and not isinstance(v, bool)) else _wrong,
    "float | None": lambda v: v if v is None else float(v) if isinstance(v, (int, float)) else _wrong,
    "tuple[str, ...]": lambda v: tuple(v) if isinstance(v, list) and all(isinstance(x, str) for x in v) else _wrong,
    "tuple[int, ...]": lambda v: tuple(v) if isinstance(v, list) and all(type(x) is int for x in v) else _wrong,
    "tuple[str, ...] | None": lambda v: None if v is None else _READERS["tuple[str, ...]"](v),
}


def _fields_of(kind: type, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """values as kind's fields (each of the type it has: RecordError if not), and the others."""
    declared = {f.name: str(f.type) for f in fields(kind) if f.name not in ("spec", "limits", "extra")}
    known, unknown = {}, {}
    for key, value in values.items():
        if key not in declared:
            unknown[key] = value
            continue
        read = _READERS.get(declared[key], lambda v: _wrong)(value)
        if read is _wrong:
            raise RecordError(f"a container record's {key} is not a {declared[key]}: {str(value)[:60]!r}",
                              hint="the store's records are corrupt")  # fmt: skip
        known[key] = read
    return known, unknown


def new_id() -> str:
    # os.urandom, not the secrets module: that one loads OpenSSL's hashlib, a cost on every run.
    return os.urandom(32).hex()


def _pick(words: tuple[str, ...]) -> str:
    return words[int.from_bytes(os.urandom(2), "little") % len(words)]


def generate_name(paths: Paths) -> str:
    """A free name like Docker's; the caller holds the store's lock."""
    for _ in range(100):
        name = f"{_pick(_ADJECTIVES)}_{_pick(_NOUNS)}"
        if not paths.container(name).exists():
            return name
    return f"sdc_{os.urandom(4).hex()}"


def record_path(paths: Paths, name: str) -> Path:
    return paths.container(name) / protocol.RECORD


def write_container(paths: Paths, container: Container) -> None:
    """The record, under the container's record lock where it has one already (a new container's
    first record is written with the store locked, in the directory just made)."""
    with record_locked(paths, container.name):
        write_json(record_path(paths, container.name), container.to_json())


@contextlib.contextmanager
def record_locked(paths: Paths, name: str) -> Iterator[bool]:
    """The container's record lock held (files.lock_record): True, or False where it is gone."""
    fd = files.lock_record(os.fspath(paths.container(name)), protocol.RECORD)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


def list_names(paths: Paths) -> list[str]:
    """Every name a container holds: its directory's, record or not."""
    try:
        return [entry.name for entry in os.scandir(paths.containers) if entry.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def list_containers(paths: Paths) -> list[Container]:
    """Every container the store has records of, newest first. A record that vanished as we read
    it (an `rm` beside us) is gone; one that cannot be read is left out, said in a warning."""
    if not paths.containers.exists():
        return []
    found = []
    with os.scandir(paths.containers) as entries:  # (a glob's pattern would import re: ~3 ms of ps)
        directories = [Path(entry.path) for entry in entries if _is_dir(entry)]
    for path in (directory / protocol.RECORD for directory in directories):
        try:
            found.append(_as_named(Container.from_json(read_json(path)), path.parent))
        except FileNotFoundError:
            continue
        except (SdcError, ValueError) as exc:
            log.warning("left out %s: %s", path, exc)
    return sorted(found, key=lambda c: -c.created)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """A directory (or a link to one), as a glob takes it: an entry that cannot be told (a link
    that loops, say) is none."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _as_named(container: Container, directory: Path) -> Container:
    """The container as its bundle's directory names it: a rename killed after it moved the
    directory (api/rename.py) left the record under the old name, which the next command that
    claims the container brings up to date (api.rename.finish)."""
    if container.name == directory.name:
        return container
    from sdcontainer.units import unit_renamed

    return replace(container, spec=replace(container.spec, name=directory.name),
                               unit=unit_renamed(container.unit, container.name, directory.name),
                               bundle=str(directory),
                               former_names=(*container.former_names, container.name))  # fmt: skip


def find_container(paths: Paths, ref: str) -> Container:
    """A container by name, or by id or unique id prefix."""
    if "/" not in ref and record_path(paths, ref).exists():
        return _as_named(Container.from_json(read_json(record_path(paths, ref))), paths.container(ref))
    matches = [c for c in list_containers(paths) if len(ref) >= 4 and c.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    raise NotFound(f"no such container: {ref}", hint="`sdc ps -a` lists the containers here")


def read_state(paths: Paths, name: str) -> dict[str, Any]:
    path = paths.container(name) / protocol.STATE
    return dict(read_json(path)) if path.exists() else {}


EXIT_KEPT = 3600.0  # seconds a removed container's exit is kept (paths.exits)


def keep_exit(paths: Paths, container: Container) -> None:
    """How container ended (its state.json), kept by its ID once it is removed: a `wait` begun
    while it ran reads it there (Docker's prints a --rm container's status too). Exits older
    than EXIT_KEPT go."""
    import time

    state = paths.container(container.name) / protocol.STATE
    paths.exits.mkdir(mode=0o700, exist_ok=True)
    if state.exists():
        write_json(paths.exits / f"{container.id}.json", read_json(state))
    if _pruned:  # once a command (`rm -f` of 50 read the directory 50 times)
        return
    _pruned.append(True)
    now = time.time()
    for kept in paths.exits.iterdir():
        with contextlib.suppress(FileNotFoundError):  # (pruned beside us)
            if now - kept.stat().st_mtime > EXIT_KEPT:
                kept.unlink(missing_ok=True)


_pruned: list[bool] = []  # keep_exit has pruned the old exits in this process


def kept_exit(paths: Paths, container_id: str) -> dict[str, Any]:
    path = paths.exits / f"{container_id}.json"
    return dict(read_json(path)) if path.exists() else {}


def started_at(paths: Paths, name: str) -> float | None:
    """When the container's PID 1 started: the launcher writes its PID once it has exec'ed."""
    try:
        return (paths.container(name) / protocol.PID).stat().st_mtime
    except FileNotFoundError:
        return None


STARTING = protocol.STARTING


def take_name_lock(paths: Paths, name: str) -> int | None:
    """Lock the container's directory, or None when another process holds it (or it is gone).

    `sdc run` holds it from the directory's creation until it exits: a directory
    whose lock is free and that is still `starting` was left by a run that was killed."""
    try:
        fd = os.open(paths.container(name), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def is_starting(paths: Paths, name: str) -> bool:
    return (paths.container(name) / STARTING).exists()


def has_launched(paths: Paths, name: str) -> bool:
    """The launcher got as far as recording the launch (its PID or its error), or it has ended."""
    cdir = paths.container(name)
    return any((cdir / record).exists() for record in protocol.RUN_RECORDS)


def add_foreign_unit(paths: Paths, unit: str, name: str) -> None:
    """unit (not sdc's: a Quadlet file's) runs container name."""
    paths.foreign_units.mkdir(mode=0o700, exist_ok=True)
    files.write_atomically(os.fspath(paths.foreign_units / unit), name.encode())


def foreign_unit_container(paths: Paths, unit: str) -> str:
    """The name of the container unit runs (add_foreign_unit), or ""."""
    try:
        return (paths.foreign_units / unit).read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return ""


def remove_foreign_unit(paths: Paths, unit: str, name: str) -> None:
    """unit runs container name no more (an entry another container of the unit took is left)."""
    if foreign_unit_container(paths, unit) == name:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.foreign_units / unit)


def foreign_units(paths: Paths) -> list[str]:
    """The units add_foreign_unit has taken in (a name that is no unit's is passed over)."""
    try:
        names = os.listdir(paths.foreign_units)
    except FileNotFoundError:
        return []
    return [n for n in names if n.endswith((".service", ".scope")) and not n.startswith(".")]


def remove_container_dir(paths: Paths, name: str) -> None:
    """The bundle directory holds only files and the rootfs link: unlink them, then the directory.
    Under its record lock, the record first and the lock last: whoever waits for the lock finds
    the container gone (files.lock_record), never a directory half removed."""
    cdir = paths.container(name)
    fd = files.lock_record(os.fspath(cdir), protocol.RECORD)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(cdir / protocol.RECORD)
        for _ in range(3):  # again, where a writer that came as we went left a file (an older container's lock)
            _empty(cdir)
            try:
                os.rmdir(cdir)
                return
            except OSError as exc:
                if exc.errno != errno.ENOTEMPTY:
                    raise
        os.rmdir(cdir)
    except FileNotFoundError:
        pass
    finally:
        if fd is not None:
            os.close(fd)


def _empty(cdir: Path) -> None:
    """Every entry of a container's directory but its record lock, then that."""
    with os.scandir(cdir) as entries:
        for entry in entries:
            if entry.name == files.RECORD_LOCK:
                continue
            if entry.is_dir(follow_symlinks=False):
                import shutil  # not expected here: made by hand, say

                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(cdir / files.RECORD_LOCK)


@record
class Published:
    """A port published as the container's plan chose it (api.networks.plan): container_port..+count-1
    on host_port..+count-1 of host_ip ("": every address)."""

    container_port: int
    host_port: int
    protocol: str
    host_ip: str
    count: int

    def __str__(self) -> str:
        """As Docker's PORTS column: 0.0.0.0:8080->80/tcp, 127.0.0.1:9000-9001->9000-9001/tcp."""
        ip = self.host_ip or "0.0.0.0"
        ip = f"[{ip}]" if ":" in ip else ip
        if self.count == 1:
            return f"{ip}:{self.host_port}->{self.container_port}/{self.protocol}"
        last = self.count - 1
        return (f"{ip}:{self.host_port}-{self.host_port + last}->"
                f"{self.container_port}-{self.container_port + last}/{self.protocol}")  # fmt: skip


def published_ports(container: Container) -> list[Published]:
    """The ports the container publishes, with the host ports chosen for it (its bundle's
    network.json, read as the record it is: what is not of its shape is left out)."""
    if not container.spec.networked or not (container.spec.publish or container.spec.publish_all):
        return []
    try:
        data = read_json(Path(container.bundle) / protocol.NETWORK)
        mappings = data["options"].get("port_mappings") or []
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    found = []
    for m in mappings if isinstance(mappings, list) else []:
        try:
            port = Published(int(m["container_port"]), int(m["host_port"]), str(m["protocol"]), str(m["host_ip"]),
                             int(m.get("range") or 1))  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        found.append(port)
    return found

