"""Volumes: files of the store's that outlive a container, mounted where it asks (`-v NAME:/path`).

A volume's files are the storage driver's (storage/driver.py: a btrfs subvolume of its own, a
directory on overlay and vfs); its record is VOLUMES/NAME.json. Which containers use a volume is
read from their records, never counted apart: a count kept beside them could only drift. Every
change is made under the store's lock, so `volume rm` and a container's creation never cross.

Docker's rules: a volume is made on first use; an empty one is filled ("seeded") from the image's
files at its mount point when a container is made with it, once (unless `nocopy`); an anonymous
one (`-v /data`, or the image's VOLUME) is named by the store, and `rm -v` (and `--rm`) remove it
with its container; `volume rm` refuses a volume in use.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdcontainer import containers, records
from sdcontainer.containerspec import ContainerSpec
from sdcontainer.errors import Conflict, NotFound, SdcError, StorageError, UsageError
from sdcontainer.paths import Paths
from sdcontainer.record import replace
from sdcontainer.text import iso_time
from sdcontainer.volumes import check_volume_name, destinations

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.images import Image
    from sdcontainer.storage.driver import Driver


def _record_path(paths: Paths, name: str) -> Path:
    return paths.volumes / f"{check_volume_name(name)}.json"


def _read(paths: Paths, name: str) -> dict[str, Any] | None:
    try:
        data = records.read_json(_record_path(paths, name))
    except FileNotFoundError:
        return None
    if not isinstance(data, dict) or data.get("Name") != name:
        raise StorageError(f"corrupt volume record {_record_path(paths, name)}", hint="remove or repair the file")
    return data


def names(paths: Paths) -> list[str]:
    if not paths.volumes.exists():
        return []
    return sorted(p.name[: -len(".json")] for p in paths.volumes.glob("*.json"))


def users(paths: Paths) -> dict[str, list[str]]:
    """Each volume's containers, by name: what their records say."""
    found: dict[str, list[str]] = {}
    for container in containers.list_containers(paths):
        for volume in container.spec.named_volumes:
            found.setdefault(volume.split(":")[0], []).append(container.name)
    return found


def _make(ctx: Context, driver: Driver, name: str, *, labels: dict[str, str], anonymous: bool) -> dict[str, Any]:
    """A new volume, its files then its record (a record is never without its files). Call locked."""
    ctx.paths.volumes.mkdir(mode=0o700, exist_ok=True)
    path = driver.volume_path(name)
    if path.exists() or path.is_symlink():  # left by a kill between the two: not anyone's
        driver.remove_volume(name)
    driver.make_volume(name)
    record = {"Name": name, "CreatedAt": iso_time(ctx.clock.time()), "Labels": labels, "Anonymous": anonymous,
              "Seeded": False}  # fmt: skip
    try:
        records.write_json(_record_path(ctx.paths, name), record)
    except BaseException:
        driver.remove_volume(name)
        raise
    return record


def create_volume(ctx: Context, name: str | None = None, *, labels: dict[str, str] | None = None) -> str:
    """`volume create [NAME]`: a new empty volume (one of that name already there is kept, as Docker's)."""
    driver = ctx.driver()
    with records.locked(ctx.paths):
        if name is None:
            name = containers.new_id()
        elif _read(ctx.paths, check_volume_name(name)) is not None:
            return name
        _make(ctx, driver, name, labels=labels or {}, anonymous=False)
    return name


def _inspected(ctx: Context, driver: Driver, record: dict[str, Any], used_by: list[str]) -> dict[str, Any]:
    return {"CreatedAt": record.get("CreatedAt", ""), "Driver": "local", "Labels": record.get("Labels") or {},
            "Mountpoint": str(driver.volume_path(record["Name"])), "Name": record["Name"], "Options": {},
            "Scope": "local", "Anonymous": bool(record.get("Anonymous")), "UsedBy": sorted(used_by)}  # fmt: skip


def list_volumes(ctx: Context) -> list[dict[str, Any]]:
    """Every volume as `volume inspect` shows it."""
    driver = ctx.driver()
    used = users(ctx.paths)
    found = []
    for name in names(ctx.paths):
        record = _read(ctx.paths, name)
        if record is not None:
            found.append(_inspected(ctx, driver, record, used.get(name, [])))
    return found


def inspect_volume(ctx: Context, name: str) -> dict[str, Any]:
    record = _read(ctx.paths, check_volume_name(name))
    if record is None:
        raise NotFound(f"no such volume: {name}", hint="see `sdc volume ls`")
    return _inspected(ctx, ctx.driver(), record, users(ctx.paths).get(name, []))


def remove_volumes(ctx: Context, wanted: Sequence[str], *, force: bool = False) -> list[str]:
    """`volume rm`: each volume no container uses (-f: one that is not there is no error)."""
    driver = ctx.driver()
    removed = []
    with records.locked(ctx.paths):
        used = users(ctx.paths)
        for name in wanted:
            if _read(ctx.paths, check_volume_name(name)) is None:
                if force:
                    continue
                raise NotFound(f"no such volume: {name}", hint="see `sdc volume ls`")
            if used.get(name):
                raise Conflict(f"volume {name} is in use by {', '.join(sorted(used[name]))}",
                               hint="remove those containers first (sdc rm)")  # fmt: skip
            _remove(ctx, driver, name)
            removed.append(name)
    return removed


def _remove(ctx: Context, driver: Driver, name: str) -> None:
    """The record first, then the files: a kill between leaves files no record names, which the
    next _make of that name clears."""
    _record_path(ctx.paths, name).unlink()
    driver.remove_volume(name)


