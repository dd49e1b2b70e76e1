"""Containers once made: list, stop, kill, remove, inspect, logs; and settling what a killed
`sdc run` left (see settle)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from sdcontainer import cgroups, containers, files, protocol, records, units
from sdcontainer.api.context import Context
from sdcontainer.containers import Container
from sdcontainer.containerspec import STOP_TIMEOUT_MAX, label_map, parse_signal
from sdcontainer.errors import Conflict, NotFound, SdcError, UsageError
from sdcontainer.log import get_logger
from sdcontainer.record import record, replace
from sdcontainer.systemd import UNIT_IFACE

SIGKILL = 9  # (signal.SIGKILL: Linux's on every architecture; the signal module is ~1 ms of import)

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

GONE = ("inactive", "failed", "gone")
EMPTY = "empty"  # an active scope with no process left in it: see unit_states
DOWN = ("inactive", "failed", "gone", EMPTY)
RESTARTING = "restarting"  # between two runs of a restart policy: see unit_states
KILL_WAIT = 10.0  # after SIGKILL, how long the kernel and systemd may take
PID1_GRACE = 2.0  # after SIGKILL to PID 1, how long until its unit is down, before all of it is killed
POLL = 0.02


@record(kw_only=True)
class ContainerStatus:
    container: Container
    state: str  # created, running, paused, exited
    exit_code: int | None
    started: float | None = None  # when its PID 1 exec'ed
    finished: float | None = None


def find(ctx: Context, ref: str) -> Container:
    return containers.find_container(ctx.paths, ref)


# --- the units' states ----------------------------------------------------------------------


def unit_states(ctx: Context) -> dict[str, str]:
    """The ActiveState of each of sdc's loaded units, in one call for all containers.

    A scope whose processes are all gone reads EMPTY: systemd learns that a scope emptied
    from the kernel, which on cgroup v1 tells it only through a release agent (none in a
    container, say); until then the scope stays active with nothing in it, and no
    process is left to kill. A service waiting to be started again by its restart policy
    reads RESTARTING."""
    states = {}
    # (Quadlet's, by their names: systemd matches the patterns with FNM_NOESCAPE, and no unit name holds *?[)
    theirs = [unit for unit in containers.foreign_units(ctx.paths) if not set(unit) & set("*?[")]
    for u in ctx.systemd.list_units([f"{units.PREFIX}*.service", f"{units.PREFIX}*.scope", "sdc@*.service", *theirs]):
        state = u.active_state
        if state == "active" and u.name.endswith(".scope") and not cgroups.populated(units.unit_cgroup(u.name)):
            state = EMPTY
        elif u.sub_state == "auto-restart":
            state = RESTARTING
        states[u.name] = state
    return states


def live_units(ctx: Context) -> set[str]:
    """sdc's units that are up (active, activating, deactivating...)."""
    return {name for name, state in unit_states(ctx).items() if state not in DOWN}


def wait_gone(ctx: Context, unit: str, timeout: float) -> str:
    """Wait for unit to stop (or be unloaded); end a scope found empty. The state reached."""
    return wait_all_gone(ctx, [unit], timeout)[unit]


def wait_all_gone(ctx: Context, names: Sequence[str], timeout: float) -> dict[str, str]:
    """Wait for every unit of names to stop (or be unloaded), all together: each poll asks for
    all that are still up in one round trip (units_properties); a scope found empty is ended.
    The state each reached (the last seen for those still up at the deadline)."""
    deadline = ctx.clock.monotonic() + timeout
    reached: dict[str, str] = {}
    pending = list(dict.fromkeys(names))
    while pending:
        found = ctx.systemd.units_properties([(unit, UNIT_IFACE) for unit in pending], ["ActiveState"])
        still = []
        for unit, props in zip(pending, found, strict=True):
            state = str(props.get("ActiveState", "gone"))
            if state not in GONE and unit.endswith(".scope") and not cgroups.populated(units.unit_cgroup(unit)):
                end_empty_scope(ctx, unit)
                state = "gone"
            reached[unit] = state
            if state not in GONE:
                still.append(unit)
        pending = still
        if not pending or ctx.clock.monotonic() >= deadline:
            break
        ctx.clock.sleep(POLL)
    return reached


def end_empty_scope(ctx: Context, unit: str) -> None:
    # Stopping a scope runs nothing of sdc's (no ExecStopPost): safe with the store locked.
    with contextlib.suppress(SdcError):
        ctx.systemd.stop_unit(unit)
    with contextlib.suppress(SdcError):
        ctx.systemd.reset_failed_unit(unit)


