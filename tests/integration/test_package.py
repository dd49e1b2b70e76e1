"""The Debian package (packaging/build-deb), installed and used as a user would.

./dev test builds it before booting the test host and passes its path in
SDC_DEB. dpkg -i changes the system it runs on, so outside the throw-away
test host the test runs only when asked to (SDC_TEST_DPKG=1).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

IN_TEST_HOST = Path("/run/systemd/container").exists() and Path("/run/systemd/container").read_text().strip() == (
    "sdc-testhost"
)


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env)


@pytest.fixture
def deb() -> Path:
    if not IN_TEST_HOST and os.environ.get("SDC_TEST_DPKG") != "1":
        pytest.skip("installs a package: runs in the test host, or with SDC_TEST_DPKG=1")
    path = os.environ.get("SDC_DEB")
    if not path or not Path(path).exists():
        pytest.fail("no package to test: ./dev test builds it and sets SDC_DEB")
    return Path(path)


def test_the_package_installs_runs_containers_and_removes(deb: Path, busybox_tar: Path, tmp_path: Path) -> None:
    assert run("dpkg", "-i", str(deb)).returncode == 0
    try:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SDC_ROOT": str(tmp_path / "store")}
        assert run("/usr/bin/sdc", "--version", env=env).stdout.startswith("sdc version ")
        assert Path("/usr/lib/systemd/system/machine-sdc.slice").exists()
        assert run("/usr/bin/sdc", "import", str(busybox_tar), "bb", env=env).returncode == 0
        assert run("/usr/bin/sdc", "run", "--rm", "bb", "echo", "from the package", env=env).stdout == (
            "from the package\n"
        )
        # A detached container: the unit's launcher and its ExecStopPost run from /usr/lib/sdc.
        # It lives 2 s, so that its unit is still there to show (it goes once it has stopped).
        proc = run("/usr/bin/sdc", "run", "-d", "--name", "pkg", "bb", "sh", "-c", "sleep 2; exit 4", env=env)
        assert proc.returncode == 0, proc.stderr
        show = run("systemctl", "show", "-p", "ExecStart", "-p", "ExecStopPost", "sdc-pkg.service").stdout
        assert "argv[]=/usr/bin/python3 -I -S /usr/lib/sdc/sdcontainer/launcher_entry.py" in show, show
        assert "argv[]=/usr/bin/python3 -I -S /usr/lib/sdc/sdcontainer/launcher_entry.py --exited" in show, show
        # A --rm one: its ExecStopPost is sdc's cleanup, started as /usr/bin/sdc runs (-IS).
        proc = run("/usr/bin/sdc", "run", "-d", "--rm", "--name", "pkgrm", "bb", "sleep", "2", env=env)
        assert proc.returncode == 0, proc.stderr
        show_rm = run("systemctl", "show", "-p", "ExecStopPost", "sdc-pkgrm.service").stdout
        assert "argv[]=/usr/bin/python3 -IS /usr/lib/sdc/sdcontainer/__main__.py" in show_rm, show_rm
        ps = ""
        for _ in range(120):
            ps = run("/usr/bin/sdc", "ps", "-a", env=env).stdout
            if "Exited (4)" in ps:
                break
            subprocess.run(["sleep", "0.1"])
        assert "Exited (4)" in ps, (ps, show)
        for _ in range(120):
            ps = run("/usr/bin/sdc", "ps", "-a", env=env).stdout
            if "pkgrm" not in ps:
                break
            subprocess.run(["sleep", "0.1"])
        assert "pkgrm" not in ps, ps  # removed by its cleanup once it ended
        assert run("/usr/bin/sdc", "rm", "pkg", env=env).returncode == 0
    finally:
        run("/usr/bin/sdc", "rm", "-f", "pkg", "pkgrm", env={"SDC_ROOT": str(tmp_path / "store")})
        storage = tmp_path / "store" / "storage"
        if run("mountpoint", "-q", str(storage)).returncode == 0:
            run("umount", str(storage))
        assert run("dpkg", "-r", "sdc").returncode == 0
    assert not Path("/usr/bin/sdc").exists() and not Path("/usr/lib/sdc").exists()
