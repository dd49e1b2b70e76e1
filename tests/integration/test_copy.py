"""`sdc cp` both ways, of running and stopped containers, and `sdc export` (issue 24): archive
semantics, Docker's placement rules, and a container's planted symlinks never reaching the host."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc

MAKE = ("mkdir -p /data/dir/sub && echo one > /data/dir/f && chown 1000:1000 /data/dir/f && "
        "echo two > /data/dir/sub/g && cp /bin/busybox /data/dir/suid && chmod 4755 /data/dir/suid && "
        "ln -s f /data/dir/link && ln /data/dir/f /data/dir/hard && mknod /data/dir/null c 1 3 && "
        "ln -s / /data/escape && ln -s ../../../../../../tmp /data/up && echo mine > /tmp/mine")  # fmt: skip


def _ready(sdc: Sdc, name: str) -> None:
    deadline = time.monotonic() + 20
    while "made" not in sdc.ok("logs", name) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture(params=["running", "stopped"])
def container(request: pytest.FixtureRequest, sdc: Sdc, image: str, name: str) -> str:
    if request.param == "running":
        sdc.ok("run", "-d", "--name", name, image, "sh", "-c", f"{MAKE} && echo made && sleep 1000")
        _ready(sdc, name)
    else:
        sdc.ok("run", "--name", name, image, "sh", "-c", MAKE)
    return name


def test_copy_out_keeps_links_modes_and_gives_the_caller_the_files(sdc: Sdc, container: str, tmp_path: Path) -> None:
    proc = sdc("cp", f"{container}:/data/dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "left out 1 device node(s): 'dir/null'" in proc.stderr  # never a device node of a container's on the host
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["f", "hard", "link", "sub", "suid"]
    assert (out / "f").read_text() == "one\n" and (out / "sub" / "g").read_text() == "two\n"
    assert os.readlink(out / "link") == "f" and (out / "hard").stat().st_ino == (out / "f").stat().st_ino
    assert (out / "f").stat().st_uid == os.getuid()  # the caller's (Docker's), unless -a
    assert (out / "suid").stat().st_mode & 0o7777 == 0o755  # setuid cleared
    # into an existing directory: inside it, by its name; with -a its owners and bits as they are
    sdc.ok("cp", "-a", f"{container}:/data/dir", str(out))
    assert (out / "dir" / "f").stat().st_uid == 1000 and (out / "dir" / "suid").stat().st_mode & 0o7777 == 0o4755
    # a file as a new name, and over a file: whole, never half
    sdc.ok("cp", f"{container}:/data/dir/sub/g", str(tmp_path / "g-copy"))
    sdc.ok("cp", f"{container}:/data/dir/f", str(tmp_path / "g-copy"))
    assert (tmp_path / "g-copy").read_text() == "one\n"
    assert [p for p in os.listdir(tmp_path) if p.startswith(".sdc-cp")] == []


def test_copy_out_as_a_tar_stream(sdc: Sdc, container: str) -> None:
    proc = subprocess.run(sdc.argv("cp", f"{container}:/data/dir/sub", "-"), capture_output=True, env=sdc.env(),
                          check=True)  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        assert sorted(tar.getnames()) == ["sub", "sub/g"]
    contents = subprocess.run(sdc.argv("cp", f"{container}:/data/dir/sub/.", "-"), capture_output=True,
                              env=sdc.env(), check=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(contents)) as tar:
        assert tar.getnames() == ["g"]


def test_copy_in_a_file_a_directory_and_a_stream(sdc: Sdc, container: str, image: str, tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.ini").write_text("answer=42\n")
    os.chown(tmp_path / "conf" / "app.ini", 4242, 4242)
    (tmp_path / "single").write_text("single\n")
    sdc.ok("cp", str(tmp_path / "conf"), f"{container}:/etc/app")  # a new name
    sdc.ok("cp", str(tmp_path / "single"), f"{container}:/data/")  # into a directory
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        info = tarfile.TarInfo("streamed/.wh.kept")  # a file here, never a whiteout
        info.size = 3
        tar.addfile(info, io.BytesIO(b"wh\n"))
    sdc.ok("cp", "-", f"{container}:/data", input=stream.getvalue())
    sdc.ok("cp", "-a", str(tmp_path / "conf" / "app.ini"), f"{container}:/data/kept-owner")
    check = "cat /etc/app/app.ini /data/single; stat -c %u /etc/app/app.ini /data/kept-owner"
    assert _in(sdc, container, image, check) == "answer=42\nsingle\n0\n4242\n"
    # (read back by cp: a commit would make it the whiteout it is named as)
    sdc.ok("cp", f"{container}:/data/streamed/.wh.kept", str(tmp_path / "kept"))
    assert (tmp_path / "kept").read_text() == "wh\n"


def _in(sdc: Sdc, name: str, image: str, script: str) -> str:
    """What script prints in the container (exec while it runs, else a commit of it, run)."""
    if sdc("exec", name, "true").returncode == 0:
        return sdc.ok("exec", name, "sh", "-c", script)
    sdc.ok("commit", name, f"{name}-img")
    try:
        return sdc.ok("run", "--rm", f"{name}-img", "sh", "-c", script)
    finally:
        sdc("rmi", f"{name}-img")


def test_planted_symlinks_never_reach_the_host(sdc: Sdc, container: str, image: str, tmp_path: Path) -> None:
    """/data/escape -> / and /data/up -> ../../../../../../tmp: through them, cp reads and writes
    the container's own files, both ways."""
    Path("/tmp/host-secret").write_text("host\n")
    try:
        sdc.ok("cp", f"{container}:/data/up/mine", str(tmp_path / "read"))
        assert (tmp_path / "read").read_text() == "mine\n"  # the container's /tmp/mine
        assert sdc("cp", f"{container}:/data/escape/tmp/host-secret", str(tmp_path / "x")).returncode != 0
        sdc.ok("cp", "-L", f"{container}:/data/up", str(tmp_path / "followed"))
        assert sorted(os.listdir(tmp_path / "followed")) == ["mine"]
        (tmp_path / "planted").write_text("planted\n")
        sdc.ok("cp", str(tmp_path / "planted"), f"{container}:/data/escape/tmp/")
        sdc.ok("cp", str(tmp_path / "planted"), f"{container}:/data/up/via-up")
        assert not Path("/tmp/planted").exists() and not Path("/tmp/via-up").exists()
        assert _in(sdc, container, image, "cat /tmp/planted /tmp/via-up") == "planted\nplanted\n"
        assert Path("/tmp/host-secret").read_text() == "host\n"
    finally:
        Path("/tmp/host-secret").unlink()


