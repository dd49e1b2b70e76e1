"""SystemdClient over pystemd, which wraps libsystemd's sd-bus.

pystemd's own StartTransientUnit looks signatures up in its fixed table, which
lacks CPUWeight, AllowedCPUs, IOWeight and more; we marshal the property array
ourselves from the signatures sdc supplies, and call the method directly.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any, cast

from sdcontainer.errors import NotFound, SdcError, SystemdError
from sdcontainer.systemd import (
    BUS_NAME,
    LACKING,
    MANAGER_IFACE,
    MANAGER_PATH,
    UNIT_IFACE,
    Property,
    UnitInfo,
    error_from_dbus,
    unit_path,
    unreachable,
)


def _bind_pystemd_package() -> None:
    """Make `pystemd` an empty package, so that importing its sd-bus binding below skips
    pystemd/__init__.py: that imports every object wrapper and, through them, lxml for
    D-Bus introspection, none of which sdc uses, at ~20 ms on every command (measured
    with python -X importtime; most of it lxml.etree). Nothing changes when something
    has imported pystemd already."""
    if "pystemd" in sys.modules:
        return
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("pystemd")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pystemd is not installed", name="pystemd")
    package = ModuleType("pystemd")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["pystemd"] = package


_bind_pystemd_package()

from pystemd.dbusexc import DBusBaseError, DBusFileNotFoundError, DBusNoSuchUnitError  # noqa: E402
from pystemd.dbuslib import DBus, apply_signature  # noqa: E402

JOB_TIMEOUT = 120.0
# pystemd returns byte arrays as lists of ints; these properties are "ay".
BYTE_ARRAYS = frozenset(
    {
        "AllowedCPUs",
        "AllowedMemoryNodes",
        "CPUAffinity",
        "EffectiveCPUs",
        "EffectiveMemoryNodes",
        "NUMAMask",
        "RootHash",
        "RootHashSignature",
        "StandardInputData",
        "StartupAllowedCPUs",
        "StartupAllowedMemoryNodes",
    }
)


def _text(value: object) -> object:
    """pystemd returns D-Bus strings and object paths as bytes."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_text(v) for v in value)
    return value


def _property_array(properties: Sequence[Property]) -> list[tuple[int, Any]]:
    args: list[tuple[int, Any]] = [(ord("a"), b"(sv)")]
    for name, signature, value in properties:
        args += [(ord("r"), b"sv"), (ord("s"), name.encode()), (ord("v"), signature.encode())]
        args += apply_signature(signature.encode(), [value])
        args += [(-1, None), (-1, None)]
    args += [(-1, None)]
    return args


def _error(exc: DBusBaseError) -> SdcError:
    msg = str(_text(exc.err_message) or exc)
    if isinstance(exc, DBusNoSuchUnitError):
        return NotFound(msg)
    if isinstance(exc, DBusFileNotFoundError):
        return unreachable(exc)
    return error_from_dbus(str(_text(exc.err_name) or ""), msg)


