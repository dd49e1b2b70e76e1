"""`sdc auto-update`: running containers labelled io.containers.autoupdate (Podman's label) made
again from their image when it has moved, and made again from the old one if the new one fails.

Policies (the label's value, Podman's): `registry`, the image's reference pulled and compared with
the container's image; `local`, the store's image of that reference compared (one a `pull`,
`load` or `commit` put there). A container is made again as `sdc run` made it (its record's
settings; what came from its old image, as its entrypoint, taken from the new one), under the
same name and unit; a Quadlet file's, by its unit's stop and start (its ExecStartPre makes it
from the store's image). One that does not start, or is not running GRACE seconds later, is
rolled back: the reference tagged to the old image again, the container made again from it.
The timer units/sdc-auto-update.timer runs it daily (systemctl enable --now sdc-auto-update.timer).

An image is pulled for the platform of the one the container runs (one pulled with --platform
stays that platform's). While a container is made again, its old image is held (its ID in the
lock's file: `image prune` leaves it, held_images) and its anonymous volumes are kept (made
named for that while: a --rm container's removal would take them), and -P publishes the new
image's ports, not the old one's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sdcontainer import containers
from sdcontainer.containerspec import ContainerSpec, label_map
from sdcontainer.errors import Conflict, NotFound, SdcError, UsageError
from sdcontainer.record import record, replace

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.containers import Container
    from sdcontainer.images import Image

LABEL = "io.containers.autoupdate"
POLICIES = ("registry", "local")
GRACE = 2.0  # seconds a new container must keep running ($SDC_AUTO_UPDATE_GRACE)


@record(kw_only=True)
class Update:
    unit: str
    container: str
    image: str
    policy: str
    updated: str  # true, false, pending (--dry-run), rolled back, failed


LOCK = "auto-update.lock"  # in the store's root: held while one runs; its content the image IDs it holds


@contextlib.contextmanager
def _one_at_a_time(ctx: Context) -> Iterator[int]:
    """One auto-update of a store at a time (the timer's and one by hand): a second is an error.
    The lock's file descriptor, for _hold."""
    import fcntl

    ctx.paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(ctx.paths.root / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict("another sdc auto-update of this store is at work", hint="let it finish") from None
        os.ftruncate(fd, 0)
        yield fd
    finally:
        os.close(fd)


def _hold(fd: int, image_ids: Iterator[str] | list[str]) -> None:
    """The images an update needs (the old one, for a rollback) said in the lock's file."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, "".join(f"{i}\n" for i in image_ids).encode(), 0)


def held_images(root: os.PathLike[str] | str) -> set[str]:
    """The image IDs an auto-update at work holds (none where none runs): `image prune` leaves them."""
    import fcntl

    try:
        fd = os.open(os.path.join(root, LOCK), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return set()
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # one is at work: what it wrote holds
            return set(os.pread(fd, 64 * 1024, 0).decode(errors="replace").split())
        return set()
    finally:
        os.close(fd)


def auto_update(ctx: Context, *, dry_run: bool = False, rollback: bool = True) -> list[Update]:
    with _one_at_a_time(ctx) as fd:
        return _auto_update(ctx, dry_run=dry_run, rollback=rollback, lock=fd)


def _auto_update(ctx: Context, *, dry_run: bool, rollback: bool, lock: int = -1) -> list[Update]:
    from sdcontainer.api import containers as lifecycle

    live = lifecycle.live_units(ctx)
    found: dict[tuple[str, str, str], Image | SdcError] = {}  # (policy, reference, platform): its image now, or why
    results = []
    for container in sorted(containers.list_containers(ctx.paths), key=lambda c: c.created):
        policy = label_map(container.spec.labels).get(LABEL, "")
        if not policy or container.unit not in live:
            continue
        update = Update(unit=container.unit, container=f"{container.short_id} ({container.name})",
                        image=container.spec.image, policy=policy, updated="false")  # fmt: skip
        if policy not in POLICIES:
            results.append(replace(update, updated=f"failed: policy {policy!r} is none of {', '.join(POLICIES)}"))
            continue
        platform = _platform_of(ctx, container.image_id)
        key = (policy, container.spec.image, platform)
        if key not in found:
            try:
                found[key] = _image_now(ctx, policy, container.spec.image, dry_run=dry_run, platform=platform)
            except SdcError as exc:
                found[key] = exc
        now = found[key]
        if isinstance(now, SdcError):
            results.append(replace(update, updated=f"failed: {now.message}"))
        elif str(now.id) == container.image_id:
            results.append(update)
        elif dry_run:
            results.append(replace(update, updated="pending"))
        else:
            if lock >= 0:
                _hold(lock, [container.image_id])
            outcome, made = _renew(ctx, container, str(now.id), rollback=rollback)
            if outcome != "true":  # the reference is the old image's again (or was left): asked again
                found.pop(key, None)
            results.append(replace(update, updated=outcome, container=made or update.container))
    return results


def _platform_of(ctx: Context, image_id: str) -> str:
    """The platform (OS/ARCH[/VARIANT]) of the store's image image_id, as its config says; "" where
    it says none (the host's is pulled then)."""
    from sdcontainer import images

    try:
        config = images.find_image(ctx.paths, image_id).config
    except SdcError:
        return ""
    parts = [config.get("os"), config.get("architecture"), config.get("variant")]
    if not all(isinstance(p, str) and p.replace("_", "").replace("-", "").isalnum() for p in parts[:2]):
        return ""
    variant = parts[2] if isinstance(parts[2], str) and parts[2].isalnum() else ""
    return "/".join(str(p) for p in (*parts[:2], variant) if p)


def _image_now(ctx: Context, policy: str, reference: str, *, dry_run: bool, platform: str = "") -> Image:
    """The image reference names now: the registry's for platform (pulled, or with dry_run its
    manifest's digest looked up alone), or the store's."""
    from sdcontainer import images

    if policy == "local":
        return images.find_image(ctx.paths, reference)
    if dry_run:
        return _remote(ctx, reference)
    from sdcontainer.api.images import pull_image
    from sdcontainer.api.run import _Quiet

    image, _, _ = pull_image(ctx, reference, progress=_Quiet(), platform=platform or None)
    return image


def _remote(ctx: Context, reference: str) -> Image:
    """For --dry-run: the store's image if the registry's manifest of reference is the one it was
    pulled from, else a stand-in whose ID is none of the store's (an update is pending)."""
    from sdcontainer import images
    from sdcontainer.images import auth
    from sdcontainer.images import reference as references
    from sdcontainer.images.registry import Registry

    ref = references.parse(reference)
    registry = Registry(ref.domain, credentials=auth.lookup(ctx.paths, ref.domain))
    try:
        _, _, digest = registry.manifest(ref.path, ref.digest or ref.tag or "latest")
    finally:
        registry.close()
    local = images.find_image(ctx.paths, reference)
    if f"{ref.repository}@{digest}" in local.repo_digests:
        return local
    return replace(local, id=digest)  # (a manifest's digest: never an image's ID)


def _renew(ctx: Context, container: Container, new_id: str, *, rollback: bool) -> tuple[str, str]:
    """The container made again from image new_id (the reference's now): ("true", what it is
    now), or where that fails ("rolled back", ...) (made again from its old image) or ("failed: why", ...)."""
    from sdcontainer.api import containers as lifecycle

    try:
        current = containers.find_container(ctx.paths, container.name)
    except SdcError:
        return "failed: it is gone", ""
    if current.id != container.id or current.unit not in lifecycle.live_units(ctx):
        return "false", ""  # changed beside us (replaced, stopped): not ours to make again now
    if joiners := lifecycle.joiners(ctx, current):
        return f"failed: {', '.join(joiners[:3])} share its network (--network container:)", ""
    old_id = container.image_id
    try:
        made = _make_again(ctx, container, new_id)
        _check_running(ctx, made, new_id)
        return "true", f"{made.short_id} ({made.name})"
    except (SdcError, OSError) as exc:  # (whatever failed of them: the container must not be left gone)
        why = exc.message if isinstance(exc, SdcError) else str(exc)
    if not rollback:
        return f"failed: {why}", ""
    from sdcontainer.api.images import tag_image

    try:
        tag_image(ctx, old_id, container.spec.image)
        made = _make_again(ctx, container, old_id)
        _check_running(ctx, made, old_id)
    except (SdcError, OSError) as exc:
        return f"failed: {why}; and its rollback: {exc.message if isinstance(exc, SdcError) else exc}", ""
    return "rolled back", f"{made.short_id} ({made.name})"


def _make_again(ctx: Context, container: Container, image_id: str) -> Container:
    """The container made again from image_id (the one its reference names now): the old one
    stopped as `sdc stop` stops it (its stop signal, its timeout), then removed."""
    from sdcontainer import images, persist
    from sdcontainer.api import containers as lifecycle
    from sdcontainer.api import run
    from sdcontainer.api.volumes import anonymous_kept

    if container.invocation:  # a Quadlet file's: its unit makes it again (a restart: a pod it is
        # in, which stops when none of its containers needs it, stays)
        with anonymous_kept(ctx, container.spec):
            result = ctx.systemd.restart_unit(container.unit)
        if result != "done":
            raise SdcError(f"{container.unit} failed to start ({result})", hint=f"see `journalctl -u {container.unit}`")
        return containers.find_container(ctx.paths, container.name)
    try:
        old = images.find_image(ctx.paths, container.image_id).runtime
    except SdcError:
        old = {}
    spec = rebase(container.spec, old)
    if spec.enable and not persist.is_enabled(container.name):  # disabled since: it stays so
        spec = replace(spec, enable=False)
    try:  # (the one there now: this one, or in a rollback the new one that failed, if it is left)
        current = containers.find_container(ctx.paths, container.name).id
    except NotFound:
        current = ""
    with anonymous_kept(ctx, container.spec):
        if current:
            lifecycle.stop(ctx, [current])
            with contextlib.suppress(NotFound):  # (one run with --rm went as it stopped)
                lifecycle.remove(ctx, [current], force=True)
        made = run.run_detached(ctx, spec)
    if container.spec.cidfile:  # its file names the container made again
        with contextlib.suppress(OSError):
            if open(container.spec.cidfile).read().strip() == container.id:
                from sdcontainer.files import write_atomically

                write_atomically(container.spec.cidfile, made.id.encode())
    return made


def rebase(spec: ContainerSpec, old: dict[str, Any]) -> ContainerSpec:
    """The settings of spec that came from its old image (its config's old) left for the new one
    to give again (api.run.resolve_spec): the entrypoint and command, working directory, user,
    stop signal, labels and health check it had of the image's. What the flags set stays."""
    from sdcontainer.containerspec import parse_signal, signal_name

    # pull never: the reference names the image wanted now (the new one, or the old one again)
    given: dict[str, Any] = {"replace": False, "cidfile": "", "quiet": True, "detach": True, "pull": "never"}
    if spec.entrypoint == tuple(map(str, old.get("Entrypoint") or ())):
        given["entrypoint"] = None
        if spec.command == tuple(map(str, old.get("Cmd") or ())):
            given["command"] = ()
    if spec.workdir == (str(old.get("WorkingDir") or "") or "/"):
        given["workdir"] = ""
    if spec.user == (str(old.get("User") or "") or "root"):
        given["user"] = ""
    with contextlib.suppress(UsageError, ValueError):
        image_signal = str(old.get("StopSignal") or "")
        if spec.stop_signal == (signal_name(parse_signal(image_signal)) if image_signal else "SIGTERM"):
            given["stop_signal"] = ""
    theirs: dict[str, Any] = old["Labels"] if isinstance(old.get("Labels"), dict) else {}
    given["labels"] = tuple(label for label in spec.labels if label.partition("=")[0] == LABEL
                            or theirs.get(label.partition("=")[0]) != label.partition("=")[2])  # fmt: skip
    health: dict[str, Any] = old["Healthcheck"] if isinstance(old.get("Healthcheck"), dict) else {}
    if spec.health_test and list(spec.health_test) == health.get("Test"):
        given["health_test"] = ()
    for key, field in (("Interval", "health_interval"), ("Timeout", "health_timeout"),
                       ("StartPeriod", "health_start_period")):  # fmt: skip
        if isinstance(health.get(key), int) and getattr(spec, field) == health[key] / 1e9:
            given[field] = 0.0
    if isinstance(health.get("Retries"), int) and spec.health_retries == health["Retries"]:
        given["health_retries"] = 0
    if spec.publish_all:  # -P: the ports the old image exposed, published after -p's, left for the new one's
        from sdcontainer.api.run import exposed_ports

        with contextlib.suppress(UsageError):
            for k in range(len(spec.publish) + 1):
                if list(spec.publish[k:]) == exposed_ports(old, spec.publish[:k]):
                    given["publish"] = spec.publish[:k]
                    break
    return replace(spec, **given)


def _check_running(ctx: Context, container: Container, image_id: str) -> None:
    """An SdcError unless container, of image image_id, runs GRACE seconds after its start: its
    unit active all along, and not started again by its restart policy meanwhile."""
    from sdcontainer.api import containers as lifecycle
    from sdcontainer.systemd import SERVICE_IFACE

    if container.image_id != image_id:
        raise SdcError(f"it was made of {container.image_id[:19]}, not {image_id[:19]}", hint="sdc images")
    text = os.environ.get("SDC_AUTO_UPDATE_GRACE", "")
    grace = float(text) if text.replace(".", "", 1).isdigit() else GRACE
    deadline = ctx.clock.monotonic() + grace

    def restarts() -> object:
        try:
            return ctx.systemd.unit_properties(container.unit, SERVICE_IFACE).get("NRestarts")
        except SdcError:
            return None

    first = restarts()
    while True:
        state = lifecycle.unit_states(ctx).get(container.unit, "gone")
        if state != "active" or restarts() != first:
            ended = containers.read_state(ctx.paths, container.name)
            raise SdcError(f"it did not keep running ({state}, exit status {ended.get('exit_code', '?')})",
                           hint=f"sdc logs {container.name}")  # fmt: skip
        if ctx.clock.monotonic() >= deadline:
            return
        ctx.clock.sleep(0.2)
