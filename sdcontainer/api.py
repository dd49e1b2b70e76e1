"""Use cases: what each sdc command does, in terms of the store and systemd.

No rendering and no exit codes here: functions return data or raise SdcError.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sdcontainer import cgroups, containers, records, seccomp, units
from sdcontainer.containers import Container
from sdcontainer.errors import Conflict, NotFound, SdcError, UsageError
from sdcontainer.log import get_logger
from sdcontainer.paths import Paths
from sdcontainer.spec import ContainerSpec, check_name, parse_signal
from sdcontainer.systemd import SERVICE_IFACE, SystemdClient, connect, wait_for_state

# images (tar, hashing), storage (ctypes, subprocess), bundle and linux are
# imported where they are used: `sdc ps`, `stop` and `rm` pay nothing for them.
if TYPE_CHECKING:
    from sdcontainer.images import Image
    from sdcontainer.storage.driver import Driver

log = get_logger(__name__)

GONE = ("inactive", "failed", "gone")
EMPTY = "empty"  # an active scope with no process left in it: see Sdc._unit_states
DOWN = ("inactive", "failed", "gone", EMPTY)
KILL_WAIT = 10.0  # after SIGKILL, how long the kernel and systemd may take


@dataclass(frozen=True, kw_only=True)
class ContainerStatus:
    container: Container
    state: str  # created, running, exited
    exit_code: int | None
    started: float | None = None  # when its PID 1 exec'ed
    finished: float | None = None


def require_root() -> None:
    if os.geteuid() != 0:
        raise SdcError("sdc needs root", hint="run it as root, e.g. with sudo")


class Sdc:
    """The use cases, over one store and one (lazily connected) systemd client."""

    def __init__(
        self,
        paths: Paths,
        *,
        connector: Callable[[], SystemdClient] | None = None,
        storage_driver: str | None = None,
    ) -> None:
        self.paths = paths
        self._connector = connector or connect
        self._client: SystemdClient | None = None
        self._storage_driver = storage_driver
        self._opened_driver: Driver | None = None
        self._name_locks: list[int] = []  # held until the command ends: see containers.take_name_lock

    @property
    def systemd(self) -> SystemdClient:
        if self._client is None:
            self._client = self._connector()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        while self._name_locks:
            os.close(self._name_locks.pop())

    def _driver(self) -> Driver:
        """The store's driver, opened once per command (config read, pool mounted, layout made,
        what an interrupted command left in its tmp/ removed). Call with the store locked."""
        from sdcontainer import storage

        if self._opened_driver is None:
            self._opened_driver = storage.open_driver(self.paths, self._storage_driver)
            self._opened_driver.collect_garbage()
        return self._opened_driver

    # --- images -------------------------------------------------------------------
    def import_image(self, stream: BinaryIO, ref: str, *, max_size: int | None = None) -> Image:
        """A rootfs tarball as image ref; max_size bounds the apparent size of its files."""
        from sdcontainer import images

        images.normalize_reference(ref)  # refuse a bad name before reading anything
        with records.locked(self.paths):
            return images.import_rootfs(self.paths, self._driver(), stream, ref, max_size=max_size)

    def list_images(self) -> list[tuple[Image, list[str]]]:
        from sdcontainer import images

        return images.list_images(self.paths)

    def remove_image(self, ref: str, *, force: bool = False) -> str:
        """Untag ref; delete the image once no name and no container refers to it."""
        from sdcontainer import images

        with records.locked(self.paths):
            image = images.find_image(self.paths, ref)
            names = [r for r, iid in images.read_repositories(self.paths).items() if iid == image.id]
            by_name = images._REF_RE.match(ref) and images.normalize_reference(ref) in names
            if by_name and len(names) > 1:
                images.untag_image(self.paths, ref)
                return f"Untagged: {images.normalize_reference(ref)}"
            users = [c.name for c in containers.list_containers(self.paths) if c.image_id == image.id]
            if users and not force:
                raise Conflict(
                    f"image {ref} is used by container {users[0]}",
                    hint=f"remove the container first (`sdc rm {users[0]}`), or use `sdc rmi -f`",
                )
            images.delete_image(self.paths, self._driver(), image)
            return f"Deleted: {image.id}"

    # --- creating and running -----------------------------------------------------
    def _check_spec(self, spec: ContainerSpec, image: Image) -> ContainerSpec:
        if spec.name:  # else the store picks one, under its lock
            check_name(spec.name)
        if not spec.command:
            cmd = image.config.get("Cmd") or []
            if not cmd:
                raise UsageError("no command specified", hint=f"give one: sdc run {spec.image} COMMAND")
            spec = dataclasses.replace(spec, command=tuple(cmd))
        if spec.limits.cpuset_cpus and max(spec.limits.cpuset_cpus) >= (os.cpu_count() or 1):
            raise UsageError(
                f"--cpuset-cpus asks for CPU {max(spec.limits.cpuset_cpus)}, which this host does not have",
                hint=f"this host has CPUs 0-{(os.cpu_count() or 1) - 1}",
            )
        if not spec.workdir.startswith("/"):
            raise UsageError(f"--workdir {spec.workdir!r} is not absolute", hint="give an absolute path, like /srv")
        return spec

    def create(self, spec: ContainerSpec, stack: contextlib.ExitStack) -> Container:
        """Make the container's filesystem and bundle; undone by stack unless popped."""
        from sdcontainer import bundle, images

        image = images.find_image(self.paths, spec.image)
        spec = self._check_spec(spec, image)
        with records.locked(self.paths):
            if not spec.name:
                spec = dataclasses.replace(spec, name=containers.generate_name(self.paths))
            if self.paths.container(spec.name).exists() and not self._settle(spec.name, self._unit_states()):
                raise Conflict(
                    f"the container name {spec.name!r} is already in use",
                    hint=f"remove that container (`sdc rm {spec.name}`) or choose another --name",
                )
            driver = self._driver()
            cid = containers.new_id()
            cdir = self.paths.container(spec.name)
            cdir.mkdir(mode=0o700, parents=True)
            stack.callback(containers.remove_container_dir, self.paths, spec.name)
            self._hold_name(spec.name)
            unit = units.service_name(spec.name) if spec.detach else units.scope_name(spec.name)
            container = Container(
                id=cid,
                spec=spec,
                image_id=image.id,
                unit=unit,
                driver=driver.name,
                rootfs=str(driver.container_path(cid)),
                bundle=str(cdir),
                created=time.time(),
            )
            # The record first, marked starting: a run killed from here on leaves a container that
            # `ps -a` shows and the next command that touches it finishes or rolls back (_settle).
            (cdir / containers.STARTING).touch()
            containers.write_container(self.paths, container)
            rootfs = driver.make_container_fs(cid, image.top_layer)
            stack.callback(driver.remove_container_fs, cid)
            hostname = spec.hostname or spec.name
            (cdir / "hostname").write_text(hostname + "\n")
            (cdir / "hosts").write_text(bundle.build_hosts(hostname))
            (cdir / "resolv.conf").write_text(_host_resolv_conf())
            (cdir / "rootfs").symlink_to(rootfs)
            (cdir / bundle.SECCOMP_PROGRAM).write_bytes(seccomp.build_namespace_filter(os.uname().machine))
            home = _home_in(rootfs, spec.user[0])
            config = bundle.build_runtime_config(spec, image_config=image.config, container_dir=cdir, home=home)
            records.write_json(cdir / "config.json", config)
        return container

    def _hold_name(self, name: str) -> None:
        fd = containers.take_name_lock(self.paths, name)
        if fd is None:  # cannot be: the directory is new and the store is locked
            raise Conflict(f"the container name {name!r} is being used by another sdc")
        self._name_locks.append(fd)

    def _started(self, container: Container) -> None:
        """The start is settled: the unit runs, or has run, the container."""
        (Path(container.bundle) / containers.STARTING).unlink(missing_ok=True)

    def run_detached(self, spec: ContainerSpec) -> Container:
        """Start a container as a transient service; return once its PID 1 has exec'ed."""
        spec = dataclasses.replace(spec, detach=True)
        with contextlib.ExitStack() as stack:
            container = self.create(spec, stack)
            props = units.build_service_properties(
                container.spec,
                launcher=launcher_argv("--notify", container.bundle),
                cleanup=self._cleanup_argv(container),
                read_only=[os.path.realpath(sys.executable)],  # see launcher.spawn_foreground
            )
            self._start_unit(container, props, stack)
            self._started(container)
            stack.pop_all()
        return container

    def _start_unit(self, container: Container, props: dict[str, object], stack: contextlib.ExitStack) -> None:
        stack.callback(self._forget_unit, container.unit)
        typed = units.typed_properties(props)
        try:
            result = self.systemd.start_transient_unit(container.unit, typed)
        except Conflict:
            # The unit of an earlier container of this name may still be going away
            # (a scope is collected just after its last process exits): wait a little, once.
            if wait_for_state(self.systemd, container.unit, ("gone",), timeout=2.0) != "gone":
                self.systemd.reset_failed_unit(container.unit)
            result = self.systemd.start_transient_unit(container.unit, typed)
        if result != "done" and _launched(container):
            return  # it started, and its command has ended already: a run, not a failure
        if result != "done":
            raise SdcError(
                f"container {container.name} failed to start: {_launch_error(container)}",
                hint=f"see `journalctl -u {container.unit}`",
            )

    def _forget_unit(self, unit: str) -> None:
        with contextlib.suppress(SdcError):
            self.systemd.stop_unit(unit)
        with contextlib.suppress(SdcError):
            self.systemd.reset_failed_unit(unit)

    def run_foreground(self, spec: ContainerSpec) -> int:
        """Run in a scope around the launcher, attached to our stdio; return the command's exit status.

        The launcher is a fresh interpreter (see launcher.spawn_foreground), started
        first so that its start-up overlaps the container's creation and the scope's."""
        from sdcontainer import launcher

        # The launcher's mount namespace is a copy of ours: the store's pool must be mounted first.
        with records.locked(self.paths):
            self._driver()
        # Signals stay blocked from here on: sdc and the launcher read them with
        # sigwaitinfo and relay what others send; the container unblocks them.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {*launcher.RELAYED, signal.SIGCHLD})
        try:
            sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
            try:
                pid = launcher.spawn_foreground(sync_r, str(self.paths.lock))
            finally:
                os.close(sync_r)
            try:
                return self._attach(spec, pid, sync_w)
            finally:
                os.close(sync_w)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)

    def _attach(self, spec: ContainerSpec, pid: int, sync_w: int) -> int:
        """Create the container, put the launcher in its scope, let it go and relay signals to it."""
        from sdcontainer import launcher

        with contextlib.ExitStack() as stack:
            try:
                container = self.create(spec, stack)
                props = units.build_scope_properties(container.spec, pid=pid)
                self._start_unit(container, props, stack)
                os.write(sync_w, os.fsencode(container.bundle) + b"\n")  # in the scope, under its limits: go
                self._started(container)
            except BaseException:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise
            code = launcher.relay_signals(pid)
            if not containers.read_state(self.paths, container.name):  # the launcher died before recording it
                with records.locked(self.paths):
                    containers.write_state(self.paths, container.name, {"exit_code": code, "finished": time.time()})
            if not spec.auto_remove:
                stack.pop_all()
        return code

    def _cleanup_argv(self, container: Container) -> list[str]:
        """The ExecStopPost of a detached container. The launcher records how it ended, at a
        fraction of sdc's start-up (stdlib C modules only), which `sdc stop` and `rm -f` wait
        for; a --rm container needs sdc's storage layer to remove it: sdc's own cleanup."""
        if container.spec.auto_remove:
            return self._self_argv("_cleanup", container.name)
        return launcher_argv("--exited", container.bundle, "--lock", str(self.paths.lock))

    def _self_argv(self, *args: str) -> list[str]:
        """sdc as a unit's command: by file path (the package need not be on the interpreter's
        path, as in /usr/lib/sdc), isolated (-I), as it runs as root."""
        main = str(Path(__file__).with_name("__main__.py"))
        # Without site (-S) when sdc itself runs so (the Debian package's /usr/bin/sdc): its
        # dependencies are beside it, and site costs every container's cleanup a few ms.
        flags = "-IS" if sys.flags.no_site else "-I"
        return [sys.executable, flags, main, "--root", str(self.paths.root), *args]

    # --- lifecycle ----------------------------------------------------------------
    def find(self, ref: str) -> Container:
        return containers.find_container(self.paths, ref)

    def _unit_states(self) -> dict[str, str]:
        """The ActiveState of each of sdc's loaded units, in one call for all containers.

        A scope whose processes are all gone reads EMPTY: systemd learns that a scope emptied
        from the kernel, which on cgroup v1 tells it only through a release agent (none in a
        container, say); until then the scope stays active with nothing in it, and no
        process is left to kill."""
        states = {}
        for u in self.systemd.list_units([f"{units.PREFIX}*.service", f"{units.PREFIX}*.scope"]):
            state = u.active_state
            if state == "active" and u.name.endswith(".scope") and not cgroups.populated(units.unit_cgroup(u.name)):
                state = EMPTY
            states[u.name] = state
        return states

    def _live_units(self) -> set[str]:
        """sdc's units that are up (active, activating, deactivating...)."""
        return {name for name, state in self._unit_states().items() if state not in DOWN}

    def _wait_gone(self, unit: str, timeout: float) -> str:
        """Wait for unit to stop (or be unloaded); end a scope found empty. The state reached."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                state = str(self.systemd.unit_properties(unit)["ActiveState"])
            except NotFound:
                return "gone"
            if state in GONE:
                return state
            if unit.endswith(".scope") and not cgroups.populated(units.unit_cgroup(unit)):
                self._end_empty_scope(unit)
                return "gone"
            if time.monotonic() >= deadline:
                return state
            time.sleep(0.02)

    def _end_empty_scope(self, unit: str) -> None:
        # Stopping a scope runs nothing of sdc's (no ExecStopPost): safe with the store locked.
        with contextlib.suppress(SdcError):
            self.systemd.stop_unit(unit)
        with contextlib.suppress(SdcError):
            self.systemd.reset_failed_unit(unit)

    def _settle(self, name: str, states: dict[str, str]) -> bool:
        """Finish or roll back what a killed `sdc run` left of container name; True if it is gone.

        Call with the store locked. A container whose name lock another process holds is
        left alone: its sdc is still at work. Otherwise: a directory without a record, and
        a container still `starting` whose launcher never ran and whose unit is down, are
        rolled back; one still `starting` that did run is finished (the mark goes); a --rm
        container that has run and is down is removed, as its sdc would have done."""
        fd = containers.take_name_lock(self.paths, name)
        if fd is None:
            return not self.paths.container(name).exists()
        try:
            if not containers.record_path(self.paths, name).exists():
                containers.remove_container_dir(self.paths, name)  # killed before its record was written
                return True
            container = containers.find_container(self.paths, name)
            state = states.get(container.unit, "gone")
            launched = containers.has_launched(self.paths, name)
            if containers.is_starting(self.paths, name):
                if not launched and state in DOWN:
                    self._discard(container, state)
                    return True
                self._started(container)
            if container.spec.auto_remove and launched and state in DOWN:
                self._discard(container, state)
                return True
            return False
        finally:
            os.close(fd)

    def _discard(self, container: Container, state: str) -> None:
        """Remove a container that is not running, and the unit it left loaded; the store is locked."""
        self._delete(container)
        if state == EMPTY:
            self._end_empty_scope(container.unit)
        elif state != "gone":
            with contextlib.suppress(SdcError):
                self.systemd.reset_failed_unit(container.unit)

    def _settle_names(self, names: Sequence[str]) -> dict[str, str]:
        """Settle (see _settle) those of names that are containers' directories; the unit states."""
        states = self._unit_states()
        present = [n for n in names if "/" not in n and n not in (".", "..") and self.paths.container(n).exists()]
        if present:
            with records.locked(self.paths):
                for name in present:
                    self._settle(name, states)
        return states

    def stop(self, refs: Sequence[str], *, timeout: int | None = None) -> list[Container]:
        """The stop signal to each PID 1; SIGKILL to every process of those still up once
        timeout seconds (default: each container's stop timeout) have passed.

        All are signalled first and waited for together: stopping many takes as
        long as the slowest, not the sum."""
        if timeout is not None and timeout < 0:
            raise UsageError(f"invalid stop timeout {timeout}", hint="give a number of seconds >= 0")
        found = [self.find(ref) for ref in refs]
        live = self._live_units()
        running = [c for c in found if c.unit in live]
        start = time.monotonic()
        for c in running:
            if (c.spec.stop_timeout if timeout is None else timeout) > 0:
                with contextlib.suppress(NotFound, Conflict):
                    self._signal_pid1(c, int(signal.Signals[c.spec.stop_signal]))
        stubborn = []
        for c in running:
            wait = (c.spec.stop_timeout if timeout is None else timeout) - (time.monotonic() - start)
            if wait <= 0 or self._wait_gone(c.unit, wait) not in GONE:
                stubborn.append(c)
        self._kill_all(stubborn)
        return found

    def _kill_all(self, victims: Sequence[Container]) -> None:
        for c in victims:
            with contextlib.suppress(NotFound):
                self.systemd.kill_unit(c.unit, "all", signal.SIGKILL)
        deadline = time.monotonic() + KILL_WAIT
        for c in victims:
            state = self._wait_gone(c.unit, max(0.0, deadline - time.monotonic()))
            if state not in GONE:
                raise SdcError(
                    f"container {c.name} did not stop (unit {state})", hint=f"see `systemctl status {c.unit}`"
                )

    def kill(self, ref: str, sig: str) -> Container:
        container = self.find(ref)
        signum = parse_signal(sig)
        if container.unit not in self._live_units():
            raise Conflict(f"container {container.name} is not running", hint="start a new one with `sdc run`")
        self._signal_pid1(container, signum)
        return container

    def _signal_pid1(self, container: Container, signum: int) -> None:
        """Signal the container's PID 1: the service's main process, or in a scope the PID the launcher left."""
        if container.unit.endswith(".service"):
            self.systemd.kill_unit(container.unit, "main", signum)
            return
        try:
            pid = int((Path(container.bundle) / "pid").read_text())
            # The PID must still be in the container's scope, not a reused one.
            if f"/{container.unit}\n" not in Path(f"/proc/{pid}/cgroup").read_text():
                raise ProcessLookupError(pid)
            os.kill(pid, signum)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            raise Conflict(f"container {container.name} is not running", hint="`sdc ps -a` shows its state") from None

    def remove(self, refs: Sequence[str], *, force: bool = False) -> list[Container]:
        """Remove containers; running ones only with force (all killed first, then waited for).

        A name a killed `sdc run` left is settled first (see _settle): rm finds what ps shows."""
        states = self._settle_names(refs)
        found = [self.find(ref) for ref in refs]
        running = [c for c in found if states.get(c.unit, "gone") not in DOWN]
        if running and not force:
            name = running[0].name
            raise Conflict(
                f"container {name} is running", hint=f"stop it first (`sdc stop {name}`), or use `sdc rm -f`"
            )
        self._kill_all(running)
        for c in found:
            self._remove_files(c)
            if states.get(c.unit) == EMPTY:
                self._end_empty_scope(c.unit)
            else:
                with contextlib.suppress(SdcError):
                    self.systemd.reset_failed_unit(c.unit)
        return found

    def _remove_files(self, container: Container) -> None:
        with records.locked(self.paths):
            self._delete(container)

    def _delete(self, container: Container) -> None:
        """The container's filesystem, then its record: call with the store locked."""
        self._driver().remove_container_fs(container.id)
        containers.remove_container_dir(self.paths, container.name)

    def cleanup(self, name: str, environ: dict[str, str]) -> None:
        """ExecStopPost of a detached --rm container: record how it ended (as the launcher
        does for the others, see _cleanup_argv), then remove it."""
        from sdcontainer.launcher import OOM_WARNING, exit_state

        state = exit_state(environ)
        if state["oom_killed"]:
            log.warning(OOM_WARNING, name)
        with records.locked(self.paths):
            try:
                container = containers.find_container(self.paths, name)
            except NotFound:
                return  # removed already, by `sdc rm -f` or a failed start
            containers.write_state(self.paths, name, state)
            if container.spec.auto_remove:
                self._delete(container)

    def status(self) -> list[ContainerStatus]:
        """Every container with its state: one ListUnitsByPatterns call for all of them.

        What a killed `sdc run` left is settled first (see _settle), so that every
        container that holds a name is listed."""
        names = containers.list_names(self.paths)
        if not names:
            return []
        listed = containers.list_containers(self.paths)
        states = self._unit_states()
        if self._unsettled(names, listed, states):
            with records.locked(self.paths):
                for name in names:
                    self._settle(name, states)
            listed = containers.list_containers(self.paths)
        live = {name for name, state in states.items() if state not in DOWN}
        result = []
        for c in listed:
            started = containers.started_at(self.paths, c.name)
            if c.unit in live:
                result.append(ContainerStatus(container=c, state="running", exit_code=None, started=started))
                continue
            state = containers.read_state(self.paths, c.name)
            # Started once but no end recorded: its unit went with a reboot, say, before ExecStopPost ran.
            ended = bool(state) or started is not None
            result.append(
                ContainerStatus(container=c, state="exited" if ended else "created", exit_code=state.get("exit_code"),
                                started=started, finished=state.get("finished"))
            )  # fmt: skip
        return result

    def _unsettled(self, names: list[str], listed: list[Container], states: dict[str, str]) -> bool:
        """Whether any of the containers may need _settle: a few stat(2)s, no lock."""
        recorded = {c.name: c for c in listed}
        for name in names:
            c = recorded.get(name)
            if c is None or containers.is_starting(self.paths, name):
                return True
            if c.spec.auto_remove and states.get(c.unit, "gone") in DOWN and containers.has_launched(self.paths, name):
                return True
        return False

    def inspect(self, ref: str) -> dict[str, Any]:
        container = self.find(ref)
        data: dict[str, Any] = {
            "Id": container.id,
            "Name": container.name,
            "Created": _iso_time(container.created),
            "Image": container.spec.image,
            "ImageId": container.image_id,
            "Command": list(container.spec.command),
            "Unit": container.unit,
            "Storage": {"Driver": container.driver, "RootFs": container.rootfs, "Bundle": container.bundle},
            "Limits": dataclasses.asdict(container.spec.limits),
            "Config": dataclasses.asdict(container.spec),
            "State": {
                "Status": "exited" if containers.read_state(self.paths, container.name) else "created",
                **containers.read_state(self.paths, container.name),
            },
        }
        iface = SERVICE_IFACE if container.unit.endswith(".service") else "org.freedesktop.systemd1.Scope"
        with contextlib.suppress(NotFound):
            unit = self.systemd.unit_properties(container.unit)
            props = self.systemd.unit_properties(container.unit, iface)
            data["State"] = {
                "Status": "running" if unit["ActiveState"] == "active" else str(unit["ActiveState"]),
                "ActiveState": unit["ActiveState"],
                "SubState": unit["SubState"],
                "MainPID": props.get("MainPID"),
                "ControlGroup": props.get("ControlGroup"),
            }
            data["UnitProperties"] = {
                k: _jsonable(props[k])
                for k in units.SIGNATURES
                if k in props and k not in ("ExecStart", "ExecStopPost")
            }
        return data

    def logs_argv(
        self, ref: str, *, follow: bool = False, since: str | None = None, tail: int | None = None
    ) -> list[str]:
        container = self.find(ref)
        # The container's own output only, not systemd's messages about its unit.
        argv = ["journalctl", "--no-pager", "-o", "cat", f"_SYSTEMD_UNIT={container.unit}", "_TRANSPORT=stdout"]
        if follow:
            argv.append("-f")
        if since:
            argv += ["--since", since]
        if tail is not None:
            argv += ["-n", str(tail)]
        return argv


