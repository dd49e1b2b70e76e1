"""A Debian system under sdc's defaults (issue 9): Docker's seccomp profile, its capabilities and
the closed device cgroup leave apt-get, dpkg and Python working. The image is the test host's own
minbase (tests/integration/debian.py); the apt repository is a directory inside it."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tests.integration import debian
from tests.integration.conftest import Sdc

PYTHON = r"""
import asyncio, mmap, multiprocessing, os, socket, subprocess, tempfile, threading
async def main():
    r, w = socket.socketpair()
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(w, b"ping")
    return await loop.sock_recv(r, 4)
assert asyncio.run(main()) == b"ping"
t = threading.Thread(target=lambda: None); t.start(); t.join()
with multiprocessing.Pool(2) as pool:
    assert pool.map(abs, [-1, -2]) == [1, 2]
with tempfile.TemporaryFile() as f:
    f.write(b"x" * 4096); f.flush()
    assert mmap.mmap(f.fileno(), 4096)[:1] == b"x"
assert subprocess.run(["true"]).returncode == 0 and len(os.urandom(8)) == 8
print("python ok")
"""


def hello_deb(work: Path) -> tuple[str, bytes]:
    """A package of ours, built by dpkg-deb: a program, and a postinst that makes a user."""
    root = work / "hello"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "DEBIAN/control").write_text("Package: hello-sdc\nVersion: 1.0\nArchitecture: all\nDepends: dash\n"
                                         "Maintainer: sdc tests <t@localhost>\nDescription: says hello\n")  # fmt: skip
    (root / "DEBIAN/postinst").write_text("#!/bin/sh\nset -e\nuseradd --system --no-create-home hello\n")
    (root / "usr/bin/hello-sdc").write_text("#!/bin/sh\necho hello from a package, as $(id -un hello)\n")
    for script in ("DEBIAN/postinst", "usr/bin/hello-sdc"):
        (root / script).chmod(0o755)
    deb = work / "hello-sdc_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True,
                   capture_output=True)  # fmt: skip
    return deb.name, deb.read_bytes()


@pytest.fixture(scope="session")
def debian_image(sdc: Sdc, tmp_path_factory: pytest.TempPathFactory) -> str:
    work = tmp_path_factory.mktemp("debian")
    name, deb = hello_deb(work)
    control = subprocess.run(["dpkg-deb", "-f", str(work / name)], capture_output=True, text=True, check=True).stdout
    packages = (f"{control.strip()}\nFilename: ./{name}\nSize: {len(deb)}\n"
                f"SHA256: {hashlib.sha256(deb).hexdigest()}\n\n").encode()  # fmt: skip
    files = {f"srv/repo/{name}": deb, "srv/repo/Packages": packages,
             "etc/apt/sources.list": b"deb [trusted=yes] file:/srv/repo ./\n"}  # fmt: skip
    tar = debian.minbase_tar(work / "minbase.tar", files=files)
    sdc.ok("import", str(tar), "debian-host")
    return "debian-host"


def test_apt_get_installs_a_package_under_the_default_profile(sdc: Sdc, debian_image: str) -> None:
    script = ("grep Seccomp: /proc/self/status; apt-get update -q >/dev/null && "
              "apt-get install -y -q hello-sdc >/dev/null && hello-sdc && dpkg -s hello-sdc | grep Status")  # fmt: skip
    proc = sdc("run", "--rm", debian_image, "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Seccomp:\t2\nhello from a package, as hello\nStatus: install ok installed\n"


def test_python_works_under_the_default_profile(sdc: Sdc, debian_image: str) -> None:
    proc = sdc("run", "--rm", debian_image, "python3", "-c", PYTHON)
    assert (proc.returncode, proc.stdout) == (0, "python ok\n"), proc.stderr
