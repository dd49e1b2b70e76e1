"""A SystemdClient fake: units as plain state, every call recorded."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass, field

from sdcontainer.errors import Conflict, NotFound
from sdcontainer.systemd import Property, UnitInfo


@dataclass
class FakeUnit:
    properties: dict[str, object]
    state: str = "active"
    ignores: set[int] = field(default_factory=set)  # signals PID 1 has no handler for
    empty: bool = False  # a scope with no process left, which systemd has not noticed: kill does nothing
    lingers: bool = False  # processes outlive PID 1 (a unit not yet torn down): only a kill of all ends it


class FakeSystemd:
    def __init__(self, *, start_result: str = "done") -> None:
        self.units: dict[str, FakeUnit] = {}
        self.calls: list[tuple[object, ...]] = []
        self.start_result = start_result

    def start_transient_unit(self, name: str, properties: Sequence[Property],
                             aux: Sequence[tuple[str, Sequence[Property]]] = ()) -> str:  # fmt: skip
        self.calls.append(("start", name, list(properties), *([list(aux)] if aux else [])))
        if name in self.units:
            raise Conflict(f"Unit {name} was already loaded")
        self.units[name] = FakeUnit({key: value for key, _, value in properties})
        return self.start_result

    def start_unit(self, name: str) -> str:
        self.calls.append(("start-unit", name))
        self.units.setdefault(name, FakeUnit({})).state = "active"
        return self.start_result

    def restart_unit(self, name: str) -> str:
        self.calls.append(("restart-unit", name))
        self.units.setdefault(name, FakeUnit({})).state = "active"
        return self.start_result

    def reload(self) -> None:
        self.calls.append(("reload",))

    def stop_unit(self, name: str, *, wait: bool = True) -> str:
        self.calls.append(("stop", name))
        self._get(name).state = "inactive"
        return "done"

    def kill_unit(self, name: str, who: str, signal_: int) -> None:
        self.calls.append(("kill", name, who, signal_))
        unit = self._get(name)
        if unit.empty:
            return
        if unit.lingers and who != "all":
            return
        if signal_ == signal.SIGKILL or signal_ not in unit.ignores:
            del self.units[name]  # exited, and collected

    def reset_failed_unit(self, name: str) -> None:
        self.calls.append(("reset-failed", name))

    def set_unit_properties(self, name: str, properties: Sequence[Property]) -> None:
        self.calls.append(("set", name, list(properties)))
        self._get(name).properties.update({key: value for key, _, value in properties})

    def unit_properties(self, name: str, interface: str = "") -> dict[str, object]:
        unit = self._get(name)
        return {"ActiveState": unit.state, "SubState": "running", **unit.properties}

    def list_units(self, patterns: Sequence[str]) -> list[UnitInfo]:
        self.calls.append(("list", list(patterns)))
        return [
            UnitInfo(name=n, description="", load_state="loaded", active_state=u.state, sub_state="running")
            for n, u in self.units.items()
        ]

    def units_properties(self, units: Sequence[tuple[str, str]], names: Sequence[str]) -> list[dict[str, object]]:
        self.calls.append(("properties", [u for u, _ in units], list(names)))
        # (systemd loads a unit asked for by its path: one not loaded answers as not-found, inactive)
        missing = {"ActiveState": "inactive", "SubState": "dead", "LoadState": "not-found"}
        return [{k: v for k, v in (self.unit_properties(u) if u in self.units else missing).items() if k in names}
                for u, _ in units]  # fmt: skip

    def close(self) -> None:
        pass

    def _get(self, name: str) -> FakeUnit:
        if name not in self.units:
            raise NotFound(f"Unit {name} not loaded.")
        return self.units[name]
