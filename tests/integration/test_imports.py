"""What a command imports is what it costs before it does anything (issue 26): the commands that
read or stop containers import nothing of the run path (the launcher, the bundle's making,
seccomp, images, layers, networks' set-up) and no asyncio or ssl (the dbus-next adapter's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sdcontainer
from tests.integration.conftest import Sdc

RUN_PATH = (
    "sdcontainer.launcher", "sdcontainer.bundle", "sdcontainer.seccomp", "sdcontainer.api.run",
    "sdcontainer.images.fetch", "sdcontainer.images.store", "sdcontainer.layers", "sdcontainer.netns",
    "sdcontainer.api.networks", "sdcontainer.userns", "sdcontainer.gotemplate", "sdcontainer.api.usage",
)  # fmt: skip
NEVER = ("asyncio", "ssl", "typer", "click") + RUN_PATH  # (typer, click: for the fast path's commands)


def imported(sdc: Sdc, *args: str, plain: bool = False) -> set[str]:
    """The modules `sdc ARGS` imports (python -X importtime says each), once it has succeeded;
    plain: run as the package's /usr/bin/sdc runs it (-I -S, no site: a checkout's editable
    install imports re and more at the interpreter's start, before sdc's first line)."""
    how = ["-I", "-S", str(Path(sdcontainer.__file__).parent / "__main__.py")] if plain else ["-m", "sdcontainer"]
    proc = subprocess.run([sys.executable, "-X", "importtime", *how, *args], env=sdc.env(),
                          capture_output=True, text=True)  # fmt: skip
    said = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == 0, said
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.drivers("btrfs")
def test_reading_and_stopping_import_nothing_of_the_run_path(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "echo up; exec sleep 1000")
    found = {
        "ps": imported(sdc, "ps", "-a"),
        "ps --format json": imported(sdc, "ps", "--format", "json"),
        "inspect": imported(sdc, "inspect", name),
        "logs": imported(sdc, "logs", name),
        "stop": imported(sdc, "stop", "-t", "0", name),
        "rm": imported(sdc, "rm", name),
    }
    bad = {command: sorted(m for m in modules if m in NEVER or m.startswith("asyncio."))
           for command, modules in found.items()}  # fmt: skip
    # the typer commands may import typer and click; the fast path's (ps) not even those
    bad = {c: [m for m in ms if c.startswith("ps") or m not in ("typer", "click")] for c, ms in bad.items()}
    assert bad == {command: [] for command in found}


# What `sdc run`, `run -d` and `ps` pay for before they do anything: none of these (each a
# few ms of import here): dataclasses brings inspect, ast and dis (sdc's records are
# sdcontainer.record); typing (annotations only, under TYPE_CHECKING); a bus library (the
# default adapter is sdc's own, sdcontainer.systemd.wire); http and TLS (pulls only); what
# pathlib imports for globs and file: URIs (sdcontainer.deferred); ipaddress (--ip, -p, networks);
# re (the checks of flags not given; references are checked by hand), json (records are written
# and read by sdcontainer.jsonscan) and signal's enums (_signal has the functions).
NEVER_ON_THE_HOT_PATH = ("dataclasses", "inspect", "typing", "asyncio", "ssl", "http.client", "pystemd",
                         "dbus_next", "typer", "click", "logging", "socket", "shlex", "tarfile", "hashlib",
                         "fnmatch", "urllib.parse", "ipaddress", "re", "enum", "json", "signal")  # fmt: skip


@pytest.mark.drivers("btrfs")
def test_run_and_ps_import_only_what_they_use(sdc: Sdc, image: str, name: str) -> None:
    found = {
        "run --rm": imported(sdc, "run", "--rm", "--network", "none", image, "true", plain=True),
        "run -d": imported(sdc, "run", "-d", "--name", name, image, "sleep", "1000", plain=True),
        "ps": imported(sdc, "ps", plain=True),
    }
    assert {command: sorted(m for m in modules if m in NEVER_ON_THE_HOT_PATH)
            for command, modules in found.items()} == {command: [] for command in found}  # fmt: skip
    # ps reads records (sdcontainer.jsonscan, not json), needs none of the flags' checks (spec)
    # and no regular expression
    assert sorted(m for m in found["ps"] if m in READING_NEVER) == []


READING_NEVER = ("json", "sdcontainer.spec", "sdcontainer.devices", "sdcontainer.volumes", "signal", "re", "enum")
