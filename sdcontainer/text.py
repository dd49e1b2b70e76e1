"""Numbers in text from outside (headers, images' account files, flags, the environment).

str.isdigit() is no test of what int() takes: it is true of "²", which int() refuses, and
int() takes "٣" and "1_000", which no header or /etc/passwd means. A number here is ASCII
digits and nothing else."""

from __future__ import annotations


def is_decimal(text: str) -> bool:
    """text is a number of ASCII digits, as int() then reads it."""
    return text.isascii() and text.isdigit()


def iso_time(timestamp: float) -> str:
    """A time as Docker's JSON gives it: RFC 3339, UTC, Z."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


SIZE_RE = r"^\s*(\d+(?:\.\d+)?)\s*([bkmgtp]?)i?b?\s*$"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
SIZE_MAX = 1 << 60  # bytes: an exbibyte, and room to spare under systemd's uint64 (its "infinity" the top)


def parse_size(text: str, *, flag: str) -> int:
    """Docker's size syntax: 512, 64k, 64m, 1.5g (binary units), in integers (a float of twenty
    digits is not the number written), at most SIZE_MAX."""
    import re

    m = re.match(SIZE_RE, text, re.IGNORECASE)
    if not m or len(m.group(1)) > 40:
        from sdcontainer.errors import UsageError

        raise UsageError(f"invalid size {text[:60]!r} for {flag}",
                         hint="use a number with an optional unit: 64m, 1g, 512k")  # fmt: skip
    whole, _, fraction = m.group(1).partition(".")
    unit = _UNITS[m.group(2).lower()]
    value: int = int(whole) * unit + int(fraction or 0) * unit // 10 ** len(fraction)
    if value > SIZE_MAX:
        from sdcontainer.errors import UsageError

        raise UsageError(f"size {text[:60]!r} for {flag} is too large", hint="1 EiB (1048576t) at most")
    return value