# --- what a killed `sdc run` left -------------------------------------------------------------


def mark_started(container: Container) -> None:
    """The start is settled: the unit runs, or has run, the container."""
    (Path(container.bundle) / protocol.STARTING).unlink(missing_ok=True)


def settle(ctx: Context, name: str, states: dict[str, str]) -> bool:
    """Finish or roll back what a killed `sdc run` left of container name; True if it is gone.

    Call with the store locked. A container whose name lock another process holds is
    left alone: its sdc is still at work. Otherwise: a directory without a record, and
    a container still `starting` whose launcher never ran and whose unit is down, are
    rolled back; one still `starting` that did run is finished (the mark goes); a --rm
    container that has run and is down is removed, as its sdc would have done."""
    fd = containers.take_name_lock(ctx.paths, name)
    if fd is None:
        return not ctx.paths.container(name).exists()
    try:
        if not containers.record_path(ctx.paths, name).exists():
            containers.remove_container_dir(ctx.paths, name)  # killed before its record was written
            return True
        container = containers.find_container(ctx.paths, name)
        state = states.get(container.unit, "gone")
        launched = containers.has_launched(ctx.paths, name)
        if containers.is_starting(ctx.paths, name):
            if not launched and state in DOWN:
                _discard(ctx, container, state)
                return True
            mark_started(container)
        if container.spec.auto_remove and launched and state in DOWN and not files.exit_pending(container.bundle):
            _discard(ctx, container, state)  # (a foreground launcher still at work: its sdc removes it)
            return True
        return False
    finally:
        os.close(fd)


def _discard(ctx: Context, container: Container, state: str) -> None:
    """Remove a container that is not running, and the unit it left loaded; the store is locked.
    (One a killed run left half made, or a --rm one: its anonymous volumes go too.)"""
    delete(ctx, container, volumes=True)
    if state == EMPTY:
        end_empty_scope(ctx, container.unit)
    elif state != "gone":
        with contextlib.suppress(SdcError):
            ctx.systemd.reset_failed_unit(container.unit)


def settle_names(ctx: Context, names: Sequence[str]) -> dict[str, str]:
    """Settle those of names that are containers' directories; the unit states."""
    states = unit_states(ctx)
    present = [n for n in names if "/" not in n and n not in (".", "..") and ctx.paths.container(n).exists()]
    if present:
        with records.locked(ctx.paths):
            for name in present:
                settle(ctx, name, states)
    return states


def _unsettled(ctx: Context, names: list[str], listed: list[Container], states: dict[str, str]) -> bool:
    """Whether any of the containers may need settle: a few stat(2)s, no lock."""
    recorded = {c.name: c for c in listed}
    for name in names:
        c = recorded.get(name)
        if c is None or containers.is_starting(ctx.paths, name):
            return True
        if c.spec.auto_remove and states.get(c.unit, "gone") in DOWN and containers.has_launched(ctx.paths, name):
            return True
    return False


# --- the commands -----------------------------------------------------------------------------


def status(ctx: Context) -> list[ContainerStatus]:
    """Every container with its state: one ListUnitsByPatterns call for all of them.

    What a killed `sdc run` left is settled first (see settle), so that every
    container that holds a name is listed."""
    names = containers.list_names(ctx.paths)
    if not names:
        return []
    listed = containers.list_containers(ctx.paths)
    states = unit_states(ctx)
    if _unsettled(ctx, names, listed, states):
        with records.locked(ctx.paths):
            for name in names:
                settle(ctx, name, states)
        listed = containers.list_containers(ctx.paths)
    live = {name for name, state in states.items() if state not in DOWN}
    result = []
    for c in listed:
        started = containers.started_at(ctx.paths, c.name)
        state = containers.read_state(ctx.paths, c.name)
        if states.get(c.unit) == RESTARTING:
            result.append(ContainerStatus(container=c, state=RESTARTING, exit_code=state.get("exit_code"),
                                          started=started, finished=state.get("finished")))  # fmt: skip
            continue
        if c.unit in live:
            up = "paused" if cgroups.is_frozen(units.unit_cgroup(c.unit, c.spec.pod)) else "running"
            result.append(ContainerStatus(container=c, state=up, exit_code=None, started=started))
            continue
        # Started once but no end recorded: its unit went with a reboot, say, before ExecStopPost ran.
        ended = bool(state) or started is not None
        result.append(
            ContainerStatus(container=c, state="exited" if ended else "created", exit_code=state.get("exit_code"),
                            started=started, finished=state.get("finished"))
        )  # fmt: skip
    return result


