"""`sdc rename OLD NEW`: a container that is not running, under a new name.

A container's name is its bundle's directory, its unit's name (sdc-NAME.service, sdc@NAME.service
where it is enabled), its name to machined and on its networks' DNS. systemd renames no unit, so
a running container is refused (stop it first); a stopped one has only files to change, all with
the store locked and the container claimed:

- the bundle directory, moved whole (its record lock and name lock move with it: they are the
  directory's and its lock file's, by inode);
- its record (the name, the unit's name, the bundle's path), config.json's name annotation,
  network.json (netavark's container_name: its DNS name on its networks; the leases' unit);
- its leases of addresses and ports, which name the bundle that holds them: a lease whose bundle
  is gone is free for the taking (netns.abandoned), so they are moved with it;
- who shares whose network (--network container:NAME): its file in the other's bundle, and the
  records of those sharing its own;
- where it is installed (--enable), its drop-in and wants link, under the new unit's name.

Its hostname stays what it was made with (as Podman's rename leaves it), and its journal is its
still: `sdc logs` finds its output by its ID, before and after."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import Any

from sdcontainer import containers, protocol, records
from sdcontainer.api import containers as lifecycle
from sdcontainer.api.context import Context
from sdcontainer.containers import Container
from sdcontainer.errors import Conflict, UsageError
from sdcontainer.spec import JOIN, check_name


def rename(ctx: Context, ref: str, new: str) -> Container:
    """Container ref, named new: its record as it is now."""
    check_name(new)
    container = lifecycle.find(ctx, ref)
    old = container.name
    if new == old:
        raise UsageError(f"container {old} is called {new} already", hint="give it another name")
    ctx.claim(old)
    container = lifecycle.find(ctx, container.id)  # as it is now that it is ours
    if container.unit in lifecycle.live_units(ctx) or containers.is_starting(ctx.paths, old):
        raise Conflict(f"container {old} is running, and systemd renames no unit ({container.unit})",
                       hint=f"stop it first: sdc stop {old}")  # fmt: skip
    with records.locked(ctx.paths):
        if ctx.paths.container(new).exists() and not lifecycle.settle(ctx, new, lifecycle.unit_states(ctx)):
            raise Conflict(f"the container name {new!r} is already in use",
                           hint=f"remove that container (`sdc rm {new}`) or choose another name")  # fmt: skip
        _machine_name_is_free(ctx, new, but=old)
        renamed = _move(ctx, container, new)
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


def _move(ctx: Context, container: Container, new: str) -> Container:
    """Every file of container's under name new; what was moved is put back where one fails."""
    from sdcontainer import persist

    old, old_dir, new_dir = container.name, Path(container.bundle), ctx.paths.container(new)
    renamed = dataclasses.replace(container, spec=dataclasses.replace(container.spec, name=new),
                                  unit=unit_renamed(container.unit, old, new), bundle=str(new_dir))  # fmt: skip
    sharing = [lifecycle.find(ctx, name) for name in lifecycle.joiners(ctx, container)]
    installed, enabled = persist.installed(old), persist.is_enabled(old)
    undo: list[tuple[Any, ...]] = []
    try:
        os.rename(old_dir, new_dir)  # (the name is free: checked with the store locked)
        undo.append((os.rename, new_dir, old_dir))
        _rewrite_record(ctx, renamed, undo)
        _rewrite_json(new_dir / protocol.CONFIG, lambda c: _annotated(c, new), undo)
        if (new_dir / protocol.NETWORK).exists():
            _rewrite_json(new_dir / protocol.NETWORK, lambda p: _planned(p, new, renamed.unit), undo)
            _move_leases(new_dir, renamed, undo)
        if container.spec.joins:  # its file in the bundle of the container whose network it shares
            shared = ctx.paths.container(container.spec.joins)
            if (shared / f"{lifecycle.JOINER}{old}").exists():
                os.rename(shared / f"{lifecycle.JOINER}{old}", shared / f"{lifecycle.JOINER}{new}")
                undo.append((os.rename, shared / f"{lifecycle.JOINER}{new}", shared / f"{lifecycle.JOINER}{old}"))
        for joiner in sharing:  # --network container:OLD, now container:NEW
            _rewrite_record(ctx, dataclasses.replace(joiner, spec=dataclasses.replace(joiner.spec,
                            network=f"{JOIN}{new}")), undo)  # fmt: skip
    except BaseException:
        for step in reversed(undo):
            with contextlib.suppress(OSError):
                step[0](*step[1:])
        raise
    # The unit files last: a kill before leaves a container that is whole, under its new name,
    # with its old drop-in (which `rm` of the old name would not find: so they go first here).
    if installed or enabled:
        _reinstall(ctx, renamed, old, enabled=enabled)
    for joiner in sharing:
        if persist.installed(joiner.name):  # its BindsTo= names the unit of the container it joins
            _reinstall(ctx, lifecycle.find(ctx, joiner.id), joiner.name, enabled=persist.is_enabled(joiner.name))
    if installed or enabled or any(persist.installed(j.name) for j in sharing):
        ctx.systemd.reload()
    return renamed


