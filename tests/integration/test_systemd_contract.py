"""The SystemdClient contract: both bus adapters, the same tests, the real systemd."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from sdcontainer import units
from sdcontainer.errors import Conflict, NotFound
from sdcontainer.systemd import SCOPE_IFACE, SERVICE_IFACE, SystemdClient, connect, wait_for_state


@pytest.fixture(params=["wire", "dbus-next", "pystemd"])
def client(request: pytest.FixtureRequest) -> Iterator[SystemdClient]:
    c = connect(request.param)
    yield c
    c.close()


@pytest.fixture
def unit_name() -> Iterator[str]:
    name = f"sdc-contract-{secrets.token_hex(3)}"
    yield name
    for suffix in (".service", ".scope"):
        subprocess.run(["systemctl", "stop", name + suffix], capture_output=True)
        subprocess.run(["systemctl", "reset-failed", name + suffix], capture_output=True)


def service(command: list[str], **extra: object) -> list[tuple[str, str, object]]:
    props: dict[str, object] = {
        "Description": "sdc contract test",
        "Slice": units.SLICE,
        "ExecStart": [(command[0], command, False)],
        "MemoryMax": 64 << 20,
        "CPUWeight": 59,
        "AllowedCPUs": b"\x01",
        "CPUAffinity": b"\x01",
        "IOWeight": 60,
        "TasksMax": 50,
        "CPUQuotaPerSecUSec": 500_000,
        **extra,
    }
    return units.typed_properties(props)


def test_adapter_is_the_one_asked_for(client: SystemdClient, request: pytest.FixtureRequest) -> None:
    names = {"wire": "WireClient", "dbus-next": "DbusNextClient", "pystemd": "PystemdClient"}
    expected = names[request.node.callspec.params["client"]]
    assert type(client).__name__ == expected


def test_start_properties_list_kill_stop(client: SystemdClient, unit_name: str) -> None:
    unit = unit_name + ".service"
    assert client.start_transient_unit(unit, service(["/bin/sleep", "100"])) == "done"
    props = client.unit_properties(unit, SERVICE_IFACE)
    assert props["MemoryMax"] == 64 << 20
    assert props["CPUWeight"] == 59
    assert props["AllowedCPUs"].rstrip(b"\0") == b"\x01"  # type: ignore[union-attr]  # systemd pads to 8 bytes
    assert props["CPUAffinity"].rstrip(b"\0") == b"\x01"  # type: ignore[union-attr]
    assert props["IOWeight"] == 60
    assert props["TasksMax"] == 50
    assert props["CPUQuotaPerSecUSec"] == 500_000
    assert props["ControlGroup"] == f"/machine.slice/machine-sdc.slice/{unit}"
    assert isinstance(props["MainPID"], int) and props["MainPID"] > 0
    assert client.unit_properties(unit)["ActiveState"] == "active"

    [info] = client.list_units([f"{unit_name}.*"])
    assert (info.name, info.load_state, info.active_state, info.sub_state) == (unit, "loaded", "active", "running")

    client.set_unit_properties(unit, units.typed_properties({"MemoryMax": 96 << 20, "TasksMax": 60,
                                                             "CPUQuotaPerSecUSec": 250_000}))  # fmt: skip
    props = client.unit_properties(unit, SERVICE_IFACE)
    assert (props["MemoryMax"], props["TasksMax"], props["CPUQuotaPerSecUSec"]) == (96 << 20, 60, 250_000)
    with pytest.raises(NotFound):
        client.set_unit_properties(f"{unit_name}-none.service", units.typed_properties({"TasksMax": 1}))

    client.kill_unit(unit, "main", signal.SIGKILL)
    assert wait_for_state(client, unit, ("failed",), timeout=10) == "failed"
    client.reset_failed_unit(unit)
    assert wait_for_state(client, unit, ("gone",), timeout=10) == "gone"


def test_many_units_properties_at_once(client: SystemdClient, unit_name: str) -> None:
    """units_properties: by object path, in one round (systemd loads a unit it has not to answer:
    it has no tasks)."""
    names = [f"{unit_name}-{i}.service" for i in range(3)]
    for name in names:
        client.start_transient_unit(name, service(["/bin/sleep", "100"]))
    try:
        wanted = ("MemoryMax", "TasksCurrent", "CPUUsageNSec", "NoSuchProperty")
        found = client.units_properties([(n, SERVICE_IFACE) for n in [*names, f"{unit_name}-gone.service"]], wanted)
        assert [sorted(f) for f in found] == [["CPUUsageNSec", "MemoryMax", "TasksCurrent"]] * 4
        assert found[3]["TasksCurrent"] == (1 << 64) - 1  # "not set"
        assert all(f["MemoryMax"] == 64 << 20 and f["TasksCurrent"] == 1 for f in found[:3])
        assert found[0] == {**found[0], **{k: v for k, v in client.unit_properties(names[0], SERVICE_IFACE).items()
                                           if k in ("MemoryMax", "TasksCurrent")}}  # fmt: skip
    finally:
        for name in names:
            client.stop_unit(name)


def test_stop_waits_for_the_job(client: SystemdClient, unit_name: str) -> None:
    unit = unit_name + ".service"
    client.start_transient_unit(unit, service(["/bin/sleep", "100"]))
    assert client.stop_unit(unit) == "done"
    assert wait_for_state(client, unit, ("gone", "inactive"), timeout=5) in ("gone", "inactive")


def test_a_failing_start_job_reports_failed(client: SystemdClient, unit_name: str) -> None:
    unit = unit_name + ".service"
    assert client.start_transient_unit(unit, service(["/bin/false"], Type="notify")) == "failed"


def test_scope_around_a_process(client: SystemdClient, unit_name: str) -> None:
    proc = subprocess.Popen(["sleep", "100"])
    try:
        unit = unit_name + ".scope"
        props = units.typed_properties({"Description": "x", "Slice": units.SLICE, "PIDs": [proc.pid], "TasksMax": 7})
        assert client.start_transient_unit(unit, props) == "done"
        assert client.unit_properties(unit, SCOPE_IFACE)["TasksMax"] == 7
        assert f"/{unit}\n" in open(f"/proc/{proc.pid}/cgroup").read()
        client.kill_unit(unit, "all", signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM
        assert wait_for_state(client, unit, ("gone", "inactive"), timeout=10) in ("gone", "inactive")
    finally:
        proc.kill()
        proc.wait()


def test_errors_are_sdc_errors(client: SystemdClient, unit_name: str) -> None:
    with pytest.raises(NotFound):
        client.unit_properties(unit_name + ".service")
    with pytest.raises(NotFound):
        client.kill_unit(unit_name + ".service", "main", signal.SIGTERM)
    unit = unit_name + ".service"
    client.start_transient_unit(unit, service(["/bin/sleep", "100"]))
    with pytest.raises(Conflict):
        client.start_transient_unit(unit, service(["/bin/sleep", "100"]))
    assert client.list_units(["no-such-unit-*"]) == []


def test_many_clients_in_turn(unit_name: str) -> None:
    # Connections are closed properly: no leak of fds across many short-lived clients.
    fds = len(os.listdir("/proc/self/fd"))
    for adapter in ("dbus-next", "pystemd") * 10:
        c = connect(adapter)
        c.list_units(["sdc-*"])
        c.close()
    time.sleep(0.1)
    assert len(os.listdir("/proc/self/fd")) <= fds + 1