PS_FILTERS = ("id", "name", "label", "label!", "status", "exited", "ancestor", "before", "since", "volume",
              "network", "publish", "expose", "health", "pod")  # fmt: skip
PS_STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH_FILTERS = (protocol.HEALTH_STARTING, protocol.HEALTHY, protocol.UNHEALTHY, "none")


def ps_filter(values: Sequence[str], listed: Sequence[ContainerStatus]) -> Callable[[ContainerStatus], bool]:
    """`ps --filter`s, Docker's: values of one key any of them (OR), keys all of them (AND); label
    filters all of them. id (a prefix), name (a part, or ^regex$), label=KEY[=VALUE], label!=...,
    status, exited=CODE, ancestor=IMAGE, before/since=CONTAINER, volume, network, publish, expose."""
    import re

    wanted: dict[str, list[str]] = {}
    for value in values:
        key, eq, text = value.partition("=")
        if not eq or key not in PS_FILTERS:
            raise UsageError(f"invalid --filter {value!r}", hint="use " + ", ".join(f"{k}=..." for k in PS_FILTERS))
        if key == "status" and text not in PS_STATES:
            raise UsageError(f"invalid --filter {value!r}", hint="a status is one of " + ", ".join(PS_STATES))
        if key == "health" and text not in HEALTH_FILTERS:
            raise UsageError(f"invalid --filter {value!r}", hint="health is " + ", ".join(HEALTH_FILTERS))
        if key == "exited" and not re.fullmatch(r"-?\d{1,9}", text, re.ASCII):
            raise UsageError(f"invalid --filter {value!r}", hint="give exited=CODE, an exit status")
        if key == "name":
            try:
                re.compile(text)
            except re.error:
                raise UsageError(f"invalid --filter {value!r}: not a regular expression",
                                 hint="a part of the name, or a regular expression: name=^web") from None  # fmt: skip
        wanted.setdefault(key, []).append(text)
    by_ref = {s.container.name: s.container for s in listed}
    bounds = {}
    for key in ("before", "since"):
        for ref in wanted.get(key, []):
            match = by_ref.get(ref) or next(
                (s.container for s in listed if len(ref) >= 4 and s.container.id.startswith(ref)), None)
            if match is None:
                raise NotFound(f"no such container: {ref}", hint=f"--filter {key}= names a container of `sdc ps -a`")
            bounds[key] = match.created

    def ports(s: ContainerStatus, published: bool) -> set[str]:
        found = set()
        for p in containers.published_ports(s.container):
            port = p.host_port if published else p.container_port
            found |= {f"{port + i}/{p.protocol}" for i in range(p.count)} | {str(port + i) for i in range(p.count)}
        return found

    def one(key: str, text: str, s: ContainerStatus) -> bool:
        c = s.container
        if key == "id":
            return c.id.startswith(text)
        if key == "name":
            return re.search(text, c.name) is not None
        if key == "status":
            return s.state == text
        if key == "exited":
            return s.state == "exited" and s.exit_code == int(text)
        if key == "ancestor":
            return _is_ancestor(c, text)
        if key == "volume":
            return any(text in (m.split(":")[0], m.split(":")[1]) for m in (*c.spec.named_volumes, *c.spec.volumes))
        if key == "network":
            return c.spec.network == text
        if key == "pod":  # by its pod's name
            return bool(c.spec.pod) and c.spec.pod == text
        if key in ("publish", "expose"):
            return text in ports(s, key == "publish")
        if key == "health":
            from sdcontainer.api import health

            found = health.state(c) if s.state in ("running", "paused") or text == "none" else None
            return bool((found or {}).get("Status", "none") == text)
        return True

    def keep(s: ContainerStatus) -> bool:
        labels = label_map(s.container.spec.labels)
        for key, texts in wanted.items():
            if key in ("label", "label!"):
                matched = [k in labels and (not eq or labels[k] == v) for k, eq, v in (t.partition("=") for t in texts)]
                if (key == "label" and not all(matched)) or (key == "label!" and any(matched)):
                    return False
            elif key == "before":
                if s.container.created >= bounds[key]:
                    return False
            elif key == "since":
                if s.container.created <= bounds[key]:
                    return False
            elif not any(one(key, t, s) for t in texts):
                return False
        return True

    return keep


