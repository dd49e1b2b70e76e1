"""Use cases over a fake systemd and records in a temporary store: no root needed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from sdcontainer import cgroups, containers, protocol
from sdcontainer.api import Clock, Context
from sdcontainer.api import containers as lifecycle
from sdcontainer.containers import Container
from sdcontainer.containerspec import ContainerSpec
from sdcontainer.errors import Conflict
from sdcontainer.paths import Paths
from tests.fakes import FakeSystemd, FakeUnit


def add_container(
    paths: Paths, name: str, *, detach: bool = True, stop_timeout: int = 10, auto_remove: bool = False
) -> Container:
    spec = ContainerSpec(name=name, image="bb", command=("sleep", "1000"), detach=detach, stop_timeout=stop_timeout,
                         auto_remove=auto_remove)  # fmt: skip
    c = Container(
        id=hashlib.sha256(name.encode()).hexdigest(),
        spec=spec,
        image_id="sha256:0",
        unit=f"sdc-{name}.service" if detach else f"sdc-{name}.scope",
        driver="vfs",
        rootfs=str(paths.root / "rootfs" / name),
        bundle=str(paths.container(name)),
        created=time.time(),
    )
    paths.container(name).mkdir(parents=True)
    containers.write_container(paths, c)
    return c


def write_state(paths: Paths, name: str, *, exit_code: int, finished: float) -> None:
    """As the launcher records how a container ended (its only writer)."""
    state = protocol.state(exit_code=exit_code, finished=finished, result="exit-code", oom_killed=False)
    (paths.container(name) / protocol.STATE).write_text(json.dumps(state))


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path)


class FakeClock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, sleep=self.sleep, time=lambda: self.now)


def over(paths: Paths, fake: FakeSystemd, clock: FakeClock | None = None) -> Context:
    # vfs: a unit test never makes a btrfs pool (a loop device and a mount on the machine running it)
    return Context(paths, connector=lambda: fake, storage_driver="vfs", clock=(clock or FakeClock()).clock())


def test_stop_sends_the_stop_signal_to_pid1_only(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    fake.units["sdc-web.service"] = FakeUnit({})
    lifecycle.stop(over(paths, fake), ["web"])
    assert [c for c in fake.calls if c[0] == "kill"] == [("kill", "sdc-web.service", "main", signal.SIGTERM)]


def test_stop_kills_everything_once_the_timeout_has_passed(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    fake.units["sdc-web.service"] = FakeUnit({}, ignores={signal.SIGTERM})
    clock = FakeClock()
    start = clock.now
    lifecycle.stop(over(paths, fake, clock), ["web"], timeout=1)
    assert [c for c in fake.calls if c[0] == "kill"] == [
        ("kill", "sdc-web.service", "main", signal.SIGTERM),
        ("kill", "sdc-web.service", "main", signal.SIGKILL),  # PID 1 alone: its ExecStopPost lives
    ]
    assert 1.0 <= clock.now - start < 1.1  # the timeout, then SIGKILL at once


def test_a_unit_still_up_after_pid_1s_sigkill_has_all_its_processes_killed(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    fake.units["sdc-web.service"] = FakeUnit({}, lingers=True)
    clock = FakeClock()
    start = clock.now
    lifecycle.remove(over(paths, fake, clock), ["web"], force=True)
    assert [c for c in fake.calls if c[0] == "kill"] == [
        ("kill", "sdc-web.service", "main", signal.SIGKILL),
        ("kill", "sdc-web.service", "all", signal.SIGKILL),
    ]
    assert lifecycle.PID1_GRACE <= clock.now - start < lifecycle.PID1_GRACE + 0.5


def test_stop_t0_goes_straight_to_sigkill(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    fake.units["sdc-web.service"] = FakeUnit({}, ignores={signal.SIGTERM})
    lifecycle.stop(over(paths, fake), ["web"], timeout=0)
    assert [c for c in fake.calls if c[0] == "kill"] == [("kill", "sdc-web.service", "main", signal.SIGKILL)]


def test_stop_of_a_stopped_container_does_nothing(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    lifecycle.stop(over(paths, fake), ["web"])
    assert [c for c in fake.calls if c[0] == "kill"] == []


def test_ps_asks_systemd_once_for_all_containers(paths: Paths) -> None:
    fake = FakeSystemd()
    for i in range(50):
        add_container(paths, f"c{i}")
        if i % 2:
            fake.units[f"sdc-c{i}.service"] = FakeUnit({})
    write_state(paths, "c0", exit_code=3, finished=0.0)
    statuses = {s.container.name: s for s in lifecycle.status(over(paths, fake))}
    assert [c[0] for c in fake.calls] == ["list"]
    assert fake.calls[0] == ("list", ["sdc-*.service", "sdc-*.scope", "sdc@*.service"])
    assert sum(s.state == "running" for s in statuses.values()) == 25
    assert (statuses["c0"].state, statuses["c0"].exit_code) == ("exited", 3)
    assert statuses["c2"].state == "created"


def test_ps_with_no_containers_does_not_connect(paths: Paths) -> None:
    def refuse() -> FakeSystemd:
        raise AssertionError("ps connected to systemd with nothing to ask")

    assert lifecycle.status(Context(paths, connector=refuse)) == []


def test_rm_refuses_a_running_container(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    fake.units["sdc-web.service"] = FakeUnit({})
    with pytest.raises(Conflict, match="is running") as err:
        lifecycle.remove(over(paths, fake), ["web"])
    assert err.value.hint is not None and "rm -f" in err.value.hint
    assert paths.container("web").exists()


def test_stopping_many_takes_as_long_as_the_slowest(paths: Paths) -> None:
    fake = FakeSystemd()
    for name in ("a", "b", "c"):
        add_container(paths, name)
        fake.units[f"sdc-{name}.service"] = FakeUnit({}, ignores={signal.SIGTERM})
    clock = FakeClock()
    start = clock.now
    lifecycle.stop(over(paths, fake, clock), ["a", "b", "c"], timeout=1)
    assert 1.0 <= clock.now - start < 1.1  # one timeout for all three, not three
    assert fake.units == {}


def test_ps_says_how_long_up_and_since_when_exited(paths: Paths) -> None:
    from sdcontainer import render

    fake = FakeSystemd()
    add_container(paths, "up")
    add_container(paths, "done")
    add_container(paths, "new")
    fake.units["sdc-up.service"] = FakeUnit({})
    (paths.container("up") / "pid").write_text("1\n")
    os.utime(paths.container("up") / "pid", (time.time() - 300, time.time() - 300))
    (paths.container("done") / "pid").write_text("1\n")
    write_state(paths, "done", exit_code=0, finished=time.time() - 7200)
    texts = {s.container.name: render.status_text(s) for s in lifecycle.status(over(paths, fake))}
    assert texts == {"up": "Up 5 minutes", "done": "Exited (0) 2 hours ago", "new": "Created"}


# --- what a killed `sdc run` leaves, settled by the next command (api.containers.settle) ----------------


def sdc_over(paths: Paths, fake: FakeSystemd) -> Context:
    return over(paths, fake)


def names(ctx: Context) -> list[str]:
    return sorted(s.container.name for s in lifecycle.status(ctx))


def test_a_directory_without_a_record_is_removed_by_ps(paths: Paths) -> None:
    (paths.containers / "half").mkdir(parents=True)  # killed between mkdir and the record
    add_container(paths, "web")
    assert names(sdc_over(paths, FakeSystemd())) == ["web"]
    assert not (paths.containers / "half").exists()


def test_a_run_killed_before_its_launch_is_rolled_back(paths: Paths) -> None:
    add_container(paths, "early")
    (paths.container("early") / containers.STARTING).touch()
    assert names(sdc_over(paths, FakeSystemd())) == []
    assert not paths.container("early").exists()


def test_a_run_killed_after_its_launch_is_finished(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "late")
    (paths.container("late") / containers.STARTING).touch()
    (paths.container("late") / "pid").write_text("42\n")
    fake.units["sdc-late.service"] = FakeUnit({})
    [status] = lifecycle.status(sdc_over(paths, fake))
    assert (status.container.name, status.state) == ("late", "running")
    assert not (paths.container("late") / containers.STARTING).exists()


def test_a_run_still_at_work_is_left_alone(paths: Paths) -> None:
    add_container(paths, "busy")
    (paths.container("busy") / containers.STARTING).touch()
    held = containers.take_name_lock(paths, "busy")  # as the sdc that is creating it holds it
    try:
        assert names(sdc_over(paths, FakeSystemd())) == ["busy"]
        assert (paths.container("busy") / containers.STARTING).exists()
    finally:
        assert held is not None
        os.close(held)


@pytest.fixture
def cgroup_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cgroup v1 tree of systemd's (name=systemd) for scopes: where sdc looks for their processes."""
    root = tmp_path / "cgroup"
    (root / "systemd").mkdir(parents=True)
    (root / "systemd" / "cgroup.procs").write_text("1\n")
    monkeypatch.setattr(cgroups, "ROOT", str(root))
    return root / "systemd" / "machine.slice" / "machine-sdc.slice"


