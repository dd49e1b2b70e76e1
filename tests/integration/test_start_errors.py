"""A detached start that fails before the exec says why, every time (issue 9): the launcher's
own reason reaches `sdc run -d`, however loaded the host and whatever step failed."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, store_state

# 200 for the proof (SDC_START_ERROR_ROUNDS=200 ./dev test ...); a few in every run
ROUNDS = int(os.environ.get("SDC_START_ERROR_ROUNDS", "5"))


def burn() -> None:
    while True:
        pass


@contextlib.contextmanager
def cpus_busy() -> Iterator[None]:
    """A burner per CPU: systemd, the launcher and sdc then race for time, as on a loaded host."""
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(os.cpu_count() or 1)]
    for burner in burners:
        burner.start()
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.join()


FAILURES = {
    "command not found": (("no-such-command",), "no-such-command: executable file not found"),
    "not executable": (("/etc/passwd",), "/etc/passwd: permission denied"),
    "working directory a file": (("-w", "/etc/passwd", "true"), "cannot make working directory /etc/passwd"),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_detached_start_says_why_every_time_under_load(
    sdc: Sdc, image: str, store: Path, failure: str
) -> None:
    args, reason = FAILURES[failure]
    before = store_state(store)
    with cpus_busy():
        for attempt in range(ROUNDS):
            proc = sdc("run", "-d", *args[:-1], image, args[-1])
            assert proc.returncode == 125 and proc.stdout == "", f"attempt {attempt}: {proc}"
            assert reason in proc.stderr, f"attempt {attempt}: {proc.stderr!r}"
            assert proc.stderr.count("\n") == 1
    assert store_state(store) == before