def ps_options(listed: Sequence[ContainerStatus], *, all_: bool, quiet: bool, fmt: str, no_trunc: bool,
               noheading: bool, last: int | None, latest: bool, filters: Sequence[str], sort: str,
               size: bool = False, pod: bool = False, ctx: Context | None = None) -> dict[str, Any]:  # fmt: skip
    """ps's flags (Docker's and Podman's) as render.format_ps takes them: -l is -n 1; a status
    filter shows the stopped too, as -a does (Docker's); sizes (ctx's) with --size, or where a
    template shows .Size (as Docker's CLI asks for them then)."""
    if last is not None and last < -1:
        raise UsageError(f"invalid -n {last}", hint="give how many of the newest to show (-1: all)")
    sizes = None
    if ctx is not None and (size or (fmt not in ("table", "json") and ".Size" in fmt)):
        from sdcontainer.api import usage

        sizes = usage.sizer(ctx)
    return {"all_": all_ or any(f.startswith("status=") for f in filters), "quiet": quiet, "fmt": fmt,
            "no_trunc": no_trunc, "noheading": noheading, "last": 1 if latest else last, "sort": sort,
            "keep": ps_filter(filters, listed) if filters else None, "sizes": sizes, "pods": pod}  # fmt: skip


def update(ctx: Context, ref: str, **given: Any) -> Container:
    """`docker update`: the limits given (build_limits' flags: memory="64m", cpus=1.5...) changed
    in the container's record, and, while its unit is loaded, in the unit at once (systemd's
    SetUnitProperties: the cgroup's files are written by systemd, as at the start), and in its
    drop-in where it is installed (--enable). The others stay as they were."""
    from sdcontainer.containerspec import UNLIMITED
    from sdcontainer.spec import build_limits

    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        raise UsageError("nothing to update", hint="give a limit: --memory, --cpus, --pids-limit...")
    if "memory_swap" in given and "memory" not in given:  # checked against the memory it has
        current = find(ctx, ref).spec.limits.memory
        given = {**given, "memory": str(current)} if current else given
    fresh = build_limits(**given)
    container = find(ctx, ref)
    ctx.claim(container.name)
    container = find(ctx, container.id)  # as it is now that it is ours
    old = container.spec.limits
    limits = replace(old, **{field: getattr(fresh, field) for field in given})
    if limits.memory_swap not in (None, UNLIMITED) and (limits.memory is None or limits.memory_swap < limits.memory):
        raise UsageError("the memory limit would be above the memory + swap limit",
                         hint="raise --memory-swap with it (memory + swap), or give --memory-swap -1")  # fmt: skip
    container = replace(container, spec=replace(container.spec, limits=limits))
    if container.unit in live_units(ctx):
        changed = {k: v for k, v in units.build_limit_properties(limits).items()
                   if v != units.build_limit_properties(old).get(k)}  # fmt: skip
        if changed:
            ctx.systemd.set_unit_properties(container.unit, units.typed_properties(changed))
    containers.write_container(ctx.paths, container)  # (under its record's lock; ours, claimed: not removed)
    from sdcontainer import persist

    if persist.installed(container.name):  # its next boot's limits too
        from sdcontainer.api.run import install

        install(ctx, container)
        ctx.systemd.reload()
    return container


def _is_ancestor(container: Container, ref: str) -> bool:
    """ancestor=: the container's image, by the name it was made from, a name of that image, or its ID."""
    from sdcontainer.images import as_reference

    image_id = container.image_id.removeprefix("sha256:")
    if len(ref) >= 4 and image_id.startswith(ref.removeprefix("sha256:")):
        return True
    theirs = as_reference(ref)
    return container.spec.image == ref or (theirs is not None and as_reference(container.spec.image) == theirs)


