"""`sdc version` and `sdc info`: what sdc is, and the host it runs containers on, as `podman info`
says it (its keys where they fit): host, cgroups, systemd, security defaults, the store."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdcontainer import __version__

if TYPE_CHECKING:
    from sdcontainer.api.context import Context


def version() -> dict[str, Any]:
    return {"Client": {"Version": __version__, "PythonVersion": platform.python_version(),
                       "OsArch": f"{platform.system().lower()}/{_arch()}", "Os": platform.system().lower()},
            "Server": None}  # fmt: skip


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def cgroup_version() -> str:
    """v2 (unified), v1 with a hybrid name=systemd + unified, or v1."""
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "v2"
    return "v1 (hybrid)" if Path("/sys/fs/cgroup/unified/cgroup.controllers").exists() else "v1"


def _systemd_version() -> str:
    import subprocess

    try:
        out = subprocess.run(["systemctl", "--version"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""
    return out.splitlines()[0] if out else ""


def _subid_range(path: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == "sdc":
                return rest
    except OSError:
        pass
    return ""


def info(ctx: Context) -> dict[str, Any]:
    from sdcontainer import images, spec
    from sdcontainer.api import containers as lifecycle
    from sdcontainer.api.volumes import names as volume_names
    from sdcontainer.seccomp import DEFAULT_PROFILE

    states = [s.state for s in lifecycle.status(ctx)]
    uname = os.uname()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 0
    driver = ctx.driver()
    return {
        "host": {
            "arch": _arch(), "os": uname.sysname.lower(), "kernel": uname.release, "hostname": uname.nodename,
            "cpus": os.cpu_count() or 0, "memTotal": memory,
            "cgroupVersion": cgroup_version(), "cgroupManager": "systemd",
            "systemd": _systemd_version(), "pid1": Path("/proc/1/comm").read_text().strip(),
            "ociRuntime": {"name": "sdc-launcher", "path": str(Path(__file__).resolve().parent.parent /
                                                               "launcher_entry.py"),
                           "python": sys.executable},
            "logDriver": "journald", "networkBackend": "netavark",
            "security": {
                "rootless": False, "seccompEnabled": True, "seccompProfilePath": str(DEFAULT_PROFILE),
                "selinuxEnabled": False, "noNewPrivileges": True,
                "capabilities": ",".join(spec.DEFAULT_CAPS),
                "userns": {"default": os.environ.get("SDC_USERNS") or "host",
                           "subuid": _subid_range("/etc/subuid"), "subgid": _subid_range("/etc/subgid")},
            },
        },
        "store": {
            "graphDriverName": driver.name, "graphRoot": str(ctx.paths.root),
            "imageStore": {"number": len(images.list_images(ctx.paths))},
            "containerStore": {"number": len(states), "running": states.count("running"),
                               "paused": states.count("paused"),
                               "stopped": len(states) - states.count("running") - states.count("paused")},
            "volumeCount": len(volume_names(ctx.paths)),
        },
        "version": version()["Client"],
    }  # fmt: skip


def as_text(data: Any, indent: int = 0) -> str:
    """A dict as podman info prints it by default (YAML's block style, scalars as they are)."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{' ' * indent}{key}:")
            lines.append(as_text(value, indent + 2).rstrip("\n"))
        else:
            lines.append(f"{' ' * indent}{key}:" + ("" if value is None else f" {value}"))
    return "\n".join(line for line in lines if line) + "\n"


# podman info's Go field names where they are not the JSON key with a capital first letter
GO_NAMES = {"os": "OS", "ociRuntime": "OCIRuntime", "cgroupVersion": "CgroupsVersion", "cpus": "CPUs",
            "seccompEnabled": "SECCOMPEnabled", "seccompProfilePath": "SECCOMPProfilePath",
            "selinuxEnabled": "SELinuxEnabled", "pid1": "PID1"}  # fmt: skip


def go_names(data: Any) -> Any:
    """info's JSON with the names podman info's templates use: {{.Host.CgroupManager}},
    {{.Store.GraphDriverName}}, {{.Host.Security.Rootless}}."""
    if isinstance(data, dict):
        return {GO_NAMES.get(k, k[:1].upper() + k[1:]): go_names(v) for k, v in data.items()}
    return data
