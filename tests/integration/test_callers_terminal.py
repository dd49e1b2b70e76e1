"""The caller's terminal never belongs to a container (issue 21, item 1).

A container without -t is a session of its own, with no controlling terminal, its stdio pipes that
the launcher (or exec's helper) relays: it cannot push a command line into the administrator's
shell with TIOCSTI (on /dev/tty, or on fds 0-2), nor reopen the caller's files through
/proc/self/fd. Each attack runs in a real shell on a real pseudo-terminal; a marker file that the
injected line would make shows whether anything reached that shell. Then the Docker semantics the
pipes keep: exit statuses, -i, stdin's EOF, pipelines, stderr apart, a reader that goes away."""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc
from tests.integration.test_terminal import Session

# sti TEXT: what a hostile container tries. Pushes TEXT into the input queue of the terminal on
# /dev/tty, on each of fds 0-2, and on each reopened through /proc/self/fd; says on stderr what
# its fds are and what worked. Exit 0 if nothing did, 1 if any push did.
STI_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
static int pushed;
static void push(int fd, const char *what, const char *text) {
    for (const char *p = text; *p; p++)
        if (ioctl(fd, TIOCSTI, p) < 0) { dprintf(2, "%s: %s\n", what, strerror(errno)); return; }
    dprintf(2, "%s: PUSHED\n", what);
    pushed = 1;
}
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (tty < 0) dprintf(2, "/dev/tty: %s\n", strerror(errno)); else push(tty, "/dev/tty", argv[1]);
    for (int fd = 0; fd < 3; fd++) {
        char name[32], path[32];
        struct stat st;
        snprintf(name, sizeof name, "fd %d", fd);
        if (fstat(fd, &st) == 0) dprintf(2, "%s: %s\n", name, S_ISCHR(st.st_mode) ? "chr" : S_ISFIFO(st.st_mode) ?
                                         "fifo" : S_ISREG(st.st_mode) ? "reg" : "other");
        push(fd, name, argv[1]);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        int again = open(path, O_RDWR | O_NOCTTY);
        if (again >= 0) { snprintf(name, sizeof name, "reopened %d", fd); push(again, name, argv[1]); close(again); }
    }
    return pushed;
}
"""


@pytest.fixture(scope="module")
def sti(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sti")
    (work / "sti.c").write_text(STI_C)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(work / "sti"), str(work / "sti.c")], check=True)
    return work / "sti"


@pytest.fixture
def shell(sdc: Sdc, tmp_path: Path) -> Iterator[Session]:
    """An administrator's shell on a terminal: what sdc runs in, and what an injected line would reach."""
    session = Session(["/bin/sh"], {**sdc.env(), "PS1": "admin$ ", "HOME": str(tmp_path)})
    session.expect("admin$ ")
    yield session
    session.send("exit\r")
    session.close()


def _typed_into(shell: Session, command: str, marker: Path) -> tuple[str, int]:
    """Run command in the shell; then a line of ours: had anything been pushed into the terminal's
    input, the shell would have run it before ours. What command printed, and its status."""
    shell.send(f"{command}; echo S''TATUS=$?\r")
    seen = shell.expect("STATUS=", timeout=60)
    status = int(shell.expect("\n").strip())
    time.sleep(0.5)  # a process left behind has its chance (see the exec case)
    shell.send("echo A''FTER\r")
    shell.expect("AFTER")
    shell.expect("admin$ ")
    assert not marker.exists(), f"a container typed into the caller's shell: {seen}"
    return seen, status


def _injection(marker: Path) -> str:
    """The line sti pushes, as an argument: ending in a carriage return, the terminal's Enter."""
    return f"\"$(printf 'touch {marker}\\r')\""


@pytest.mark.parametrize(
    "flags, redirect",
    [([], ""), ([], " </dev/null >/dev/null 2>&1"), (["-i"], ""), (["--userns=auto"], "")],
    ids=["plain", "redirected", "interactive", "userns"],
)
def test_a_foreground_container_cannot_type_into_the_callers_shell(
    sdc: Sdc, image: str, sti: Path, shell: Session, tmp_path: Path, flags: list[str], redirect: str,
    request: pytest.FixtureRequest,
) -> None:
    if "--userns=auto" in flags:
        request.getfixturevalue("subids")
    marker = tmp_path / "pwned"
    argv = " ".join(sdc.argv("run", "--rm", *flags, "-v", f"{sti}:/usr/bin/sti:ro", image, "sti"))
    seen, status = _typed_into(shell, f"{argv} {_injection(marker)}{redirect}", marker)
    assert status == 0, seen  # sti: nothing pushed
    if not redirect:
        assert "/dev/tty: No such device or address" in seen, seen  # no controlling terminal
        assert "fd 1: fifo" in seen and "fd 2: fifo" in seen, seen  # pipes, not the caller's files
        assert ("fd 0: fifo" if "-i" in flags else "fd 0: chr") in seen, seen  # else the container's /dev/null
        assert "PUSHED" not in seen, seen


def test_exec_cannot_type_into_the_callers_shell(
    sdc: Sdc, image: str, sti: Path, shell: Session, tmp_path: Path, name: str
) -> None:
    sdc.ok("run", "-d", "--name", name, "-v", f"{sti}:/usr/bin/sti:ro", image, "sleep", "1000")
    for n, (flags, redirect) in enumerate([((), ""), ((), " </dev/null >/dev/null"), (("-i",), "")]):
        marker = tmp_path / f"pwned-{n}"
        argv = " ".join(sdc.argv("exec", *flags, name, "sti"))
        seen, status = _typed_into(shell, f"{argv} {_injection(marker)}{redirect}", marker)
        assert status == 0 and "PUSHED" not in seen, seen
    # A process the exec'ed command leaves behind, which tries once sdc has returned.
    marker = tmp_path / "pwned-later"
    later = f"(sleep 1; sti {_injection(marker)}) >/dev/null 2>&1 &"
    argv = " ".join(sdc.argv("exec", name, "sh", "-c"))
    _typed_into(shell, f"{argv} {shlex.quote(later)}; sleep 2", marker)