def stop(ctx: Context, refs: Sequence[str], *, timeout: int | None = None) -> list[Container]:
    """The stop signal to each PID 1; SIGKILL to every process of those still up once
    timeout seconds (default: each container's stop timeout) have passed.

    All are signalled first and waited for together: stopping many takes as
    long as the slowest, not the sum."""
    if timeout is not None and not 0 <= timeout <= STOP_TIMEOUT_MAX:
        raise UsageError(f"invalid stop timeout {timeout}", hint="give a number of seconds >= 0")
    found = _each_once(find(ctx, ref) for ref in refs)
    live = live_units(ctx)
    running = [c for c in found if c.unit in live]
    start = ctx.clock.monotonic()
    for c in running:
        cgroups.thaw(units.unit_cgroup(c.unit, c.spec.pod))  # a paused one: its processes must see the signal
        if (c.spec.restart or c.invocation) and c.unit.endswith(".service"):
            # A stop job, which systemd's restart policy respects (a signal would be restarted
            # from; a Quadlet unit's is its file's Restart=): KillMode=mixed sends the stop signal
            # to PID 1; the timeout is ours, below.
            _stop_job(ctx, c.unit)
        elif (c.spec.stop_timeout if timeout is None else timeout) > 0:
            with contextlib.suppress(NotFound, Conflict):
                signum = parse_signal(c.spec.stop_signal or "SIGTERM")
                _signal_pid1(ctx, c, signum)
                announce(c, "kill", signal=str(signum))
    stubborn = []
    by_timeout: dict[int, list[Container]] = {}  # waited for together, those of one timeout at a time
    for c in running:
        by_timeout.setdefault(c.spec.stop_timeout if timeout is None else timeout, []).append(c)
    for seconds, group in sorted(by_timeout.items()):
        wait = seconds - (ctx.clock.monotonic() - start)
        reached = wait_all_gone(ctx, [c.unit for c in group], wait) if wait > 0 else {}
        stubborn += [c for c in group if reached.get(c.unit) not in GONE and not _recording_its_end(ctx, c.unit)]
    _kill_all(ctx, stubborn)
    for c in running:  # stopped when how it ended is recorded: `ps -a` right after says it
        if c.unit.endswith(".scope"):
            files.await_exit(c.bundle, EXIT_RECORD_WAIT)
        announce(c, "stop")
    return found


STOP_POST_GRACE = 10.0  # seconds an ExecStopPost has to record how its container ended


def _each_once(found: Iterable[Container]) -> list[Container]:
    """The containers in the order named, each once (a name and its ID prefix name one)."""
    return list({c.id: c for c in found}.values())


def _recording_its_end(ctx: Context, unit: str) -> bool:
    """The container's PID 1 is gone and its ExecStopPost (the launcher's --exited, or a --rm
    container's removal) runs: let it end, a SIGKILL now would lose how the container ended."""
    try:
        sub = ctx.systemd.unit_properties(unit).get("SubState")
    except NotFound:
        return True
    return sub == "stop-post" and wait_gone(ctx, unit, STOP_POST_GRACE) in GONE


def _stop_job(ctx: Context, unit: str) -> None:
    """Queue a stop job for unit; stop waits for the unit to go down, as for the others."""
    with contextlib.suppress(NotFound, Conflict):
        ctx.systemd.stop_unit(unit, wait=False)


def wait(ctx: Context, ref: str) -> int:
    """Block until the container is not running; its PID 1's exit status (0 if it never ran)."""
    container = find(ctx, ref)
    # A run still starting it (its unit not there yet): wait for the start to settle first; one
    # a killed run left starting is settled now (settle: finished, or rolled back).
    while containers.is_starting(ctx.paths, container.name):
        settle_names(ctx, [container.name])
        ctx.clock.sleep(POLL)
    while wait_gone(ctx, container.unit, 3600.0) not in GONE:
        pass
    if container.unit.endswith(".scope"):  # its launcher, outside the scope, may be recording its end
        files.await_exit(container.bundle, None)  # (a wait waits: the launcher ends with its reader)
    try:
        still = containers.find_container(ctx.paths, container.name).id == container.id
    except NotFound:
        still = False
    state = containers.read_state(ctx.paths, container.name) if still else {}
    if not state:  # a --rm container, gone with its record by now: how it ended was kept (keep_exit)
        state = containers.kept_exit(ctx.paths, container.id)
    code = state.get("exit_code")
    return int(code) if code is not None else 0


def pause(ctx: Context, ref: str) -> Container:
    """Freeze every process of a running container (cgroup v2's freezer: see cgroups.freeze)."""
    container = _running(ctx, ref)
    cgroup = units.unit_cgroup(container.unit, container.spec.pod)
    if cgroups.is_frozen(cgroup):
        raise Conflict(f"container {container.name} is paused already", hint=f"`sdc unpause {container.name}`")
    cgroups.freeze(cgroup)
    announce(container, "pause")
    return container


def unpause(ctx: Context, ref: str) -> Container:
    container = _running(ctx, ref)
    cgroup = units.unit_cgroup(container.unit, container.spec.pod)
    if not cgroups.is_frozen(cgroup):
        raise Conflict(f"container {container.name} is not paused", hint="`sdc ps` shows (Paused) on those that are")
    cgroups.thaw(cgroup)
    announce(container, "unpause")
    return container


