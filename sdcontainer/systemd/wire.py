"""SystemdClient over the D-Bus wire protocol itself: a synchronous client of the system bus's
socket, standard library only (socket, struct).

Why our own: pystemd is a compiled extension that pip builds from source (libsystemd-dev, a
compiler), and dbus-next runs on asyncio, whose import (with ssl) costs more than the rest of a
command. This adapter imports nothing that `sdc` has not loaded anyway, and it pipelines: it
writes the authentication, Hello, the match rule for job signals, Subscribe and the call that
needs them in one write, and reads the replies as they come, so a `sdc run` pays one round trip
to systemd where it used to pay four. The other adapters stay, chosen by $SDC_BUS.

The peer is the bus daemon (root's), but what it relays is still parsed defensively: lengths
bounded by what the message holds, nesting bounded as the specification bounds it, and any
malformation a WireError rather than a traceback. Job signals count only from the peer that
answered as org.freedesktop.systemd1, not from another client of the bus.
"""

from __future__ import annotations

import _socket as socket  # (the socket module adds selectors and enum types: ~1.5 ms)
import contextlib
import os
import struct
import time
from collections.abc import Sequence

from sdcontainer.errors import SystemdError
from sdcontainer.systemd import (
    BUS_NAME,
    LACKING,
    MANAGER_IFACE,
    MANAGER_PATH,
    START_SIGNATURE,
    UNIT_IFACE,
    Property,
    UnitInfo,
    error_from_dbus,
    unit_path,
    unreachable,
)

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Any

SYSTEM_BUS = "/run/dbus/system_bus_socket"
DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
PROPERTIES = "org.freedesktop.DBus.Properties"
CALL_TIMEOUT = 25.0  # seconds, sd-bus's default for a method call
# Calls sent before their replies are read: the system bus refuses a connection more than 128
# pending replies (max_replies_per_connection, LimitsExceeded).
IN_FLIGHT = 64

JOB_TIMEOUT = 120.0
MAX_MESSAGE = 1 << 27  # the specification's limit (128 MiB)
MAX_DEPTH = 64  # 32 nested arrays and 32 nested structs at most
METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
NO_REPLY_EXPECTED = 0x1

# Basic fixed-size types: (size and alignment, struct format).
_FIXED = {"y": (1, "B"), "b": (4, "I"), "n": (2, "h"), "q": (2, "H"), "i": (4, "i"), "u": (4, "I"),
          "x": (8, "q"), "t": (8, "Q"), "d": (8, "d"), "h": (4, "I")}  # fmt: skip
_ALIGN = {**{code: size for code, (size, _) in _FIXED.items()}, "s": 4, "o": 4, "g": 1, "a": 4, "(": 8, "{": 8,
          "v": 1}  # fmt: skip


class WireError(Exception):
    """A malformed message, signature or value."""


def _end(sig: str, i: int, arrays: int = 0, structs: int = 0, entries: int = 0) -> int:
    """The index just past the complete type that starts at sig[i] (at most 32 arrays, 32 structs
    and 32 dict entries deep, each counted apart, as libdbus counts them)."""
    if arrays > 32 or structs > 32 or entries > 32:
        raise WireError("signature nested too deeply")
    if i >= len(sig):
        raise WireError(f"signature {sig!r} ends inside a type")
    code = sig[i]
    if code == "a":
        if sig[i + 1 : i + 2] == "{":
            key = i + 2
            if key >= len(sig) or sig[key] not in _FIXED and sig[key] not in "sog":
                raise WireError(f"signature {sig!r}: a dict's key must be a basic type")
            j = _end(sig, key + 1, arrays + 1, structs, entries + 1)
            if sig[j : j + 1] != "}":
                raise WireError(f"signature {sig!r}: a dict entry holds two types")
            return j + 1
        return _end(sig, i + 1, arrays + 1, structs, entries)
    if code == "(":
        j = i + 1
        if sig[j : j + 1] == ")":
            raise WireError(f"signature {sig!r}: an empty struct")
        while sig[j : j + 1] != ")":
            j = _end(sig, j, arrays, structs + 1, entries)
        return j + 1
    if code in _FIXED or code in "sogv":
        return i + 1
    raise WireError(f"signature {sig!r}: unknown type {code!r}")


