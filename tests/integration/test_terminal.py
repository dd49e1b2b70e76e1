"""-t: a terminal of the container's own, driven here through a real pseudo-terminal as a user's
would be (issue 8): prompt, a command, a resize seen by `stty size`, ^C that interrupts a sleep
and not the shell, the exit status, and the caller's terminal mode as it was, after a normal
exit and after the container is killed."""

from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
import termios
import time

from tests.integration.conftest import Sdc


class Session:
    """sdc run under a pty of ours: what it prints, and what we type."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 24, cols: int = 80) -> None:
        self.pid, self.fd = os.forkpty()
        if self.pid == 0:  # pragma: no cover - the child
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.execvpe(argv[0], argv, env)
        self.output = b""
        self.before = None  # the mode of our terminal before sdc changed it
        deadline = time.monotonic() + 5
        while self.before is None and time.monotonic() < deadline:
            self.before = termios.tcgetattr(self.fd)

    def expect(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError(f"{text!r} never came; got {self.output.decode(errors='replace')!r}")
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: sdc and everything on its terminal are gone
                raise AssertionError(f"{text!r} never came; got {self.output.decode(errors='replace')!r}") from None
            self.output += chunk
        seen, _, self.output = self.output.partition(text.encode())
        return seen.decode(errors="replace")

    def run(self, command: str, timeout: float = 15.0) -> str:
        """Type a command line; what it printed (the marker's quotes keep the echoed line apart)."""
        self.send(f"{command}; echo E''ND $?\r")
        return self.expect("END", timeout) + self.expect("\n", timeout)

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def wait(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            drain(self.fd)
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        raise AssertionError("sdc did not exit")

    def mode(self) -> list:  # type: ignore[type-arg]
        return termios.tcgetattr(self.fd)

    def close(self) -> None:
        os.close(self.fd)


def drain(fd: int) -> None:
    """Drain what is there, so that sdc never blocks on a full terminal."""
    while select.select([fd], [], [], 0)[0]:
        try:
            if not os.read(fd, 4096):
                return
        except OSError:
            return


def test_an_interactive_shell(sdc: Sdc, image: str) -> None:
    session = Session(sdc.argv("run", "-it", "--rm", "-e", "PS1=ctr$ ", image, "sh"), sdc.env(), rows=24, cols=80)
    try:
        session.expect("ctr$ ")
        assert session.mode() != session.before  # raw, while the container runs
        seen = session.run("tty; stty size")
        assert "/dev/pts/0" in seen and "24 80" in seen, seen
        session.resize(40, 132)
        assert "40 132" in session.run("stty size")
        session.send("sleep 100\r")
        session.expect("sleep 100")  # the echo of the line: the sleep has begun once it is read
        time.sleep(0.5)
        started = time.monotonic()
        session.send("\x03")  # ^C: SIGINT to the sleep, through the container's terminal
        session.expect("ctr$ ", timeout=5)  # the shell is still there
        assert time.monotonic() - started < 5
        assert "\r\n130\r\n" in session.run("echo $?")  # the sleep's status: killed by SIGINT
        session.send("exit 3\r")
        assert session.wait() == 3
        assert session.mode() == session.before
    finally:
        session.close()


def test_the_callers_terminal_is_restored_when_the_container_is_killed(sdc: Sdc, image: str, name: str) -> None:
    session = Session(sdc.argv("run", "-it", "--name", name, "-e", "PS1=ctr$ ", image, "sh"), sdc.env())
    try:
        session.expect("ctr$ ")
        assert session.mode() != session.before
        subprocess.run(sdc.argv("kill", name), env=sdc.env(), check=True, capture_output=True)
        assert session.wait() == 137
        assert session.mode() == session.before
    finally:
        session.close()


def test_without_a_terminal_on_stdin_the_output_still_comes(sdc: Sdc, image: str) -> None:
    proc = sdc("run", "-t", "--rm", image, "sh", "-c", "tty; echo out")
    assert proc.returncode == 0 and proc.stdout.replace("\r\n", "\n") == "/dev/pts/0\nout\n", proc


def test_exec_a_shell_on_a_terminal_of_its_own(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    session = Session(sdc.argv("exec", "-it", "-e", "PS1=ex$ ", name, "sh"), sdc.env(), rows=30, cols=100)
    try:
        session.expect("ex$ ")
        assert session.mode() != session.before
        seen = session.run("tty; stty size; echo $TERM; tr '\\0' ' ' < /proc/1/cmdline")
        assert "/dev/pts/0" in seen and "30 100" in seen and "xterm" in seen and "sleep 1000" in seen, seen
        session.send("exit 4\r")
        assert session.wait() == 4
        assert session.mode() == session.before
    finally:
        session.close()


def test_a_detached_terminal_waits_and_reaches_the_journal(sdc: Sdc, image: str, name: str) -> None:
    """-d -t (`docker run -dit`): the shell waits on a terminal instead of reading /dev/null's end,
    what it writes there reaches `sdc logs`, and the one process that holds the terminal has no
    capability and ends with the container."""
    sdc.ok("run", "-dit", "--name", name, image, "sh", "-c",
           "tty; stty size; test -t 0 && echo on-a-terminal; read line; echo never")  # fmt: skip
    deadline = time.monotonic() + 10
    while "on-a-terminal" not in (logs := sdc.ok("logs", name)):
        assert time.monotonic() < deadline, logs
        time.sleep(0.1)
    assert logs == "/dev/pts/0\n24 80\non-a-terminal\n"
    sdc.ok("exec", name, "sh", "-c", "echo from-exec > /dev/pts/0")  # the terminal's output, not a pipe's
    deadline = time.monotonic() + 10
    while "from-exec" not in sdc.ok("logs", name):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cgroup = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", f"sdc-{name}.service"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    pids = [int(p) for p in open(f"/sys/fs/cgroup/systemd{cgroup}/cgroup.procs").read().split()]
    [keeper] = [p for p in pids if open(f"/proc/{p}/comm").read().strip() == "sdc-console"]
    status = dict(line.split(":\t", 1) for line in open(f"/proc/{keeper}/status").read().splitlines())
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0 and status["NoNewPrivs"] == "1"
    assert [r["Status"] for r in json.loads(sdc.ok("ps", "--format", "json")) if r["Name"] == name][0].startswith("Up")
    sdc.ok("stop", "-t", "1", name)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{keeper}"):
        assert time.monotonic() < deadline, "sdc-console outlived its container"
        time.sleep(0.05)
    assert "never" not in sdc.ok("logs", name)


def test_what_is_typed_before_the_shell_is_up_is_kept(sdc: Sdc, image: str, name: str) -> None:
    """Typeahead (issue 25): a line typed while sdc is still starting the container reaches its
    shell (the caller's terminal is made raw with TCSANOW: TCSAFLUSH, tty.setraw's default,
    would drop it), in run -it and in exec -it."""
    session = Session(sdc.argv("run", "-it", "--rm", "-e", "PS1=ctr$ ", image, "sh"), sdc.env())
    try:
        session.send("echo ahead-$((1+1))\r")  # at once: sdc has not even read its arguments yet
        session.expect("ahead-2")
        session.send("exit 0\r")
        assert session.wait() == 0
    finally:
        session.close()
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    session = Session(sdc.argv("exec", "-it", name, "sh"), sdc.env())
    try:
        session.send("echo ahead-$((2+2))\r")
        session.expect("ahead-4")
        session.send("exit 0\r")
        assert session.wait() == 0
    finally:
        session.close()