def launcher_argv(*args: str) -> list[str]:
    """The launcher as a unit's command: isolated (-I: no PYTHON* variables, no user site,
    as it runs as root) and without site (-S: it needs no third-party package, and
    site's .pth files cost start-up time on every container start)."""
    # By path, beside this file: importing the launcher here would cost `sdc run -d` its imports.
    return [sys.executable, "-I", "-S", str(Path(__file__).with_name("launcher.py")), *args]


def _iso_time(timestamp: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _launched(container: Container) -> bool:
    """After a failed start job of a service: did its PID 1 exec (and its command end at once)?

    The launcher records the PID before it lets PID 1 exec, and why it failed (launch-error)
    before it lets PID 1 exit, which is what fails the job: the records are final by now."""
    if not container.unit.endswith(".service"):
        return False  # a scope that failed to start: the launcher was never let go
    bundle = Path(container.bundle)
    return (bundle / "pid").exists() and not (bundle / "launch-error").exists()


def _launch_error(container: Container) -> str:
    path = Path(container.bundle) / "launch-error"
    try:
        return path.read_text().strip() or "the launcher failed"
    except FileNotFoundError:
        return "the launcher did not report ready"


def _home_in(rootfs: Path, uid: int) -> str:
    """uid's home directory in the container's /etc/passwd, read as the container would resolve it
    (a symlink in the image leads nowhere outside it); / without one, as Docker's."""
    from sdcontainer import bundle, linux

    try:
        root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = linux.open_in_root(root, "/etc/passwd", os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block us
        finally:
            os.close(root)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return "/"
            text = f.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return "/"
    return bundle.home_of(text, uid)


def _host_resolv_conf() -> str:
    try:
        return Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return list(value)
    return value
