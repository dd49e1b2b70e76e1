"""`sdc attach` through a real pty (issue 24): a detached container's terminal, typed on and
resized, the detach keys leaving it running; a container without a terminal: its output from
now, until it ends, with its exit status."""

from __future__ import annotations

import time

from tests.integration.conftest import Sdc
from tests.integration.test_terminal import Session


def test_attach_to_a_terminal_and_detach_with_the_keys(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "-t", "--name", name, image, "sh")
    time.sleep(0.5)
    session = Session(sdc.argv("attach", name), sdc.env(), rows=33, cols=101)
    try:
        session.expect("/ # ")  # its shell redraws its prompt for the new window size
        session.send("echo typed-$((40+2))\r")
        session.expect("typed-42")
        session.send("stty size\r")
        session.expect("33 101")
        session.send("\x10\x11")  # ctrl-p ctrl-q
        assert session.wait() == 0
    finally:
        session.close()
    assert name in sdc.ok("ps")  # still running
    # again, with keys of one's own; the container's end ends the attach, with its status
    session = Session(sdc.argv("attach", "--detach-keys", "ctrl-a", name), sdc.env())
    try:
        session.expect("/ # ")
        session.send("exit 7\r")
        assert session.wait() == 7
    finally:
        session.close()
    assert "typed-42" in sdc.ok("logs", name)  # the journal had it all along


def test_attach_to_a_container_without_a_terminal(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "echo before; sleep 2; echo after; exit 3")
    time.sleep(0.5)
    proc = sdc("attach", name, timeout=30)
    assert proc.returncode == 3 and proc.stdout == "after\n", proc


def test_attach_to_a_stopped_container_is_one_line(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("create", "--name", name, image, "true")
    proc = sdc("attach", name)
    assert proc.returncode != 0 and "is not running" in proc.stderr and proc.stderr.count("\n") == 1