def _running(ctx: Context, ref: str) -> Container:
    container = find(ctx, ref)
    if container.unit not in live_units(ctx):
        raise Conflict(f"container {container.name} is not running",
                       hint=f"`sdc start {container.name}` starts it again")  # fmt: skip
    return container


def _kill_all(ctx: Context, victims: Sequence[Container]) -> None:
    """SIGKILL to every process of each container, and wait until their units are down.

    PID 1 is killed first, alone: its PID namespace ends with it, and what records how it ended
    is left alive (a scope's launcher; a service's ExecStopPost, which a SIGKILL to all of the
    unit's processes would take too, losing the exit: a `stop` beside us may have ended PID 1
    already). Only a unit still up after PID1_GRACE, and not recording its end, gets SIGKILL for
    all its processes."""
    for c in victims:
        if (c.spec.restart or c.invocation) and c.unit.endswith(".service"):
            _stop_job(ctx, c.unit)  # or systemd starts it again (a Quadlet unit's Restart= is its file's)
        with contextlib.suppress(Conflict):  # ended already
            _signal_pid1(ctx, c, SIGKILL)
    if not victims:
        return
    reached = wait_all_gone(ctx, [c.unit for c in victims], PID1_GRACE)
    lingering = [c for c in victims if reached[c.unit] not in GONE and not _recording_its_end(ctx, c.unit)]
    for c in lingering:
        with contextlib.suppress(NotFound, Conflict):  # (gone meanwhile)
            ctx.systemd.kill_unit(c.unit, "all", SIGKILL)
    reached = wait_all_gone(ctx, [c.unit for c in victims], KILL_WAIT)
    for c in victims:
        if reached[c.unit] not in GONE:
            raise SdcError(f"container {c.name} did not stop (unit {reached[c.unit]})",
                           hint=f"see `systemctl status {c.unit}`")  # fmt: skip


def kill(ctx: Context, ref: str, sig: str) -> Container:
    signum = parse_signal(sig)
    container = _running(ctx, ref)
    _signal_pid1(ctx, container, signum)
    announce(container, "kill", signal=str(signum))
    return container


def _signal_pid1(ctx: Context, container: Container, signum: int) -> None:
    """Signal the container's PID 1: the service's main process, or in a scope the PID the launcher left."""
    if container.unit.endswith(".service"):
        try:
            ctx.systemd.kill_unit(container.unit, "main", signum)
        except (NotFound, Conflict):  # it ended since it was found running (an `rm -f` beside us, say)
            raise Conflict(f"container {container.name} is not running", hint="`sdc ps -a` shows its state") from None
        return
    try:
        pid = int((Path(container.bundle) / protocol.PID).read_text())
        # The PID must still be in the container's scope, not a reused one.
        if not cgroups.in_unit(pid, container.unit):
            raise ProcessLookupError(pid)
        os.kill(pid, signum)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        raise Conflict(f"container {container.name} is not running", hint="`sdc ps -a` shows its state") from None


def remove(ctx: Context, refs: Sequence[str], *, force: bool = False, volumes: bool = False,
           missing: list[str] | None = None) -> list[Container]:  # fmt: skip
    """Remove containers; running ones only with force (all killed first, then waited for);
    volumes: their anonymous volumes too (`rm -v`). missing: where the names of containers that
    are not there go, the others removed all the same (Docker's `rm a b c`); else one is an error.

    A name a killed `sdc run` left is settled first (see settle): rm finds what ps shows. Each
    is claimed first (Context.hold_name): one another sdc is starting or changing is a Conflict,
    and nothing is removed."""
    states = settle_names(ctx, refs)
    if missing is None:
        found = _each_once(find(ctx, ref) for ref in refs)
    else:
        found = []
        for ref in refs:
            try:
                found.append(find(ctx, ref))
            except NotFound:
                missing.append(ref)
        found = _each_once(found)
    with records.locked(ctx.paths):  # where settle claims: a claim held now is a command at work
        for c in found:
            ctx.hold_name(c.name)
        names = {c.name for c in found}
        for c in found:
            theirs = [j for j in joiners(ctx, c) if j not in names]
            if theirs:
                raise Conflict(f"container {c.name} has containers that share its network: {', '.join(theirs[:5])}",
                               hint=f"remove them first, or along: sdc rm -f {c.name} {' '.join(theirs)}")  # fmt: skip
    states = unit_states(ctx)  # as they are now that none can be started
    running = [c for c in found if states.get(c.unit, "gone") not in DOWN]
    if running and not force:
        name = running[0].name
        raise Conflict(f"container {name} is running", hint=f"stop it first (`sdc stop {name}`), or use `sdc rm -f`")
    marked: list[Container] = []
    try:
        for c in running:
            if _records_nothing_at_its_end(c) and _mark_removing(c):
                marked.append(c)
        _kill_all(ctx, running)
    finally:  # (a failed kill too: the others keep their ends to record again)
        for c in marked:
            try:  # not taken: it ended otherwise (its ExecStopPost recorded that), or is not down
                (Path(c.bundle) / protocol.REMOVING).unlink()
            except FileNotFoundError:
                announce(c, "die", exitCode=str(128 + SIGKILL))
    for c in found:
        delete(ctx, c, volumes=volumes)
        if states.get(c.unit) == EMPTY:
            end_empty_scope(ctx, c.unit)
        else:
            with contextlib.suppress(SdcError):
                ctx.systemd.reset_failed_unit(c.unit)
    return found