class PystemdClient:
    def __init__(self) -> None:
        self._jobs: dict[str, str] = {}
        self._bus = DBus()
        try:
            self._bus.open()
            jobs = self._jobs

            def on_job_removed(msg: Any, error: Any = None, userdata: Any = None) -> None:
                # A plain function: pystemd stores its metadata on the callback object.
                msg.process_reply(False)
                _id, job, _unit, result = msg.body
                jobs[str(_text(job))] = str(_text(result))

            # pystemd keeps only a borrowed pointer to the callback: we hold the reference.
            self._on_job_removed = on_job_removed
            self._bus.match_signal(
                BUS_NAME.encode(), MANAGER_PATH.encode(), MANAGER_IFACE.encode(), b"JobRemoved", on_job_removed
            )
            # systemd sends job signals only to subscribed clients (org.freedesktop.systemd1(5)).
            self._manager("Subscribe", [])
        except DBusBaseError as exc:
            raise _error(exc) from exc

    def _call(self, path: str, iface: str, member: str, args: list[tuple[int, Any]]) -> Any:
        try:
            reply = self._bus.call_method(BUS_NAME.encode(), path.encode(), iface.encode(), member.encode(), args)
        except DBusBaseError as exc:
            raise _error(exc) from exc
        return reply.body

    def _manager(self, member: str, args: list[tuple[int, Any]]) -> Any:
        return self._call(MANAGER_PATH, MANAGER_IFACE, member, args)

    def _wait_job(self, job: str) -> str:
        deadline = time.monotonic() + JOB_TIMEOUT
        while job not in self._jobs:
            if time.monotonic() > deadline:
                raise SystemdError(f"systemd job {job} did not finish in {JOB_TIMEOUT:.0f}s")
            try:
                while not self._bus.process().is_empty():
                    pass
                if job not in self._jobs:
                    self._bus.wait(100_000)  # microseconds
            except DBusBaseError as exc:
                raise _error(exc) from exc
        return self._jobs.pop(job)

    def start_transient_unit(self, name: str, properties: Sequence[Property],
                             aux: Sequence[tuple[str, Sequence[Property]]] = ()) -> str:  # fmt: skip
        args = apply_signature(b"ss", [name.encode(), b"fail"]) + _property_array(properties)
        args += [(ord("a"), b"(sa(sv))")]
        for unit, theirs in aux:
            args += [(ord("r"), b"sa(sv)"), (ord("s"), unit.encode()), *_property_array(theirs), (-1, None)]
        args += [(-1, None)]
        return self._wait_job(str(_text(self._manager("StartTransientUnit", args))))

    def set_unit_properties(self, name: str, properties: Sequence[Property]) -> None:
        self._manager("SetUnitProperties", apply_signature(b"sb", [name.encode(), True]) + _property_array(properties))

    def start_unit(self, name: str) -> str:
        job = self._manager("StartUnit", apply_signature(b"ss", [name.encode(), b"replace"]))
        return self._wait_job(str(_text(job)))

    def restart_unit(self, name: str) -> str:
        job = self._manager("RestartUnit", apply_signature(b"ss", [name.encode(), b"replace"]))
        return self._wait_job(str(_text(job)))

    def reload(self) -> None:
        self._manager("Reload", [])

    def stop_unit(self, name: str, *, wait: bool = True) -> str:
        job = self._manager("StopUnit", apply_signature(b"ss", [name.encode(), b"replace"]))
        return self._wait_job(str(_text(job))) if wait else str(_text(job))

    def kill_unit(self, name: str, who: str, signal: int) -> None:
        self._manager("KillUnit", apply_signature(b"ssi", [name.encode(), who.encode(), signal]))

    def reset_failed_unit(self, name: str) -> None:
        self._manager("ResetFailedUnit", apply_signature(b"s", [name.encode()]))

    def unit_properties(self, name: str, interface: str = UNIT_IFACE) -> dict[str, object]:
        path = str(_text(self._manager("GetUnit", apply_signature(b"s", [name.encode()]))))
        props = self._call(
            path, "org.freedesktop.DBus.Properties", "GetAll", apply_signature(b"s", [interface.encode()])
        )
        result = {str(_text(k)): _text(v) for k, v in props.items()}
        for key in BYTE_ARRAYS & result.keys():
            result[key] = bytes(cast(list[int], result[key]))
        return result

    def units_properties(self, units: Sequence[tuple[str, str]], names: Sequence[str]) -> list[dict[str, object]]:
        """A GetAll of each unit's interface, by its object path (no GetUnit first), the names kept."""
        found: list[dict[str, object]] = []
        for unit, iface in units:
            try:
                props = self._bus.call_method(BUS_NAME.encode(), unit_path(unit).encode(),
                                              b"org.freedesktop.DBus.Properties", b"GetAll",
                                              apply_signature(b"s", [iface.encode()])).body  # fmt: skip
            except DBusBaseError as exc:
                if str(_text(exc.err_name) or "") not in LACKING and not isinstance(exc, DBusNoSuchUnitError):
                    raise _error(exc) from exc
                found.append({})
                continue
            wanted = {name.encode() for name in names}
            found.append({str(_text(k)): _text(v) for k, v in props.items() if k in wanted})
        return found

    def list_units(self, patterns: Sequence[str]) -> list[UnitInfo]:
        args = apply_signature(b"asas", [[], [p.encode() for p in patterns]])
        units = cast(list[list[str]], _text(self._manager("ListUnitsByPatterns", args)))
        return [
            UnitInfo(name=u[0], description=u[1], load_state=u[2], active_state=u[3], sub_state=u[4]) for u in units
        ]

    def close(self) -> None:
        self._bus.close()
