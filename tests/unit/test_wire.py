"""The D-Bus wire client's marshalling: our reader against our writer and against dbus-next's
(an independent implementation of the same specification), and hostile bytes."""

from __future__ import annotations

import io
import socket
import struct
import threading
from typing import Any

import pytest
from dbus_next._private.unmarshaller import Unmarshaller
from dbus_next.constants import MessageType
from dbus_next.message import Message as NextMessage
from dbus_next.signature import Variant
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer.errors import SystemdError
from sdcontainer.systemd import wire
from sdcontainer.systemd.wire import WireError, decode_message, encode_call, message_size, split_signature

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)
BASIC: dict[str, st.SearchStrategy[Any]] = {
    "y": st.integers(0, 255),
    "b": st.booleans(),
    "n": st.integers(-(1 << 15), (1 << 15) - 1),
    "q": st.integers(0, (1 << 16) - 1),
    "i": st.integers(-(1 << 31), (1 << 31) - 1),
    "u": st.integers(0, (1 << 32) - 1),
    "x": st.integers(-(1 << 63), (1 << 63) - 1),
    "t": st.integers(0, (1 << 64) - 1),
    "d": st.floats(allow_nan=False),
    "s": TEXT,
    "o": st.sampled_from(["/", "/org/freedesktop/systemd1", "/org/freedesktop/systemd1/unit/sdc_2dx_2eservice"]),
    "g": st.sampled_from(["", "s", "a(sv)", "a{sv}as"]),
}


def typed(depth: int = 3) -> st.SearchStrategy[tuple[str, Any]]:
    """(a complete type, a value of it) as our writer takes it."""
    basic = st.sampled_from(sorted(BASIC)).flatmap(lambda code: st.tuples(st.just(code), BASIC[code]))
    if depth == 0:
        return basic

    inner = typed(depth - 1)

    def array(element: tuple[str, Any]) -> st.SearchStrategy[tuple[str, Any]]:
        sig = element[0]
        if sig == "y":
            return st.binary(max_size=16).map(lambda b: ("ay", b))
        return st.lists(typed_of(sig, depth - 1), max_size=4).map(lambda values: ("a" + sig, values))

    structs = st.lists(inner, min_size=1, max_size=4).map(
        lambda members: ("(" + "".join(s for s, _ in members) + ")", tuple(v for _, v in members)))
    dicts = st.tuples(st.sampled_from(["s", "u", "y", "o"]), inner).flatmap(
        lambda kv: st.dictionaries(BASIC[kv[0]], typed_of(kv[1][0], depth - 1), max_size=3).map(
            lambda d: ("a{" + kv[0] + kv[1][0] + "}", d)))
    variants = inner.map(lambda sv: ("v", sv))
    return st.one_of(basic, inner.flatmap(array), structs, dicts, variants)


def typed_of(sig: str, depth: int) -> st.SearchStrategy[Any]:
    """Values of one given type (the arrays' elements)."""
    return typed(max(depth, 0)).filter(lambda sv: sv[0] == sig).map(lambda sv: sv[1]) \
        if sig not in BASIC else BASIC[sig]  # fmt: skip


def read_back(value: Any, sig: str) -> Any:
    """What our reader gives for what our writer took: variants unwrapped, lists for arrays."""
    if sig == "v":
        return read_back(value[1], value[0])
    if sig.startswith("a{"):
        key_sig, value_sig = split_signature(sig[2:-1])
        return {k: read_back(v, value_sig) for k, v in value.items()}
    if sig == "ay":
        return bytes(value)
    if sig.startswith("a"):
        return [read_back(v, sig[1:]) for v in value]
    if sig.startswith("("):
        return tuple(read_back(v, s) for v, s in zip(value, split_signature(sig[1:-1]), strict=True))
    return value


