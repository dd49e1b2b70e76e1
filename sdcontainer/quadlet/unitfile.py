"""systemd's unit file syntax (systemd.syntax(7)), as Quadlet's files are written in it.

Lines are stripped; empty ones and those starting with # or ; are comments; a line ending with a
backslash goes on with the next (the backslash becomes a space, comment lines between are
skipped); "[Section]" starts a section; every other line is KEY=VALUE, KEY and VALUE stripped. A
file's drop-ins (NAME.d/*.conf, and those of its type, container.d/*.conf) follow it, each line
as if appended to the file. Values that are lists of words (Exec=, Environment=) are split by
split_words: whitespace between words, "..." and '...' quoting, C escapes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sdcontainer.errors import UsageError


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    value: str
    path: str  # the file it is in (a drop-in's own), and its line there: for error messages
    line: int

    def where(self) -> str:
        return f"{self.path}:{self.line}"


WHITESPACE = " \t\n\r"  # systemd's: not Python's str.isspace(), which takes in Unicode's spaces
MAX_LINE = 1 << 20  # systemd's LONG_LINE_MAX: a longer line (continuations included) is an error


def parse(text: str, path: str) -> list[Setting]:
    """The settings of a unit file, in order; UsageError naming path and line for what is not
    the syntax (a key outside a section, a line without "=", a section header left open). A
    UTF-8 byte order mark before it is skipped, as systemd skips it."""
    text = text.removeprefix("\ufeff")
    settings: list[Setting] = []
    section = ""
    for number, line in _logical_lines(text, path):
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise UsageError(f"{path}:{number}: invalid section header {line!r}",
                                 hint="a section header is [Name], alone on its line")  # fmt: skip
            section = line[1:-1]
            continue
        key, eq, value = line.partition("=")
        if not eq or not key.strip(WHITESPACE):
            raise UsageError(f"{path}:{number}: {line[:80]!r} is not KEY=VALUE",
                             hint="each line of a unit file is a [Section], KEY=VALUE or a # comment")  # fmt: skip
        if not section:
            raise UsageError(f"{path}:{number}: {key.strip(WHITESPACE)}= is outside any section",
                             hint="put it under its section: [Container], [Unit], [Service] or [Install]")  # fmt: skip
        settings.append(Setting(section, key.strip(WHITESPACE), value.strip(WHITESPACE), path, number))
    return settings


def _logical_lines(text: str, path: str) -> Iterator[tuple[int, str]]:
    """(number of the first physical line, the logical line) of text, as systemd's config_parse
    reads them: lines end at \n, \r\n, \r or NUL; a comment line is skipped, inside a
    continuation too; a line whose last character is a backslash no other escapes goes on with
    the next, as it is (its leading whitespace kept), the backslash made a space."""
    import re

    pending = ""
    first = 0
    for number, raw in enumerate(re.split(r"\r\n|\n|\r|\0", text), start=1):
        lead = raw.lstrip(WHITESPACE)
        if lead[:1] in ("#", ";") or (not pending and not lead):
            continue
        if not pending:
            first = number
        line = pending + raw.rstrip(WHITESPACE)  # (a continuation's backslash may have blanks after it)
        if len(line) > MAX_LINE:
            raise UsageError(f"{path}:{first}: a line longer than {MAX_LINE} bytes", hint="split the setting")
        if _continued(line):
            pending = line[:-1] + " "
            continue
        pending = ""
        yield first, line.strip(WHITESPACE)
    if pending.strip(WHITESPACE):
        yield first, pending.strip(WHITESPACE)  # a file ending in a continuation: what it has


def _continued(line: str) -> bool:
    """Whether line ends with a backslash that no backslash before it escapes."""
    escaped = False
    for c in line:
        escaped = not escaped if c == "\\" else False
    return escaped


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "s": " ",
            "\\": "\\", '"': '"', "'": "'"}  # fmt: skip


def split_words(value: str, *, where: str = "the value:") -> list[str]:
    """value's words as systemd splits a command line or an Environment= value
    (extract_first_word with EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE): whitespace separates words,
    quotes group and are removed, and a backslash escape (\\n, \\t, \\xHH, \\\\, \\", ...)
    is the character it names, inside quotes or out (_escape). UsageError, where (the file,
    line and key) first, for an open quote or a NUL."""
    words: list[str] = []
    word: list[str] | None = None
    quote = ""
    i = 0
    while i < len(value):  # (nothing here is quadratic: a word's characters are joined once)
        c = value[i]
        if c == "\\":
            text, i = _escape(value, i, where)
            word = (word or []) + [text]
            continue
        if quote:
            if c == quote:
                quote = ""
            else:
                word = (word or []) + [c]
        elif c in "\"'":
            quote = c
            word = word or []
        elif c in WHITESPACE:
            if word is not None:
                words.append("".join(word))
                word = None
        else:
            word = (word or []) + [c]
        i += 1
    if quote:
        raise UsageError(f"{where} an open {quote} quote in {value[:80]!r}", hint="close the quote")
    if word is not None:
        words.append("".join(word))
    return words


def _escape(value: str, i: int, where: str) -> tuple[str, int]:
    """The character the escape at value[i] (a backslash) names, and the index after it, as
    systemd's cunescape_one reads it: \\n and its kind, \\xHH, \\uHHHH, \\UHHHHHHHH, \\NNN (octal);
    an escaped separator is the separator (EXTRACT_UNESCAPE_SEPARATORS); one it does not know is
    kept as it is, backslash and all, as systemd keeps it in a command line (it warns). A NUL
    is refused: no argument or variable can hold one."""
    nxt = value[i + 1 : i + 2]
    if nxt in _ESCAPES and nxt:
        return _ESCAPES[nxt], i + 2
    if nxt and nxt in WHITESPACE:
        return nxt, i + 2
    digits = {"x": (2, 16), "u": (4, 16), "U": (8, 16)}.get(nxt)
    if digits and _is_digits(value[i + 2 : i + 2 + digits[0]], digits[1], digits[0]):
        code, end = int(value[i + 2 : i + 2 + digits[0]], 16), i + 2 + digits[0]
    elif nxt in "01234567" and nxt and _is_digits(value[i + 1 : i + 4], 8, 3) and int(value[i + 1 : i + 4], 8) < 256:
        code, end = int(value[i + 1 : i + 4], 8), i + 4
    else:
        return "\\" + nxt, i + 1 + len(nxt)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise UsageError(f"{where} {value[i:end]!r} is no character an argument can hold", hint="drop the escape")
    return chr(code), end


def _is_digits(text: str, base: int, count: int) -> bool:
    return len(text) == count and all(c in "0123456789abcdefABCDEF"[: base if base < 16 else 22] for c in text)


def quote_words(words: Sequence[str]) -> str:
    """words as one value split_words splits back into them: each in double quotes where it
    needs any (empty, whitespace, quotes, backslashes), escaped inside."""
    return " ".join(_quote(w) for w in words)


def _quote(word: str) -> str:
    if word and not any(c in WHITESPACE or c in "\"'\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in word):
        return word
    out = []
    for c in word:
        if c in '\\"':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or ord(c) == 0x7F:  # (any other: as it is; \\xHH would be a raw byte to systemd)
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'