def split_signature(sig: str) -> list[str]:
    """A signature's complete types: 'sa(sv)u' -> ['s', 'a(sv)', 'u']."""
    if len(sig) > 255:
        raise WireError("signature longer than 255")
    types, i = [], 0
    while i < len(sig):
        j = _end(sig, i)
        types.append(sig[i:j])
        i = j
    return types


def _members(sig: str) -> list[str]:
    """A struct's or a dict entry's member types: '(sv)' -> ['s', 'v']."""
    return split_signature(sig[1:-1])


class Writer:
    """Marshals values into a buffer whose offset 0 is 8-aligned in the message. A variant is
    given as (signature, value); a struct as a tuple or list; 'ay' as bytes; a{..} as a dict."""

    def __init__(self, order: str = "<") -> None:
        self.buf = bytearray()
        self.order = order

    def pad(self, align: int) -> None:
        self.buf += bytes(-len(self.buf) % align)

    def write(self, sig: str, value: Any) -> None:
        code, buf = sig[0], self.buf
        if code in _FIXED:
            size, fmt = _FIXED[code]
            self.pad(size)
            buf += struct.pack(self.order + fmt, int(value) if code == "b" else value)
        elif code in "so":
            data = value.encode()
            if b"\0" in data:
                raise WireError("a string holds NUL")
            self.pad(4)
            buf += struct.pack(self.order + "I", len(data)) + data + b"\0"
        elif code == "g":
            split_signature(value)
            buf += bytes((len(value),)) + value.encode("ascii") + b"\0"
        elif code == "v":
            inner_sig, inner = value
            if len(split_signature(inner_sig)) != 1:
                raise WireError(f"a variant holds one type, not {inner_sig!r}")
            self.write("g", inner_sig)
            self.write(inner_sig, inner)
        elif code == "a":
            element = sig[1:]
            self.pad(4)
            at = len(buf)
            buf += b"\0\0\0\0"
            self.pad(_ALIGN[element[0]])
            start = len(buf)
            if element == "y":
                buf += bytes(value)
            elif element[0] == "{":
                key_sig, value_sig = _members(element)
                for key, item in value.items():
                    self.pad(8)
                    self.write(key_sig, key)
                    self.write(value_sig, item)
            else:
                for item in value:
                    self.write(element, item)
            struct.pack_into(self.order + "I", buf, at, len(buf) - start)
        elif code == "(":
            self.pad(8)
            members = _members(sig)
            if len(members) != len(value):
                raise WireError(f"{sig} takes {len(members)} values, not {len(value)}")
            for member, item in zip(members, value, strict=True):
                self.write(member, item)
        else:
            raise WireError(f"unknown type {code!r}")