def _records_nothing_at_its_end(container: Container) -> bool:
    """A service whose ExecStopPost (launcher --exited) only records how it ended, which an
    `rm -f` does in its place (protocol.REMOVING): not one whose ExecStopPost also unmakes its
    network or its cpuset cgroup, nor a --rm one's (sdc's own clean-up)."""
    spec = container.spec
    return container.unit.endswith(".service") and not (spec.networked or spec.limits.cpuset_cpus or spec.auto_remove)


def _mark_removing(container: Container) -> bool:
    """How the container ends when `rm -f` kills it, SIGKILL's 137, left in its bundle for its
    ExecStopPost, which takes it for its state.json before the unit goes down (a `wait` then
    reads it) and imports nothing (launcher_entry.py), where systemd says SIGKILL ended PID 1.
    (An OOM kill in the moment between the mark and rm's own kill is taken for rm's.)"""
    import time

    state = protocol.state(exit_code=128 + SIGKILL, finished=time.time(), result="signal", oom_killed=False)
    try:
        records.write_json(Path(container.bundle) / protocol.REMOVING, state)
    except (OSError, SdcError):
        return False  # its ExecStopPost records its end, as any
    return True  # (a mark an interrupt leaves unlisted: protocol.REMOVING_FRESH)


JOINER = "joiner-"  # a bundle's file JOINER + NAME: container NAME shares its network (its ID in it)


def joiners(ctx: Context, container: Container) -> list[str]:
    """The containers made with --network container:NAME of container (each says so in a file of
    its bundle, checked against its record: one removed or of another ID since is none)."""
    found = []
    for path in Path(container.bundle).glob(f"{JOINER}*"):
        name = path.name.removeprefix(JOINER)
        try:
            joiner = containers.find_container(ctx.paths, name)
            if joiner.id == path.read_text().strip() and joiner.spec.joins == container.name:
                found.append(name)
        except (SdcError, OSError):
            continue
    return sorted(found)


def announce(container: Container, action: str, **attributes: str) -> None:
    """An event of container's in the journal (journal.event: what `sdc events` shows)."""
    from sdcontainer import journal

    journal.event(action, container.id, container.name, image=container.spec.image, **attributes)


def delete(ctx: Context, container: Container, *, volumes: bool = False) -> None:
    """The container's filesystem, then its record, with the store locked (for a moment). Its
    unit files first (persist.py), wherever a kill left any; how it ended kept for a `wait` on
    it (keep_exit). A container gone meanwhile (its --rm clean-up beside us) or replaced by
    another of its name: only what is left of this one, by its ID. Its anonymous volumes with
    volumes, or --rm (Docker's), once no other container uses them."""
    from sdcontainer import persist

    driver = ctx.driver()
    if container.unit.endswith(".scope"):  # its launcher may be recording how it ended
        files.await_exit(container.bundle, EXIT_RECORD_WAIT)
    with records.locked(ctx.paths):
        current = _recorded_id(ctx, container.name)
        if current is not None and current != container.id:
            driver.remove_container_fs(container.id)
            return
        if container.spec.enable or persist.installed(container.name):
            persist.uninstall(ctx.paths, container.name)
            with contextlib.suppress(SdcError):
                ctx.systemd.reload()
        with containers.record_locked(ctx.paths, container.name) as present:
            if present:  # `sdc wait` on it may still be waiting
                containers.keep_exit(ctx.paths, container)
        if container.spec.joins:
            with contextlib.suppress(OSError):
                os.unlink(ctx.paths.container(container.spec.joins) / f"{JOINER}{container.name}")
        if (Path(container.bundle) / protocol.NETWORK).exists():  # its leases; what a crash left of its netns
            from sdcontainer.api import networks

            networks.release(Path(container.bundle))
        driver.remove_container_fs(container.id)
        containers.remove_container_dir(ctx.paths, container.name)
        if container.invocation:  # run by a unit not sdc's (a Quadlet file's): the next run takes it in again
            containers.remove_foreign_unit(ctx.paths, container.unit, container.name)
        announce(container, "destroy")
        if container.spec.named_volumes and (volumes or container.spec.auto_remove):
            from sdcontainer.api import volumes as volume_cases

            volume_cases.remove_anonymous(ctx, container.spec)


