"""Containers that come back after a reboot: `--enable`, `sdc enable` and `sdc disable`.

An enabled container runs as an instance of the template units/ ships, sdc@NAME.service, not as a
transient unit. Its settings are the ones a transient unit of it gets (units.build_service_properties,
one declaration for both), written as a drop-in, sdc@NAME.service.d/50-sdc.conf, in
/etc/systemd/system; `enable` links it into multi-user.target's wants, as `systemctl enable` does.
Where the store is a loopback pool, a mount unit for it is written too, and the drop-in requires it:
at boot the pool is mounted before the container starts. The template alone (systemctl enable --now
sdc@NAME.service) runs a container of the default store with the launcher's defaults.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from sdcontainer.containerspec import signal_name
from sdcontainer.files import write_atomically
from sdcontainer.paths import Paths

SYSTEM = Path(os.environ.get("SDC_SYSTEMD_DIR", "/etc/systemd/system"))
TEMPLATE = "sdc@.service"
UNIT_PATHS = (SYSTEM, Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
WANTS = "multi-user.target.wants"
INFINITY = 2**64 - 1
MOUNT_HEADER = "# Written by sdc:"
TEMPLATE_HEADER = f"{MOUNT_HEADER} the template of its enabled containers, where no package installed one."


def unit_name(name: str) -> str:
    return f"sdc@{name}.service"


def is_persistent(unit: str) -> bool:
    return unit.startswith("sdc@")


def dropin_path(name: str) -> Path:
    return SYSTEM / f"{unit_name(name)}.d" / "50-sdc.conf"


def install(paths: Paths, name: str, props: Mapping[str, object]) -> None:
    """The template (where no unit path has one: sdc installed by pip, not by its package), the
    pool's mount unit and the container's drop-in; the caller reloads systemd.

    The drop-in holds every setting of the container's (its launcher's path among them), so the
    template need say nothing of the sdc that installed it: one that sdc writes, beside the
    drop-ins and marked as its, is removed with the last container that needs it, and a
    package's template, found first, is used as it is."""
    if not any((d / TEMPLATE).exists() for d in UNIT_PATHS):
        _write(SYSTEM / TEMPLATE, template_text().encode())
    needs = []
    if paths.pool_image.exists():
        mount = mount_unit_name(paths.storage)
        _write(SYSTEM / mount, pool_mount_unit(paths).encode())
        needs.append(mount)
    path = dropin_path(name)
    path.parent.mkdir(mode=0o755, exist_ok=True)
    _write(path, render(props, requires=needs, store=paths.root).encode())


def _write(path: Path, data: bytes) -> None:
    write_atomically(str(path), data)
    os.chmod(path, 0o644)


def uninstall(paths: Paths, name: str) -> None:
    """The drop-in and the wants link; the pool's mount unit with the last drop-in that requires it."""
    disable(name)
    path = dropin_path(name)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()
    dropins = list(SYSTEM.glob(f"{unit_name('*')}.d/50-sdc.conf"))
    if not dropins:
        with contextlib.suppress(OSError):
            if (SYSTEM / TEMPLATE).read_text().startswith(TEMPLATE_HEADER):  # ours: no container needs it now
                (SYSTEM / TEMPLATE).unlink()
    mount = SYSTEM / mount_unit_name(paths.storage)
    requires = f"\nRequires={mount.name}\n"
    if any(requires in dropin.read_text() for dropin in dropins):
        return
    with contextlib.suppress(OSError):
        if mount.read_text().startswith(MOUNT_HEADER):  # ours, not one an administrator wrote
            mount.unlink()


def enable(name: str) -> None:
    link = SYSTEM / WANTS / unit_name(name)
    link.parent.mkdir(mode=0o755, exist_ok=True)
    template = next((d / TEMPLATE for d in UNIT_PATHS if (d / TEMPLATE).exists()), SYSTEM / TEMPLATE)
    if not link.is_symlink():
        link.symlink_to(template)


def disable(name: str) -> None:
    (SYSTEM / WANTS / unit_name(name)).unlink(missing_ok=True)


def installed(name: str) -> bool:
    """Any unit file of container name's is there (its drop-in, its wants link): what `rm` removes."""
    return dropin_path(name).exists() or (SYSTEM / WANTS / unit_name(name)).is_symlink()


def is_enabled(name: str) -> bool:
    return (SYSTEM / WANTS / unit_name(name)).is_symlink()


def template_text() -> str:
    """sdc@.service as sdc writes it where no package installed one: each container's drop-in
    sets what it runs; alone (`systemctl start sdc@NAME` of a container of the default store),
    the launcher of the sdc that wrote it."""
    import sys

    launcher = Path(__file__).resolve().parent / "launcher_entry.py"
    run = f"{sys.executable} -I -S {launcher}"
    return (f"{TEMPLATE_HEADER}\n[Unit]\nDescription=sdc container %i\nDocumentation=man:sdc(1) man:sdc-run(1)\n"
            f"RequiresMountsFor=/var/lib/sdc/containers/%i /var/lib/sdc/storage\n\n[Service]\n"
            f"Slice=machine-sdc.slice\nType=notify\nNotifyAccess=all\n"
            f"ExecStart={run} --notify /var/lib/sdc/containers/%i\n"
            f"ExecStopPost=-{run} --exited /var/lib/sdc/containers/%i\nKillMode=mixed\nSyslogIdentifier=%i\n"
            f"DevicePolicy=closed\n\n[Install]\nWantedBy=multi-user.target\n")  # fmt: skip


