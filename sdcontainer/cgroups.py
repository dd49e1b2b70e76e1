"""Reading the cgroup tree systemd keeps (cgroups(7)); os only, for the commands that run most."""

from __future__ import annotations

import errno
import os

ROOT = "/sys/fs/cgroup"
GONE = (errno.ENOENT, errno.ENODEV)  # a cgroup being removed answers ENODEV to reads of its files


def populated(cgroup: str) -> bool:
    """Whether any process is in cgroup (a path like /machine.slice/x.scope) or below it.

    On cgroup v2 (and the unified hierarchy of a hybrid host) cgroup.events says so; on v1,
    systemd's name=systemd hierarchy is walked. A cgroup that does not exist has none. Where
    neither hierarchy is mounted as expected, True: never take a live container for a dead one."""
    for unified in (ROOT, f"{ROOT}/unified"):
        try:
            with open(f"{unified}{cgroup}/cgroup.events") as f:
                return any(line.split() == ["populated", "1"] for line in f)
        except OSError as exc:
            if exc.errno not in GONE:
                raise
            if os.path.exists(f"{unified}/cgroup.controllers"):  # the hierarchy is there, the cgroup is not
                return False
    legacy = f"{ROOT}/systemd"
    if not os.path.exists(f"{legacy}/cgroup.procs"):
        return True
    for directory, _subdirs, _files in os.walk(f"{legacy}{cgroup}"):
        try:
            with open(f"{directory}/cgroup.procs") as f:
                if f.read(1):
                    return True
        except OSError as exc:
            if exc.errno not in GONE:
                raise
    return False
