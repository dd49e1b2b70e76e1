"""`sdc logs` as Docker users read it (issue 24): a foreground container's output is in the journal
too, -t, --tail, --since and --until in Docker's forms and journalctl's, and bad times are one
line of sdc's."""

from __future__ import annotations

import math
import re
import subprocess
import time

import pytest

from tests.integration.conftest import Sdc
from tests.integration.test_terminal import Session


def logs_once_in(sdc: Sdc, name: str, expected: str) -> str:
    """`sdc logs` once journald has taken the launcher's datagrams (it reads them as they come,
    a moment after the container's end)."""
    deadline = time.monotonic() + 10
    while (out := sdc.ok("logs", name)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return out


def test_a_foreground_containers_output_is_in_its_logs(sdc: Sdc, image: str, name: str) -> None:
    out = sdc("run", "--name", name, image, "sh", "-c", "echo out; sleep 0.2; echo err >&2; sleep 0.2; "
              "printf 'no newline'")  # fmt: skip
    assert out.stdout == "out\nno newline" and out.stderr == "err\n"
    assert logs_once_in(sdc, name, "out\nerr\nno newline\n") == "out\nerr\nno newline\n"
    assert sdc.ok("logs", "--tail", "1", name) == "no newline\n"
    assert sdc.ok("logs", "-f", name, timeout=30) == "out\nerr\nno newline\n"  # ended: what it wrote
    # journalctl's own tools see them by the container's name
    fields = subprocess.run(["journalctl", "--no-pager", "-o", "cat", f"SDC_CONTAINER_NAME={name}",
                             "SDC_STREAM=stderr"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert fields == "err\n"


def test_a_foreground_terminals_output_is_in_its_logs(sdc: Sdc, image: str, name: str) -> None:
    session = Session(sdc.argv("run", "-t", "--name", name, image, "sh", "-c", "echo on the terminal"), sdc.env())
    try:
        session.expect("on the terminal")
        assert session.wait() == 0
    finally:
        session.close()
    assert logs_once_in(sdc, name, "on the terminal\n") == "on the terminal\n"


def test_timestamps_tail_since_and_until(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "echo early; sleep 3; echo late; sleep 1")
    deadline = time.monotonic() + 20
    while "early" not in sdc.ok("logs", name) and time.monotonic() < deadline:
        time.sleep(0.1)
    between = time.time()
    while "late" not in sdc.ok("logs", name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sdc.ok("logs", "--until", f"{between:.3f}", name) == "early\n"
    assert sdc.ok("logs", "--since", f"{between:.3f}", name) == "late\n"
    assert sdc.ok("logs", "--since", "10m", "--until", f"{math.ceil(between)}", name) == "early\n"  # Unix seconds
    assert sdc.ok("logs", "--since", "1 hour ago", name) == "early\nlate\n"  # journalctl's words
    assert sdc.ok("logs", "--since", "2s", name) in ("late\n", "")
    lines = sdc.ok("logs", "-t", "--tail", "2", name).splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["early", "late"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", line.split(" ")[0]) for line in lines)
    assert sdc.ok("logs", "-t", "-f", "--tail", "1", name, timeout=30).endswith("Z late\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "10 parsecs"], "invalid --since"),
    (["--until", "2026-13-01"], "invalid --until"),
    (["--tail", "x"], "invalid --tail"),
    (["-f", "--until", "1m"], "--until and --follow"),
])  # fmt: skip
def test_bad_times_are_one_line_of_sdcs(sdc: Sdc, image: str, name: str, args: list[str], message: str) -> None:
    sdc.ok("create", "--name", name, image, "true")
    proc = sdc("logs", *args, name)
    assert proc.returncode != 0 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "Failed to parse" not in proc.stderr


def _journal(*matches: str) -> str:
    subprocess.run(["journalctl", "--sync"], check=False)
    return subprocess.run(["journalctl", "--no-pager", "-o", "cat", *matches], capture_output=True, text=True).stdout


def test_log_drivers(sdc: Sdc, image: str, name: str) -> None:
    """journald keeps the output (tag= names it); none keeps it nowhere, and logs says so;
    passthrough: a foreground one's output on sdc's stdout only, not copied to the journal."""
    quiet, passed, tagged = f"{name}-none", f"{name}-pass", f"{name}-tag"
    try:
        assert sdc.ok("run", "--name", quiet, "--log-driver", "none", image, "echo", "said-none") == "said-none\n"
        assert sdc.ok("run", "--name", passed, "--log-driver", "passthrough", image, "echo", "said-pass") == \
            "said-pass\n"  # fmt: skip
        sdc.ok("run", "-d", "--name", f"{quiet}-d", "--log-driver", "none", image, "sh", "-c", "echo said-none-d")
        sdc.ok("run", "--name", tagged, "--log-opt", "tag=mytag", image, "echo", "said-tagged")
        sdc.ok("wait", f"{quiet}-d")
        time.sleep(0.5)
        journal = _journal(f"SDC_CONTAINER_NAME={quiet}") + _journal(f"SDC_CONTAINER_NAME={passed}") + \
            _journal(f"SDC_CONTAINER_NAME={quiet}-d") + _journal(f"_SYSTEMD_UNIT=sdc-{quiet}-d.service")  # fmt: skip
        assert "said-none" not in journal and "said-pass" not in journal, journal
        assert "said-tagged" in _journal("SYSLOG_IDENTIFIER=mytag")
        proc = sdc("logs", quiet)
        assert proc.returncode == 125 and "keeps no logs" in proc.stderr and len(proc.stderr.splitlines()) == 1
        for bad in (["--log-driver", "json-file"], ["--log-opt", "max-size=1m"], ["--log-opt", "tag=a b"]):
            proc = sdc("run", "--rm", *bad, image, "true")
            assert proc.returncode == 125 and len(proc.stderr.splitlines()) == 1, proc.stderr
    finally:
        sdc("rm", "-f", quiet, passed, tagged, f"{quiet}-d")
