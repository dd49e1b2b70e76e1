"""Commands at once on the same containers and store (issue 22, items 10-12): each takes only its
own locks, waits on none of another container's or a registry's, and never leaves a container
half removed. Docker's daemon serialises these per container: `docker rm -f` of a container
another removal holds says "removal of container ... is already in progress", and `docker wait`
prints the status the container really ended with, removed or not."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, sdc_units, store_state, systemctl
from tests.integration.imagetools import build_edge_image
from tests.integration.registry import Proxy, push, serve

BUSY = "is busy: another sdc is"
TERM_EXIT = 3  # the containers below exit 3 on SIGTERM: a status neither a kill (137) nor a default (0)
TRAPS = f"trap 'exit {TERM_EXIT}' TERM; while :; do sleep 0.1; done"


def background(sdc: Sdc, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(sdc.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=sdc.env())  # fmt: skip


def finished(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def gone_whole(sdc: Sdc, store: Path, name: str, when: str) -> None:
    """No trace of the container: no directory, no unit."""
    assert not (store / "containers" / name).exists(), f"{when}: its directory is left"
    assert not any(u.startswith(f"sdc-{name}.") for u in sdc_units()), f"{when}: {sdc_units()}"


@pytest.mark.parametrize("command", ["run", "start"])
def test_rm_racing_a_start_is_busy_or_clean(sdc: Sdc, image: str, store: Path, command: str) -> None:
    """`rm -f` during `run -d` or `start`, at moments over the whole start: the rm is refused as
    busy (or finds no container yet) while the start is under way, or removes a container whose
    start is settled; the start never fails for it, and nothing is ever left half removed (with
    the name lock ignored, an rm deleted the bundle and root under a starting container)."""
    before = store_state(store)
    outcomes: dict[str, int] = {}
    for n in range(16):
        name = f"race-{command}-{n}"
        if command == "start":
            sdc.ok("create", "--name", name, image, "sleep", "1000")
        starting = background(sdc, *(["run", "-d", "--name", name, image, "sleep", "1000"] if command == "run"
                                     else ["start", name]))  # fmt: skip
        time.sleep(n * 0.025)
        code, out, err = finished(background(sdc, "rm", "-f", name))
        started, _, start_err = finished(starting)
        when = f"rm -f {n * 25} ms into `{command}`"
        # (a start that comes second finds the container gone, or its removal under way)
        assert started == 0 or (command == "start" and ("no such container" in start_err or BUSY in start_err)), \
            f"{when}: {start_err}"  # fmt: skip
        if code == 0:  # (rm -f of a name not there yet: nothing said, no error, as Podman's)
            outcome = "removed" if out == f"{name}\n" else "not there yet"
        else:
            assert err.count("\n") == 1 and (BUSY in err or "no such container" in err), f"{when}: {err}"
            outcome = "busy" if BUSY in err else "not there yet"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        listed = [c["Name"] for c in json.loads(sdc.ok("ps", "-a", "--format", "json"))]
        if name in listed:
            assert outcome != "removed", f"{when}: removed, and still listed"
            sdc.ok("rm", "-f", name)
        gone_whole(sdc, store, name, when)
    # And once in a start held open (a payload that never says READY=1: the start waits for it,
    # claiming the container all along): the rm is refused as busy, whatever the timing.
    name = f"race-{command}-held"
    if command == "start":
        sdc.ok("create", "--sdnotify=container", "--name", name, image, "sleep", "1000")
    holding = subprocess.Popen(sdc.argv(*(["run", "-d", "--sdnotify=container", "--name", name, image, "sleep",
                                           "1000"] if command == "run" else ["start", name])),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=sdc.env(SDC_READY_TIMEOUT="6"))  # fmt: skip
    deadline = time.monotonic() + 30
    while not sdc_units() or f"sdc-{name}.service" not in sdc_units():
        assert time.monotonic() < deadline and holding.poll() is None, holding.communicate()
        time.sleep(0.05)
    code, _, err = finished(background(sdc, "rm", "-f", name))
    assert code != 0 and BUSY in err, err
    finished(holding)  # (its start fails: no READY=1 in time)
    sdc("rm", "-f", name)
    gone_whole(sdc, store, name, "held")
    assert store_state(store) == before, "something leaked"
    print(f"rm -f racing {command}: {outcomes}")
    assert outcomes.get("removed"), outcomes


def test_parallel_stop_rm_and_wait_on_the_same_containers(sdc: Sdc, image: str, store: Path) -> None:
    """10 containers, each with a `wait` on it, then a `stop` and an `rm -f` of each all at once:
    every wait prints how its container really ended (SIGTERM's trap: 3, or rm's SIGKILL: 137),
    never 0 or nothing; every rm -f removes it or says it is busy (or gone); nothing is left."""
    before = store_state(store)
    names = [f"crowd-{i}" for i in range(10)]
    for name in names:
        sdc.ok("run", "-d", "--name", name, image, "sh", "-c", TRAPS)
    waits = {name: background(sdc, "wait", name) for name in names}
    time.sleep(0.5)  # the waits are waiting
    crowd = [background(sdc, verb, *flags, name) for name in names
             for verb, flags in (("stop", ["-t", "10"]), ("rm", ["-f"]))]  # fmt: skip
    for proc, (name, verb) in zip(crowd, [(n, v) for n in names for v in ("stop", "rm")], strict=True):
        code, _, err = finished(proc)
        assert code == 0 or BUSY in err or "no such container" in err, f"{verb} {name}: {err}"
    for name, proc in waits.items():
        code, out, err = finished(proc)
        assert code == 0 and out in (f"{TERM_EXIT}\n", "137\n"), f"wait {name}: {code} {out!r} {err}"
    for name in names:
        sdc("rm", "-f", name)  # where each rm -f above found it busy
        gone_whole(sdc, store, name, name)
    assert store_state(store) == before, "something leaked"


@pytest.fixture(scope="module")
def slow_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Proxy]]:
    """A loopback registry whose blobs each come 20 s late (registry.Proxy)."""
    work = tmp_path_factory.mktemp("slow")
    layout = build_edge_image(work, unique=True)
    with serve(work / "registry") as address:
        push(f"oci:{layout}:edge", address, "test/slow:1")
        proxy = Proxy(address, delay=20.0)
        with proxy.serve() as via:
            yield via, proxy


def test_a_slow_pull_holds_up_no_container(sdc: Sdc, image: str, store: Path, name: str,
                                           slow_registry: tuple[str, Proxy]) -> None:  # fmt: skip
    """While a pull waits on a slow registry, a container of an image the store has starts,
    `ps` lists, and a stop records the exit at once. The pull held the store's lock for its
    whole download: `run` waited on it, and a stop's ExecStopPost, waiting too, could be
    killed by systemd's timeout, losing the exit."""
    via, proxy = slow_registry
    pull = background(sdc, "pull", f"{via}/test/slow:1")
    deadline = time.monotonic() + 30
    while not proxy.gets:  # its blobs asked for: it is downloading
        assert pull.poll() is None and time.monotonic() < deadline, pull.communicate()
        time.sleep(0.05)
    started = time.monotonic()
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", TRAPS, timeout=15)
    assert name in sdc.ok("ps", timeout=15)
    sdc.ok("stop", "-t", "10", name, timeout=15)
    assert sdc.ok("wait", name, timeout=15) == f"{TERM_EXIT}\n"
    [info] = json.loads(sdc.ok("inspect", name))
    assert info["State"]["ExitCode"] == TERM_EXIT and info["State"]["Status"] == "exited"
    took = time.monotonic() - started
    assert pull.poll() is None, "the pull ended before the test was done: make the registry slower"
    assert took < 15, took
    code, _, err = finished(pull)
    assert code == 0, err
    sdc.ok("rmi", f"{via}/test/slow:1")


