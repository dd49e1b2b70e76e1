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
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from sdcontainer import containers
from sdcontainer.containerspec import ContainerSpec, label_map
from sdcontainer.errors import SdcError, UsageError
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


def auto_update(ctx: Context, *, dry_run: bool = False, rollback: bool = True) -> list[Update]:
    from sdcontainer.api import containers as lifecycle

    live = lifecycle.live_units(ctx)
    found: dict[tuple[str, str], Image | SdcError] = {}  # (policy, reference): its image now, or why not
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
        key = (policy, container.spec.image)
        if key not in found:
            try:
                found[key] = _image_now(ctx, policy, container.spec.image, dry_run=dry_run)
            except SdcError as exc:
                found[key] = exc
        now = found[key]
        if isinstance(now, SdcError):
            results.append(replace(update, updated=f"failed: {now.message}"))
        elif str(now.id) != container.image_id:
            results.append(replace(update, updated="pending" if dry_run else
                                   _renew(ctx, container, str(now.id), rollback=rollback)))  # fmt: skip
        else:
            results.append(update)
    return results


def _image_now(ctx: Context, policy: str, reference: str, *, dry_run: bool) -> Image:
    """The image reference names now: the registry's (pulled, or with dry_run its manifest's
    digest looked up alone), or the store's."""
    from sdcontainer import images

    if policy == "local":
        return images.find_image(ctx.paths, reference)
    if dry_run:
        return _remote(ctx, reference)
    from sdcontainer.api.images import pull_image
    from sdcontainer.api.run import _Quiet

    image, _, _ = pull_image(ctx, reference, progress=_Quiet())
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


def _renew(ctx: Context, container: Container, new_id: str, *, rollback: bool) -> str:
    """The container made again from image new_id (the reference's now): "true", or where it
    fails, "rolled back" (made again from its old image) or "failed: why"."""
    old_id = container.image_id
    try:
        _make_again(ctx, container)
        _check_running(ctx, container.name)
        return "true"
    except SdcError as exc:
        why = exc.message
    if not rollback:
        return f"failed: {why}"
    from sdcontainer.api.images import tag_image

    try:
        tag_image(ctx, old_id, container.spec.image)
        _make_again(ctx, container)
    except SdcError as exc:
        return f"failed: {why}; and its rollback: {exc.message}"
    return "rolled back"


def _make_again(ctx: Context, container: Container) -> None:
    from sdcontainer import images
    from sdcontainer.api import containers as lifecycle
    from sdcontainer.api import run

    if container.invocation:  # a Quadlet file's: its unit makes it again
        with contextlib.suppress(SdcError):
            ctx.systemd.stop_unit(container.unit)
        run.start_unit_again(ctx, container.unit)
        return
    try:
        old = images.find_image(ctx.paths, container.image_id).runtime
    except SdcError:
        old = {}
    spec = rebase(container.spec, old)
    with contextlib.suppress(SdcError):
        lifecycle.remove(ctx, [container.name], force=True)
    run.run_detached(ctx, spec)


def rebase(spec: ContainerSpec, old: dict[str, Any]) -> ContainerSpec:
    """The settings of spec that came from its old image (its config's old) left for the new one
    to give again (api.run.resolve_spec): the entrypoint and command, working directory, user,
    stop signal, labels and health check it had of the image's. What the flags set stays."""
    from sdcontainer.containerspec import parse_signal, signal_name

    given: dict[str, Any] = {"replace": False, "cidfile": "", "quiet": True, "detach": True}
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
    given["labels"] = tuple(label for label in spec.labels
                            if theirs.get(label.partition("=")[0]) != label.partition("=")[2])  # fmt: skip
    health: dict[str, Any] = old["Healthcheck"] if isinstance(old.get("Healthcheck"), dict) else {}
    if spec.health_test and list(spec.health_test) == health.get("Test"):
        given.update(health_test=(), health_interval=0.0, health_timeout=0.0, health_retries=0,
                     health_start_period=0.0)  # fmt: skip
    return replace(spec, **given)


def _check_running(ctx: Context, name: str) -> None:
    """An SdcError unless container name is running GRACE seconds after its start."""
    from sdcontainer.api import containers as lifecycle

    text = os.environ.get("SDC_AUTO_UPDATE_GRACE", "")
    grace = float(text) if text.replace(".", "", 1).isdigit() else GRACE
    deadline = ctx.clock.monotonic() + grace
    while True:
        container = containers.find_container(ctx.paths, name)
        if container.unit not in lifecycle.live_units(ctx):
            state = containers.read_state(ctx.paths, name)
            raise SdcError(f"it ended (exit status {state.get('exit_code', '?')})", hint=f"sdc logs {name}")
        if ctx.clock.monotonic() >= deadline:
            return
        ctx.clock.sleep(0.2)