class Reader:
    """Unmarshals from data, whose offset 0 is 8-aligned in the message: structs as tuples,
    arrays as lists, 'ay' as bytes, dicts as dicts, variants as the value they hold."""

    def __init__(self, data: bytes, order: str, pos: int = 0) -> None:
        self.data, self.order, self.pos = data, order, pos

    def _align(self, align: int) -> None:
        self.pos += -self.pos % align
        if self.pos > len(self.data):
            raise WireError("message truncated")

    def _unpack(self, fmt: str, size: int) -> Any:
        if self.pos + size > len(self.data):
            raise WireError("message truncated")
        (value,) = struct.unpack_from(self.order + fmt, self.data, self.pos)
        self.pos += size
        return value

    def _bytes(self, length: int) -> bytes:
        end = self.pos + length
        if end + 1 > len(self.data) or self.data[end] != 0:
            raise WireError("a string runs past its message, or lacks its NUL")
        value = self.data[self.pos : end]
        self.pos = end + 1
        return value

    def read(self, sig: str, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("values nested too deeply")
        code = sig[0]
        if code in _FIXED:
            size, fmt = _FIXED[code]
            self._align(size)
            value = self._unpack(fmt, size)
            if code == "b":
                if value > 1:
                    raise WireError(f"boolean {value}")
                return bool(value)
            return value
        if code in "so":
            self._align(4)
            raw = self._bytes(self._unpack("I", 4))
            try:
                return raw.decode()
            except UnicodeDecodeError:
                raise WireError("a string is not UTF-8") from None
        if code == "g":
            raw = self._bytes(self._unpack("B", 1))
            try:
                return raw.decode("ascii")
            except UnicodeDecodeError:
                raise WireError("a signature is not ASCII") from None
        if code == "v":
            inner = self.read("g")
            if len(split_signature(inner)) != 1:
                raise WireError(f"a variant of {inner!r}")
            return self.read(inner, depth + 1)
        if code == "a":
            self._align(4)
            length = self._unpack("I", 4)
            if length > 1 << 26:
                raise WireError("an array longer than 64 MiB")
            element = sig[1:]
            self._align(_ALIGN[element[0]])
            end = self.pos + length
            if end > len(self.data):
                raise WireError("an array runs past its message")
            if element == "y":
                value = bytes(self.data[self.pos : end])
                self.pos = end
                return value
            if element[0] == "{":
                key_sig, value_sig = _members(element)
                entries = {}
                while self.pos < end:
                    self._align(8)
                    key = self.read(key_sig, depth + 1)
                    entries[key] = self.read(value_sig, depth + 1)
                items: Any = entries
            else:
                items = []
                while self.pos < end:
                    items.append(self.read(element, depth + 1))
            if self.pos != end:
                raise WireError("an array's elements overrun its length")
            return items
        if code == "(":
            self._align(8)
            return tuple(self.read(member, depth + 1) for member in _members(sig))
        raise WireError(f"unknown type {code!r}")


class Message:
    __slots__ = ("kind", "flags", "serial", "reply_serial", "path", "interface", "member", "error_name",
                 "sender", "body")  # fmt: skip

    def __init__(self, kind: int, flags: int, serial: int, fields: dict[int, Any], body: list[Any]) -> None:
        self.kind, self.flags, self.serial, self.body = kind, flags, serial, body
        self.path: str = fields.get(1, "")
        self.interface: str = fields.get(2, "")
        self.member: str = fields.get(3, "")
        self.error_name: str = fields.get(4, "")
        self.reply_serial: int = fields.get(5, 0)
        self.sender: str = fields.get(7, "")


# Header fields: code -> the signature its value must have.
_FIELD_TYPES = {1: "o", 2: "s", 3: "s", 4: "s", 5: "u", 6: "s", 7: "s", 8: "g", 9: "u"}


def encode_call(serial: int, destination: str, path: str, interface: str, member: str, signature: str = "",
                args: Sequence[Any] = (), flags: int = 0) -> bytes:  # fmt: skip
    """A METHOD_CALL message, little-endian."""
    body = Writer()
    types = split_signature(signature)
    if len(types) != len(args):
        raise WireError(f"{member}({signature}) takes {len(types)} arguments, not {len(args)}")
    for sig, arg in zip(types, args, strict=True):
        body.write(sig, arg)
    fields: list[tuple[int, tuple[str, Any]]] = [(1, ("o", path)), (2, ("s", interface)), (3, ("s", member)),
                                                  (6, ("s", destination))]  # fmt: skip
    if signature:
        fields.append((8, ("g", signature)))
    header = Writer()
    header.buf += struct.pack("<cBBBII", b"l", METHOD_CALL, flags, 1, len(body.buf), serial)
    header.write("a(yv)", fields)
    header.pad(8)
    return bytes(header.buf + body.buf)


def message_size(data: bytes | bytearray) -> int | None:
    """The size of the message data starts with, once its fixed header is there (None before)."""
    if len(data) < 16:
        return None
    order = {0x6C: "<", 0x42: ">"}.get(data[0])
    if order is None or data[3] != 1:
        raise WireError("not a D-Bus message of protocol version 1")
    body_length, _serial, fields_length = struct.unpack_from(order + "III", data, 4)
    size: int = 16 + fields_length + (-(16 + fields_length) % 8) + body_length
    if size > MAX_MESSAGE:
        raise WireError("a message larger than 128 MiB")
    return size


def decode_message(data: bytes, *, body: bool = True) -> Message:
    """One whole message (message_size's bytes); without body, its header alone (the body left
    unread: what sdc does not wait for costs no decoding, and cannot fail the command)."""
    order = {0x6C: "<", 0x42: ">"}.get(data[0]) if data else None
    if order is None or len(data) < 16 or data[3] != 1:
        raise WireError("not a D-Bus message of protocol version 1")
    kind, flags = data[1], data[2]
    body_length, serial = struct.unpack_from(order + "II", data, 4)
    if kind not in (METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL) or serial == 0:
        raise WireError(f"a message of type {kind}, serial {serial}")
    reader = Reader(data, order, 12)
    fields: dict[int, Any] = {}
    for code, value in reader.read("a(yv)"):
        # (the variant's own type is checked through the value's Python type)
        expected = _FIELD_TYPES.get(code)
        if expected is not None:
            if not isinstance(value, int if expected in "u" else str):
                raise WireError(f"header field {code} of the wrong type")
            fields[code] = value
    reader._align(8)
    if reader.pos + body_length != len(data):
        raise WireError("the body's length disagrees with the message's")
    if not body:
        return Message(kind, flags, serial, fields, [])
    values = [reader.read(sig) for sig in split_signature(fields.get(8, ""))]
    if reader.pos != len(data):
        raise WireError("the body holds more than its signature says")
    return Message(kind, flags, serial, fields, values)


def bus_address() -> tuple[str | bytes, str]:
    """The system bus's socket address ($DBUS_SYSTEM_BUS_ADDRESS's first unix: one), and its text."""
    text = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or f"unix:path={SYSTEM_BUS}"
    for address in text.split(";"):
        transport, _, keys = address.partition(":")
        if transport != "unix":
            continue
        options = dict(pair.partition("=")[::2] for pair in keys.split(","))
        if options.get("path"):
            return options["path"], address
        if options.get("abstract"):
            return b"\0" + options["abstract"].encode(), address
    raise SystemdError(f"no unix socket in DBUS_SYSTEM_BUS_ADDRESS {text!r}",
                       hint="unset it to use the system bus at " + SYSTEM_BUS)  # fmt: skip


class Connection:
    """A connection to the system bus: calls are queued, written together by the first wait for
    a reply, and their replies read as they come. Of what else arrives, only systemd's
    JobRemoved signals are kept (signals): any client of the bus may send us signals, and the
    bus passes their bodies unchecked; a message not waited for is dropped by its header, its
    body never decoded."""

    def __init__(self) -> None:
        address, self.address = bus_address()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            self.sock.connect(address)
        except OSError as exc:
            self.sock.close()
            raise unreachable(exc) from exc
        # EXTERNAL: the kernel tells the bus our uid; BEGIN and the first messages follow at once.
        uid = str(os.geteuid()).encode().hex().encode()
        self._out = bytearray(b"\0AUTH EXTERNAL " + uid + b"\r\nBEGIN\r\n")
        self._in = bytearray()
        self._authenticated = False
        self._serial = 0
        self._wanted: dict[int, str] = {}  # serial -> the destination of the call
        self._replies: dict[int, Message] = {}
        self.peers: dict[str, str] = {}  # a well-known name -> the unique name that answered for it
        self.signals: list[Message] = []
        self.call(*DBUS, "Hello", flags=NO_REPLY_EXPECTED)  # (the bus answers Hello all the same)

    def call(self, destination: str, path: str, interface: str, member: str, signature: str = "",
             args: Sequence[Any] = (), flags: int = 0) -> int:  # fmt: skip
        """Queue a method call; its serial, for reply()."""
        self._serial += 1
        self._out += encode_call(self._serial, destination, path, interface, member, signature, args, flags)
        if not flags & NO_REPLY_EXPECTED:
            self._wanted[self._serial] = destination
        return self._serial

    def reply(self, serial: int, timeout: float = CALL_TIMEOUT) -> Message:
        """The reply to a call (METHOD_RETURN or ERROR), sending what is queued first."""
        deadline = time.monotonic() + timeout
        while serial not in self._replies:
            self.receive(deadline)
        self._wanted.pop(serial, None)
        return self._replies.pop(serial)

    def receive(self, deadline: float) -> None:
        """Send what is queued, then read what the bus has sent, until at least one message (or
        the authentication's answer) is in."""
        late = SystemdError("systemd did not answer in time", hint="see `systemctl status` and its journal")
        try:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise late
            self.sock.settimeout(remaining)
            if self._out:
                try:
                    self.sock.sendall(self._out)
                except OSError:
                    self.close()  # part of a message may have gone: the stream is lost
                    raise
                self._out.clear()
            data = self.sock.recv(1 << 16)
        except TimeoutError:
            raise late from None
        except OSError as exc:
            raise unreachable(exc) from exc
        if not data:
            raise unreachable(EOFError("the bus closed the connection"))
        self._in += data
        try:
            self._take_messages()
        except WireError as exc:
            self.close()
            raise SystemdError(f"the system bus sent a malformed message ({exc})") from None

    def _take_messages(self) -> None:
        if not self._authenticated:
            line_end = self._in.find(b"\r\n")
            if line_end < 0:
                if len(self._in) > 512:
                    raise WireError("no answer to the authentication")
                return
            line = bytes(self._in[:line_end])
            if not line.startswith(b"OK "):
                raise SystemdError(f"the system bus refused sdc ({line[:80].decode(errors='replace')})",
                                   hint="run sdc as root")  # fmt: skip
            del self._in[: line_end + 2]
            self._authenticated = True
        while (size := message_size(self._in)) is not None and len(self._in) >= size:
            data = bytes(self._in[:size])
            del self._in[:size]
            try:
                head = decode_message(data, body=False)
            except WireError:
                continue  # (framed by its fixed header: the next one is where it says)
            if head.kind in (METHOD_RETURN, ERROR) and head.reply_serial in self._wanted:
                msg = decode_message(data)  # one we wait for, from the bus or systemd: malformed is fatal
                destination = self._wanted[head.reply_serial]
                if head.sender.startswith(":"):
                    self.peers.setdefault(destination, head.sender)
                self._replies[head.reply_serial] = msg
            elif head.kind == SIGNAL and head.member == "JobRemoved" and head.sender and \
                    head.sender == self.peers.get(BUS_NAME):  # fmt: skip
                with contextlib.suppress(WireError):
                    self.signals.append(decode_message(data))

    def close(self) -> None:
        self.sock.close()


def _check(msg: Message) -> list[Any]:
    """A reply's body, or its error as sdc's."""
    if msg.kind == ERROR:
        text = msg.body[0] if msg.body and isinstance(msg.body[0], str) else msg.error_name
        raise error_from_dbus(msg.error_name, text)
    return msg.body


class WireClient:
    def __init__(self) -> None:
        self._bus = Connection()
        self._subscribed = False
        self._jobs: dict[str, str] = {}  # job path -> result, from systemd's JobRemoved
        self._checks: list[int] = []  # calls whose replies are only checked (AddMatch, Subscribe)

    def _manager(self, member: str, signature: str = "", args: Sequence[Any] = ()) -> list[Any]:
        return _check(self._bus.reply(self._bus.call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, member, signature, args)))

    def _subscribe(self) -> None:
        """Ask for job signals (systemd sends them only to subscribers), queued before the call
        that starts a job, so both go in one write."""
        if self._subscribed:
            return
        rule = (f"type='signal',sender='{BUS_NAME}',path='{MANAGER_PATH}',interface='{MANAGER_IFACE}',"
                "member='JobRemoved'")
        self._checks += [self._bus.call(*DBUS, "AddMatch", "s", [rule]),
                         self._bus.call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Subscribe")]  # fmt: skip
        self._subscribed = True

    def _wait_job(self, job: str) -> str:
        """The job's result, from systemd's JobRemoved (Connection keeps those of systemd's own
        unique name alone: another client's forged one is not taken)."""
        while self._checks:  # (answered before the job's call was: in the order they were sent)
            _check(self._bus.reply(self._checks.pop(0)))
        deadline = time.monotonic() + JOB_TIMEOUT
        while True:
            for msg in self._bus.signals:
                if msg.path == MANAGER_PATH and msg.interface == MANAGER_IFACE and len(msg.body) == 4:
                    self._jobs[str(msg.body[1])] = str(msg.body[3])
            self._bus.signals.clear()
            if job in self._jobs:
                return self._jobs.pop(job)
            if time.monotonic() >= deadline:
                raise SystemdError(f"systemd job {job} did not finish in {JOB_TIMEOUT:.0f}s")
            self._bus.receive(deadline)

    def start_transient_unit(self, name: str, properties: Sequence[Property],
                             aux: Sequence[tuple[str, Sequence[Property]]] = ()) -> str:  # fmt: skip
        self._subscribe()
        args = [name, "fail", _variants(properties), [(unit, _variants(theirs)) for unit, theirs in aux]]
        (job,) = self._manager("StartTransientUnit", START_SIGNATURE, args)
        return self._wait_job(job)

    def set_unit_properties(self, name: str, properties: Sequence[Property]) -> None:
        self._manager("SetUnitProperties", "sba(sv)", [name, True, _variants(properties)])

    def start_unit(self, name: str) -> str:
        self._subscribe()
        (job,) = self._manager("StartUnit", "ss", [name, "replace"])
        return self._wait_job(job)

    def restart_unit(self, name: str) -> str:
        self._subscribe()
        (job,) = self._manager("RestartUnit", "ss", [name, "replace"])
        return self._wait_job(job)

    def reload(self) -> None:
        self._manager("Reload")

    def stop_unit(self, name: str, *, wait: bool = True) -> str:
        if wait:
            self._subscribe()
        (job,) = self._manager("StopUnit", "ss", [name, "replace"])
        return self._wait_job(job) if wait else str(job)

    def kill_unit(self, name: str, who: str, signal: int) -> None:
        self._manager("KillUnit", "ssi", [name, who, signal])

    def reset_failed_unit(self, name: str) -> None:
        self._manager("ResetFailedUnit", "s", [name])

    def unit_properties(self, name: str, interface: str = UNIT_IFACE) -> dict[str, object]:
        (path,) = self._manager("GetUnit", "s", [name])
        (props,) = _check(self._bus.reply(self._bus.call(BUS_NAME, path, PROPERTIES, "GetAll", "s", [interface])))
        return dict(props)

    def units_properties(self, units: Sequence[tuple[str, str]], names: Sequence[str]) -> list[dict[str, object]]:
        """Every Get sent in writes of IN_FLIGHT, the replies read as they come: a round trip
        for each IN_FLIGHT. A property the unit lacks is left out; any other error is raised."""
        asked = [(i, prop, unit, iface) for i, (unit, iface) in enumerate(units) for prop in names]
        found: list[dict[str, object]] = [{} for _ in units]
        for start in range(0, len(asked), IN_FLIGHT):
            batch = [(i, prop, self._bus.call(BUS_NAME, unit_path(unit), PROPERTIES, "Get", "ss", [iface, prop]))
                     for i, prop, unit, iface in asked[start : start + IN_FLIGHT]]  # fmt: skip
            for i, prop, serial in batch:
                msg = self._bus.reply(serial)
                if msg.kind == ERROR and msg.error_name in LACKING:
                    continue
                (value,) = _check(msg)
                found[i][prop] = value
        return found

    def list_units(self, patterns: Sequence[str]) -> list[UnitInfo]:
        (units,) = self._manager("ListUnitsByPatterns", "asas", [[], list(patterns)])
        return [UnitInfo(name=u[0], description=u[1], load_state=u[2], active_state=u[3], sub_state=u[4])
                for u in units]  # fmt: skip

    def close(self) -> None:
        self._bus.close()


def _variants(properties: Sequence[Property]) -> list[tuple[str, tuple[str, object]]]:
    return [(key, (sig, value)) for key, sig, value in properties]