def scope_with(tree: Path, unit: str, pids: str) -> Path:
    (tree / unit).mkdir(parents=True, exist_ok=True)
    (tree / unit / "cgroup.procs").write_text(pids)
    return tree / unit


def test_an_rm_container_whose_sdc_died_is_removed_once_it_has_ended(paths: Paths, cgroup_tree: Path) -> None:
    scope_with(cgroup_tree, "sdc-once.scope", "42\n")
    fake = FakeSystemd()
    add_container(paths, "once", detach=False, auto_remove=True)
    (paths.container("once") / "pid").write_text("42\n")
    fake.units["sdc-once.scope"] = FakeUnit({})
    assert names(sdc_over(paths, fake)) == ["once"]  # still running: kept
    del fake.units["sdc-once.scope"]
    assert names(sdc_over(paths, fake)) == []


def test_a_scope_with_no_process_left_is_not_running_and_rm_ends_it(paths: Paths, cgroup_tree: Path) -> None:
    """systemd may keep a scope active with nothing in it: on cgroup v1 only a release agent tells it."""
    scope = scope_with(cgroup_tree, "sdc-gone.scope", "")
    fake = FakeSystemd()
    add_container(paths, "gone", detach=False)
    (paths.container("gone") / "pid").write_text("42\n")
    fake.units["sdc-gone.scope"] = FakeUnit({}, empty=True)
    clock = FakeClock()
    sdc = over(paths, fake, clock)
    [status] = lifecycle.status(sdc)
    assert status.state == "exited"
    start = clock.now
    lifecycle.remove(sdc, ["gone"], force=True)
    assert clock.now == start  # ended at once, not after waiting for a kill with nothing to kill
    assert ("stop", "sdc-gone.scope") in fake.calls and fake.units["sdc-gone.scope"].state == "inactive"
    assert not paths.container("gone").exists()
    (scope / "cgroup.procs").write_text("123\n")  # and one with a process in it is running
    assert cgroups.populated("/machine.slice/machine-sdc.slice/sdc-gone.scope")
