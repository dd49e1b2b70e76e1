"""Use cases over a fake systemd and records in a temporary store: no root needed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from sdcontainer import containers
from sdcontainer.api import Sdc
from sdcontainer.containers import Container
from sdcontainer.errors import Conflict
from sdcontainer.paths import Paths
from sdcontainer.spec import ContainerSpec
from tests.fakes import FakeSystemd, FakeUnit


def add_container(paths: Paths, name: str, *, detach: bool = True, stop_timeout: int = 10) -> Container:
    spec = ContainerSpec(name=name, image="bb", command=("sleep", "1000"), detach=detach, stop_timeout=stop_timeout)
    c = Container(
        id=name * 8,
        spec=spec,
        image_id="sha256:0",
        unit=f"sdc-{name}.service",
        driver="vfs",
        rootfs=str(paths.root / "rootfs" / name),
        bundle=str(paths.container(name)),
        created=time.time(),
    )
    paths.container(name).mkdir(parents=True)
    containers.write_container(paths, c)
    return c


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path)


def test_stop_sends_the_stop_signal_to_pid1_only(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    fake.units["sdc-web.service"] = FakeUnit({})
    Sdc(paths, connector=lambda: fake).stop(["web"])
    assert [c for c in fake.calls if c[0] == "kill"] == [("kill", "sdc-web.service", "main", signal.SIGTERM)]


def test_stop_kills_everything_once_the_timeout_has_passed(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    fake.units["sdc-web.service"] = FakeUnit({}, ignores={signal.SIGTERM})
    start = time.monotonic()
    Sdc(paths, connector=lambda: fake).stop(["web"], timeout=1)
    took = time.monotonic() - start
    assert [c for c in fake.calls if c[0] == "kill"] == [
        ("kill", "sdc-web.service", "main", signal.SIGTERM),
        ("kill", "sdc-web.service", "all", signal.SIGKILL),
    ]
    assert 0.9 < took < 3


def test_stop_t0_goes_straight_to_sigkill(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    fake.units["sdc-web.service"] = FakeUnit({}, ignores={signal.SIGTERM})
    Sdc(paths, connector=lambda: fake).stop(["web"], timeout=0)
    assert [c for c in fake.calls if c[0] == "kill"] == [("kill", "sdc-web.service", "all", signal.SIGKILL)]


def test_stop_of_a_stopped_container_does_nothing(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    Sdc(paths, connector=lambda: fake).stop(["web"])
    assert [c for c in fake.calls if c[0] == "kill"] == []


def test_ps_asks_systemd_once_for_all_containers(paths: Paths) -> None:
    fake = FakeSystemd()
    for i in range(50):
        add_container(paths, f"c{i}")
        if i % 2:
            fake.units[f"sdc-c{i}.service"] = FakeUnit({})
    containers.write_state(paths, "c0", {"exit_code": 3})
    statuses = {s.container.name: s for s in Sdc(paths, connector=lambda: fake).status()}
    assert [c[0] for c in fake.calls] == ["list"]
    assert fake.calls[0] == ("list", ["sdc-*.service", "sdc-*.scope"])
    assert sum(s.state == "running" for s in statuses.values()) == 25
    assert (statuses["c0"].state, statuses["c0"].exit_code) == ("exited", 3)
    assert statuses["c2"].state == "created"


def test_ps_with_no_containers_does_not_connect(paths: Paths) -> None:
    def refuse() -> FakeSystemd:
        raise AssertionError("ps connected to systemd with nothing to ask")

    assert Sdc(paths, connector=refuse).status() == []


def test_rm_refuses_a_running_container(paths: Paths) -> None:
    fake = FakeSystemd()
    add_container(paths, "web")
    fake.units["sdc-web.service"] = FakeUnit({})
    with pytest.raises(Conflict, match="is running") as err:
        Sdc(paths, connector=lambda: fake).remove(["web"])
    assert err.value.hint is not None and "rm -f" in err.value.hint
    assert paths.container("web").exists()


def test_stopping_many_takes_as_long_as_the_slowest(paths: Paths) -> None:
    fake = FakeSystemd()
    for name in ("a", "b", "c"):
        add_container(paths, name)
        fake.units[f"sdc-{name}.service"] = FakeUnit({}, ignores={signal.SIGTERM})
    start = time.monotonic()
    Sdc(paths, connector=lambda: fake).stop(["a", "b", "c"], timeout=1)
    assert time.monotonic() - start < 2
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
    containers.write_state(paths, "done", {"exit_code": 0, "finished": time.time() - 7200})
    texts = {s.container.name: render.status_text(s) for s in Sdc(paths, connector=lambda: fake).status()}
    assert texts == {"up": "Up 5 minutes", "done": "Exited (0) 2 hours ago", "new": "Created"}