def test_a_pipeline_through_a_container_is_dockers(sdc: Sdc, image: str) -> None:
    assert sdc.ok("run", "-i", "--rm", image, "cat", input=b"x\ny\n") == "x\ny\n"
    assert sdc.ok("run", "--rm", image, "cat", input=b"never read") == ""  # without -i: /dev/null
    proc = sdc("run", "-i", "--rm", image, "sh", "-c", "cat >/dev/null; echo end-of-input; echo err >&2; exit 3",
               input=b"data")  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "end-of-input\n", "err\n"), proc
    # (passthrough: half a million lines copied to the journal would spend the rate limit of the
    # unit this suite runs in, journald's, for every foreground container of the next 30 s)
    big = sdc.ok("run", "--rm", "--log-driver", "passthrough", image, "sh", "-c", "yes 0123456789 | head -c 5000000")
    assert len(big) == 5_000_000 and big.startswith("0123456789\n")


def test_a_reader_that_goes_away_ends_the_writer(sdc: Sdc, image: str) -> None:
    """`sdc run img yes | head -1` ends, as under Docker: the container's yes gets SIGPIPE (not
    ignored, as Python ignores it in the launcher) once the reader is gone."""
    started = time.monotonic()
    out = subprocess.run(" ".join(sdc.argv("run", "--rm", "--log-driver", "passthrough", image, "yes")) + " | head -1",
                         shell=True,
                         env=sdc.env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.stdout == "y\n" and time.monotonic() - started < 30, out
    status = sdc.ok("run", "--rm", image, "grep", "^SigIgn", "/proc/self/status")
    assert status.split()[1] == "0000000000000000", status  # SIGPIPE and SIGXFSZ: the defaults


def test_exec_relays_stdin_only_with_i(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    assert sdc.ok("exec", "-i", name, "cat", input=b"in\n") == "in\n"
    assert sdc.ok("exec", name, "cat", input=b"in\n") == ""
    proc = sdc("exec", name, "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (proc.returncode, proc.stdout, proc.stderr) == (5, "out\n", "err\n"), proc
    ids = sdc.ok("exec", name, "sh", "-c", "cat /proc/self/stat").split(")")[1].split()
    # state, ppid, pgrp, session, tty_nr: a session and group of its own, no controlling terminal
    assert ids[2] == ids[3] != "0" and ids[4] == "0", ids


KEYRING_C = r"""
#include <linux/keyctl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    char what[256];
    long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    if (id < 0 || syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, what, sizeof what) < 0) { perror("keyctl"); return 1; }
    printf("%s\n", what);
    return 0;
}
"""
# Join a session keyring named caller-ring, then exec the rest: the caller's keys, as a test has them.
IN_CALLER_RING = ("import ctypes, os, sys; ctypes.CDLL(None, use_errno=True).syscall(250, 1, b'caller-ring');"
                  "os.execvpe(sys.argv[1], sys.argv[1:], os.environ)")  # fmt: skip


def test_a_containers_session_keyring_is_its_own(
    sdc: Sdc, image: str, name: str, tmp_path: Path
) -> None:
    """runc's rule: a fresh anonymous session keyring, not the caller's (and its keys)."""
    import sys

    (tmp_path / "keyring.c").write_text(KEYRING_C)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(tmp_path / "keyring"), str(tmp_path / "keyring.c")], check=True)
    tool = ["-v", f"{tmp_path / 'keyring'}:/usr/bin/keyring:ro", "--security-opt", "seccomp=unconfined"]

    def described(*argv: str) -> str:
        proc = subprocess.run([sys.executable, "-c", IN_CALLER_RING, *argv], env=sdc.env(), capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 0, proc
        return proc.stdout.strip()

    assert described(str(tmp_path / "keyring")).endswith(";caller-ring")  # what a process of the caller's has
    assert described(*sdc.argv("run", "--rm", *tool, image, "keyring")).endswith(";_ses")  # a new, anonymous one
    sdc.ok("run", "-d", "--name", name, *tool, image, "sleep", "1000")
    assert described(*sdc.argv("exec", name, "keyring")).endswith(";_ses")


def test_exec_never_opens_the_containers_dev_null(sdc: Sdc, image: str, name: str) -> None:
    """The container's root may make its /dev/null a link to /proc/self/fd/2: opened by exec's
    helper, as root, before the command's stdio are set, that is the caller's stderr (its terminal,
    its file) again. The helper's /dev/null is the host's, opened before it enters the container."""
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "rm /dev/null; ln -s /proc/self/fd/2 /dev/null; sleep 1000")
    # the shell's own fds, read in a subshell ($$ is still the shell's): busybox runs stat in-process
    probe = "x=$(stat -L -c '%F %t:%T' /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2); echo \"$x\" > /probe"
    sdc.ok("exec", name, "sh", "-c", probe)
    assert sdc.ok("exec", name, "cat", "/probe") == "character special file 1:3\n" + "fifo 0:0\n" * 2
    sdc.ok("exec", "-d", name, "sh", "-c", probe)
    deadline = time.monotonic() + 10
    while (out := sdc.ok("exec", name, "cat", "/probe")).count("1:3") != 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out == "character special file 1:3\n" * 3, out
