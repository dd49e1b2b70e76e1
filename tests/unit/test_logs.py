"""`sdc logs`' times and lines, and the journal copy of a foreground container's output
(integration: tests/integration/test_logs.py)."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer.api.logs import journal_time, parse_tail, rfc3339_nano
from sdcontainer.errors import UsageError
from sdcontainer.journal import JournalCopy

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("text", "expected"), [
    ("2s", f"@{NOW - 2:.6f}"), ("10m", f"@{NOW - 600:.6f}"), ("1h30m", f"@{NOW - 5400:.6f}"),
    ("1.5h", f"@{NOW - 5400:.6f}"), ("250ms", f"@{NOW - 0.25:.6f}"),
    ("1700000000", "@1700000000"), ("1700000000.5", "@1700000000.5"),
    ("2026-12-05T10:00:00Z", "@1796464800.000000"), ("2026-12-05T10:00:00.25Z", "@1796464800.250000"),
    ("2026-12-05T12:00:00+02:00", "@1796464800.000000"), ("2026-12-05T10:00Z", "@1796464800.000000"),
    ("2026-12-05Z", "@1796428800.000000"),
])  # fmt: skip
def test_dockers_times_become_journalctls(text: str, expected: str) -> None:
    assert journal_time(text, flag="--since", now=NOW) == expected


@pytest.mark.parametrize("text", ["", "-5m", "2026-13-45T10:00:00Z", "10 parsecs", "--help", "1\n2"])
def test_what_is_no_time_is_one_line_of_ours(text: str) -> None:
    with pytest.raises(UsageError, match="invalid --since"):
        journal_time(text, flag="--since", now=NOW)


def test_tail() -> None:
    assert parse_tail(None) is None and parse_tail("all") is None and parse_tail("20") == 20
    for bad in ("-1", "x", "²", "1" * 20):
        with pytest.raises(UsageError):
            parse_tail(bad)


def test_timestamps_as_dockers() -> None:
    assert rfc3339_nano("1796464800250000") == "2026-12-05T10:00:00.250000000Z"


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.text(max_size=30))
def test_any_time_is_taken_or_refused(text: str) -> None:
    try:
        out = journal_time(text, flag="--until", now=NOW)
    except UsageError:
        return
    assert out == text or out.startswith("@")


def _entries(sock: socket.socket) -> list[dict[str, bytes]]:
    found = []
    sock.setblocking(False)
    while True:
        try:
            data = sock.recv(1 << 20)
        except BlockingIOError:
            return found
        fields: dict[str, bytes] = {}
        while data:
            head, _, data = data.partition(b"\n")
            if b"=" in head:
                key, _, value = head.partition(b"=")
                fields[key.decode()] = value
            else:
                (size,) = struct.unpack("<Q", data[:8])
                fields[head.decode()], data = data[8 : 8 + size], data[8 + size + 1 :]
        found.append(fields)


def test_the_journal_copy_is_a_line_an_entry_binary_safe_and_named() -> None:
    ours, journald = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    copy = JournalCopy(ours, "c0ffee", "web")
    copy.write(1, b"first\nsec")
    copy.write(2, b"an error\n")
    copy.write(1, b"ond\r\nwith \x00 and \n=\nno end")
    copy.write(1, b"x" * (JournalCopy.LINE_MAX + 10))
    copy.close()
    entries = _entries(journald)
    assert [(e["SDC_STREAM"], e["MESSAGE"]) for e in entries] == [
        (b"stdout", b"first"), (b"stderr", b"an error"), (b"stdout", b"second"), (b"stdout", b"with \x00 and "),
        (b"stdout", b"="), (b"stdout", b"no end" + b"x" * (JournalCopy.LINE_MAX - 6)), (b"stdout", b"x" * 16)]
    assert {(e["SDC_CONTAINER_ID"], e["SDC_CONTAINER_NAME"], e["SYSLOG_IDENTIFIER"]) for e in entries} == {
        (b"c0ffee", b"web", b"web")}


def test_a_journal_that_takes_no_more_loses_the_copy_not_the_output() -> None:
    ours, journald = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ours.setblocking(False)
    copy = JournalCopy(ours, "c0ffee", "web")
    for _ in range(10000):  # far more than the socket's buffer holds: never blocks, never raises
        copy.write(1, b"y" * 1000 + b"\n")
    journald.close()
    copy.write(1, b"after the journal went\n")
    copy.close()
