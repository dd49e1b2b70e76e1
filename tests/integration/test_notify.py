"""--sdnotify=container (issue 8): the unit's notify socket is the payload's, and the unit turns active,
and `sdc run -d` returns, when the payload says READY=1, not when its PID 1 has exec'ed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, store_state, unit_property

NOTIFY_C = r"""
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
/* notify MESSAGE: sd_notify(3) with its barrier, so that systemd has read the message (and found
   our cgroup, by our PID) before we exit. */
static int send_to(int fd, struct sockaddr_un *a, const char *text, int pass) {
    struct iovec iov = {.iov_base = (void *)text, .iov_len = strlen(text)};
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr m = {.msg_name = a, .msg_namelen = sizeof *a, .msg_iov = &iov, .msg_iovlen = 1};
    if (pass >= 0) {
        m.msg_control = control.buf;
        m.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pass, sizeof(int));
    }
    return sendmsg(fd, &m, 0) < 0;
}
int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || argc < 2) return 2;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0), p[2];
    if (send_to(fd, &a, argv[1], -1) || pipe(p)) return 1;
    if (send_to(fd, &a, "BARRIER=1", p[1])) return 1;
    close(p[1]);
    struct pollfd w = {.fd = p[0], .events = POLLIN};
    return poll(&w, 1, 5000) != 1;
}
"""


@pytest.fixture(scope="module")
def notify_tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static sd_notify(1) for busybox, which has none."""
    work = tmp_path_factory.mktemp("notify")
    (work / "notify.c").write_text(NOTIFY_C)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(work / "notify"), str(work / "notify.c")], check=True)
    return work / "notify"


def test_the_unit_is_active_when_the_payload_says_so(sdc: Sdc, image: str, name: str, notify_tool: Path) -> None:
    script = 'sleep 2; notify "STATUS=warmed up"; notify READY=1; exec sleep 1000'
    started = time.monotonic()
    sdc.ok("run", "-d", "--sdnotify=container", "--name", name, "-v", f"{notify_tool}:/usr/bin/notify:ro",
           image, "sh", "-c", script)  # fmt: skip
    took = time.monotonic() - started
    assert took >= 2.0, took
    unit = f"sdc-{name}.service"
    assert unit_property(unit, "ActiveState") == "active" and unit_property(unit, "StatusText") == "warmed up"
    assert "NOTIFY_SOCKET=/run/notify/notify.sock" in sdc.ok("exec", name, "cat", "/proc/1/environ").split("\0")


def test_by_default_the_unit_is_active_once_pid_1_has_execd(sdc: Sdc, image: str, name: str) -> None:
    started = time.monotonic()
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "sleep 2; exec sleep 1000")
    assert time.monotonic() - started < 2.0
    assert not [e for e in sdc.ok("exec", name, "cat", "/proc/1/environ").split("\0") if e.startswith("NOTIFY")]


def test_bad_sdnotify_is_one_line_and_leaves_nothing(sdc: Sdc, image: str, store: Path) -> None:
    before = store_state(store)
    for args, message in ((("-d", "--sdnotify", "maybe"), "invalid --sdnotify"),
                          (("--sdnotify", "container"), "--sdnotify=container needs -d")):  # fmt: skip
        proc = sdc("run", *args, image, "true")
        assert proc.returncode == 125 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert store_state(store) == before
