"""The launcher's pure parts: its JSON (it does without the json module), checked against
json's, and how it reads the end of a container from systemd's ExecStopPost environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdcontainer import launcher, protocol
from sdcontainer.launcher import _json_object, exit_status_from_environment, read_config


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"ociVersion": "1.0.2", "process": {"args": ["sh", "-c", 'echo "hi" \\ é'], "env": [], "user": {"uid": 0}}},
        {"a": [1, -2.5, 1e3, True, False, None, {"b": []}], "ünï": "\u2603\n\t"},
    ],
)
def test_read_config_reads_what_json_writes(value: dict[str, object], tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    assert read_config(str(path)) == value


@pytest.mark.parametrize("text", ["", "[1]", '{"a": 1} x', '{"a": NaN}', '{"a": Infinity}', '{"a": }', "{'a': 1}"])
def test_read_config_refuses_what_is_not_one_strict_json_object(text: str, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ValueError):
        read_config(str(path))


def test_exit_codes_from_systemd_environment() -> None:
    assert exit_status_from_environment({"EXIT_CODE": "exited", "EXIT_STATUS": "3"}) == 3
    assert exit_status_from_environment({"EXIT_CODE": "killed", "EXIT_STATUS": "KILL"}) == 137
    assert exit_status_from_environment({"EXIT_CODE": "dumped", "EXIT_STATUS": "SEGV"}) == 139
    assert exit_status_from_environment({"EXIT_CODE": "killed", "EXIT_STATUS": "_DFL"}) is None
    assert exit_status_from_environment({}) is None


def test_the_state_it_writes_is_what_json_reads() -> None:
    state = {"exit_code": 3, "finished": 1795000000.123456, "result": "exit-code \"é\"\n", "oom_killed": False,
             "none": None, "yes": True}  # fmt: skip
    assert json.loads(_json_object(state)) == state


# --- the notify relay's filter (issue 21, item 3) ------------------------------------------------


def test_the_relay_passes_what_a_payload_says_of_itself() -> None:
    from sdcontainer.launcher import filter_notification

    message = b"READY=1\nSTATUS=warmed up\nWATCHDOG=1\nSTOPPING=1\nERRNO=5\nEXTEND_TIMEOUT_USEC=5000000"
    assert filter_notification(message) == message


@pytest.mark.parametrize(
    "message",
    [b"MAINPID=1", b"STATUS=x\rMAINPID=1", b"FDSTORE=1\nFDNAME=x", b"NOTIFYACCESS=all", b"BARRIER=1",
     b"WATCHDOG_USEC=1", b"READY=1x", b"READY=2", b" READY=1", b"ERRNO=junk", b"EXTEND_TIMEOUT_USEC=-1",
     b"EXTEND_TIMEOUT_USEC=99999999999999999999999", b"MAINPID=1\0READY=1", b"STATUS", b"X_SYSTEMD_UNIT_ACTIVE=x"],
)  # fmt: skip
def test_the_relay_drops_what_would_reach_beyond_the_container(message: bytes) -> None:
    from sdcontainer.launcher import filter_notification

    assert b"MAINPID" not in filter_notification(message)
    assert filter_notification(message).replace(b"STATUS=x", b"") == b""


def test_a_timeout_is_extended_only_while_starting() -> None:
    """After READY=1, EXTEND_TIMEOUT_USEC= would put off a stop's SIGKILL for as long as it came."""
    from sdcontainer.launcher import filter_notification

    assert filter_notification(b"EXTEND_TIMEOUT_USEC=60000000") == b"EXTEND_TIMEOUT_USEC=60000000"
    assert filter_notification(b"EXTEND_TIMEOUT_USEC=60000000\nSTATUS=s", ready=True) == b"STATUS=s"


@given(st.lists(st.binary(max_size=40) | st.sampled_from([b"READY=1", b"MAINPID=7", b"STATUS=", b"\r", b"\n"]),
                max_size=12).map(b"".join))  # fmt: skip
def test_whatever_a_container_sends_only_allowed_lines_reach_systemd(data: bytes) -> None:
    """As systemd reads a message (lines split at \\n and \\r), each line the relay passes is allowed."""
    from sdcontainer.launcher import NOTIFY_LINES, NOTIFY_NUMBERS, filter_notification

    for line in filter_notification(data).replace(b"\r", b"\n").split(b"\n"):
        if not line:
            continue
        assert b"\0" not in line
        name, _, value = line.partition(b"=")
        assert line in NOTIFY_LINES or name == b"STATUS" or (line.startswith(NOTIFY_NUMBERS) and value.isdigit())


@pytest.mark.parametrize(("exit_code", "exit_status", "age", "taken"), [
    ("killed", "KILL", 0, True),
    ("exited", "3", 0, False),  # PID 1 ended by itself before rm's kill: its own end is recorded
    ("killed", "TERM", 0, False),
    ("killed", "KILL", 3600, False),  # a mark an interrupted rm left long ago
])  # fmt: skip
def test_an_exit_rm_f_left_is_taken_without_an_import(tmp_path: Path, exit_code: str, exit_status: str, age: int,
                                                      taken: bool) -> None:  # fmt: skip
    """The ExecStopPost of a container `rm -f` kills (launcher_entry.py): the end rm left becomes
    its state.json, and the launcher is not even imported (issue 26: one per container of an
    `rm -f` of many); only where systemd says SIGKILL ended PID 1, and for a mark of now."""
    import os
    import subprocess
    import sys
    import time

    mark = tmp_path / protocol.REMOVING
    mark.write_text('{"exit_code": 137}\n')
    os.utime(mark, (time.time() - age, time.time() - age))
    entry = Path(launcher.__file__).with_name("launcher_entry.py")
    proc = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", str(entry), "--exited", str(tmp_path)],
                          capture_output=True, text=True, env={"EXIT_CODE": exit_code, "EXIT_STATUS": exit_status})
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert ("sdcontainer.launcher" not in imported) == taken
    assert mark.exists() != taken
    if taken:
        assert {m for m in imported if m.startswith("sdcontainer")} == {"sdcontainer", "sdcontainer.protocol"}
        assert (tmp_path / protocol.STATE).read_text() == '{"exit_code": 137}\n'
    assert protocol.REMOVING in protocol.RUN_RECORDS  # (a start clears one a killed rm left)
