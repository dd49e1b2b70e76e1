"""`sdc events`: what happened to containers, from the journal.

Every change of a container's life passes through sdc's code, whoever asked for it: its creation
and removal (sdc), each start (its launcher, systemd's restarts included), its end with the exit
code (the launcher, or its unit's ExecStopPost, which systemd runs however the unit stopped:
`systemctl stop`, `machinectl terminate`, a reboot's), an OOM kill (the kernel's count in its
cgroup), and sdc's kill, stop, pause and unpause. Each writes one entry to the journal
(journal.event), so the journal is the one record: `--since` replays it, and following it shows
the next as they come, for every container of the host, with no daemon of ours.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sdcontainer import protocol
from sdcontainer.errors import UsageError
from sdcontainer.journal import ATTRIBUTES, EVENT_FIELD, EVENTS

FILTER_HINT = "use container=NAME|ID, event=start|die|..., image=NAME, type=container"


def parse_filters(values: Sequence[str]) -> Callable[[dict[str, Any]], bool]:
    """Docker's --filter: the same key twice is either value, different keys all."""
    wanted: dict[str, set[str]] = {}
    for value in values:
        key, eq, text = value.partition("=")
        if not eq or not text or key not in ("container", "event", "image", "type"):
            raise UsageError(f"invalid --filter {value[:60]!r}", hint=FILTER_HINT)
        if key == "event" and text not in (*EVENTS, "health_status"):
            raise UsageError(f"--filter event={text[:30]!r}: sdc has no such event", hint=f"one of {', '.join(EVENTS)}")
        wanted.setdefault(key, set()).add(text)

    def matches(event: dict[str, Any], key: str, text: str) -> bool:
        attributes = event["Actor"]["Attributes"]
        if key == "container":
            return bool(text == attributes["name"] or event["id"].startswith(text))
        if key == "event":  # (health_status: any of its, as Docker's)
            return bool(text == event["Action"] or text == event["Action"].partition(":")[0])
        if key == "image":
            return bool(text == attributes.get("image"))
        return text == "container"

    def keep(event: dict[str, Any]) -> bool:
        return all(any(matches(event, key, t) for t in texts) for key, texts in wanted.items())

    return keep


def journal_argv(*, since: str | None, until: str | None, follow: bool) -> list[str]:
    argv = ["journalctl", "--no-pager", "-o", "json", "_UID=0", "SYSLOG_IDENTIFIER=sdc",
            *(f"{EVENT_FIELD}={e}" for e in EVENTS)]  # fmt: skip
    if since:
        argv += ["--since", since]
    if until:
        argv += ["--until", until]
    if follow:
        argv += ["-f", *([] if since else ["-n", "0"])]
    return argv


def events(*, since: str | None, until: str | None) -> Iterator[dict[str, Any]]:
    """Past events (since), then, without until, the next ones as they come (until interrupted).
    Without since, the next are those from now on: from this call's time, not from when
    journalctl is reading (a second later on a busy host: what happened meanwhile was lost)."""
    if since is None and until is None:
        import time

        since = f"@{time.time():.6f}"
    proc = subprocess.Popen(journal_argv(since=since, until=until, follow=until is None), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            event = as_docker(line)
            if event is not None:
                yield event
    finally:
        proc.terminate()
        proc.wait()


def as_docker(line: bytes) -> dict[str, Any] | None:
    """A journal entry (journalctl -o json) as Docker's event JSON."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    action, cid = entry.get(EVENT_FIELD), entry.get(protocol.ID_FIELD)
    if not isinstance(action, str) or not isinstance(cid, str):
        return None
    attributes = {"name": str(entry.get(protocol.NAME_FIELD, ""))}
    for key, field in ATTRIBUTES.items():
        if isinstance(entry.get(field), str):
            attributes[key] = entry[field]
    nanos = int(entry.get("__REALTIME_TIMESTAMP", "0") or 0) * 1000
    return {"status": action, "id": cid, "from": attributes.get("image", ""), "Type": "container",
            "Action": action, "Actor": {"ID": cid, "Attributes": attributes}, "scope": "local",
            "time": nanos // 10**9, "timeNano": nanos}  # fmt: skip


def text(event: dict[str, Any]) -> str:
    """Docker's line: 2026-12-05T10:00:00.000000000Z container die ID (exitCode=0, image=bb, name=web)."""
    from sdcontainer.api.logs import rfc3339_nano

    attributes = ", ".join(f"{k}={v}" for k, v in sorted(event["Actor"]["Attributes"].items()))
    return f"{rfc3339_nano(str(event['timeNano'] // 1000))} container {event['Action']} {event['id']} ({attributes})"


def show(found: Iterator[dict[str, Any]], keep: Callable[[dict[str, Any]], bool], fmt: str) -> None:
    from sdcontainer import gotemplate

    template = gotemplate.compile_format(fmt) if fmt not in ("", "json") else None
    for event in found:
        if not keep(event):
            continue
        if fmt == "json":
            line = json.dumps(event)
        elif template is not None:
            line = gotemplate.format_one(template, _as_go(event))
        else:
            line = text(event)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


GO_NAMES = {"status": "Status", "id": "ID", "from": "From", "scope": "Scope", "time": "Time", "timeNano": "TimeNano"}


def _as_go(event: dict[str, Any]) -> Any:
    """An event as Docker's template sees its Message: the Go names (.ID, .Status, .TimeNano...)
    beside the JSON ones, which `{{json .}}` shows."""
    from sdcontainer import gotemplate

    data = gotemplate.structs(event, type_name="event")
    for key, name in GO_NAMES.items():
        data[name] = gotemplate.Method(name, lambda v=event[key]: v, arity=0)
    return data