def test_kill_9_of_enable_at_any_moment_leaves_what_rm_removes(sdc: Sdc, image: str, store: Path) -> None:
    """`sdc enable` killed at moments over its whole run (issue 13's test, for enable): whatever
    it had written, `rm -f` removes the container, its drop-in and its wants link. enable wrote
    the unit files before the record, and rm (reading the record) left them behind."""
    system = Path("/etc/systemd/system")
    before = store_state(store)
    took = []
    for i in range(2):
        sdc.ok("create", "--name", f"enable-calibrate-{i}", image, "sleep", "1000")
        start = time.monotonic()
        sdc.ok("enable", f"enable-calibrate-{i}")
        took.append(time.monotonic() - start)
        sdc.ok("rm", "-f", f"enable-calibrate-{i}")
    span = max(0.2, 1.2 * min(took))
    enabled = 0
    for n in range(16):
        name = f"enable-kill-{n}"
        sdc.ok("create", "--name", name, image, "sleep", "1000")
        proc = subprocess.Popen(sdc.argv("enable", name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=sdc.env())  # fmt: skip
        time.sleep(n * span / 15)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        enabled += (system / "multi-user.target.wants" / f"sdc@{name}.service").is_symlink()
        proc2 = sdc("rm", "-f", name)
        when = f"enable killed after {n * span / 15 * 1000:.0f} ms"
        assert proc2.returncode == 0, f"{when}: {proc2.stderr}"
        assert not (system / f"sdc@{name}.service.d").exists(), f"{when}: its drop-in is left"
        assert not (system / "multi-user.target.wants" / f"sdc@{name}.service").is_symlink(), f"{when}: its link"
        assert systemctl("is-active", f"sdc@{name}.service").stdout.strip() != "active", when
    assert store_state(store) == before, "something leaked"
    assert 0 < enabled < 16, f"the kills fell before and after the link: {enabled} of 16 linked"


def test_a_foreground_containers_end_is_recorded_when_stop_or_rm_returns(sdc: Sdc, image: str, store: Path,
                                                                         name: str) -> None:  # fmt: skip
    """A foreground container's launcher leaves its scope before PID 1 runs (the payload alone is
    charged): the scope can be gone before the launcher has recorded how PID 1 ended. `stop`
    returns once that is recorded (`ps -a` says it at once), and a `wait` begun before an
    `rm -f` prints the status, as Docker's do."""
    running = background(sdc, "run", "--name", name, image, "sh", "-c", TRAPS)
    deadline = time.monotonic() + 20
    while name not in sdc.ok("ps"):
        assert time.monotonic() < deadline and running.poll() is None, running.communicate()
        time.sleep(0.05)
    sdc.ok("stop", "-t", "10", name)
    [row] = [c for c in json.loads(sdc.ok("ps", "-a", "--format", "json")) if c["Name"] == name]
    assert row["Status"].startswith(f"Exited ({TERM_EXIT})"), row
    assert finished(running)[0] == TERM_EXIT
    again = background(sdc, "start", "-a", name)
    while name not in sdc.ok("ps"):
        assert time.monotonic() < deadline + 20 and again.poll() is None, again.communicate()
        time.sleep(0.05)
    waiting = background(sdc, "wait", name)
    time.sleep(0.3)
    sdc.ok("rm", "-f", name)
    assert finished(waiting) == (0, "137\n", "")
    assert finished(again)[0] == 137
    gone_whole(sdc, store, name, "rm -f")