EXIT_RECORD_WAIT = 5.0  # seconds a foreground launcher may take to record how its container ended


def await_last_run(container: Container) -> None:
    """Before a start clears the last run's records: its foreground launcher (outside the scope,
    which may be gone already) done recording how it ended, or it would write that into the
    new run's records."""
    files.await_exit(container.bundle, EXIT_RECORD_WAIT)
    if files.exit_pending(container.bundle):
        raise Conflict(f"container {container.name} is still recording how its last run ended",
                       hint="its `sdc run` waits for its output to be read: try again once that has ended")  # fmt: skip


def _recorded_id(ctx: Context, name: str) -> str | None:
    """The ID in the record of name, None where there is none (or none that can be read)."""
    try:
        data = records.read_json(containers.record_path(ctx.paths, name))
    except (OSError, SdcError):
        return None
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


def unit_cleanup(ctx: Context, unit: str, environ: dict[str, str]) -> None:
    """ExecStopPost of a Quadlet file's unit: the cleanup of the container that run of it made
    (by the store's index of such units, whatever name the unit's file says now), where it is
    that run's (a container another run left is the next start's to replace)."""
    name = containers.foreign_unit_container(ctx.paths, unit)
    if not name:
        return
    try:
        container = containers.find_container(ctx.paths, name)
    except NotFound:
        return
    if container.unit == unit and container.invocation in ("", environ.get("INVOCATION_ID", "")):
        cleanup(ctx, name, environ)


def cleanup(ctx: Context, name: str, environ: dict[str, str]) -> None:
    """ExecStopPost of a detached --rm container (the launcher records how the others ended,
    see run.cleanup_argv): say if the OOM killer took a process, then remove it."""
    from sdcontainer.launcher import OOM_WARNING, exit_state

    state = exit_state(environ)
    if state["oom_killed"]:
        log.warning(OOM_WARNING, name)
    try:
        container = containers.find_container(ctx.paths, name)
    except NotFound:
        return  # removed already, by `sdc rm -f` or a failed start
    with containers.record_locked(ctx.paths, name) as present:
        if not present:
            return
        # recorded as the launcher records it (--exited), for `wait` (delete keeps it)
        records.write_json(Path(container.bundle) / protocol.STATE, state)
    if state["oom_killed"]:
        announce(container, "oom")
    announce(container, "die", exitCode=str(state["exit_code"]) if state["exit_code"] is not None else "")
    if container.spec.auto_remove and ctx.try_claim(name):  # else an `rm -f` at work removes it
        delete(ctx, container)


def ports(ctx: Context, ref: str) -> list[containers.Published]:
    """`sdc port`: the ports a container publishes (its host ports are its own from its making to
    its removal)."""
    return containers.published_ports(find(ctx, ref))


def diff(ctx: Context, ref: str) -> list[tuple[str, str]]:
    """What the container changed in its root filesystem, as `docker diff` says it: (A|C|D, /path)."""
    from sdcontainer import images

    driver = ctx.driver()
    container = find(ctx, ref)
    ctx.claim(container.name)  # not removed while its files are read
    with records.adding(ctx.paths):  # the view lives in the driver's tmp/, which is not cleared meanwhile
        image = images.find_image(ctx.paths, container.image_id)
        with driver.container_changes(container.id, image.top_layer) as (view, found):
            for path in driver.unseen_subvolumes(view, found):
                log.warning("%s is a btrfs subvolume the container made: its files are not shown (nor committed)",
                            path)  # fmt: skip
            return [(kind.value, "/" + path) for kind, path in found]
