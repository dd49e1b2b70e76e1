"""The systemd control plane: one interface, two bus adapters.

`SystemdClient` is all the rest of sdc knows of systemd. The adapters (`wire`,
sdc's own synchronous client of the D-Bus wire protocol, the default; `sdbus`,
pystemd over libsystemd's sd-bus; `dbusnext`, dbus-next on asyncio) translate
D-Bus error names into sdc errors and pass the same contract tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Sequence

from sdcontainer.errors import Conflict, NotFound, SdcError, SystemdError
from sdcontainer.record import record

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # SystemdClient is a protocol for type checkers; nothing checks it at run time

BUS_NAME = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER_IFACE = "org.freedesktop.systemd1.Manager"
UNIT_IFACE = "org.freedesktop.systemd1.Unit"
SERVICE_IFACE = "org.freedesktop.systemd1.Service"
SCOPE_IFACE = "org.freedesktop.systemd1.Scope"
START_SIGNATURE = "ssa(sv)a(sa(sv))"

# (name, D-Bus signature, value), as built by sdcontainer.units.typed_properties
Property = tuple[str, str, object]


@record(kw_only=True)
class UnitInfo:
    name: str
    description: str
    load_state: str
    active_state: str
    sub_state: str


class SystemdClient(Protocol):
    """What sdc asks of systemd. Every call is synchronous; jobs are waited for."""

    def start_transient_unit(self, name: str, properties: Sequence[Property],
                             aux: Sequence[tuple[str, Sequence[Property]]] = ()) -> str:  # fmt: skip
        """Create and start a transient unit (and the aux units it needs: a timer's service); wait
        for its start job and return the result ('done', 'failed'...)."""
        ...

    def start_unit(self, name: str) -> str:
        """Start a unit of a unit file and wait for the start job; return its result."""
        ...

    def restart_unit(self, name: str) -> str:
        """Restart a unit (started if it is not) and wait for the job; return its result. Units
        that need it keep needing it meanwhile (a StopWhenUnneeded= one stays)."""
        ...

    def reload(self) -> None:
        """Reload the unit files (daemon-reload), waiting until systemd has."""
        ...

    def stop_unit(self, name: str, *, wait: bool = True) -> str:
        """Stop a unit and wait for the stop job; return its result (without wait: the job's path)."""
        ...

    def kill_unit(self, name: str, who: str, signal: int) -> None:
        """Send a signal to the unit's 'main' process or to 'all' of them."""
        ...

    def reset_failed_unit(self, name: str) -> None: ...

    def set_unit_properties(self, name: str, properties: Sequence[Property]) -> None:
        """Change a loaded unit's properties now (SetUnitProperties, runtime: until reboot)."""
        ...

    def unit_properties(self, name: str, interface: str = UNIT_IFACE) -> dict[str, object]:
        """All properties of one interface of a loaded unit; NotFound if not loaded."""
        ...

    def list_units(self, patterns: Sequence[str]) -> list[UnitInfo]:
        """Loaded units whose names match the glob patterns, in one call."""
        ...

    def units_properties(self, units: Sequence[tuple[str, str]], names: Sequence[str]) -> list[dict[str, object]]:
        """The properties names of each (unit, interface), by the units' object paths (unit_path):
        a property it lacks is left out of its dict (LACKING); any other error is raised. (systemd
        loads a unit asked for by its path: one not loaded answers as not-found and inactive.)"""
        ...

    def close(self) -> None: ...


# The errors of a Get or GetAll that mean the property (or the unit's interface) is not there.
LACKING = frozenset({"org.freedesktop.DBus.Error.UnknownProperty", "org.freedesktop.DBus.Error.UnknownInterface",
                     "org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.systemd1.NoSuchUnit"})  # fmt: skip


def unit_path(name: str) -> str:
    """A unit's object path, as systemd makes it (sd_bus_path_encode): each byte but [A-Za-z0-9]
    as _XX, and a leading digit too."""
    encoded = "".join(c if c.isascii() and c.isalnum() and (i or not c.isdigit()) else f"_{ord(c):02x}"
                      for i, c in enumerate(name))  # fmt: skip
    return f"{MANAGER_PATH}/unit/{encoded}"


def error_from_dbus(name: str, text: str) -> SdcError:
    """A D-Bus error name and message as the sdc error a user can act on."""
    if name == "org.freedesktop.systemd1.NoSuchUnit":
        return NotFound(text)
    if name == "org.freedesktop.systemd1.NoSuchProcess":  # a kill of a main process that has just ended
        return Conflict(text, hint="the unit's process has ended")
    if name == "org.freedesktop.systemd1.UnitExists":
        return Conflict(text, hint="a unit of that name is still loaded; see `systemctl status` for it")
    if name in (
        "org.freedesktop.DBus.Error.AccessDenied",
        "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
    ):
        return SystemdError(f"systemd refused: {text}", hint="run sdc as root")
    return SystemdError(f"systemd: {text}")


def unreachable(exc: BaseException) -> SystemdError:
    return SystemdError(
        f"cannot reach systemd on the system bus ({exc})",
        hint="sdc needs a host whose PID 1 is systemd, with the D-Bus system bus running",
    )


ADAPTERS = ("wire", "pystemd", "dbus-next")


def connect(adapter: str | None = None) -> SystemdClient:
    """The chosen adapter ($SDC_BUS): sdc's own client of the wire protocol unless another is asked for."""
    choice = adapter or os.environ.get("SDC_BUS") or "wire"
    if choice not in ADAPTERS:
        raise SdcError(f"unknown bus adapter {choice!r}", hint="set SDC_BUS to one of " + ", ".join(ADAPTERS))
    if choice == "wire":
        from sdcontainer.systemd.wire import WireClient

        return WireClient()
    if choice == "pystemd":
        try:
            from sdcontainer.systemd.sdbus import PystemdClient
        except ImportError:
            raise SdcError("pystemd is not installed", hint="pip install 'sdcontainer[pystemd]'") from None
        return PystemdClient()
    from sdcontainer.systemd.dbusnext import DbusNextClient

    return DbusNextClient()


def wait_for_state(
    client: SystemdClient, name: str, states: Collection[str], *, timeout: float, interval: float = 0.02
) -> str:
    """Poll ActiveState until it is one of states; 'gone' counts once the unit is unloaded.

    Returns the state reached, or the last state seen when the timeout ran out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = str(client.unit_properties(name)["ActiveState"])
        except NotFound:
            state = "gone"
        if state in states or time.monotonic() >= deadline:
            return state
        time.sleep(interval)
