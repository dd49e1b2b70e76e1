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
    quadlet = Path("/etc/sdc/systemd/pkgq.container")
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
        # The package's Quadlet generator: a .container file in /etc/sdc/systemd is a service
        quadlet.parent.mkdir(parents=True, exist_ok=True)
        quadlet.write_text(f"[Container]\nGlobalArgs=--root {tmp_path / 'store'}\nImage=bb\nNetwork=none\n"
                           "ContainerName=pkgq\nExec=sleep 1000\n")  # fmt: skip
        assert run("systemctl", "daemon-reload").returncode == 0
        started = run("systemctl", "start", "pkgq.service")
        assert started.returncode == 0, started.stderr + run("systemctl", "status", "pkgq.service").stdout
        show_q = run("systemctl", "show", "-p", "ExecStartPre", "pkgq.service").stdout
        assert "argv[]=/usr/bin/python3 -IS /usr/lib/sdc/sdcontainer/__main__.py" in show_q, show_q
        assert "pkgq" in run("/usr/bin/sdc", "ps", env=env).stdout
        assert run("systemctl", "stop", "pkgq.service").returncode == 0
        assert "pkgq" not in run("/usr/bin/sdc", "ps", "-a", env=env).stdout
        # The package's auto-update timer and the service it starts (no labelled container: nothing to do)
        verified = run("systemd-analyze", "verify", "sdc-auto-update.timer", "sdc-auto-update.service")
        assert verified.returncode == 0, verified.stderr
        updated = run("systemctl", "start", "sdc-auto-update.service")
        assert updated.returncode == 0, updated.stderr + run("journalctl", "-u", "sdc-auto-update.service").stdout
    finally:
        quadlet.unlink(missing_ok=True)
        run("systemctl", "daemon-reload")
        run("/usr/bin/sdc", "rm", "-f", "pkg", "pkgrm", "pkgq", env={"SDC_ROOT": str(tmp_path / "store")})
        storage = tmp_path / "store" / "storage"
        if run("mountpoint", "-q", str(storage)).returncode == 0:
            run("umount", str(storage))
        assert run("dpkg", "-r", "sdc").returncode == 0
    assert not Path("/usr/bin/sdc").exists() and not Path("/usr/lib/sdc").exists()


def test_lintian_has_nothing_to_say(deb: Path) -> None:
    """No error, no warning, not even pedantic or informational tags (and no override hides one)."""
    proc = run("lintian", "--tag-display-limit", "0", "--display-info", "--pedantic", str(deb))
    tags = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:", "I:", "P:", "X:")]
    assert tags == [], proc.stdout


def test_man_pages_and_completion_from_the_package(deb: Path, busybox_tar: Path, tmp_path: Path) -> None:
    from sdcontainer.spec import RUN_FLAGS

    assert run("dpkg", "-i", str(deb)).returncode == 0
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SDC_ROOT": str(tmp_path / "store"), "LANG": "C",
           "MANWIDTH": "1000", "HOME": str(tmp_path)}  # fmt: skip
    try:
        page = run("man", "-P", "cat", "sdc-run", env=env).stdout
        missing = [name for flag in RUN_FLAGS for name in flag.names if name not in page]
        assert "SDC-RUN(1)" in page and missing == [], missing
        top = run("man", "-P", "cat", "sdc", env=env).stdout
        assert "COMMANDS" in top and "healthcheck" in top and "container" in top, top
        assert run("systemctl", "show", "-p", "Documentation", "sdc@x.service").stdout.strip() == \
            'Documentation="man:sdc(1)" "man:sdc-run(1)"'  # fmt: skip
        assert run("/usr/bin/sdc", "import", str(busybox_tar), "compl:1", env=env).returncode == 0
        assert run("/usr/bin/sdc", "create", "--name", "completed", "compl:1", "true", env=env).returncode == 0
        script = (". /usr/share/bash-completion/completions/sdc; c() { COMP_WORDS=(\"$@\"); "
                  "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _sdc; echo \"${COMPREPLY[*]}\"; }; "
                  "c sdc rm comp; c sdc run --rm comp; c sdc ima; c sdc run --pids")  # fmt: skip
        out = run("bash", "-c", script, env=env).stdout.splitlines()
        assert out == ["completed", "compl:1", "images image", "--pids-limit"], out
        for path in ("/usr/share/zsh/vendor-completions/_sdc", "/usr/share/fish/vendor_completions.d/sdc.fish"):
            assert "__sdc" in Path(path).read_text() or "_sdc" in Path(path).read_text()
    finally:
        run("/usr/bin/sdc", "rm", "-f", "completed", env=env)
        storage = tmp_path / "store" / "storage"
        if run("mountpoint", "-q", str(storage)).returncode == 0:
            run("umount", str(storage))
        assert run("dpkg", "-r", "sdc").returncode == 0