def as_next(value: Any, sig: str) -> Any:
    """The same value as dbus-next takes it (Variant objects, lists for structs)."""
    if sig == "v":
        return Variant(value[0], as_next(value[1], value[0]))
    if sig.startswith("a{"):
        _, value_sig = split_signature(sig[2:-1])
        return {k: as_next(v, value_sig) for k, v in value.items()}
    if sig == "ay":
        return bytes(value)
    if sig.startswith("a"):
        return [as_next(v, sig[1:]) for v in value]
    if sig.startswith("("):
        return [as_next(v, s) for v, s in zip(value, split_signature(sig[1:-1]), strict=True)]
    return value


def from_next(value: Any, sig: str) -> Any:
    """dbus-next's reading in our reader's shape."""
    if sig == "v":
        return from_next(value.value, value.signature)
    if sig.startswith("a{"):
        _, value_sig = split_signature(sig[2:-1])
        return {k: from_next(v, value_sig) for k, v in value.items()}
    if sig == "ay":
        return bytes(value)
    if sig.startswith("a"):
        return [from_next(v, sig[1:]) for v in value]
    if sig.startswith("("):
        return tuple(from_next(v, s) for v, s in zip(value, split_signature(sig[1:-1]), strict=True))
    return value


ARGS = st.lists(typed(), max_size=3).filter(lambda args: len("".join(s for s, _ in args)) <= 255)


@settings(max_examples=300, deadline=None)
@given(ARGS)
def test_our_reader_reads_what_our_writer_wrote(args: list[tuple[str, Any]]) -> None:
    signature = "".join(sig for sig, _ in args)
    data = encode_call(7, "org.example", "/a/b", "org.example.I", "M", signature, [v for _, v in args])
    assert message_size(data) == len(data)
    msg = decode_message(data)
    assert (msg.kind, msg.serial, msg.path, msg.interface, msg.member) == (wire.METHOD_CALL, 7, "/a/b",
                                                                           "org.example.I", "M")  # fmt: skip
    assert msg.body == [read_back(v, s) for s, v in args]


@settings(max_examples=300, deadline=None)
@given(ARGS)
def test_dbus_next_reads_what_we_write(args: list[tuple[str, Any]]) -> None:
    signature = "".join(sig for sig, _ in args)
    data = encode_call(9, "org.example", "/a/b", "org.example.I", "M", signature, [v for _, v in args])
    unmarshaller = Unmarshaller(io.BytesIO(data))
    theirs = unmarshaller.unmarshall()
    assert theirs is not None and theirs.member == "M" and theirs.signature == signature
    assert [from_next(v, s) for v, (s, _) in zip(theirs.body, args, strict=True)] == \
        [read_back(v, s) for s, v in args]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(ARGS, st.sampled_from([MessageType.METHOD_RETURN, MessageType.SIGNAL, MessageType.ERROR]))
def test_we_read_what_dbus_next_writes(args: list[tuple[str, Any]], kind: MessageType) -> None:
    signature = "".join(sig for sig, _ in args)
    extra: dict[str, Any] = {"reply_serial": 5} if kind != MessageType.SIGNAL else \
        {"path": "/org/x", "interface": "org.x.I", "member": "S"}  # fmt: skip
    if kind == MessageType.ERROR:
        extra["error_name"] = "org.x.Error.Bad"
    theirs = NextMessage(message_type=kind, serial=3, signature=signature,
                         body=[as_next(v, s) for s, v in args], **extra)  # fmt: skip
    msg = decode_message(theirs._marshall())
    assert msg.kind == kind.value and msg.body == [read_back(v, s) for s, v in args]
    if kind != MessageType.SIGNAL:
        assert msg.reply_serial == 5


@settings(max_examples=500, deadline=None)
@given(ARGS, st.data())
def test_a_damaged_message_is_a_wire_error_never_a_traceback(args: list[tuple[str, Any]], data: st.DataObject) -> None:
    signature = "".join(sig for sig, _ in args)
    good = bytearray(encode_call(2, "org.x", "/x", "org.x.I", "M", signature, [v for _, v in args]))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(good) - 1))
        good[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(good)))
    damaged = bytes(good[:cut])
    try:
        size = message_size(damaged)
        if size is not None and size == len(damaged):
            decode_message(damaged)
    except WireError:
        pass


@given(st.binary(max_size=200))
def test_random_bytes_are_a_wire_error_never_a_traceback(data: bytes) -> None:
    try:
        decode_message(data)
    except WireError:
        pass