def mount_unit_name(where: Path) -> str:
    """systemd.mount(5)'s name for a mount point: the path escaped (systemd-escape --path)."""
    parts = []
    for part in str(where).strip("/").split("/"):
        escaped = "".join(c if c.isalnum() or c in ":_." else "".join(f"\\x{b:02x}" for b in c.encode())
                          for c in part)  # fmt: skip
        parts.append("\\x2e" + escaped[1:] if escaped.startswith(".") else escaped)
    return "-".join(parts) + ".mount"


def pool_mount_unit(paths: Paths) -> str:
    from sdcontainer.storage import POOL_OPTIONS

    return (f"{MOUNT_HEADER} its loopback btrfs pool, mounted before its enabled containers start.\n"
            f"[Unit]\nDescription=sdc's storage pool at {paths.storage}\n\n[Mount]\nWhat={paths.pool_image}\n"
            f"Where={paths.storage}\nType=btrfs\nOptions={POOL_OPTIONS}\n")  # fmt: skip


def render(props: Mapping[str, object], *, requires: list[str], store: Path) -> str:
    """A service's D-Bus properties (units.SIGNATURES) as unit file settings: [Unit] and [Service]."""
    unit = [f"Description={props['Description']}", f"RequiresMountsFor={store}"]
    unit += [f"Requires={m}\nAfter={m}" for m in requires]
    service = []
    for key, value in props.items():
        if key in ("Description", "CollectMode"):  # a unit file's instance is kept loaded as it is
            continue
        if key in ("StartLimitBurst",):
            unit.append(f"{key}={value}")
        elif key in ("BindsTo", "After"):
            unit += [f"{key}={v}" for v in value]  # type: ignore[attr-defined]
        elif key == "StartLimitIntervalUSec":
            unit.append(f"StartLimitIntervalSec={_usec(int(value))}")  # type: ignore[call-overload]
        else:
            service.extend(setting_lines(key, value))
    return ("# Written by sdc (persist.py) from the container's settings: `sdc disable` or `sdc rm` remove it.\n"
            "[Unit]\n" + "\n".join(unit) + "\n\n[Service]\n" + "\n".join(service) + "\n")  # fmt: skip


def setting_lines(key: str, value: object) -> list[str]:
    """A service's D-Bus property (units.SIGNATURES) as unit file lines."""
    if key in ("ExecStart", "ExecStopPost", "ExecStartPre", "ExecStartPost"):
        lines = [f"{key}="]  # the template's own, reset
        for path, argv, ignore in value:  # type: ignore[attr-defined]
            line = _quote([path, *argv[1:]]).replace("$", "$$")  # no variable of systemd's either
            lines.append(f"{key}={'-' if ignore else ''}{line}")
        return lines
    if key == "CPUQuotaPerSecUSec":
        return [f"CPUQuota={int(value) / 10000:g}%"]  # type: ignore[call-overload]
    if key.endswith("USec"):
        return [f"{key[:-4]}Sec={_usec(int(value))}"]  # type: ignore[call-overload]
    if key == "KillSignal":
        return [f"KillSignal={signal_name(int(value))}"]  # type: ignore[call-overload]
    if isinstance(value, bool):
        return [f"{key}={'yes' if value else 'no'}"]
    if key in ("AllowedCPUs", "CPUAffinity"):
        mask = int.from_bytes(bytes(value), "little")  # type: ignore[call-overload]
        return [f"{key}={' '.join(str(cpu) for cpu in range(mask.bit_length()) if mask >> cpu & 1)}"]
    if key == "DeviceAllow":
        return ["DeviceAllow=", *(f"DeviceAllow={path} {perms}" for path, perms in value)]  # type: ignore[attr-defined]
    if key == "LogExtraFields":
        return [f"LogExtraFields={bytes(field).decode()}" for field in value]  # type: ignore[attr-defined]
    if key in ("ReadOnlyPaths", "Environment"):
        return [f"{key}={_quote(list(value))}"]  # type: ignore[call-overload]
    if isinstance(value, int) and value == INFINITY:
        return [f"{key}=infinity"]
    return [f"{key}={value}"]


def _usec(value: int) -> str:
    return "infinity" if value == INFINITY else f"{value}us"


def _quote(words: list[str]) -> str:
    """Words for a unit file's command line: systemd's quoting is the shell's, and % is its own."""
    import shlex  # (persist is on every removal's path, this only on --enable's)

    return " ".join(shlex.quote(w).replace("%", "%%") for w in words)
