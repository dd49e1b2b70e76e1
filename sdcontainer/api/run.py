"""Running a container: create its filesystem and bundle, then start it as a transient unit, a
service when detached, a scope around the launcher in the foreground."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sdcontainer import bundle, cgroups, containers, files, protocol, records, seccomp, units
from sdcontainer.api import containers as lifecycle
from sdcontainer.api.context import Context
from sdcontainer.containers import Container
from sdcontainer.containerspec import JOIN, ContainerSpec, check_name, parse_signal, signal_name
from sdcontainer.errors import Conflict, NotFound, SdcError, UsageError
from sdcontainer.log import get_logger
from sdcontainer.phases import mark
from sdcontainer.record import replace
from sdcontainer.spec import capabilities, check_user, seccomp_profile
from sdcontainer.systemd import wait_for_state
from sdcontainer.text import is_decimal

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    import signal  # _signal has no stubs of its own: signal's describe the same functions
    from typing import Any

    from sdcontainer.images import Image
else:
    import _signal as signal  # signal's enums import enum (~1 ms)

log = get_logger(__name__)
PACKAGE = Path(__file__).resolve().parent.parent  # sdcontainer/: the launcher and __main__ are run by path


HALT = "SIGRTMIN+3"


def resolve_spec(spec: ContainerSpec, image: Image) -> ContainerSpec:
    """The spec with what it leaves to the image (docker run's rules, the flags winning):
    the image's Entrypoint unless --entrypoint; its Cmd unless a command is given, and not
    with --entrypoint; its WorkingDir, User and StopSignal; and the checks that need the host."""
    runtime = image.runtime
    if spec.name:  # else the store picks one, under its lock
        check_name(spec.name)
    entrypoint = tuple(map(str, runtime.get("Entrypoint") or ())) if spec.entrypoint is None else spec.entrypoint
    command = spec.command or (tuple(map(str, runtime.get("Cmd") or ())) if spec.entrypoint is None else ())
    if not entrypoint and not command:
        raise UsageError("no command specified", hint=f"give one: sdc run {spec.image} COMMAND")
    workdir = spec.workdir or str(runtime.get("WorkingDir") or "") or "/"
    if spec.workdir and not spec.workdir.startswith("/"):
        raise UsageError(f"--workdir {spec.workdir!r} is not absolute", hint="give an absolute path, like /srv")
    image_signal = str(runtime.get("StopSignal") or "")
    stop_signal = spec.stop_signal or (signal_name(parse_signal(image_signal)) if image_signal else "SIGTERM")
    if not spec.stop_signal and replace(spec, entrypoint=entrypoint, command=command).runs_systemd:
        stop_signal = HALT  # systemd's: it stops its units and exits
    user = spec.user or check_user(str(runtime.get("User") or "root"))
    if spec.init:
        bundle.init_binary()  # there, or a one-line error before anything is made
    if spec.limits.cpuset_cpus and max(spec.limits.cpuset_cpus) >= (os.cpu_count() or 1):
        raise UsageError(
            f"--cpuset-cpus asks for CPU {max(spec.limits.cpuset_cpus)}, which this host does not have",
            hint=f"this host has CPUs 0-{(os.cpu_count() or 1) - 1}",
        )
    publish = spec.publish
    if spec.publish_all and spec.networked:
        publish = (*publish, *exposed_ports(runtime, publish))
    spec = replace(spec, entrypoint=entrypoint, command=command, stop_signal=stop_signal,
                               workdir=workdir if workdir.startswith("/") else f"/{workdir}", user=user,
                               publish=publish, labels=image_labels(runtime, spec.labels))  # fmt: skip
    if runtime.get("Volumes") and spec.image_volumes:
        from sdcontainer.api.volumes import image_volumes

        spec = image_volumes(spec, image)
    if spec.health_test != ("NONE",) and isinstance(runtime.get("Healthcheck"), dict):
        spec = image_health(spec, runtime["Healthcheck"])
    return spec


def image_health(spec: ContainerSpec, found: dict[str, Any]) -> ContainerSpec:
    """The image's Healthcheck (outside input: kept where it is of Docker's shape, its times in
    sdc's bounds) under what the flags set, field by field, as Docker merges them."""
    from sdcontainer.spec import HEALTH_MAX, HEALTH_MIN

    test = found.get("Test")
    theirs: dict[str, Any] = {}
    if not spec.health_test and isinstance(test, list) and test and all(isinstance(t, str) for t in test) and \
            test[0] in ("CMD", "CMD-SHELL", "NONE") and sum(map(len, test)) <= 64 * 1024 and \
            not any("\0" in t for t in test):  # fmt: skip
        theirs["health_test"] = tuple(test) if test[0] != "NONE" else ("NONE",)
    for key, field, least in (("Interval", "health_interval", HEALTH_MIN), ("Timeout", "health_timeout", HEALTH_MIN),
                              ("StartPeriod", "health_start_period", 0.0)):  # fmt: skip
        value = found.get(key)
        if not getattr(spec, field) and isinstance(value, int) and not isinstance(value, bool) and value > 0:
            theirs[field] = min(max(value / 1e9, least), HEALTH_MAX)  # nanoseconds, as Go's Duration
    retries = found.get("Retries")
    if not spec.health_retries and isinstance(retries, int) and not isinstance(retries, bool) and 0 < retries:
        theirs["health_retries"] = min(retries, 1000)
    return replace(spec, **theirs)


def image_labels(runtime: dict[str, object], given: tuple[str, ...]) -> tuple[str, ...]:
    """The container's labels: the image's (Config.Labels, outside input: kept only where they
    are a string's map of strings), then the flags', which win (Docker's)."""
    from sdcontainer.containerspec import label_map
    from sdcontainer.spec import parse_labels

    found = runtime.get("Labels")
    theirs = [f"{k}={v}" for k, v in found.items() if isinstance(k, str) and isinstance(v, str)] \
        if isinstance(found, dict) else []  # fmt: skip
    try:
        merged = parse_labels(theirs)
    except UsageError:
        merged = ()  # labels no flag could give: not the container's
    return tuple(f"{k}={v}" for k, v in {**label_map(merged), **label_map(given)}.items())


def exposed_ports(runtime: dict[str, object], published: tuple[str, ...]) -> list[str]:
    """-P: the image's ExposedPorts ("80/tcp", "53/udp", "8080") that -p does not publish
    already, each to publish on a free host port. The image's words are checked as the outside
    input they are."""
    import re

    from sdcontainer.ports import PORT_MAX, parse_publish

    taken = {(m.container_port + i, m.protocol) for m in map(parse_publish, published) for i in range(m.count)}
    exposed = runtime.get("ExposedPorts") or {}
    found = []
    for key in sorted(exposed) if isinstance(exposed, dict) else []:
        match = re.fullmatch(r"([0-9]{1,5})(?:/(tcp|udp|sctp))?", str(key))
        if not match or not 0 < int(match.group(1)) <= PORT_MAX:
            raise UsageError(f"the image exposes {str(key)[:40]!r}, which is not a port",
                             hint="publish its ports with -p instead of -P")  # fmt: skip
        port, protocol_ = int(match.group(1)), match.group(2) or "tcp"
        if (port, protocol_) not in taken:
            taken.add((port, protocol_))
            found.append(f"{port}/{protocol_}")
    return found


def image_for(ctx: Context, spec: ContainerSpec) -> Image:
    """The image to make the container of, pulled as --pull says (Docker's default: only what the
    store lacks, when the name is a registry's reference and not an image ID)."""
    from sdcontainer import images
    from sdcontainer.errors import NotFound

    if spec.pull in ("always", "newer"):
        return _pulled(ctx, spec.image, keep_local=spec.pull == "newer", quiet=spec.quiet)
    try:
        return images.find_image(ctx.paths, spec.image)
    except NotFound as missing:
        if spec.pull == "never" or not _pullable(spec.image):
            raise
        lacked = missing
    try:
        return _pulled(ctx, spec.image, keep_local=False, notice=f"Unable to find image '{spec.image}' in the store",
                       quiet=spec.quiet)  # fmt: skip
    except SdcError as failed:  # one line: what is missing, and why the pull did not bring it
        raise NotFound(f"{lacked.message}, and pulling it failed: {failed.message}",
                       hint=failed.hint or lacked.hint) from None


def _pullable(name: str) -> bool:
    from sdcontainer.errors import UsageError as NotAReference
    from sdcontainer.images import reference

    if name.startswith("sha256:"):
        return False
    try:
        reference.parse(name)
    except NotAReference:
        return False
    return True


def _pulled(ctx: Context, name: str, *, keep_local: bool, notice: str = "", quiet: bool = False) -> Image:
    from sdcontainer import images
    from sdcontainer.api.images import pull_image
    from sdcontainer.errors import SdcError as Failed

    progress = _Noticed(ctx.pull_progress() if ctx.pull_progress is not None and not quiet else _Quiet(),
                        "" if quiet else notice)  # fmt: skip
    try:
        image, _, _ = pull_image(ctx, name, progress=progress)
    except Failed:
        if not keep_local:
            raise
        return images.find_image(ctx.paths, name)  # the store's, the registry out of reach
    return image


class _Noticed:
    """A pull's progress, said after notice once the registry has answered with layers to fetch
    (a pull that fails before is one line of error, not a notice and an error)."""

    def __init__(self, inner: Any, notice: str) -> None:
        self.inner, self.notice = inner, notice

    def layer(self, digest: str, size: int) -> None:
        if self.notice:
            sys.stderr.write(self.notice + "\n")
            sys.stderr.flush()
            self.notice = ""
        self.inner.layer(digest, size)

    def advance(self, digest: str, status: str, done: int) -> None:
        self.inner.advance(digest, status, done)

    def finished(self, digest: str, status: str) -> None:
        self.inner.finished(digest, status)


class _Quiet:
    """A pull's progress, said nowhere (an API caller's run)."""

    def layer(self, digest: str, size: int) -> None: ...

    def advance(self, digest: str, status: str, done: int) -> None: ...

    def finished(self, digest: str, status: str) -> None: ...


def create(ctx: Context, spec: ContainerSpec, stack: contextlib.ExitStack, *, unit: str = "",
           invocation: str = "") -> Container:  # fmt: skip
    """Make the container's filesystem and bundle; undone by stack unless popped. unit: the unit
    that runs it where that is not sdc's (a Quadlet file's), and invocation that unit's run."""
    from sdcontainer import images

    require_systemd()  # before anything is made: a store's pool, say
    image = image_for(ctx, spec)
    spec = resolve_spec(spec, image)
    if spec.replace and containers.record_path(ctx.paths, spec.name).exists():  # that name's, not an ID prefix
        with contextlib.suppress(NotFound):  # (its image found, its flags good: only then)
            lifecycle.remove(ctx, [spec.name], force=True)
    caps = capabilities(spec, available=_grantable_caps())
    # before anything is made: a profile that does not compile leaves nothing to undo
    program = seccomp.program_for(ctx.paths.root, seccomp_profile(spec), caps=caps)
    with records.locked(ctx.paths):
        if not spec.name:
            spec = replace(spec, name=containers.generate_name(ctx.paths))
        if ctx.paths.container(spec.name).exists() and not lifecycle.settle(ctx, spec.name, lifecycle.unit_states(ctx)):
            raise Conflict(
                f"the container name {spec.name!r} is already in use",
                hint=f"remove that container (`sdc rm {spec.name}`) or choose another --name",
            )
        _machine_name_is_free(ctx, spec.name)
        pods_unit_name(ctx, spec.name)
        image = images.find_image(ctx.paths, str(image.id))  # there still, now that no rmi can run
        driver = ctx.driver()
        if spec.named_volumes:
            from sdcontainer.api import volumes

            spec = volumes.provide(ctx, spec, image, stack)
        idmap = None
        if spec.userns == "auto":
            from sdcontainer import userns

            idmap = userns.allocate(ctx.paths)  # ours once config.json is written, under this lock
        cid = containers.new_id()
        cdir = ctx.paths.container(spec.name)
        cdir.mkdir(mode=0o700, parents=True)
        files.make_record_lock(str(cdir))
        stack.callback(_locked, ctx, containers.remove_container_dir, ctx.paths, spec.name)
        ctx.hold_name(spec.name)
        unit = unit or run_unit(spec.name, attach=not spec.detach, enabled=spec.enable)
        address, names_at, netns, target, pod, pod_ns = "", "", "", None, None, {}
        if spec.pod:  # (api.pods: only then)
            from sdcontainer.api import pods

            pod = pods.find_pod(ctx.paths, spec.pod)
            if spec.userns == "auto" and "ipc" in pod.share:
                raise UsageError(f"--userns=auto in pod {pod.name}, whose IPC namespace is the host's user "
                                 "namespace's: its root could not mount its /dev/mqueue there",
                                 hint="create the pod with --share net,uts for such containers")  # fmt: skip
            spec = replace(spec, pod=pod.name, network="host" if pod.network == "host" else "pod",
                           hostname=pod.hostname if "uts" in pod.share else spec.hostname)  # fmt: skip
            netns, pod_ns = pods.netns_path(pod), pods.namespaces(pod)
        if spec.joins:
            target = _network_to_join(ctx, spec)
            if target.spec.network == "host":  # its network is the host's: so is this one's
                spec = replace(spec, network="host")
            else:
                netns = f"{protocol.NETNS_DIR}/{target.id}"
                spec = replace(spec, network=f"{JOIN}{target.name}")
                joined = Path(target.bundle) / f"{lifecycle.JOINER}{spec.name}"  # its rm refuses while we are
                joined.write_text(cid)
                stack.callback(_unlink_if, joined, cid)
        if spec.networked:  # (api.networks and what it needs: only then)
            from sdcontainer.api import networks

            network = networks.plan(ctx.paths, spec, cid, unit, cdir)
            stack.callback(networks.release, cdir)
            address = networks.address_of(cdir)
            names_at = network.gateway if network.dns else ""
            spec = replace(spec, network=network.name)  # by its name, however it was given
            netns = f"{protocol.NETNS_DIR}/{cid}"
        container = Container(
            id=cid,
            spec=spec,
            image_id=str(image.id),
            unit=unit,
            driver=driver.name,
            rootfs=str(driver.container_path(cid)),
            bundle=str(cdir),
            created=ctx.clock.time(),
            invocation=invocation,
        )
        # The record first, marked starting: a run killed from here on leaves a container that
        # `ps -a` shows and the next command that touches it finishes or rolls back (settle).
        (cdir / protocol.STARTING).touch()
        containers.write_container(ctx.paths, container)
        if spec.cidfile:
            write_cidfile(spec.cidfile, cid)
            stack.callback(_unlink_if, Path(spec.cidfile), cid)
        rootfs = driver.make_container_fs(cid, image.top_layer, owner=idmap)
        stack.callback(_locked, ctx, driver.remove_container_fs, cid)
        hostname = spec.hostname or spec.name
        (cdir / "hostname").write_text(hostname + "\n")
        hosts, resolv_conf = names_files(spec, hostname, address, names_at)
        if target is not None and netns:  # its network's names, as the container it joins has them (Docker's)
            hosts, resolv_conf = joiner_files(target.bundle, spec, hostname, hosts, resolv_conf)
        elif pod is not None:  # its pod's, with its own name
            hosts, resolv_conf = joiner_files(pod.directory, spec, spec.name, hosts, resolv_conf)
        (cdir / "hosts").write_text(hosts)
        (cdir / "resolv.conf").write_text(resolv_conf)
        # (the launcher writes these three into its layer at each start: bundle.OWN_FILES)
        own = bundle.write_systemd_files(cdir, cid) if spec.runs_systemd else []
        if idmap is not None:  # bound in: its root's, as Docker's are, the files are its alone
            for name in own:
                os.chown(cdir / name, *idmap)
        (cdir / "rootfs").symlink_to(rootfs)
        if program is not None:
            (cdir / protocol.SECCOMP).write_bytes(program)
        mount = driver.root_mount(cid)
        if mount is None:
            account = account_in(rootfs, spec.user)
        else:  # the root is mounted by the launcher: the same files, seen through the image's layers
            with driver.layer_view(image.top_layer, init=True) as tree:
                account = account_in(tree, spec.user)
        config = bundle.build_runtime_config(spec, image_config=image.runtime, container_dir=cdir, account=account,
                                             caps=caps, idmap=idmap, container_id=cid, netns=netns,
                                             joined=pod_ns, volumes_at=str(driver.volumes))  # fmt: skip
        if mount is not None:
            config["root"] = {**config["root"], "mount": mount}  # type: ignore[dict-item]
        records.write_json(cdir / protocol.CONFIG, config)
    lifecycle.announce(container, "create")
    return container


def pods_unit_name(ctx: Context, name: str) -> None:
    """A Conflict where a container named name would have a pod's unit (NAME-pod: sdc-NAME-pod.service)."""
    if name.endswith("-pod") and (ctx.paths.root / "pods" / name[:-4] / protocol.POD).exists():
        raise Conflict(f"the container name {name!r} is its pod's unit's: sdc-{name}.service",
                       hint="choose another name")  # fmt: skip


def names_files(spec: ContainerSpec, hostname: str, address: str, names_at: str) -> tuple[str, str]:
    """The container's /etc/hosts and resolv.conf: its address (on its first network) and the
    nameserver of its networks with names (names_at: the first's gateway, aardvark-dns), if any."""
    hosts = bundle.build_hosts(hostname, address, spec.add_hosts)
    resolv_conf = bundle.build_resolv_conf(
        _read_text("/etc/resolv.conf"), mode="network" if spec.networked else spec.network, names_at=names_at,
        dns=spec.dns, search=spec.dns_search, options=spec.dns_options,
        upstream=_read_text(bundle.RESOLVED_UPSTREAM) if spec.networked else "")  # fmt: skip
    return hosts, resolv_conf


def joiner_files(target_bundle: str, spec: ContainerSpec, hostname: str, hosts: str,
                 resolv_conf: str) -> tuple[str, str]:  # fmt: skip
    """A --network container:NAME container's /etc/hosts and resolv.conf: NAME's (target_bundle's),
    with its own name (its UTS namespace is its own) at the address they share and its --add-host
    lines; its own resolv.conf where it has --dns flags. hosts, resolv_conf: where NAME has none."""
    theirs = _read_text(f"{target_bundle}/hosts")
    if theirs:
        from sdcontainer.api import networks

        on = networks.attached(Path(target_bundle))
        mine = f"{on[0].address if on else '127.0.1.1'}\t{hostname}\n" if hostname not in theirs.split() else ""
        hosts = theirs + mine + bundle.added_hosts(spec.add_hosts)
    if not (spec.dns or spec.dns_search or spec.dns_options):
        resolv_conf = _read_text(f"{target_bundle}/resolv.conf") or resolv_conf
    return hosts, resolv_conf


def _machine_name_is_free(ctx: Context, name: str) -> None:
    """No other container is the same machine for machined (a_b and a-b are both a-b there, and
    `machinectl terminate a-b` would stop either)."""
    from sdcontainer.machined import machine_name

    theirs = [n for n in containers.list_names(ctx.paths) if n != name and machine_name(n) == machine_name(name)]
    if theirs:
        raise Conflict(f"the container name {name!r} is {machine_name(name)!r} to machined, as container "
                       f"{theirs[0]!r} is", hint="choose another --name (machined has '-' for '_')")  # fmt: skip


SYSTEMD_BOOTED = "/run/systemd/system"  # there when PID 1 is systemd (sd_booted(3))


def require_systemd() -> None:
    """A host whose PID 1 is systemd, or a one-line error before sdc makes anything."""
    if not os.path.isdir(SYSTEMD_BOOTED):
        from sdcontainer.errors import SystemdError

        raise SystemdError("this host's PID 1 is not systemd: sdc's containers are its units",
                           hint="run sdc on a host booted with systemd (a container: one running systemd)")  # fmt: skip


def write_cidfile(path: str, cid: str) -> None:
    """--cidfile: the ID written to a file made now (one there already is another's: Docker's)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise Conflict(f"--cidfile {path} is there already", hint="remove it, or give another") from None
    except OSError as exc:
        raise UsageError(f"cannot write --cidfile {path}: {exc.strerror}", hint="give a writable place") from None
    with os.fdopen(fd, "w") as f:
        f.write(cid)


def _unlink_if(path: Path, content: str) -> None:
    """path removed if it holds content still (not a later container's file of the same name)."""
    try:
        if path.read_text() == content:
            path.unlink()
    except OSError:
        pass


def _network_to_join(ctx: Context, spec: ContainerSpec) -> Container:
    """--network container:NAME: that container, which must have a network namespace of its own
    that outlives its PID 1's (a network of sdc's: netns.py keeps it while it runs), or the host's."""
    target = containers.find_container(ctx.paths, spec.joins)
    if target.spec.network != "host" and not target.spec.networked:
        raise UsageError(f"container {target.name} has no network of its own to share: --network {target.spec.network}",
                         hint="give it one (--network bridge, or a network of yours), and join that")  # fmt: skip
    return target


def _locked(ctx: Context, undo: Callable[..., None], *args: object) -> None:
    """An undo of create's, with the store locked as what it undoes was made."""
    with records.locked(ctx.paths):
        undo(*args)


def _grantable_caps() -> frozenset[str] | None:
    """The capabilities a container may get here: those in the bounding sets of this process
    (the foreground launcher's parent) and of PID 1 (systemd, which starts a detached one).
    None where /proc does not say."""
    from sdcontainer.protocol import CAPABILITIES

    mask = (1 << 64) - 1
    try:
        for status in ("/proc/self/status", "/proc/1/status"):
            with open(status) as f:
                line = next(line for line in f if line.startswith("CapBnd:"))
            mask &= int(line.split()[1], 16)
    except (OSError, StopIteration, ValueError):
        return None
    return frozenset(name for name, number in CAPABILITIES.items() if mask >> number & 1)


def run_detached(ctx: Context, spec: ContainerSpec) -> Container:
    """Start a container as a transient service; return once its PID 1 has exec'ed."""
    spec = replace(spec, detach=True)
    cgroups.prime_migration()  # while the container is made: systemd's move of its PID 1 waits less
    with contextlib.ExitStack() as stack:
        container = create(ctx, spec, stack)
        if spec.enable:  # linked first: the start's own daemon-reload takes the link in
            from sdcontainer import persist

            persist.enable(container.name)
            stack.callback(persist.uninstall, ctx.paths, container.name)
        start_service(ctx, container, stack)
        lifecycle.mark_started(container)
        stack.pop_all()
    _settled(ctx, container)
    return container


def create_for_unit(ctx: Context, spec: ContainerSpec, unit: str, invocation: str) -> Container:
    """The container of a Quadlet file's unit (quadlet.generator), made by that unit's
    ExecStartPre as it starts: detached, removed as it stops (its ExecStopPost: --rm), in place
    of one of its name an earlier run left (--replace). Started already: its unit is starting,
    and runs the launcher over its bundle next."""
    spec = replace(spec, detach=True, auto_remove=True, replace=True, quiet=True)  # (its output is the unit's)
    _drop_leftover(ctx, spec.name, unit)
    with contextlib.ExitStack() as stack:
        container = create(ctx, spec, stack, unit=unit, invocation=invocation)
        containers.add_foreign_unit(ctx.paths, unit, container.name)  # (ps, rm and settle list its unit with sdc's)
        lifecycle.mark_started(container)
        stack.pop_all()
    ctx.release_name(container.name)
    return container


def _drop_leftover(ctx: Context, name: str, unit: str) -> None:
    """What an earlier run of unit left (a crash, a power cut: its ExecStopPost never ran): its
    container, removed without a word to systemd, whose unit is this one, starting now (a
    replace through `rm -f` would kill this very start)."""
    for leftover in {name, containers.foreign_unit_container(ctx.paths, unit)} - {""}:
        with contextlib.suppress(NotFound):
            found = containers.find_container(ctx.paths, leftover)
            if found.unit == unit:
                ctx.claim(found.name)
                lifecycle.delete(ctx, found)
                ctx.release_name(found.name)


def _settled(ctx: Context, container: Container) -> None:
    """Its start settled, the container's claim given up; a --rm one that has ended already (its
    ExecStopPost, finding it claimed, left it to us) removed now."""
    ctx.release_name(container.name)
    if container.spec.auto_remove:
        lifecycle.settle_names(ctx, [container.name])


def enable(ctx: Context, container: Container) -> Container:
    """Make the container come back after a reboot: sdc@NAME.service, linked into
    multi-user.target's wants (persist.py). A container running as a transient unit now goes on;
    its next start is the enabled unit.

    The record first, then the unit files: a kill in between leaves a container that `rm`
    removes whole (delete removes the unit files of a record that says enabled, and any it finds)."""
    from sdcontainer import persist

    if container.spec.pod:
        raise UsageError(f"container {container.name} is pod {container.spec.pod}'s: a pod's units are transient, "
                         "and a reboot makes none of them", hint=f"start the pod again after a reboot: "
                         f"sdc pod start {container.spec.pod}")  # fmt: skip
    ctx.claim(container.name)
    container = lifecycle.find(ctx, container.id)  # as it is now that it is ours
    spec = replace(container.spec, enable=True)
    running = container.unit in lifecycle.live_units(ctx)
    unit = container.unit if running else run_unit(container.name, attach=False, enabled=True)
    container = replace(container, spec=spec, unit=unit)
    containers.write_container(ctx.paths, container)
    install(ctx, container)
    persist.enable(container.name)
    ctx.systemd.reload()
    return container


def install(ctx: Context, container: Container) -> None:
    """sdc@NAME.service's drop-in for container, from its record as it is (persist.install): at
    its enabling, and again where its settings (update) or name (rename) change."""
    from sdcontainer import persist

    detached = replace(container, spec=replace(container.spec, detach=True))
    persist.install(ctx.paths, container.name, service_properties(ctx, detached, starting=False))


def disable(ctx: Context, container: Container) -> None:
    """Not at boot any more (the wants link goes); `sdc start` still runs it as sdc@NAME.service."""
    from sdcontainer import persist

    ctx.claim(container.name)
    persist.disable(container.name)
    ctx.systemd.reload()


def create_only(ctx: Context, spec: ContainerSpec) -> Container:
    """`sdc create`: the container's filesystem and bundle, and nothing run until `start`."""
    with contextlib.ExitStack() as stack:
        container = create(ctx, replace(spec, detach=True), stack)
        if spec.enable:
            enable(ctx, container)
        lifecycle.mark_started(container)  # whole: nothing for settle to roll back
        stack.pop_all()
    ctx.release_name(container.name)
    return container


def start(ctx: Context, ref: str, *, attach: bool = False, interactive: bool = False) -> int:
    """Run a container again (or for the first time): a fresh transient unit, with a fresh
    launcher set-up, over the bundle and writable layer it has kept. Detached, return once its
    PID 1 has exec'ed (0); attached, its exit status, our stdin its own if interactive (or
    created with -i). A running one is left as it is."""
    cgroups.prime_migration()
    lifecycle.settle_names(ctx, [lifecycle.find(ctx, ref).name])  # a --rm container that has run: gone
    container = lifecycle.find(ctx, ref)
    if container.invocation:  # a Quadlet file's: its unit makes it (anew), and runs it
        if attach:
            raise UsageError(f"container {container.name} is run by {container.unit}, a Quadlet file's",
                             hint=f"start its unit, then follow it: sdc logs -f {container.name}")  # fmt: skip
        start_unit_again(ctx, container.unit)
        return 0
    ctx.claim(container.name)  # one start at a time, no rm meanwhile, and settle leaves it alone
    container = lifecycle.find(ctx, container.id)  # as it is now that it is ours
    lifecycle.await_last_run(container)
    states = lifecycle.unit_states(ctx)
    if states.get(container.unit, "gone") not in lifecycle.DOWN:
        if attach:
            raise Conflict(f"container {container.name} is running already",
                           hint=f"`sdc logs -f {container.name}` follows it, `sdc exec` enters it")  # fmt: skip
        return 0
    if states.get(container.unit) == lifecycle.EMPTY:  # the scope of its last run, not yet collected
        lifecycle.end_empty_scope(ctx, container.unit)
    elif states.get(container.unit) == "failed":  # kept for systemctl status (units.restart_properties)
        ctx.systemd.reset_failed_unit(container.unit)
    unit = run_unit(container.name, attach=attach, enabled=container.spec.enable)
    container = replace(container, unit=unit, spec=replace(container.spec, detach=not attach))
    containers.write_container(ctx.paths, container)
    if attach:
        return _foreground(ctx, lambda stack: _restarting(ctx, container, stack), container.spec.auto_remove,
                           tty=container.spec.tty, interactive=interactive or container.spec.interactive)  # fmt: skip
    with contextlib.ExitStack() as stack:
        start_service(ctx, container, stack)
        stack.pop_all()
    _settled(ctx, container)
    return 0


def foreign_units(ctx: Context, refs: Sequence[str]) -> dict[str, str]:
    """Of containers refs, those a Quadlet file's unit runs: ref -> that unit."""
    return {ref: c.unit for ref in refs if (c := lifecycle.find(ctx, ref)).invocation}


def start_unit_again(ctx: Context, unit: str) -> None:
    """A Quadlet file's unit started: its ExecStartPre makes its container (the one an earlier run
    left replaced), its launcher runs it (systemctl start)."""
    result = ctx.systemd.start_unit(unit)
    if result != "done":
        raise SdcError(f"{unit} failed to start ({result})", hint=f"see `journalctl -u {unit}`")


def _restarting(ctx: Context, container: Container, stack: contextlib.ExitStack) -> Container:
    """For _attach: the container as it is; with --rm it goes once this run ends."""
    if container.spec.auto_remove:
        stack.callback(lifecycle.delete, ctx, container)  # (start holds its claim)
    return container


def start_service(ctx: Context, container: Container, stack: contextlib.ExitStack) -> None:
    start_unit(ctx, container, service_properties(ctx, container), stack)


def service_properties(ctx: Context, container: Container, *, starting: bool = True) -> dict[str, object]:
    """The container's service, transient or enabled (its drop-in), from one declaration; starting:
    for a start now (the container whose network it shares must be running)."""
    return units.build_service_properties(
        container.spec,
        launcher=launcher_argv("--notify", container.bundle),
        cleanup=cleanup_argv(ctx, container),
        read_only=[os.path.realpath(sys.executable)],  # see launcher.spawn_foreground
        container_id=container.id,
        ready_timeout=ready_timeout(),
        network=(launcher_argv("--net-up", container.bundle),
                 launcher_argv("--net-down", container.bundle) if container.spec.auto_remove else None)
        if container.spec.networked else None,
        bound_to=joined_unit(ctx, container, starting=starting),
        health=self_argv(ctx, "healthcheck", "timer", container.id) if _checked(container.spec) else (),
    )


def _checked(spec: ContainerSpec) -> bool:
    """A health check it runs (api.health.has_check, without importing it)."""
    return bool(spec.health_test) and spec.health_test[0] != "NONE"


def joined_unit(ctx: Context, container: Container, *, starting: bool = True) -> str:
    """The unit of the container whose network container shares (--network container:NAME), or
    its pod's (--pod, whose namespaces are made first if they are not there), or "";
    starting: a Conflict where that one is not running."""
    if container.spec.pod:
        from sdcontainer.api import pods

        try:
            pod = pods.find_pod(ctx.paths, container.spec.pod)
        except NotFound:
            return ""  # (gone: its start says its namespaces are not there)
        if starting:
            pods.ensure_up(ctx, pod)
        return pod.unit
    if not container.spec.joins:
        return ""
    try:
        target = containers.find_container(ctx.paths, container.spec.joins)
    except SdcError:
        return ""  # (gone: its start says the namespace is not there)
    if starting and target.spec.networked and target.unit not in lifecycle.live_units(ctx):
        raise Conflict(f"container {container.name} shares the network of {target.name}, which is not running",
                       hint=f"start it first: sdc start {target.name}")  # fmt: skip
    return target.unit


def ready_timeout() -> int:
    """Seconds a payload that notifies has to say READY=1: $SDC_READY_TIMEOUT, or systemd's 90."""
    text = os.environ.get("SDC_READY_TIMEOUT", "")
    if not text:
        return units.READY_TIMEOUT
    if not is_decimal(text) or not 0 < int(text) <= 86400:
        raise UsageError(f"invalid SDC_READY_TIMEOUT {text!r}", hint="give a number of seconds, 1 to 86400")
    return int(text)


def run_unit(name: str, *, attach: bool, enabled: bool) -> str:
    """The unit a run of container name is: a scope in the foreground, else a service, transient
    or, for a container enabled to come back after a reboot, sdc@NAME.service (persist.py)."""
    if attach:
        return units.scope_name(name)
    if enabled:
        from sdcontainer import persist

        return persist.unit_name(name)
    return units.service_name(name)


def start_unit(ctx: Context, container: Container, props: dict[str, object], stack: contextlib.ExitStack) -> None:
    protocol.clear_run(container.bundle)  # a record of an earlier run would be taken for this one's
    stack.callback(forget_unit, ctx, container.unit)
    notifying = container.unit.endswith(".service") and units.notifies(container.spec)
    limit = ready_timeout()
    with _said_after(2.0, f"waiting for {container.name} to say READY=1 (at most {limit} s)", when=notifying):
        result = _start(ctx, container, props)
    if result != "done" and _launched(container) and not notifying:
        return  # it started, and its command has ended already: a run, not a failure
    if result != "done":
        why = (f"it never said READY=1 (it ended, or took more than {limit} s), and systemd "
               "stopped it" if notifying and _launched(container) else _launch_error(container))  # fmt: skip
        raise SdcError(f"container {container.name} failed to start: {why}",
                       hint=f"see `journalctl -u {container.unit}`")  # fmt: skip


@contextlib.contextmanager
def _said_after(seconds: float, message: str, *, when: bool) -> Iterator[None]:
    """message said (a warning) if the block takes longer than seconds: a wait the user sees."""
    if not when:
        yield
        return
    import threading

    timer = threading.Timer(seconds, log.warning, (message,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _start(ctx: Context, container: Container, props: dict[str, object]) -> str:
    """The container's unit started: its job's result."""
    if container.unit.startswith("sdc@"):
        result = _start_persistent(ctx, container, props)
    else:
        typed = units.typed_properties(props)
        try:
            result = ctx.systemd.start_transient_unit(container.unit, typed)
        except Conflict:
            # The unit of an earlier container of this name may still be going away
            # (a scope is collected just after its last process exits): wait a little, once.
            if wait_for_state(ctx.systemd, container.unit, ("gone",), timeout=2.0) != "gone":
                ctx.systemd.reset_failed_unit(container.unit)
            result = ctx.systemd.start_transient_unit(container.unit, typed)
    return result


def _start_persistent(ctx: Context, container: Container, props: dict[str, object]) -> str:
    """Start sdc@NAME.service with the container's settings as they are now (its drop-in)."""
    from sdcontainer import persist

    persist.install(ctx.paths, container.name, props)
    ctx.systemd.reload()
    with contextlib.suppress(SdcError):
        ctx.systemd.reset_failed_unit(container.unit)  # a failed run before, kept for systemctl status
    return ctx.systemd.start_unit(container.unit)


def forget_unit(ctx: Context, unit: str) -> None:
    with contextlib.suppress(SdcError):
        ctx.systemd.stop_unit(unit)
    with contextlib.suppress(SdcError):
        ctx.systemd.reset_failed_unit(unit)


def run_foreground(ctx: Context, spec: ContainerSpec) -> int:
    """Run in a scope around the launcher, attached to our stdio; return the command's exit status."""
    require_systemd()  # before the store's pool is mounted for the launcher
    if spec.restart:
        raise UsageError("--restart needs -d: systemd restarts services, and a foreground container is a scope",
                         hint="add -d (sdc logs -f follows it)")  # fmt: skip
    if spec.sdnotify:
        raise UsageError("--sdnotify=container needs -d: a foreground container's unit is a scope, never notified",
                         hint="add -d")  # fmt: skip
    pass_fds(spec.preserve_fds)
    mark("sdc: flags checked")
    return _foreground(ctx, lambda stack: create(ctx, spec, stack), spec.auto_remove, tty=spec.tty,
                       interactive=spec.interactive)  # fmt: skip


def pass_fds(preserve: int) -> None:
    """Our fds from 3 on that PID 1 gets, told to the launcher in its environment: socket
    activation's (LISTEN_FDS, where LISTEN_PID is ours: systemd's socket unit started us), then
    --preserve-fds' more. Each must be open."""
    listen = 0
    if os.environ.get("LISTEN_PID") == str(os.getpid()) and is_decimal(os.environ.get("LISTEN_FDS", "")):
        listen = min(int(os.environ["LISTEN_FDS"]), 1000)
    count = listen + preserve
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            raise UsageError(f"--preserve-fds: fd {fd} is not open", hint="pass the fds it names, from 3 on") from None
        os.set_inheritable(fd, True)
    os.environ.pop(protocol.PRESERVE_FDS, None)
    if count:
        os.environ[protocol.PRESERVE_FDS] = str(count)
        os.environ[protocol.LISTEN_FDS] = str(listen)
        os.environ[protocol.LISTEN_FDNAMES] = os.environ.get("LISTEN_FDNAMES", "") if listen else ""


def _foreground(ctx: Context, make: Callable[[contextlib.ExitStack], Container], auto_remove: bool, *,
                tty: bool = False, interactive: bool = False) -> int:  # fmt: skip
    """The container make returns (its undo on the stack), run in a scope around the launcher.

    The launcher is a fresh interpreter (see launcher.spawn_foreground), started
    first so that its start-up overlaps the container's creation and the scope's.
    With a terminal (tty) the launcher puts ours in raw mode: we restore it however the
    launcher ends (killed with the container's scope, too)."""

    with contextlib.ExitStack() as restore:
        if tty and os.isatty(0):
            import termios

            restore.callback(termios.tcsetattr, 0, termios.TCSADRAIN, termios.tcgetattr(0))
        return _launch_foreground(ctx, make, auto_remove, interactive=interactive)


def _launch_foreground(ctx: Context, make: Callable[[contextlib.ExitStack], Container], auto_remove: bool, *,
                       interactive: bool) -> int:  # fmt: skip
    from sdcontainer import launcher

    cgroups.prime_migration()  # systemd's move of the launcher into its scope then waits less
    # The launcher's mount namespace is a copy of ours: the store's pool must be mounted first.
    ctx.driver()
    # Signals stay blocked from here on: sdc and the launcher read them with
    # sigwaitinfo and relay what others send; the container unblocks them.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {*launcher.RELAYED, signal.SIGCHLD})
    try:
        sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = launcher.spawn_foreground(sync_r, interactive=interactive)
        finally:
            os.close(sync_r)
        mark("sdc: launcher forked")
        try:
            return _attach(ctx, make, auto_remove, pid, sync_w)
        finally:
            os.close(sync_w)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _attach(ctx: Context, make: Callable[[contextlib.ExitStack], Container], auto_remove: bool, pid: int,
            sync_w: int) -> int:  # fmt: skip
    """Make the container, put the launcher in its scope, let it go and relay signals to it."""
    from sdcontainer import launcher

    with contextlib.ExitStack() as stack:
        try:
            container = make(stack)
            mark("sdc: container made (image found, layer, bundle)")
            if container.spec.networked:  # what a service's ExecStartPre does (netns.py), ours to do here
                _network_up(container, stack)
            props = units.build_scope_properties(container.spec, pid=pid, bound_to=joined_unit(ctx, container))
            start_unit(ctx, container, props, stack)
            mark("sdc: scope started (D-Bus)")
            os.write(sync_w, os.fsencode(container.bundle) + b"\n")  # in the scope, under its limits: go
            if _checked(container.spec):  # a scope has no ExecStartPost: its timer is ours to start
                from sdcontainer.api import health

                health.start_timer(ctx, container, self_argv(ctx))
            lifecycle.mark_started(container)
            ctx.release_name(container.name)  # settled: `rm -f` may remove it while it runs
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        code = launcher.relay_signals(pid)  # the launcher records how PID 1 ended (protocol.STATE)
        mark("sdc: launcher ended")
        stack.pop_all()
    if container.spec.networked:  # down as its run ends; its leases its own until it is removed
        from sdcontainer.api import networks

        networks.release(Path(container.bundle), leases=False)
    # Removed as it ended, how it ended kept for a `wait` on it (delete), unless another command
    # has it now (an `rm -f`, a `start` that settles it first): that one removes it.
    if auto_remove and ctx.try_claim(container.name):
        forget_unit(ctx, container.unit)  # first: systemd unloads it as the files go
        lifecycle.delete(ctx, container)
        mark("sdc: removed")
    return code


def _network_up(container: Container, stack: contextlib.ExitStack) -> None:
    from sdcontainer import netns
    from sdcontainer.api import networks

    try:
        netns.up(container.bundle)
    except (netns.NetworkError, OSError) as exc:
        raise SdcError(f"container {container.name} failed to start: its network: {exc}",
                       hint="see `sdc network inspect` and the host's interfaces") from None  # fmt: skip
    stack.callback(networks.release, Path(container.bundle), leases=False)


def cleanup_argv(ctx: Context, container: Container) -> list[str]:
    """The ExecStopPost of a detached container. The launcher records how it ended, at a
    fraction of sdc's start-up (stdlib C modules only), which `sdc stop` and `rm -f` wait
    for; a --rm container needs sdc's storage layer to remove it: sdc's own cleanup."""
    if container.spec.auto_remove:
        return self_argv(ctx, "_cleanup", container.name)
    # its network unmade by the same process (netns.main): a Python start fewer at each stop
    return launcher_argv("--exited", *(["--net-down"] if container.spec.networked else []), container.bundle)


def self_argv(ctx: Context, *args: str) -> list[str]:
    """sdc as a unit's command: by file path (the package need not be on the interpreter's
    path, as in /usr/lib/sdc), isolated (-I), as it runs as root."""
    # Without site (-S) when sdc itself runs so (the Debian package's /usr/bin/sdc): its
    # dependencies are beside it, and site costs every container's cleanup a few ms.
    return sdc_argv(ctx.paths.root, *args)


def sdc_argv(root: Path, *args: str) -> list[str]:
    """self_argv's, for a store's root (a Quadlet unit's: quadlet.generator)."""
    flags = "-IS" if sys.flags.no_site else "-I"
    return [sys.executable, flags, str(PACKAGE / "__main__.py"), "--root", str(root), *args]


def launcher_argv(*args: str) -> list[str]:
    """The launcher as a unit's command: isolated (-I: no PYTHON* variables, no user site,
    as it runs as root) and without site (-S: it needs no third-party package, and
    site's .pth files cost start-up time on every container start)."""
    # By path: importing the launcher here would cost `sdc run -d` its imports.
    return [sys.executable, "-I", "-S", str(PACKAGE / "launcher_entry.py"), *args]


def _launched(container: Container) -> bool:
    """After a failed start job of a service: did its PID 1 exec (and its command end at once)?

    The launcher records the PID before it lets PID 1 exec, and why it failed (launch-error)
    before it lets PID 1 exit, which is what fails the job: the records are final by now."""
    if not container.unit.endswith(".service"):
        return False  # a scope that failed to start: the launcher was never let go
    bundle = Path(container.bundle)
    return (bundle / protocol.PID).exists() and not (bundle / protocol.LAUNCH_ERROR).exists()


def _launch_error(container: Container) -> str:
    path = Path(container.bundle) / protocol.LAUNCH_ERROR
    try:
        return path.read_text().strip() or "the launcher failed"
    except FileNotFoundError:
        return "its launcher ended without a word (killed, or it could not start)"


def account_in(rootfs: Path, user: str) -> bundle.Account:
    """USER[:GROUP] looked up in the container's /etc/passwd and /etc/group (bundle.resolve_account)."""
    return bundle.resolve_account("" if user == "root" else user, _read_in(rootfs, "/etc/passwd"),
                                  _read_in(rootfs, "/etc/group"))  # fmt: skip


def _read_in(rootfs: Path, path: str) -> str:
    """A small text file of the container's, read as the container would resolve its path (a
    symlink in the image leads nowhere outside it); "" when there is none, or it is no file. Looked
    at first (O_PATH), opened only as a regular file: we are the host's root, and opening a FIFO,
    or a device node (the store's loop device), has effects of its own."""
    from sdcontainer import linux

    try:
        root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            found = linux.open_in_root(root, path, os.O_PATH)
        finally:
            os.close(root)
        try:
            if not stat.S_ISREG(os.fstat(found).st_mode):
                return ""
            fd = os.open(f"/proc/self/fd/{found}", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
        finally:
            os.close(found)
        with os.fdopen(fd, "rb") as f:
            return f.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return ""


def _read_text(path: str) -> str:
    """A file of the host's (resolv.conf), or "" where it cannot be read."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""