@pytest.mark.parametrize("sig", ["a", "(", "()", "a{vs}", "a{s}", "a{sss}", "(s", "z", "a" * 70 + "s",
                                 "(" * 40 + "s" + ")" * 40])
def test_bad_signatures(sig: str) -> None:
    with pytest.raises(WireError):
        split_signature(sig)


def test_a_deep_variant_chain_is_refused() -> None:
    """Variants nest without their signature saying so: the reader bounds the depth itself."""
    body = bytearray()
    for _ in range(80):
        body += b"\x01v\x00"
    body += b"\x01y\x00\x07"
    header = wire.Writer()
    header.buf += struct.pack("<cBBBII", b"l", 2, 0, 1, len(body), 1)
    header.write("a(yv)", [(5, ("u", 1)), (8, ("g", "v"))])
    header.pad(8)
    with pytest.raises(WireError, match="deep"):
        decode_message(bytes(header.buf + body))


def listening() -> tuple[str, socket.socket]:
    """A unix socket listening at a new path under /tmp: a bus of the test's making."""
    import tempfile

    path = tempfile.mktemp(prefix="sdc-bus-", dir="/tmp")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    return path, server


def fake_bus(replies: list[bytes]) -> tuple[str, threading.Thread]:
    """A bus at a socket path that answers the authentication, then sends replies."""
    path, server = listening()

    def serve() -> None:
        conn, _ = server.accept()
        with conn, server:
            got = b""
            while b"BEGIN\r\n" not in got:
                got += conn.recv(4096)
            conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n" + b"".join(replies))
            conn.recv(1 << 16)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return path, thread


def message(kind: int, serial: int, fields: list[tuple[int, tuple[str, Any]]], signature: str = "",
            args: list[Any] | None = None) -> bytes:  # fmt: skip
    """A message as the bus delivers it, SENDER included (dbus-next's marshaller leaves that to the bus)."""
    body = wire.Writer()
    for sig, arg in zip(split_signature(signature), args or [], strict=True):
        body.write(sig, arg)
    header = wire.Writer()
    header.buf += struct.pack("<cBBBII", b"l", kind, 0, 1, len(body.buf), serial)
    header.write("a(yv)", [*fields, *([(8, ("g", signature))] if signature else [])])
    header.pad(8)
    return bytes(header.buf + body.buf)


def reply(serial: int, sender: str, signature: str, body: list[Any], error: str = "") -> bytes:
    fields = [(5, ("u", serial)), (7, ("s", sender)), *([(4, ("s", error))] if error else [])]
    return message(wire.ERROR if error else wire.METHOD_RETURN, 100 + serial, fields, signature, body)


def test_job_signals_count_only_from_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JobRemoved from another client of the bus (a forged "done") does not end the wait;
    systemd's does. Serials: 1 Hello, 2 AddMatch, 3 Subscribe, 4 StartTransientUnit."""
    job = "/org/freedesktop/systemd1/job/42"

    def removed(sender: str, result: str, serial: int) -> bytes:
        return message(wire.SIGNAL, serial, [(1, ("o", wire.MANAGER_PATH)), (2, ("s", wire.MANAGER_IFACE)),
                                             (3, ("s", "JobRemoved")), (7, ("s", sender))],
                       "uoss", [42, job, "x.service", result])  # fmt: skip

    path, thread = fake_bus([reply(2, "org.freedesktop.DBus", "", []), reply(3, ":1.1", "", []),
                             reply(4, ":1.1", "o", [job]), removed(":1.66", "done", 500),
                             removed(":1.1", "failed", 501), removed(":1.66", "done", 502)])  # fmt: skip
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
    client = wire.WireClient()
    try:
        assert client.start_transient_unit("x.service", [("Description", "s", "x")]) == "failed"
    finally:
        client.close()
    thread.join(5)


