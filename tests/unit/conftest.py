"""Unit tests run anywhere, without root, and touch nothing of the machine's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


def _mounts() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


@pytest.fixture(autouse=True)
def _no_mount_left() -> Iterator[None]:
    """A unit test that made a mount (a btrfs pool on a loop device, say) made it on the machine
    running the tests: that is an integration test's to do, in the test host."""
    before = _mounts()
    yield
    made = [m for m in _mounts() if m not in before]
    assert made == [], f"a unit test left mounts on this machine: {made}"
