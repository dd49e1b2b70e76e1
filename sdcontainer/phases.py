"""Timestamps of a command's phases, for bench/run's profile of `sdc run --rm` (issue 26).

Where $SDC_PROFILE names a file, each mark appends a line "NANOSECONDS PID PHASE" to it
(CLOCK_MONOTONIC, which sdc and its launcher share, so their marks interleave in one timeline);
otherwise a mark costs the test of a string. Standard library only: the launcher marks too.
"""

from __future__ import annotations

import os
import time

_FILE = os.environ.get("SDC_PROFILE", "")


def mark(phase: str) -> None:
    """The moment phase is reached, where $SDC_PROFILE asks for them."""
    if _FILE:
        _write(phase)


def _write(phase: str) -> None:
    try:
        fd = os.open(_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError:
        return  # (a launcher's PID 1, say, after pivot_root: no such file there)
    try:
        os.write(fd, f"{time.monotonic_ns()} {os.getpid()} {phase}\n".encode())
    finally:
        os.close(fd)