def test_errors_are_sdc_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    path, thread = fake_bus([reply(2, ":1.1", "s", ["Unit x.service not loaded."],
                                   error="org.freedesktop.systemd1.NoSuchUnit")])  # fmt: skip
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
    client = wire.WireClient()
    from sdcontainer.errors import NotFound

    with pytest.raises(NotFound, match="not loaded"):
        client.unit_properties("x.service")
    client.close()
    thread.join(5)


def test_a_refused_authentication_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    path, server = listening()

    def serve() -> None:
        conn, _ = server.accept()
        with conn, server:
            conn.recv(4096)
            conn.sendall(b"REJECTED EXTERNAL\r\n")

    threading.Thread(target=serve, daemon=True).start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
    client = wire.WireClient()
    with pytest.raises(SystemdError, match="refused"):
        client.reset_failed_unit("x.service")


def test_no_bus_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    with pytest.raises(SystemdError, match="cannot reach systemd"):
        wire.WireClient()


def test_dict_entries_count_apart_from_structs() -> None:
    """libdbus counts arrays, structs and dict entries each to 32: a signature it accepts, which
    any client may send us in a signal, is one we read."""
    sig = "a{s" * 13 + "(" * 20 + "s" + ")" * 20 + "}" * 13
    assert split_signature(sig) == [sig]
    with pytest.raises(WireError):
        split_signature("a{s" * 33 + "s" + "}" * 33)


def signal_from(sender: str, signature: str, body: bytes, serial: int = 900) -> bytes:
    """A signal whose body is whatever bytes a peer chooses (the bus does not check them)."""
    header = wire.Writer()
    header.buf += struct.pack("<cBBBII", b"l", 4, 0, 1, len(body), serial)
    header.write("a(yv)", [(1, ("o", "/x")), (2, ("s", "org.x.I")), (3, ("s", "JobRemoved")), (7, ("s", sender)),
                           (8, ("g", signature))])  # fmt: skip
    header.pad(8)
    return bytes(header.buf) + body


def test_what_we_do_not_wait_for_is_not_decoded_nor_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another client's signal with a body that does not decode (or a huge one) is dropped by its
    header: the call goes on."""
    garbage = signal_from(":1.66", "as", b"\xff" * 64)
    path, thread = fake_bus([garbage, reply(2, ":1.1", "", [])])
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
    client = wire.WireClient()
    try:
        client.reset_failed_unit("x.service")
    finally:
        client.close()
    thread.join(5)


def test_units_properties_leaves_out_what_a_unit_lacks_and_raises_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    path, thread = fake_bus([
        reply(2, ":1.1", "v", [("s", "active")]),
        reply(3, ":1.1", "s", ["no such property"], error="org.freedesktop.DBus.Error.UnknownProperty"),
        reply(4, ":1.1", "s", ["too many"], error="org.freedesktop.DBus.Error.LimitsExceeded"),
    ])  # fmt: skip
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
    client = wire.WireClient()
    try:
        with pytest.raises(SystemdError, match="too many"):
            client.units_properties([("a.service", "x"), ("b.service", "x"), ("c.service", "x")], ["ActiveState"])
    finally:
        client.close()
    thread.join(5)
    path, thread = fake_bus([reply(2, ":1.1", "v", [("s", "active")]),
                             reply(3, ":1.1", "s", ["no"], error="org.freedesktop.DBus.Error.UnknownProperty")])
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
    client = wire.WireClient()
    try:
        assert client.units_properties([("a.service", "x"), ("b.service", "x")], ["ActiveState"]) == \
            [{"ActiveState": "active"}, {}]  # fmt: skip
    finally:
        client.close()
    thread.join(5)


def test_a_send_that_cannot_finish_is_a_timeout_and_the_connection_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bus that reads nothing: the write blocks, the deadline ends it, the stream is not reused."""
    path, server = listening()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
    monkeypatch.setattr(wire, "CALL_TIMEOUT", 0.5)
    client = wire.WireClient()
    serial = client._bus.call(*wire.DBUS, "X", "ay", [b"\0" * (8 << 20)])
    with pytest.raises(SystemdError, match="in time"):
        client._bus.reply(serial, timeout=0.5)
    with pytest.raises(SystemdError):
        client._bus.reply(serial, timeout=0.5)
    server.close()
