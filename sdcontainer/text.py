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
