"""What every use case works over: the store, systemd, the store's driver, the names held, the clock."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdcontainer import containers
from sdcontainer.errors import Conflict, SdcError
from sdcontainer.paths import Paths
from sdcontainer.systemd import SystemdClient, connect

# storage (ctypes, subprocess) is imported when the driver is first needed: `sdc ps`,
# `stop` and `rm` of a running container pay nothing for it.
if TYPE_CHECKING:
    from sdcontainer.storage.driver import Driver


@dataclass(frozen=True)
class Clock:
    """Time as the use cases see it: tests give one whose sleep only moves it on."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    time: Callable[[], float] = time.time


def require_root() -> None:
    if os.geteuid() != 0:
        raise SdcError("sdc needs root", hint="run it as root, e.g. with sudo")


class Context:
    """One store, systemd (connected on first use), the store's driver (opened on first use),
    and the name locks this command holds until it ends."""

    def __init__(
        self,
        paths: Paths,
        *,
        connector: Callable[[], SystemdClient] | None = None,
        storage_driver: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.paths = paths
        self.clock = clock or Clock()
        self._connector = connector or connect
        self._client: SystemdClient | None = None
        self._storage_driver = storage_driver
        self._driver: Driver | None = None
        self._name_locks: list[int] = []

    @property
    def systemd(self) -> SystemdClient:
        if self._client is None:
            self._client = self._connector()
        return self._client

    def driver(self) -> Driver:
        """The store's driver, opened once per command (config read, pool mounted, layout made,
        what an interrupted command left in its tmp/ removed). Call with the store locked."""
        from sdcontainer import storage

        if self._driver is None:
            self._driver = storage.open_driver(self.paths, self._storage_driver)
            self._driver.collect_garbage()
            with contextlib.suppress(FileNotFoundError):
                for entry in os.listdir(self.paths.tmp):  # a record an interrupted command was writing
                    os.unlink(self.paths.tmp / entry)
        return self._driver

    def hold_name(self, name: str) -> None:
        """Take the lock of a container's directory until the command ends (containers.take_name_lock)."""
        fd = containers.take_name_lock(self.paths, name)
        if fd is None:  # cannot be for a new directory made with the store locked
            raise Conflict(f"the container name {name!r} is being used by another sdc")
        self._name_locks.append(fd)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        while self._name_locks:
            os.close(self._name_locks.pop())