def test_bad_copies_are_one_line_and_leave_nothing(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    sdc.ok("create", "--name", name, image, "true")
    for args, message in [
        ([f"{name}:/no/such", str(tmp_path / "x")], "No such file"),
        ([str(tmp_path / "nothing"), f"{name}:/tmp/"], "no such file or directory on the host"),
        ([f"{name}:/etc", f"{name}:/tmp"], "between a container and the host"),
        ([str(tmp_path), str(tmp_path / "y")], "between a container and the host"),
        ([f"{name}:/etc/passwd", str(tmp_path / "no" / "dir" / "x")], "is not a directory on the host"),
        ([str(tmp_path), f"{name}:/no/such/dir/x"], "is not a directory in the container"),
        (["-", f"{name}:/etc/passwd"], "no such directory"),
        ([f"{name}:/etc/passwd/", str(tmp_path / "z")], "not a directory"),
    ]:
        proc = sdc("cp", *args, input=b"")
        assert proc.returncode != 0 and message in proc.stderr and proc.stderr.count("\n") == 1, (args, proc.stderr)
    assert os.listdir(tmp_path) == []


def test_a_read_only_running_container_refuses_a_copy_in(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    sdc.ok("run", "-d", "--read-only", "--name", name, image, "sleep", "1000")
    (tmp_path / "f").write_text("x")
    proc = sdc("cp", str(tmp_path / "f"), f"{name}:/f")
    assert proc.returncode != 0 and "read-only root" in proc.stderr


def test_export_is_the_containers_files_as_a_tar(sdc: Sdc, container: str, tmp_path: Path) -> None:
    sdc.ok("export", "-o", str(tmp_path / "c.tar"), container)
    with tarfile.open(tmp_path / "c.tar") as tar:
        names = set(tar.getnames())
        assert {"bin/busybox", "data/dir/f", "data/escape", "tmp/mine"} <= names
        assert tar.getmember("data/escape").issym() and tar.getmember("data/dir/f").uid == 1000
    listed = subprocess.run(f"{' '.join(sdc.argv('export', container))} | tar t", shell=True, capture_output=True,
                            text=True, env=sdc.env(), check=True).stdout.split()  # fmt: skip
    assert "data/dir/sub/g" in listed


@pytest.mark.usefixtures("subids")
def test_copy_with_a_user_namespaced_container(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    """Its child is the container's root, by its map: what it copies in is its root's, what comes
    out carries its own ids with -a, and never a setuid bit (its root is not the host's)."""
    sdc.ok("run", "-d", "--userns=auto", "--name", name, image, "sh", "-c",
           "cp /bin/busybox /tool && chmod 4755 /tool && chown 1000 /tool && echo made && sleep 1000")  # fmt: skip
    _ready(sdc, name)
    (tmp_path / "in").write_text("in\n")
    sdc.ok("cp", str(tmp_path / "in"), f"{name}:/in")
    assert sdc.ok("exec", name, "stat", "-c", "%u %g", "/in") == "0 0\n"
    sdc.ok("cp", "-a", f"{name}:/tool", str(tmp_path / "tool"))
    st = (tmp_path / "tool").stat()
    assert st.st_uid == 1000 and st.st_mode & 0o7777 == 0o755
