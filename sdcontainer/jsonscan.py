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


def dumps(value: Any, level: int = 0) -> str:
    """json.dumps(value, indent=2, sort_keys=True), sdc's records' form, without the json
    package (json.encoder imports re): JSON's own types, tuples as lists; a TypeError for any
    other (and a RecursionError, not json's ValueError, for a value that holds itself)."""
    if isinstance(value, str):
        return _json.encode_basestring_ascii(value)
    if (scalar := _scalar(value)) is not None:
        return scalar
    inner = "\n" + "  " * (level + 1)
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = (dumps(item, level + 1) for item in value)
        return "[" + inner + ("," + inner).join(items) + "\n" + "  " * level + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        members = (_json.encode_basestring_ascii(_key(key)) + ": " + dumps(item, level + 1)
                   for key, item in sorted(value.items()))  # fmt: skip
        return "{" + inner + ("," + inner).join(members) + "\n" + "  " * level + "}"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_CONSTANTS = {None: "null", True: "true", False: "false"}


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _scalar(value: object) -> str | None:
    """A constant or a number as JSON has it; None for any other value."""
    if value is None or value is True or value is False:
        return _CONSTANTS[value]
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    return None


def _key(key: object) -> str:
    """A member's name as json writes it: a string, or a number or constant made one."""
    if isinstance(key, str):
        return key
    if (scalar := _scalar(key)) is not None:
        return scalar
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
