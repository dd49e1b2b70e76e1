"""`sdc attach`: a running detached container's terminal, or its output, here.

A container with a terminal (-d -t) has it held by its `sdc-console` process (launcher.
keep_relays), which listens on the bundle's ATTACH socket: an attach sends what is typed (b"i"),
its window's size (b"w"), and gets what the terminal shows, as the journal does. The detach keys
(Docker's ctrl-p,ctrl-q, or --detach-keys) end the attach and leave the container running. A
container without a terminal has no input to give (its stdin is /dev/null): its output is
followed from now, as `logs -f` does, and ^C is passed on to its PID 1 (--sig-proxy). Either way
an attach ends with the container, with its exit status.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sdcontainer import protocol
from sdcontainer.api.containers import find, live_units
from sdcontainer.errors import Conflict, UsageError

if TYPE_CHECKING:
    from sdcontainer.api.context import Context

DEFAULT_KEYS = "ctrl-p,ctrl-q"
KEYS_HINT = ("give keys as Docker's: a letter, or ctrl-LETTER (and ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, "
             "ctrl-_), comma-separated")


def parse_detach_keys(text: str) -> bytes:
    """Docker's --detach-keys: "ctrl-p,ctrl-q" → b"\\x10\\x11"; "" for none."""
    keys = bytearray()
    for word in filter(None, text.split(",")):
        if word.startswith("ctrl-") and len(word) == 6:
            char = word[5].lower()
            if "a" <= char <= "z":
                keys.append(ord(char) - ord("a") + 1)
                continue
            table = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if char in table:
                keys.append(table[char])
                continue
        elif len(word) == 1 and word.isascii() and word.isprintable():
            keys.append(ord(word))
            continue
        raise UsageError(f"invalid --detach-keys {text[:40]!r}", hint=KEYS_HINT)
    return bytes(keys)


class DetachKeys:
    """Finds the detach keys in what is typed, across reads; what is not them passes on (a
    prefix held back until it is known not to be them)."""

    def __init__(self, keys: bytes) -> None:
        self.keys, self.held = keys, b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """What to pass on, and whether the keys were typed (what follows them is dropped)."""
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.keys.startswith(candidate):
                if candidate == self.keys:
                    self.held = b""
                    return bytes(out), True
                self.held = candidate
                continue
            out += self.held
            self.held = b""
            if self.keys.startswith(bytes([byte])):
                self.held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out), False


def attach(ctx: Context, ref: str, *, detach_keys: str = DEFAULT_KEYS, sig_proxy: bool = True) -> int:
    keys = parse_detach_keys(detach_keys)
    container = find(ctx, ref)
    if container.unit not in live_units(ctx):
        raise Conflict(f"container {container.name} is not running", hint=f"sdc start -a {container.name}")
    if container.unit.endswith(".scope"):
        raise Conflict(f"container {container.name} runs in the foreground of another sdc",
                       hint="attach to a detached container (run -d)")  # fmt: skip
    path = Path(container.bundle) / protocol.ATTACH
    if not container.spec.tty or not path.exists():
        return _follow(ctx, ref, container.unit, sig_proxy=sig_proxy)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.connect(str(path))
    except OSError as exc:
        sock.close()
        raise Conflict(f"cannot attach to {container.name}: {exc.strerror}", hint="is it stopping?") from None
    with sock:
        detached = _relay_terminal(sock, DetachKeys(keys))
    if detached:
        return 0
    from sdcontainer.api.containers import wait

    return wait(ctx, container.name)


def _relay_terminal(sock: socket.socket, keys: DetachKeys) -> bool:
    """Our terminal's bytes to the container's, its bytes to ours (raw, but for \\n → \\r\\n: its
    terminal writes the journal's \\n), resizes passed on; True when the detach keys ended it."""
    import termios
    import tty

    terminal = os.isatty(0)
    saved = termios.tcgetattr(0) if terminal else None
    resized = [True]
    previous = signal.signal(signal.SIGWINCH, lambda *_: resized.__setitem__(0, True))
    try:
        if terminal:
            tty.setraw(0, termios.TCSANOW)
            attrs = termios.tcgetattr(0)
            attrs[1] |= termios.OPOST | termios.ONLCR
            termios.tcsetattr(0, termios.TCSANOW, attrs)
        reading = True
        while True:
            if resized[0] and terminal:
                resized[0] = False
                size = os.get_terminal_size(0)
                sock.send(b"w" + struct.pack("HH", size.lines, size.columns))
            try:
                ready, _, _ = select.select([sock.fileno(), *([0] if reading else [])], [], [])
            except InterruptedError:
                continue
            if sock.fileno() in ready:
                data = sock.recv(65536)
                if not data:
                    return False
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 4096)
                if not data:
                    reading = False
                    continue
                passed, detached = keys.feed(data)
                if passed:
                    sock.send(b"i" + passed)
                if detached:
                    return True
    finally:
        signal.signal(signal.SIGWINCH, previous)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _follow(ctx: Context, ref: str, unit: str, *, sig_proxy: bool) -> int:
    """A container without a terminal: its output from now until it stops; ^C passed on."""
    from sdcontainer.api.containers import kill, wait
    from sdcontainer.api.logs import follow_logs

    if sig_proxy:
        def proxy(signo: int, _: object) -> None:
            try:
                kill(ctx, ref, str(signo))
            except Exception:  # noqa: BLE001 - it ended meanwhile
                pass

        for signo in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signo, proxy)
    follow_logs(ctx, ref, tail=0)
    sys.stdout.flush()
    return wait(ctx, ref)
