"""JSON read by json's C scanner alone: the json package imports re and enum (~5 ms of every
command's start that reads a record, ps's); the launcher reads its config so, too."""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Any


def _refuse(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


class _Settings:
    """What the scanner reads off a decoder (json/decoder.py): json.loads' defaults, but for
    NaN and Infinity, which strict readers refuse."""

    strict = True
    object_hook = object_pairs_hook = array_hook = None
    parse_float, parse_int = float, int

    def __init__(self, constants: bool) -> None:
        self.parse_constant = float if constants else _refuse


_LOOSE, _STRICT = _Settings(True), _Settings(False)


def loads(text: str, *, constants: bool = True) -> Any:
    """json.loads(text) (constants: NaN, Infinity and -Infinity taken, as json's are); a
    ValueError for what is not one JSON value."""
    text = text.strip(" \t\n\r")  # JSON's whitespace
    try:
        value, end = _json.make_scanner(_LOOSE if constants else _STRICT)(text, 0)  # type: ignore[arg-type]
    except StopIteration:
        raise ValueError("no JSON value") from None
    if end != len(text):
        raise ValueError(f"extra data at character {end}")
    return value
