"""SystemdClient over dbus-next (pure Python, asyncio) with a private event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from dbus_next.aio.message_bus import MessageBus
from dbus_next.constants import BusType, MessageType
from dbus_next.message import Message
from dbus_next.signature import Variant

from sdcontainer.errors import SystemdError
from sdcontainer.systemd import (
    BUS_NAME,
    LACKING,
    MANAGER_IFACE,
    MANAGER_PATH,
    START_SIGNATURE,
    UNIT_IFACE,
    Property,
    UnitInfo,
    error_from_dbus,
    unit_path,
    unreachable,
)

T = TypeVar("T")
JOB_TIMEOUT = 120.0
IN_FLIGHT = 64  # Gets sent before their replies are read (the system bus allows 128 pending)


def _unwrap(value: object) -> object:
    if isinstance(value, Variant):
        return _unwrap(value.value)
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


async def _connect() -> MessageBus:
    # MessageBus binds to the running loop when constructed: build it inside ours.
    return await MessageBus(bus_type=BusType.SYSTEM).connect()


def _lists(value: object) -> object:
    """dbus-next marshals D-Bus structs from lists only."""
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


class DbusNextClient:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._jobs: dict[str, str] = {}  # job path -> result, from JobRemoved
        self._job_event = asyncio.Event()
        try:
            self._bus = self._run(_connect())
        except (OSError, EOFError) as exc:
            self._loop.close()
            raise unreachable(exc) from exc
        self._bus.add_message_handler(self._on_message)
        rule = (
            f"type='signal',sender='{BUS_NAME}',path='{MANAGER_PATH}',interface='{MANAGER_IFACE}',member='JobRemoved'"
        )
        self._call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", [rule])
        # systemd sends job signals only to subscribed clients (org.freedesktop.systemd1(5)).
        self._manager("Subscribe")

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type == MessageType.SIGNAL and msg.member == "JobRemoved":
            _id, job, _unit, result = msg.body
            self._jobs[job] = result
            self._job_event.set()
        return False

    def _call(
        self, dest: str, path: str, iface: str, member: str, signature: str = "", body: list[Any] | None = None
    ) -> list[Any]:
        msg = Message(destination=dest, path=path, interface=iface, member=member, signature=signature, body=body or [])
        try:
            reply = self._run(self._bus.call(msg))
        except (OSError, EOFError) as exc:
            raise unreachable(exc) from exc
        if reply is None:
            raise SystemdError(f"no reply from systemd to {member}")
        if reply.message_type == MessageType.ERROR:
            text = reply.body[0] if reply.body else reply.error_name or ""
            raise error_from_dbus(reply.error_name or "", str(text))
        return list(reply.body)

    def _manager(self, member: str, signature: str = "", body: list[Any] | None = None) -> list[Any]:
        return self._call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, member, signature, body)

    def _wait_job(self, job: str) -> str:
        async def wait() -> str:
            while job not in self._jobs:
                self._job_event.clear()
                await self._job_event.wait()
            return self._jobs.pop(job)

        try:
            return self._run(asyncio.wait_for(wait(), JOB_TIMEOUT))
        except TimeoutError:
            raise SystemdError(f"systemd job {job} did not finish in {JOB_TIMEOUT:.0f}s") from None

    def start_transient_unit(self, name: str, properties: Sequence[Property],
                             aux: Sequence[tuple[str, Sequence[Property]]] = ()) -> str:  # fmt: skip
        props = [[key, Variant(sig, _lists(value))] for key, sig, value in properties]
        others = [[unit, [[key, Variant(sig, _lists(value))] for key, sig, value in theirs]] for unit, theirs in aux]
        (job,) = self._manager("StartTransientUnit", START_SIGNATURE, [name, "fail", props, others])
        return self._wait_job(job)

    def set_unit_properties(self, name: str, properties: Sequence[Property]) -> None:
        props = [[key, Variant(sig, _lists(value))] for key, sig, value in properties]
        self._manager("SetUnitProperties", "sba(sv)", [name, True, props])

    def start_unit(self, name: str) -> str:
        (job,) = self._manager("StartUnit", "ss", [name, "replace"])
        return self._wait_job(job)

    def restart_unit(self, name: str) -> str:
        (job,) = self._manager("RestartUnit", "ss", [name, "replace"])
        return self._wait_job(job)

    def reload(self) -> None:
        self._manager("Reload", "", [])

    def stop_unit(self, name: str, *, wait: bool = True) -> str:
        (job,) = self._manager("StopUnit", "ss", [name, "replace"])
        return self._wait_job(job) if wait else str(job)

    def units_properties(self, units: Sequence[tuple[str, str]], names: Sequence[str]) -> list[dict[str, object]]:
        """Every Get sent at once, the replies read as they come: one round trip for all."""

        async def get(path: str, iface: str, prop: str) -> tuple[str, object] | None:
            msg = Message(destination=BUS_NAME, path=path, interface="org.freedesktop.DBus.Properties",
                          member="Get", signature="ss", body=[iface, prop])  # fmt: skip
            reply = await self._bus.call(msg)
            if reply is None:
                raise SystemdError(f"no reply from systemd to a Get of {prop}")
            if reply.message_type == MessageType.ERROR:
                if reply.error_name in LACKING:
                    return None
                raise error_from_dbus(reply.error_name or "", str(reply.body[0] if reply.body else ""))
            return prop, _unwrap(reply.body[0])

        async def all_of() -> list[list[tuple[str, object] | None]]:
            asked = [(i, unit_path(unit), iface, prop) for i, (unit, iface) in enumerate(units) for prop in names]
            found: list[list[tuple[str, object] | None]] = [[] for _ in units]
            for start in range(0, len(asked), IN_FLIGHT):  # (the bus allows 128 pending replies)
                batch = asked[start : start + IN_FLIGHT]
                for (i, *_), pair in zip(batch, await asyncio.gather(*(get(*a[1:]) for a in batch)), strict=True):
                    found[i].append(pair)
            return found

        try:
            found = self._run(all_of())
        except (OSError, EOFError) as exc:
            raise unreachable(exc) from exc
        return [dict(pair for pair in replies if pair is not None) for replies in found]

    def kill_unit(self, name: str, who: str, signal: int) -> None:
        self._manager("KillUnit", "ssi", [name, who, signal])

    def reset_failed_unit(self, name: str) -> None:
        self._manager("ResetFailedUnit", "s", [name])

    def unit_properties(self, name: str, interface: str = UNIT_IFACE) -> dict[str, object]:
        (path,) = self._manager("GetUnit", "s", [name])
        (props,) = self._call(BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", "s", [interface])
        return {key: _unwrap(value) for key, value in props.items()}

    def list_units(self, patterns: Sequence[str]) -> list[UnitInfo]:
        (units,) = self._manager("ListUnitsByPatterns", "asas", [[], list(patterns)])
        return [
            UnitInfo(name=u[0], description=u[1], load_state=u[2], active_state=u[3], sub_state=u[4]) for u in units
        ]

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._bus.disconnect()  # type: ignore[no-untyped-call]
        try:
            self._run(self._bus.wait_for_disconnect())  # type: ignore[no-untyped-call]
        except Exception:  # noqa: BLE001 - the bus may already be gone; closing must not fail
            pass
        # disconnect() only shuts the socket down; without this it is closed whenever GC runs.
        self._bus._stream.close()
        self._bus._sock.close()
        self._loop.close()
