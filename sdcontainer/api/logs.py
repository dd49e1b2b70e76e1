"""`sdc logs`: a container's output, from the journal.

A detached container's output is its unit's journal stream, each entry with its ID and name
(LogExtraFields); a foreground one's is copied there by its launcher (launcher.JournalCopy),
with the same fields and SDC_STREAM. Only those entries are its output: not systemd's messages
about its unit, nor sdc's own (events), nor what an earlier container of the same name wrote.
--since and --until take Docker's forms (10m, 1h30m, RFC 3339, Unix time), made a journalctl
timestamp here, and journalctl's own ("10 min ago", "yesterday", "2026-12-01 10:00").
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from sdcontainer import protocol
from sdcontainer.api.containers import GONE, find, live_units, wait_gone
from sdcontainer.errors import UsageError
from sdcontainer.units import PREFIX

if TYPE_CHECKING:
    from subprocess import Popen

    from sdcontainer.api.context import Context
    from sdcontainer.containers import Container

_DURATION = re.compile(r"(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_UNIX = re.compile(r"\d{1,12}(?:\.\d{1,9})?")
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?))?(Z|[+-]\d{2}:\d{2})?")
TIME_HINT = "give a duration (10m, 1h30m), an RFC 3339 time (2026-12-05T10:00:00Z), Unix seconds, or journalctl's words"


def journal_time(text: str, *, flag: str, now: float | None = None) -> str:
    """--since/--until → a timestamp journalctl takes: Docker's forms as '@SECONDS'; journalctl's
    own as they are, once systemd-analyze has read them (else one line of ours, not journalctl's
    "Failed to parse timestamp")."""
    from datetime import datetime, timedelta, timezone

    now = time.time() if now is None else now
    if _DURATION.fullmatch(text):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
        return f"@{now - seconds:.6f}"
    if _UNIX.fullmatch(text):
        return f"@{text}"
    if m := _RFC3339.fullmatch(text):
        day, clock, zone = m.group(1), m.group(2) or "00:00", m.group(3)
        whole, _, fraction = clock.partition(".")
        try:
            stamp = datetime.fromisoformat(f"{day}T{whole}")
        except ValueError:
            raise UsageError(f"invalid {flag} {text[:60]!r}", hint=TIME_HINT) from None
        if zone:
            sign = 1 if zone[0] == "+" else -1
            offset = 0 if zone == "Z" else sign * (int(zone[1:3]) * 60 + int(zone[4:6]))
            stamp = stamp.replace(tzinfo=timezone(timedelta(minutes=offset)))
        seconds = stamp.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)  # naive: local time, as Docker
        return f"@{seconds:.6f}"
    _check_journal_time(text, flag)
    return text


def _check_journal_time(text: str, flag: str) -> None:
    import subprocess

    if not text or text.startswith("-") or not text.isprintable():
        raise UsageError(f"invalid {flag} {text[:60]!r}", hint=TIME_HINT)
    try:
        done = subprocess.run(["systemd-analyze", "timestamp", text], capture_output=True, check=False)
    except OSError:
        return  # no systemd-analyze: journalctl says what it thinks
    if done.returncode != 0:
        raise UsageError(f"invalid {flag} {text[:60]!r}", hint=TIME_HINT)


def parse_tail(text: str | None) -> int | None:
    """--tail N, or all (Docker's default)."""
    if text is None or text == "all":
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise UsageError(f"invalid --tail {text[:20]!r}", hint="give a number of lines, or all")
    return int(text)


def _kept(container: Container) -> None:
    if container.spec.log_driver == "none":
        raise UsageError(f"container {container.name} keeps no logs (--log-driver none)",
                         hint="run it with --log-driver journald (the default) to keep its output")  # fmt: skip


def logs_argv(container: Container, *, since: str | None = None, until: str | None = None,
              tail: int | None = None, output: str = "cat") -> list[str]:  # fmt: skip
    """journalctl of the container's output alone: the stdout entries of its ID its units wrote,
    whatever their names were (--enable and a rename change them), and what its foreground
    launcher copied (SDC_STREAM, root's). By its units' names: a trusted field of stream entries
    (from the stream's own header), where _UID is the writer's (a container's user's) and
    _SYSTEMD_SLICE missing once a short-lived writer has gone; a user's own units, which could
    set the ID field (LogExtraFields=), have none of these names."""
    cid = f"{protocol.ID_FIELD}={container.id}"
    if container.invocation:  # a Quadlet file's unit, which cannot name it: that unit's run of it
        argv = ["journalctl", "--no-pager", "-o", output, f"_SYSTEMD_UNIT={container.unit}", "_TRANSPORT=stdout",
                f"_SYSTEMD_INVOCATION_ID={container.invocation}"]  # fmt: skip
    else:
        units = [f"_SYSTEMD_UNIT={prefix}{name}.service" for name in (container.name, *container.former_names)
                 for prefix in (PREFIX, "sdc@")]  # fmt: skip
        argv = ["journalctl", "--no-pager", "-o", output, *units, "_TRANSPORT=stdout", cid,
                "+", cid, "_UID=0", f"{protocol.STREAM_FIELD}=stdout", f"{protocol.STREAM_FIELD}=stderr"]  # fmt: skip
    if since:
        argv += ["--since", since]
    if until:
        argv += ["--until", until]
    if tail is not None:
        argv += ["-n", str(tail)]
    return argv


def show_logs(ctx: Context, ref: str, *, since: str | None = None, until: str | None = None,
              tail: int | None = None, timestamps: bool = False) -> int:  # fmt: skip
    """`logs` without -f: exec'ed journalctl, or with -t its JSON, each line after its time."""
    import os
    import subprocess

    container = find(ctx, ref)
    _kept(container)
    if not timestamps:
        argv = logs_argv(container, since=since, until=until, tail=tail)
        os.execvp(argv[0], argv)
    argv = logs_argv(container, since=since, until=until, tail=tail, output="json")
    return _show(subprocess.Popen(argv, stdout=subprocess.PIPE), timestamps=True)


def follow_logs(ctx: Context, ref: str, *, since: str | None = None, tail: int | None = None,
                timestamps: bool = False) -> int:  # fmt: skip
    """`logs -f` as Docker's: the output so far, then what comes, until the container stops (a
    stopped one: what it wrote, and done). journalctl follows (its JSON, each entry's cursor
    kept) while we watch the unit; once it is down, it ends, and what reached the journal after
    the last entry shown is shown from that cursor: nothing lost, nothing twice. (journalctl
    252 writes no --cursor-file when a signal ends its -f.)"""
    import select
    import subprocess

    container = find(ctx, ref)
    _kept(container)
    argv = logs_argv(container, since=since, tail=tail, output="json")
    if container.unit not in live_units(ctx):
        return _show(subprocess.Popen(argv, stdout=subprocess.PIPE), timestamps=timestamps)
    started = time.time()
    follower = subprocess.Popen([*argv, "-f"], stdout=subprocess.PIPE)
    assert follower.stdout is not None
    cursor: str | None = None
    try:
        while wait_gone(ctx, container.unit, 0.0) not in GONE:
            if select.select([follower.stdout], [], [], 0.25)[0]:
                line = follower.stdout.readline()
                if not line:
                    break
                cursor = _show_entry(line, timestamps=timestamps) or cursor
    finally:
        follower.terminate()
        follower.wait()
    if cursor:
        rest = [*logs_argv(container, output="json"), f"--after-cursor={cursor}"]
    elif tail == 0:  # (attach: nothing before, and nothing was shown: what came since it began)
        rest = logs_argv(container, since=f"@{started:.6f}", output="json")
    else:
        rest = argv
    return _show(subprocess.Popen(rest, stdout=subprocess.PIPE), timestamps=timestamps)


def _show(proc: Popen[bytes], *, timestamps: bool = False) -> int:
    """What journalctl (JSON) shows, shown; its status."""
    assert proc.stdout is not None
    for line in proc.stdout:
        _show_entry(line, timestamps=timestamps)
    return int(proc.wait())


def _show_entry(line: bytes, *, timestamps: bool = False) -> str | None:
    """One journal entry of journalctl -o json: its message on stdout (as -o cat shows it), after
    its time as Docker's -t writes it (RFC 3339, UTC, nine digits); its cursor."""
    import json
    import sys

    try:
        entry = json.loads(line)
    except ValueError:
        return None
    message = entry.get("MESSAGE")
    data = bytes(message) if isinstance(message, list) else str(message or "").encode()
    if timestamps:
        data = f"{rfc3339_nano(str(entry.get('__REALTIME_TIMESTAMP') or '0'))} ".encode() + data
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.flush()
    return str(entry.get("__CURSOR") or "") or None


def rfc3339_nano(microseconds: str) -> str:
    from datetime import UTC, datetime

    value = int(microseconds) if microseconds.isdigit() else 0
    stamp = datetime.fromtimestamp(value // 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{value % 1_000_000:06d}000Z"
