"""`sdc rename OLD NEW`: a container that is not running, under a new name.

A container's name is its bundle's directory, its unit's name (sdc-NAME.service, sdc@NAME.service
where it is enabled), its name to machined and on its networks' DNS. systemd renames no unit, so
a running container is refused (stop it first); a stopped one has only files to change, with the
store locked and the container (and those sharing its network) claimed:

1. a mark (protocol.RENAMING) in its bundle, then the bundle directory moved whole to the new
   name (its record lock and name lock move with it: they are the directory's and its lock
   file's, by inode): from here on the directory's name is the container's (containers._as_named);
2. `finish`: everything else made to agree with it, each step one that may run again; the
   record, which still names the old bundle, last, and the mark then. A rename killed in between
   is finished by the next command that claims the container (Context.claim).

finish rewrites config.json's paths into the bundle (a --systemd container binds its run-host
from there) and name annotation; network.json (netavark's container_name: its DNS name; the
leases' unit); its leases of addresses and ports, which name the bundle that holds them (a lease
whose bundle is gone is free for the taking: netns.abandoned), under the flock of each lease's
directory, the one a take-over holds; its file in the bundle of a container whose network it
shares (--network container:NAME), and the records of those sharing its own; and, where it is
installed (--enable), its drop-in and wants link, the new ones before the old go.

Its hostname stays what it was made with (as Podman's rename leaves it), and its journal is its
still: `sdc logs` finds its output by its ID, before and after."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sdcontainer import containers, protocol, records
from sdcontainer.api import containers as lifecycle
from sdcontainer.api.context import Context
from sdcontainer.containers import Container
from sdcontainer.containerspec import JOIN, check_name
from sdcontainer.errors import Conflict, SdcError, UsageError
from sdcontainer.record import replace
from sdcontainer.units import unit_renamed


def rename(ctx: Context, ref: str, new: str) -> Container:
    """Container ref, named new: its record as it is now."""
    from sdcontainer.api.run import pods_unit_name

    check_name(new)
    pods_unit_name(ctx, new)
    container = lifecycle.find(ctx, ref)
    old = container.name
    if new == old:
        raise UsageError(f"container {old} is called {new} already", hint="give it another name")
    if container.invocation:
        raise UsageError(f"container {old} is run by {container.unit}, a Quadlet file's: its name is the file's",
                         hint="change its ContainerName=, `systemctl daemon-reload`, restart its unit")  # fmt: skip
    ctx.claim(old)
    container = lifecycle.find(ctx, container.id)  # as it is now that it is ours
    for sharer in lifecycle.joiners(ctx, container):  # their records change too: theirs to change alone
        ctx.claim(sharer)
    with records.locked(ctx.paths):
        if container.unit in lifecycle.live_units(ctx) or containers.is_starting(ctx.paths, old):
            raise Conflict(f"container {old} is running, and systemd renames no unit ({container.unit})",
                           hint=f"stop it first: sdc stop {old}")  # fmt: skip
        if ctx.paths.container(new).exists() and not lifecycle.settle(ctx, new, lifecycle.unit_states(ctx)):
            raise Conflict(f"the container name {new!r} is already in use",
                           hint=f"remove that container (`sdc rm {new}`) or choose another name")  # fmt: skip
        _machine_name_is_free(ctx, new, but=old)
        plan = _plan(Path(container.bundle))
        if plan.get("pending"):
            raise Conflict(f"container {old} has a network connect that did not finish",
                           hint=f"`sdc start {old}` or `sdc network disconnect` settles it first")  # fmt: skip
        with _leases_held(plan):  # no take-over sees them as abandoned while they name the old bundle
            (Path(container.bundle) / protocol.RENAMING).write_text(old)
            os.rename(container.bundle, ctx.paths.container(new))  # (the name is free: checked with the store locked)
            renamed = finish(ctx, new, leases_held=True)
    lifecycle.announce(renamed, "rename", oldName=old)
    return renamed


def _machine_name_is_free(ctx: Context, name: str, *, but: str) -> None:
    """As api.run's check, where the container's own old name (a_b to a-b) is no other's."""
    from sdcontainer.machined import machine_name

    theirs = [n for n in containers.list_names(ctx.paths) if n not in (name, but)
              and machine_name(n) == machine_name(name)]  # fmt: skip
    if theirs:
        raise Conflict(f"the container name {name!r} is {machine_name(name)!r} to machined, as container "
                       f"{theirs[0]!r} is", hint="choose another name (machined has '-' for '_')")  # fmt: skip