def unit_renamed(unit: str, old: str, new: str) -> str:
    """sdc-OLD.service as sdc-NEW.service (and .scope, and sdc@OLD.service)."""
    for prefix in ("sdc-", "sdc@"):
        for suffix in (".service", ".scope"):
            if unit == f"{prefix}{old}{suffix}":
                return f"{prefix}{new}{suffix}"
    raise ValueError(f"{unit} is not the unit of container {old}")


def _reinstall(ctx: Context, container: Container, was: str, *, enabled: bool) -> None:
    from sdcontainer import persist
    from sdcontainer.api.run import install

    persist.uninstall(ctx.paths, was)
    install(ctx, container)
    if enabled:
        persist.enable(container.name)


def _rewrite_record(ctx: Context, container: Container, undo: list[tuple[Any, ...]]) -> None:
    """container's record, written under its record lock (containers.write_container)."""
    with containers.record_locked(ctx.paths, container.name):
        _rewrite(containers.record_path(ctx.paths, container.name), container.to_json(), undo)


def _rewrite(path: Path, data: Any, undo: list[tuple[Any, ...]]) -> None:
    before = path.read_bytes()
    records.write_json(path, data)
    undo.append((_restore, path, before))


def _rewrite_json(path: Path, change: Any, undo: list[tuple[Any, ...]]) -> None:
    _rewrite(path, change(records.read_json(path)), undo)


def _restore(path: Path, data: bytes) -> None:
    from sdcontainer.files import write_atomically

    write_atomically(str(path), data)


def _annotated(config: Any, new: str) -> Any:
    if isinstance(config.get("annotations"), dict) and "org.sdc.name" in config["annotations"]:
        config["annotations"]["org.sdc.name"] = new
    return config


def _planned(plan: Any, new: str, unit: str) -> Any:
    """network.json with the new name for netavark (its DNS name) and the new unit on its leases."""
    if isinstance(plan.get("options"), dict) and "container_name" in plan["options"]:
        plan["options"]["container_name"] = new
    for lease in plan.get("leases", []):
        if isinstance(lease, list) and len(lease) == 5:
            lease[4] = unit
    return plan


def _move_leases(bundle: Path, container: Container, undo: list[tuple[Any, ...]]) -> None:
    """Its leases (netns.take_lease's files), naming the bundle and unit they are held for now.
    A lease kept with no bundle (held until a reboot) stays without one."""
    from sdcontainer import netns

    plan = netns.read_plan(str(bundle))
    if plan.get("pending"):
        raise Conflict(f"container {container.name} has a network connect that did not finish",
                       hint=f"`sdc network disconnect` or `sdc start {container.name}` settles it first")  # fmt: skip
    for directory, bridge, address, owner, _unit in plan.get("leases", []):
        path = Path(directory, bridge, address)
        try:
            lines = path.read_text().split("\n")
        except (OSError, UnicodeDecodeError):
            continue
        if lines[0] != owner or len(lines) < 3:
            continue
        lines[1] = container.unit
        lines[2] = str(bundle) if lines[2] else ""
        _rewrite_text(path, "\n".join(lines), undo)


def _rewrite_text(path: Path, text: str, undo: list[tuple[Any, ...]]) -> None:
    from sdcontainer.files import write_atomically

    before = path.read_bytes()
    write_atomically(str(path), text.encode())
    undo.append((_restore, path, before))