def prune_volumes(ctx: Context, *, every: bool = True) -> list[str]:
    """`volume prune`: every volume no container uses (every=False: the anonymous ones only, as
    Docker 23's prune without --all)."""
    driver = ctx.driver()
    removed = []
    with records.locked(ctx.paths):
        used = users(ctx.paths)
        for name in names(ctx.paths):
            record = _read(ctx.paths, name)
            if record is not None and not used.get(name) and (every or record.get("Anonymous")):
                _remove(ctx, driver, name)
                removed.append(name)
    return removed


def remove_anonymous(ctx: Context, spec: ContainerSpec) -> None:
    """`rm -v` (and --rm): the container's anonymous volumes that no other container uses. Call
    locked, with the container's record gone."""
    driver = ctx.driver()
    used = users(ctx.paths)
    for volume in spec.named_volumes:
        name = volume.split(":")[0]
        record = _read(ctx.paths, name) if name else None
        if record is not None and record.get("Anonymous") and not used.get(name):
            _remove(ctx, driver, name)


@contextlib.contextmanager
def anonymous_kept(ctx: Context, spec: ContainerSpec) -> Iterator[None]:
    """The container's anonymous volumes kept while it is made again (auto-update): made named
    for that while, so that its removal (--rm's, rm -v's) leaves them for the new one, which
    names them too; anonymous again after. A kill in between leaves them named: kept, not lost."""
    held = []
    with records.locked(ctx.paths):
        for volume in spec.named_volumes:
            name = volume.split(":")[0]
            record = _read(ctx.paths, name) if name else None
            if record is not None and record.get("Anonymous"):
                records.write_json(_record_path(ctx.paths, name), {**record, "Anonymous": False})
                held.append(name)
    try:
        yield
    finally:
        with records.locked(ctx.paths):
            for name in held:
                record = _read(ctx.paths, name)
                if record is not None:
                    records.write_json(_record_path(ctx.paths, name), {**record, "Anonymous": True})


def image_volumes(spec: ContainerSpec, image: Image) -> ContainerSpec:
    """The image's VOLUMEs that no mount of the container's covers, as anonymous volumes (Docker's)."""
    import posixpath

    declared = image.runtime.get("Volumes") or {}
    taken = set(destinations(spec.volumes, spec.named_volumes, spec.tmpfs))
    added = []
    for path in sorted(declared) if isinstance(declared, dict) else []:
        clean = posixpath.normpath(str(path)) if str(path).startswith("/") else ""
        if not clean or clean == "/" or ".." in clean.split("/") or ":" in clean or "," in clean:
            raise UsageError(f"the image declares VOLUME {str(path)[:80]!r}, which is not a path sdc can mount",
                             hint="mount something there yourself, or use another image")  # fmt: skip
        if clean not in taken:
            taken.add(clean)
            added.append(f":{clean}:")
    return replace(spec, named_volumes=(*spec.named_volumes, *added)) if added else spec


def provide(ctx: Context, spec: ContainerSpec, image: Image, stack: contextlib.ExitStack) -> ContainerSpec:
    """The container's volumes there: the missing made (each undone by stack), anonymous ones
    named, empty ones seeded from the image once. The spec with every volume named. Call locked."""
    if not spec.named_volumes:
        return spec
    driver = ctx.driver()
    resolved = []
    for volume in spec.named_volumes:
        name, container_path, options = volume.split(":")
        record = _read(ctx.paths, name) if name else None
        if record is None:
            anonymous = not name
            name = name or containers.new_id()
            record = _make(ctx, driver, name, labels={}, anonymous=anonymous)
            stack.callback(_undo, ctx, driver, name, spec.name)
        if not record.get("Seeded"):
            if "nocopy" not in options.split(","):
                seed(driver, driver.volume_path(name), image, container_path)
            records.write_json(_record_path(ctx.paths, name), {**record, "Seeded": True})
        resolved.append(f"{name}:{container_path}:{options}")
    return replace(spec, named_volumes=tuple(resolved))


def _undo(ctx: Context, driver: Driver, name: str, container: str) -> None:
    """A volume made for a container whose creation failed: gone, unless another container uses
    it by now (the failed one's record may be there still)."""
    with records.locked(ctx.paths):
        if not [c for c in users(ctx.paths).get(name, []) if c != container]:
            _remove(ctx, driver, name)


def seed(driver: Driver, volume: Path, image: Image, path: str) -> None:
    """An empty volume filled with the image's files at path (owners, modes, links, xattrs as
    they are), path resolved inside the image's root: a symlink there leads to the image's own
    files, never the host's. A failed copy leaves the volume empty again."""
    from sdcontainer import linux
    from sdcontainer.run import run

    if any(volume.iterdir()):
        return
    with driver.layer_view(image.top_layer) as view, _opened(view) as root:
        try:
            source = linux.open_in_root(root, path, os.O_PATH | os.O_DIRECTORY)
        except OSError:
            return  # not in the image, or not a directory: nothing to seed
        try:
            done = run(["cp", "-a", "--reflink=auto", "--", f"/proc/self/fd/{source}/.", f"{volume}/"], check=False,
                       pass_fds=(source,))  # fmt: skip
        finally:
            os.close(source)
    if done.returncode != 0:
        for entry in volume.iterdir():
            from sdcontainer.storage.driver import remove_tree

            remove_tree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        raise SdcError(f"cannot fill the volume {volume.name} from the image's {path}: {done.stderr.strip()[:200]}",
                       hint="free space in the store, or mount the volume with nocopy")  # fmt: skip


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)
