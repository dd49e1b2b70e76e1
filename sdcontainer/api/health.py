"""Health checks, Podman's way: a transient systemd timer per running container, whose service
runs `sdc healthcheck run` (a check: the command, exec'ed in the container with a timeout),
and the result kept in the bundle (protocol.HEALTH) for ps, inspect and the events.

Docker's rules: a container is starting until a check passes; healthy after a check that
passes; "unhealthy" after Retries failures in a row, those in its start period not counted.
The timer is named by the container's ID (sdc-health-ID.timer: no container name is that
long, so no container's unit can have its name), is PartOf the container's unit (stopped and
restarted with it), and stops itself when it finds the container gone or stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from sdcontainer import containers, protocol, records, units
from sdcontainer.api.containers import announce, find, live_units
from sdcontainer.api.context import Context
from sdcontainer.containers import Container
from sdcontainer.containerspec import ContainerSpec
from sdcontainer.errors import Conflict, NotFound, SdcError
from sdcontainer.spec import HEALTH_INTERVAL, HEALTH_RETRIES, HEALTH_TIMEOUT

STARTING, HEALTHY, UNHEALTHY = protocol.HEALTH_STARTING, protocol.HEALTHY, protocol.UNHEALTHY
OUTPUT_MAX = 4096  # bytes of a check's output kept (Docker's)
LOG_KEPT = 5  # checks kept in the log (Docker's)
KILL_GRACE = 2.0  # seconds a timed-out check has after SIGTERM


def has_check(spec: ContainerSpec) -> bool:
    return bool(spec.health_test) and spec.health_test[0] != "NONE"


def timer_name(container: Container) -> str:
    return f"sdc-health-{container.id}.timer"


def _service_name(container: Container) -> str:
    return f"sdc-health-{container.id}.service"


def argv_of(spec: ContainerSpec) -> list[str]:
    """The check as exec runs it: CMD's words, or CMD-SHELL's line through /bin/sh -c."""
    kind, *words = spec.health_test
    return ["/bin/sh", "-c", words[0]] if kind == "CMD-SHELL" else words


def start_timer(ctx: Context, container: Container, self_argv: list[str]) -> None:
    """The container's timer and its service, started with the container (a stale one of an
    earlier run stopped first)."""
    spec = container.spec
    if not has_check(spec):
        return
    every = round((spec.health_interval or HEALTH_INTERVAL) * units.USEC)
    timer = timer_name(container)
    with contextlib.suppress(SdcError):
        ctx.systemd.stop_unit(timer)
    with contextlib.suppress(SdcError):
        ctx.systemd.reset_failed_unit(_service_name(container))
    timer_props = units.typed_properties({
        "Description": f"sdc: health check of container {container.name}",
        "TimersMonotonic": [("OnActiveSec", every), ("OnUnitActiveSec", every)],
        "AccuracyUSec": 10_000,  # (systemd's default is a minute: checks would come late)
        "RemainAfterElapse": False,
        "PartOf": [container.unit],  # (no After=: it is started from the unit's ExecStartPost)
        "CollectMode": "inactive-or-failed",
    })  # fmt: skip
    service_props = units.typed_properties({
        "Description": f"sdc: health check of container {container.name}",
        "Type": "oneshot",
        "ExecStart": [(self_argv[0], [*self_argv, "healthcheck", "run", "--from-timer", container.id], False)],
        "Slice": units.SLICE,
    })  # fmt: skip
    ctx.systemd.start_transient_unit(timer, timer_props, aux=[(_service_name(container), service_props)])


def stop_timer(ctx: Context, container: Container) -> None:
    with contextlib.suppress(SdcError):
        ctx.systemd.stop_unit(timer_name(container), wait=False)


def state(container: Container) -> dict[str, Any] | None:
    """The container's health (Docker's State.Health), or None without a check."""
    if not has_check(container.spec):
        return None
    try:
        found = records.read_json(Path(container.bundle) / protocol.HEALTH)
    except (OSError, ValueError):
        found = None
    if not isinstance(found, dict) or found.get("Status") not in (STARTING, HEALTHY, UNHEALTHY):
        return {"Status": STARTING, "FailingStreak": 0, "Log": []}
    return found


def status_word(container: Container) -> str:
    """What ps adds to "Up 5 minutes": (healthy), (unhealthy), (health: starting); "" without a check."""
    found = state(container)
    if found is None:
        return ""
    return f" (health: {STARTING})" if found["Status"] == STARTING else f" ({found['Status']})"


def run_check(ctx: Context, ref: str, *, from_timer: bool = False) -> tuple[int, str]:
    """One check now: the command exec'ed in the container, its result recorded; its exit status
    and the container's health after it. From the timer: a container gone, stopped or without a
    check stops the timer (and is no error)."""
    try:
        container = find(ctx, ref)
    except NotFound:
        if from_timer:
            return 0, ""
        raise
    if not has_check(container.spec):
        if from_timer:
            stop_timer(ctx, container)
            return 0, ""
        raise Conflict(f"container {container.name} has no health check",
                       hint="give it one: sdc run --health-cmd 'CMD' ...")  # fmt: skip
    if container.unit not in live_units(ctx):
        if from_timer:
            stop_timer(ctx, container)
            return 0, ""
        raise Conflict(f"container {container.name} is not running", hint="`sdc ps -a` shows its state")
    spec = container.spec
    timeout = spec.health_timeout or HEALTH_TIMEOUT
    began = time.time()
    code, output = _exec(ctx, container, argv_of(spec), timeout)
    ended = time.time()
    with containers.record_locked(ctx.paths, container.name) as present:
        if not present:
            return code, ""
        before = state(container) or {}
        started = containers.started_at(ctx.paths, container.name) or began
        in_start_period = began - started < spec.health_start_period
        streak = 0 if code == 0 else int(before.get("FailingStreak") or 0) + (0 if in_start_period else 1)
        if code == 0:
            status = HEALTHY
        elif streak >= (spec.health_retries or HEALTH_RETRIES):
            status = UNHEALTHY
        else:
            status = str(before.get("Status") or STARTING)
        entry = {"Start": _iso(began), "End": _iso(ended), "ExitCode": code, "Output": output}
        log = [*list(before.get("Log") or [])[-(LOG_KEPT - 1) :], entry]
        records.write_json(Path(container.bundle) / protocol.HEALTH,
                           {"Status": status, "FailingStreak": streak, "Log": log})  # fmt: skip
    if status != before.get("Status"):
        announce(container, f"health_status: {status}", healthStatus=status)
    return code, status


def _exec(ctx: Context, container: Container, argv: list[str], timeout: float) -> tuple[int, str]:
    """The check through `sdc exec` (a process of the container, confined as exec is): its exit
    status and its first OUTPUT_MAX bytes of output; a check over its time is sent SIGTERM
    (relayed into the container), then its exec ended: exit status -1, as Docker says."""
    from sdcontainer.api.run import self_argv

    argv_exec = self_argv(ctx, "exec", container.id, *argv)
    proc = subprocess.Popen(argv_exec, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    assert proc.stdout is not None
    kept = bytearray()
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    timed_out = False
    import select

    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.5))
        if ready:
            chunk = proc.stdout.read(65536)
            if not chunk:  # its output closed: it has ended, or is about to
                break
            kept += chunk[: max(0, OUTPUT_MAX - len(kept))]  # the rest is read, and dropped
    if timed_out:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(KILL_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        return -1, f"Health check exceeded timeout ({timeout:g}s)"
    try:
        code = proc.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = -1
    proc.stdout.close()
    return code, kept.decode("utf-8", "replace")


def _iso(ts: float) -> str:
    from sdcontainer.text import iso_time

    return iso_time(ts)
