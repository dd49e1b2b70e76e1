"""The real CLI, in process, with a fake systemd: the exact D-Bus arguments that flags become."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdcontainer import api, devices
from sdcontainer.api import context as _context  # noqa: F401 - api.context, patched below
from sdcontainer.cli import app
from tests.fakes import FakeSystemd


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeSystemd:
    fake = FakeSystemd()
    monkeypatch.setattr(api.context, "connect", lambda: fake)
    return fake


def test_run_detached_reaches_systemd_with_these_properties(fake: FakeSystemd, tmp_path: Path,
                                                            busybox_tar: Path) -> None:  # fmt: skip
    runner = CliRunner()
    root = ["--root", str(tmp_path), "--storage-driver", "vfs"]
    assert runner.invoke(app, [*root, "import", str(busybox_tar), "bb"]).exit_code == 0
    result = runner.invoke(app, [*root, "run", "-d", "--name", "web", "-m", "64m", "--memory-swap", "-1",
                                 "-c", "2048", "--cpus", "0.5", "--cpuset-cpus", "1", "--pids-limit", "7",
                                 "--blkio-weight", "1000", "--stop-timeout", "4", "--stop-signal", "SIGINT",
                                 "--network", "none", "bb", "sh", "-c", "echo hi"])  # fmt: skip
    assert result.exit_code == 0, result.output
    bundle = str(tmp_path / "containers" / "web")
    entry = str(Path(api.__file__).parent.parent / "launcher_entry.py")
    launcher = [sys.executable, "-I", "-S", entry, "--notify", bundle]
    # Not --rm: the launcher records how it ended (a --rm container's cleanup is sdc's: the next test).
    cleanup = [*launcher[:4], "--exited", bundle]
    record = json.loads((tmp_path / "containers" / "web" / "container.json").read_text())
    assert fake.calls == [
        ("start", "sdc-web.service", [
            ("Description", "s", "sdc container web (bb)"),
            ("Slice", "s", "machine-sdc.slice"),
            ("Type", "s", "notify"),
            ("NotifyAccess", "s", "all"),
            ("ExecStart", "a(sasb)", [(sys.executable, launcher, False)]),
            ("ExecStopPost", "a(sasb)", [(sys.executable, cleanup, True)]),
            ("KillMode", "s", "mixed"),
            ("KillSignal", "i", int(signal.SIGINT)),
            ("SendSIGKILL", "b", True),
            ("TimeoutStopUSec", "t", 4_000_000),
            ("CollectMode", "s", "inactive-or-failed"),
            ("SyslogIdentifier", "s", "web"),
            ("SyslogLevelPrefix", "b", False),
            ("LogExtraFields", "aay", [f"SDC_CONTAINER_ID={record['id']}".encode(), b"SDC_CONTAINER_NAME=web"]),
            ("ReadOnlyPaths", "as", [os.path.realpath(sys.executable)]),
            ("MemoryAccounting", "b", True),
            ("TasksAccounting", "b", True),
            ("CPUAccounting", "b", True),
            ("IOAccounting", "b", True),
            ("MemoryMax", "t", 64 << 20),
            ("MemorySwapMax", "t", 2**64 - 1),
            ("CPUWeight", "t", 174),
            ("CPUQuotaPerSecUSec", "t", 500_000),
            ("AllowedCPUs", "ay", b"\x02"),
            ("CPUAffinity", "ay", b"\x02"),
            ("TasksMax", "t", 7),
            ("IOWeight", "t", 200),
            ("DevicePolicy", "s", "closed"),
            ("DeviceAllow", "a(ss)", list(devices.DEFAULT_ALLOW)),
        ]),
    ]  # fmt: skip
    assert result.output == record["id"] + "\n"


def test_a_detached_rm_container_is_cleaned_up_by_sdc(fake: FakeSystemd, tmp_path: Path, busybox_tar: Path) -> None:
    runner = CliRunner()
    root = ["--root", str(tmp_path), "--storage-driver", "vfs"]
    assert runner.invoke(app, [*root, "import", str(busybox_tar), "bb"]).exit_code == 0
    result = runner.invoke(app, [*root, "run", "-d", "--rm", "--name", "tmp", "--network", "none", "bb", "true"])
    assert result.exit_code == 0, result.output
    props = {name: value for name, _, value in fake.calls[0][2]}
    cleanup = [sys.executable, "-I", str(Path(api.__file__).parent.parent / "__main__.py"), "--root", str(tmp_path),
               "_cleanup", "tmp"]  # fmt: skip
    assert props["ExecStopPost"] == [(sys.executable, cleanup, True)]