def finish(ctx: Context, name: str, *, leases_held: bool = False) -> Container:
    """The container whose bundle directory is name, made whole under it (module doc, 2): with
    the store locked and the container claimed (and its leases' directories, leases_held). Its
    record as it is then."""
    from sdcontainer import persist

    bundle = ctx.paths.container(name)
    recorded = Container.from_json(records.read_json(bundle / protocol.RECORD))
    old, old_bundle = recorded.name, recorded.bundle
    if old == name and old_bundle == str(bundle):  # the rename stopped before it moved anything
        (bundle / protocol.RENAMING).unlink(missing_ok=True)
        return recorded
    renamed = replace(recorded, spec=replace(recorded.spec, name=name),
                                  unit=unit_renamed(recorded.unit, old, name), bundle=str(bundle),
                                  former_names=(*recorded.former_names, old)[-16:])  # fmt: skip
    moved = _moved(old_bundle, str(bundle))
    records.write_json(bundle / protocol.CONFIG, moved(_annotated(records.read_json(bundle / protocol.CONFIG), name)))
    plan = _plan(bundle)
    if plan:
        records.write_json(bundle / protocol.NETWORK, moved(_planned(plan, name, renamed.unit)))
        with contextlib.nullcontext() if leases_held else _leases_held(plan):
            _move_leases(plan, renamed)
    if renamed.spec.joins:  # its file in the bundle of the container whose network it shares
        shared = ctx.paths.container(renamed.spec.joins)
        with contextlib.suppress(FileNotFoundError):
            os.rename(shared / f"{lifecycle.JOINER}{old}", shared / f"{lifecycle.JOINER}{name}")
    sharers = []
    for path in bundle.glob(f"{lifecycle.JOINER}*"):  # --network container:OLD, now container:NEW
        with contextlib.suppress(SdcError, OSError):
            sharer = containers.find_container(ctx.paths, path.name.removeprefix(lifecycle.JOINER))
            if sharer.id == path.read_text().strip() and sharer.spec.joins == old:
                sharer = replace(sharer, spec=replace(sharer.spec, network=f"{JOIN}{name}"))
                containers.write_container(ctx.paths, sharer)
                sharers.append(sharer)
    reload = False
    if persist.installed(old) or persist.is_enabled(old):  # the new unit files first, then the old go
        _install(ctx, renamed, enable=persist.is_enabled(old))
        persist.uninstall(ctx.paths, old)
        reload = True
    for sharer in sharers:
        if persist.installed(sharer.name):  # its BindsTo= names the unit of the container it joins
            _install(ctx, sharer, enable=persist.is_enabled(sharer.name))
            reload = True
    if reload:
        ctx.systemd.reload()
    containers.write_container(ctx.paths, renamed)  # the record last: until it is written, finish runs again
    (bundle / protocol.RENAMING).unlink(missing_ok=True)
    return renamed


def _install(ctx: Context, container: Container, *, enable: bool) -> None:
    from sdcontainer import persist
    from sdcontainer.api.run import install

    install(ctx, container)
    if enable:
        persist.enable(container.name)


def _plan(bundle: Path) -> dict[str, Any]:
    """The bundle's network.json, checked (netns.read_plan); {} where it has none."""
    from sdcontainer import netns

    if not (bundle / protocol.NETWORK).exists():
        return {}
    return netns.read_plan(str(bundle))


def _moved(old: str, new: str) -> Any:
    """A function making a record's paths into the old bundle paths into the new one."""

    def move(value: Any) -> Any:
        if isinstance(value, str) and (value == old or value.startswith(old + "/")):
            return new + value[len(old):]
        if isinstance(value, list):
            return [move(v) for v in value]
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value

    return move


def _annotated(config: Any, new: str) -> Any:
    if isinstance(config.get("annotations"), dict) and protocol.CONTAINER_NAME in config["annotations"]:
        config["annotations"][protocol.CONTAINER_NAME] = new
    return config


def _planned(plan: dict[str, Any], new: str, unit: str) -> dict[str, Any]:
    """network.json with the new name for netavark (its DNS name) and the new unit on its leases."""
    if "container_name" in plan["options"]:
        plan["options"]["container_name"] = new
    for lease in plan.get("leases", []):
        lease[4] = unit
    return plan


@contextlib.contextmanager
def _leases_held(plan: dict[str, Any]) -> Iterator[None]:
    """The flock of each lease's directory (netns._take_over holds it to take one over), in order."""
    with contextlib.ExitStack() as stack:
        for home in sorted({os.path.join(directory, bridge) for directory, bridge, *_ in plan.get("leases", [])}):
            try:
                fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            stack.callback(os.close, fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield


def _move_leases(plan: dict[str, Any], container: Container) -> None:
    """Its leases (netns.take_lease's files), naming the bundle and unit they are held for now; a
    lease kept with no bundle (held until a reboot) stays without one."""
    from sdcontainer.files import write_atomically

    for directory, bridge, address, owner, _unit in plan.get("leases", []):
        path = os.path.join(directory, bridge, address)
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read(4096).split("\n")
        except (OSError, UnicodeDecodeError):
            continue
        if lines[0] == owner and len(lines) >= 3:
            lines[1], lines[2] = container.unit, container.bundle if lines[2] else ""
            write_atomically(path, "\n".join(lines).encode())
