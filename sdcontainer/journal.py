"""sdc's entries in systemd's journal, on journald's native socket (systemd's
JOURNAL_NATIVE_PROTOCOL.md): a foreground container's output (JournalCopy), and the events of
containers (event: what `sdc events` reads back). Standard library only: the launcher's too.

Every entry names its container (SDC_CONTAINER_ID, SDC_CONTAINER_NAME), so
`journalctl SDC_CONTAINER_NAME=web` tells a container's whole story. Sending never blocks nor
fails what sdc is doing: a journal that is not there, or takes no more now, loses the entry.
"""

from __future__ import annotations

import _socket
import struct

from sdcontainer import protocol

SOCKET = "/run/systemd/journal/socket"
EVENT_FIELD = "SDC_EVENT"
# Docker's container events that sdc has (its order: what `sdc events --filter event=` takes)
HEALTH_EVENTS = tuple(f"health_status: {s}" for s in (protocol.HEALTH_STARTING, protocol.HEALTHY, protocol.UNHEALTHY))
EVENTS = ("create", "start", "die", "oom", "kill", "stop", "pause", "unpause", "rename", "destroy", *HEALTH_EVENTS)
ATTRIBUTES = {"image": "SDC_IMAGE", "exitCode": "SDC_EXIT_CODE", "signal": "SDC_SIGNAL",
              "healthStatus": "SDC_HEALTH_STATUS", "oldName": "SDC_OLD_NAME"}  # fmt: skip


def _connect() -> _socket.socket | None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC | _socket.SOCK_NONBLOCK)
    try:
        sock.connect(SOCKET)
    except OSError:
        sock.close()
        return None
    return sock


def encode(fields: dict[str, str | bytes]) -> bytes:
    """An entry: each field NAME=VALUE, or, where the value may hold a newline, NAME, its length
    (64 bits, little-endian) and the bytes as they are."""
    parts = []
    for name, value in fields.items():
        data = value.encode(errors="surrogateescape") if isinstance(value, str) else value
        if b"\n" in data:
            parts.append(name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n")
        else:
            parts.append(name.encode() + b"=" + data + b"\n")
    return b"".join(parts)


def event(action: str, container_id: str, name: str, **attributes: str) -> None:
    """A container event, as `sdc events` shows it (Docker's: create, start, die with exitCode,
    oom, kill with signal, stop, pause, unpause, destroy)."""
    sock = _connect()
    if sock is None:
        return
    try:
        fields: dict[str, str | bytes] = {
            "MESSAGE": f"container {action} {name}", "PRIORITY": "6", "SYSLOG_IDENTIFIER": "sdc",
            EVENT_FIELD: action, protocol.ID_FIELD: container_id, protocol.NAME_FIELD: name}  # fmt: skip
        fields.update({ATTRIBUTES[k]: v for k, v in attributes.items() if k in ATTRIBUTES and v != ""})
        sock.send(encode(fields))
    except OSError:
        pass  # journald is behind, or gone: the event is lost, never what sdc is doing
    finally:
        sock.close()


class JournalCopy:
    """A foreground container's output copied to the journal, as a detached one's goes there
    (`sdc logs` shows either): a line an entry, sent on journald's native socket (systemd's
    JOURNAL_NATIVE_PROTOCOL.md) with the container's ID and name and the stream it came from.
    Never in the way of the output itself: a journal that is not there, or takes no more now,
    loses the copy (the terminal has it still)."""

    LINE_MAX = 48 * 1024  # journald's LineMax: a longer line is cut into entries this long

    def __init__(self, sock: _socket.socket, container_id: str, name: str, tag: str = "") -> None:
        self.sock = sock
        self.fields = (f"{protocol.ID_FIELD}={container_id}\n{protocol.NAME_FIELD}={name}\n"
                       f"SYSLOG_IDENTIFIER={tag or name}\nPRIORITY=6\n").encode()  # fmt: skip
        self.partial = {1: b"", 2: b""}

    @classmethod
    def of(cls, config: dict) -> JournalCopy | None:  # type: ignore[type-arg]
        annotations = config.get("annotations", {})
        container_id, name = annotations.get(protocol.CONTAINER_ID), annotations.get(protocol.CONTAINER_NAME)
        if not container_id or not name or annotations.get(protocol.LOG_DRIVER) in ("none", "passthrough"):
            return None
        sock = _connect()
        return cls(sock, container_id, name, annotations.get(protocol.LOG_TAG) or name) if sock is not None else None

    def write(self, stream: int, data: bytes) -> None:
        *lines, rest = (self.partial[stream] + data).split(b"\n")
        while len(rest) >= self.LINE_MAX:
            lines.append(rest[: self.LINE_MAX])
            rest = rest[self.LINE_MAX :]
        self.partial[stream] = rest
        for line in lines:
            self._send(stream, line)

    def _send(self, stream: int, line: bytes) -> None:
        line = line[: self.LINE_MAX].removesuffix(b"\r")  # a terminal's line ends in \r\n
        entry = b"".join([self.fields, b"SDC_STREAM=", b"stdout" if stream == 1 else b"stderr", b"\nMESSAGE\n",
                          struct.pack("<Q", len(line)), line, b"\n"])  # fmt: skip
        try:
            self.sock.send(entry)
        except OSError:
            pass  # EAGAIN: journald is behind; the copy is lost, never the output

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self._send(stream, rest)
        self.sock.close()
