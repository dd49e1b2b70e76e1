"""What every use case works over: the store, systemd, the store's driver, the names held, the clock."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from sdcontainer import containers, protocol
from sdcontainer.errors import Conflict, NotFound, SdcError
from sdcontainer.paths import Paths
from sdcontainer.record import record
from sdcontainer.systemd import SystemdClient, connect

# storage (ctypes, subprocess) is imported when the driver is first needed: `sdc ps`,
# `stop` and `rm` of a running container pay nothing for it.
TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Any

    from sdcontainer.storage.driver import Driver


@record
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
        self._name_locks: dict[str, int] = {}
        # what shows a pull's progress (render.PullProgress, set by the CLI): `run` pulls what it lacks
        self.pull_progress: Callable[[], Any] | None = None

    @property
    def systemd(self) -> SystemdClient:
        if self._client is None:
            self._client = self._connector()
        return self._client

    def driver(self) -> Driver:
        """The store's driver, opened once per command (config read, pool mounted, layout made),
        with the store locked for that moment; what an interrupted command left in its tmp/ is
        removed when no other command is adding layers there (records.quiet)."""
        from sdcontainer import records, storage

        if self._driver is None:
            with records.locked(self.paths):
                driver = storage.open_driver(self.paths, self._storage_driver)
                with records.quiet(self.paths) as alone:
                    if alone:
                        driver.collect_garbage()
                        with contextlib.suppress(FileNotFoundError):
                            for entry in os.listdir(self.paths.tmp):  # a record an interrupted command was writing
                                os.unlink(self.paths.tmp / entry)
                self._driver = driver
        return self._driver

    def hold_name(self, name: str) -> None:
        """Claim a container (containers.take_name_lock) until release_name or the command's end:
        its start, removal or change is this command's alone. Never waited for: a container
        another sdc has claimed is a Conflict, said at once."""
        if name in self._name_locks:
            return
        fd = containers.take_name_lock(self.paths, name)
        if fd is None:
            if not self.paths.container(name).exists():
                raise NotFound(f"no such container: {name}", hint="`sdc ps -a` lists the containers here")
            raise Conflict(f"container {name} is busy: another sdc is starting, changing or removing it",
                           hint="try again once that sdc is done")  # fmt: skip
        self._name_locks[name] = fd

    def claim(self, name: str) -> None:
        """hold_name, taken with the store locked: where settle takes it (for a moment, to finish or
        roll back what a killed run left), so a claim found busy is a command at work."""
        from sdcontainer import records

        with records.locked(self.paths):
            self.hold_name(name)
            if (self.paths.container(name) / protocol.RENAMING).exists():  # a rename killed: finish it
                from sdcontainer.api.rename import finish

                finish(self, name)

    def try_claim(self, name: str) -> bool:
        """claim, or False where another command holds the container (or it is gone)."""
        try:
            self.claim(name)
        except (Conflict, NotFound):
            return False
        return True

    def release_name(self, name: str) -> None:
        """The claim of hold_name given up: the container's start is settled, say."""
        fd = self._name_locks.pop(name, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        for name in list(self._name_locks):
            self.release_name(name)
