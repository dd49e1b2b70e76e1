"""A Containerfile (Dockerfile) read into its instructions, as BuildKit's parser reads one.

No Python parser of Containerfiles is maintained and complete (heredocs, the escape directive,
BuildKit's quirks of continuation lines and comments), so this is sdc's own, checked against
BuildKit's own test files (tests/data/buildkit-dockerfile): each parses to the tree BuildKit's
gives, printed in BuildKit's format (dump), and its refused ones are refused.

What it does, in the order BuildKit does it:
- The text is UTF-8 (a byte-order mark first is dropped); each line at most MAX_LINE characters;
  the file at most MAX_BYTES, and MAX_INSTRUCTIONS instructions (a build takes a step of each).
- Parser directives (`# syntax=`, `# escape=`, `# check=`) count only before any other line;
  `escape` sets the escape character (\\ or `), which also continues a line at its end.
- A line ending in the escape character goes on in the next; comment lines in between are
  dropped, and empty ones too (with a warning, as BuildKit's).
- An instruction is its keyword (any case), its --flags, then its arguments, read per keyword:
  a JSON array of strings (the exec form) or the text (the shell form) for RUN, CMD, ENTRYPOINT
  and SHELL; words or a JSON array for ADD, COPY and VOLUME; KEY=VALUE pairs (or the old
  `KEY VALUE`) for ENV and LABEL; names with optional values for ARG; ONBUILD holds another
  instruction; HEALTHCHECK a type (CMD, NONE) then a command.
- RUN, COPY and ADD in the shell form take heredocs (<<EOF, <<-EOF, <<"EOF", 3<<EOF): the lines
  up to the delimiter are the heredoc's content, expanded later unless its name was quoted.
Variables are not expanded here: a build expands each instruction's words with the ARG and ENV
values of its stage (build.shell).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sdcontainer.build.shell import Lexer, ShellError
from sdcontainer.errors import UsageError

MAX_BYTES = 4 << 20  # a Containerfile's size
MAX_LINE = 65535  # characters of one line (BuildKit's: its scanner's buffer)
MAX_INSTRUCTIONS = 1000  # each instruction is a step: a layer, or a change of the config
DIRECTIVES = ("syntax", "escape", "check")
HEREDOC_COMMANDS = ("add", "copy", "run")
WHITESPACE = re.compile(r"[\t\v\f\r ]+")
DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*\Z")
HEREDOC = re.compile(r"(\d*)<<(-?)[\t\n\f\r ]*([^<]*)\Z")


class DockerfileError(UsageError):
    """What is wrong with a Containerfile: its name and line first."""


@dataclass(frozen=True)
class Heredoc:
    name: str  # its delimiter
    content: str  # its lines, each with its newline
    expand: bool  # its variables expanded (its name was not quoted)
    chomp: bool  # <<-: leading tabs taken off each line
    fd: int = 0  # 3<<EOF: the file descriptor it is for (0: standard input)


@dataclass(frozen=True)
class Node:
    """One instruction: its keyword as written, its --flags, its arguments as its keyword reads
    them (ENV/LABEL: key, value, separator per pair; HEALTHCHECK: its type, then its command),
    whether they were a JSON array, its lines (first, last), and what ONBUILD holds."""

    command: str
    flags: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    json: bool = False
    original: str = ""
    start: int = 0
    end: int = 0
    heredocs: tuple[Heredoc, ...] = ()
    sub: Node | None = None
    comments: tuple[str, ...] = field(default=(), compare=False)

    @property
    def keyword(self) -> str:
        return self.command.lower()


@dataclass(frozen=True)
class Parsed:
    nodes: tuple[Node, ...]
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


class _Directives:
    """The parser directives: lines `# name=value` before anything else."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.done = False
        self.found: dict[str, str] = {}
        self.escape = "\\"
        self.continuation = _continuation("\\")

    def line(self, text: str, number: int) -> bool:
        """Whether text (a line, its end taken off) is a directive (taken)."""
        if self.done:
            return False
        if not text.startswith("#"):
            self.done = True
            return False
        match = DIRECTIVE.match(text[1:].lstrip())
        if not match or match.group(1).lower() not in DIRECTIVES:
            self.done = True
            return False
        name, value = match.group(1).lower(), match.group(2)
        if name in self.found:
            raise DockerfileError(f"{self.where}:{number}: only one {name} parser directive can be used",
                                  hint="remove the second one")  # fmt: skip
        self.found[name] = value
        if name == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(f"{self.where}:{number}: invalid escape token {value!r}",
                                      hint="the escape character is \\ or `")  # fmt: skip
            self.escape = value
            self.continuation = _continuation(value)
        return True


def _continuation(escape: str) -> re.Pattern[str]:
    """A line's ending escape character (and the blanks after it): the line goes on in the next."""
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|\A{e}[ \t]*\Z")


def _lines(text: str) -> list[str]:
    """The lines, each with its "\\n" (the last may have none); only "\\n" ends a line."""
    pieces = text.split("\n")
    lines = [p + "\n" for p in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def parse(data: bytes | str, *, where: str = "Containerfile") -> Parsed:
    """The Containerfile data's instructions; DockerfileError (its line named) where it is not one."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise DockerfileError(f"{where} is more than {MAX_BYTES >> 20} MiB", hint="is it a Containerfile?")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DockerfileError(f"{where}: not UTF-8 text (byte {exc.start})", hint="save it as UTF-8") from None
    elif len(data) > MAX_BYTES:
        raise DockerfileError(f"{where} is more than {MAX_BYTES >> 20} MiB", hint="is it a Containerfile?")
    lines = _lines(data.removeprefix("\ufeff"))
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE + 1:
            raise DockerfileError(f"{where}:{number}: a line longer than {MAX_LINE} characters",
                                  hint="split it with the escape character at the ends of its lines")  # fmt: skip
    directives = _Directives(where)
    nodes: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        if _is_comment(raw):
            text = raw.lstrip()[1:].strip()
            comments = [*comments, text] if text else []
        stripped = raw.rstrip("\r\n").lstrip()
        if directives.line(stripped, i) and comments:
            comments.pop()
        start = i
        line, ended = _trim_continuation("" if _is_comment(stripped) else stripped, directives)
        if ended and not line:
            continue
        parts = [line]
        empty_continuation = False
        while not ended and i < len(lines):
            raw = lines[i]
            i += 1
            text = raw.rstrip("\r\n")
            directives.line(text, i)
            if _is_comment(raw):
                continue  # (a comment line between continued ones: dropped)
            if not text.strip():
                empty_continuation = True
                continue
            text, ended = _trim_continuation(text, directives)
            parts.append(text)
        joined = "".join(parts)
        if empty_continuation:
            warnings.append(f"{where}:{i}: empty continuation line found in: {joined[:200]}")
        try:
            node = _node(joined, directives.escape, tuple(comments))
        except (DockerfileError, ShellError) as exc:
            raise DockerfileError(f"{where}:{start}: {_message(exc)}", hint=_hint(exc)) from None
        if _takes_heredocs(node) and "<<" in joined:
            heredocs = []
            for heredoc in _heredocs(joined, where, start):
                content: list[str] = []
                while True:
                    if i >= len(lines):
                        raise DockerfileError(f"{where}:{start}: unterminated heredoc {heredoc.name!r}",
                                              hint=f"end it with a line of {heredoc.name} alone")  # fmt: skip
                    body = lines[i]
                    i += 1
                    candidate = body.rstrip("\r\n")
                    if (candidate.lstrip("\t") if heredoc.chomp else candidate) == heredoc.name:
                        break
                    content.append(body)
                heredocs.append(Heredoc(heredoc.name, "".join(content), heredoc.expand, heredoc.chomp, heredoc.fd))
            node = _with_heredocs(node, tuple(heredocs))
        nodes.append(_placed(node, start, i))
        comments = []
        if len(nodes) > MAX_INSTRUCTIONS:
            raise DockerfileError(f"{where}: more than {MAX_INSTRUCTIONS} instructions",
                                  hint="each one is a build step: join RUN steps with &&")  # fmt: skip
    if not nodes:
        raise DockerfileError(f"{where}: a file with no instructions", hint="it needs at least a FROM")
    return Parsed(tuple(nodes), directives.escape, dict(directives.found), tuple(warnings))


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, DockerfileError) else str(exc)


def _hint(exc: Exception) -> str:
    return (exc.hint or "") if isinstance(exc, DockerfileError) else "check its quotes and ${...}"


def _trim_continuation(line: str, directives: _Directives) -> tuple[str, bool]:
    """line without its ending escape character, and whether it ends the instruction."""
    if directives.continuation.search(line):
        return directives.continuation.sub(r"\1", line), False
    return line, True


def _placed(node: Node, start: int, end: int) -> Node:
    import dataclasses

    return dataclasses.replace(node, start=start, end=end)


def _with_heredocs(node: Node, heredocs: tuple[Heredoc, ...]) -> Node:
    import dataclasses

    if node.keyword == "onbuild" and node.sub is not None:
        return dataclasses.replace(node, sub=dataclasses.replace(node.sub, heredocs=heredocs))
    return dataclasses.replace(node, heredocs=heredocs)


def _takes_heredocs(node: Node) -> bool:
    inner = node.sub if node.keyword == "onbuild" and node.sub is not None else node
    return inner.keyword in HEREDOC_COMMANDS and not inner.json


def _heredocs(line: str, where: str, number: int) -> list[Heredoc]:
    """The heredocs line starts (<<NAME words), in their order."""
    try:
        words = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset=True).words(line, {})
    except ShellError:
        return []  # (a line its words cannot be read of starts none: BuildKit's)
    found = []
    for word in words:
        match = HEREDOC.match(word)
        if not match or not match.group(3):
            continue
        try:
            plain = Lexer("\\", skip_unset=True).words(match.group(3), {})
            if len(plain) != 1:
                continue
            raw = Lexer("\\", raw_quotes=True, skip_unset=True).words(match.group(3), {})
        except ShellError as exc:
            raise DockerfileError(f"{where}:{number}: {exc}", hint="check the heredoc's name") from None
        quotes = plain[0].count("'") + plain[0].count('"')
        expand = quotes == raw[0].count("'") + raw[0].count('"')
        found.append(Heredoc(plain[0], "", expand, match.group(2) == "-", int(match.group(1) or 0)))
    return found


def _node(line: str, escape: str, comments: tuple[str, ...] = ()) -> Node:
    """An instruction of one (joined) line."""
    split = WHITESPACE.split(line.strip(), maxsplit=1)
    command = split[0]
    flags: list[str] = []
    rest = ""
    if len(split) == 2:
        rest, flags = _flags(split[1], escape)
    rest = rest.strip()
    keyword = command.lower()
    reader = READERS.get(keyword)
    if keyword == "onbuild":
        sub = _node(rest, escape) if rest else None
        return Node(command, tuple(flags), (), False, line, sub=sub, comments=comments)
    if reader is None:  # (not an instruction: the build says so, naming it)
        return Node(command, tuple(flags), ("",), False, line, comments=comments)
    values, is_json = reader(rest, escape)
    return Node(command, tuple(flags), tuple(values), is_json, line, comments=comments)


def _flags(text: str, escape: str) -> tuple[str, list[str]]:
    """The --flags at the start of text (quotes and escapes taken), and what follows them
    (BuildKit's extractBuilderFlags)."""
    return _scan(text, escape, flags=True)


def _words(text: str, escape: str) -> list[str]:
    """text's words, split on white space outside quotes, quotes and escapes kept (ENV, LABEL, ARG:
    BuildKit's parseWords)."""
    return _scan(text, escape, flags=False)[1]


def _scan(text: str, escape: str, *, flags: bool) -> tuple[str, list[str]]:
    """text's words split on white space outside quotes. flags: the leading --flags alone, quotes
    and escapes taken off, until a word that is no flag or `--` (what follows: returned); else
    every word, quotes and escapes kept (an escape in single quotes is no escape then)."""
    keep = not flags
    words: list[str] = []
    current: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    i = 0
    while i <= len(text):
        ch = text[i] if i < len(text) else ""
        if phase == "spaces":
            if not ch:
                break
            if ch.isspace():
                i += 1
                continue
            if flags and (ch != "-" or text[i + 1 : i + 2] != "-"):
                return text[i:], words
            phase = "word"
        if not ch:
            word = "".join(current)
            if (blank_ok or word) and not (flags and word == "--"):
                words.append(word)
            break
        if phase == "word":
            if ch.isspace():
                word = "".join(current)
                phase = "spaces"
                if flags and word == "--":
                    return text[i:], words
                if blank_ok or word:
                    words.append(word)
                current = []
                blank_ok = False
                i += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                phase = "quote"
                if not keep:
                    i += 1
                    continue
            if ch == escape:
                if i + 1 == len(text):
                    i += 1
                    continue
                if keep:
                    current.append(ch)
                i += 1
                ch = text[i]
            current.append(ch)
            i += 1
            continue
        if ch == quote:
            phase = "word"
            if not keep:
                i += 1
                continue
        elif ch == escape and (flags or quote != "'"):
            if i + 1 == len(text):
                phase = "word"
                i += 1
                continue
            if keep:
                current.append(ch)
            i += 1
            ch = text[i]
        current.append(ch)
        i += 1
    return "", words


class _NotStrings(DockerfileError):
    pass


def _json(text: str) -> list[str] | None:
    """text as a JSON array of strings (the exec form), None where it is no JSON array;
    _NotStrings where it is one of something else."""
    text = text.lstrip()
    if not text.startswith("["):
        return None
    try:
        found = json.loads(text, parse_constant=lambda _: None)
    except (ValueError, RecursionError):
        return None
    if not isinstance(found, list):
        return None
    if not all(isinstance(item, str) for item in found):
        raise _NotStrings("when using JSON array syntax, arrays must be comprised of strings only",
                          hint='write ["executable", "argument"], each a string')  # fmt: skip
    return found


def _maybe_json(rest: str, escape: str) -> tuple[list[str], bool]:
    if not rest:
        return [], False
    found = _json(rest)
    return (found, True) if found is not None else ([rest], False)


def _maybe_json_list(rest: str, escape: str) -> tuple[list[str], bool]:
    found = _json(rest)
    if found is not None:
        return found, True
    return _whitespace_words(rest, escape)


def _whitespace_words(rest: str, escape: str) -> tuple[list[str], bool]:
    return (WHITESPACE.split(rest) if rest else []), False


def _string(rest: str, escape: str) -> tuple[list[str], bool]:
    return ([rest] if rest else []), False


Reader = Callable[[str, str], tuple[list[str], bool]]  # (the arguments, the escape character) -> values, JSON


def _name_values(keyword: str) -> Reader:
    def read(rest: str, escape: str) -> tuple[list[str], bool]:
        words = _words(rest, escape)
        if not words:
            return [], False
        if "=" not in words[0]:  # the old form: KEY VALUE
            parts = WHITESPACE.split(rest, maxsplit=1)
            if len(parts) < 2:
                raise DockerfileError(f"{keyword} must have two arguments", hint=f"write {keyword} NAME=VALUE")
            return [parts[0], parts[1], ""], False
        values = []
        for word in words:
            if "=" not in word:
                raise DockerfileError(f"syntax error - can't find = in {word!r}. Must be of the form: name=value",
                                      hint=f"write {keyword} NAME=VALUE (quote a value with spaces)")  # fmt: skip
            key, _, value = word.partition("=")
            values += [key, value, "="]
        return values, False

    return read


def _arg(rest: str, escape: str) -> tuple[list[str], bool]:
    return _words(rest, escape), False


def _health(rest: str, escape: str) -> tuple[list[str], bool]:
    match = re.match(r"(\S+)\s*(.*)\Z", rest, re.DOTALL)
    if not match:
        return [], False
    kind, command = match.group(1), match.group(2)
    values, is_json = _maybe_json(command, escape)
    return [kind, *values], is_json


READERS: dict[str, Reader] = {
    "add": _maybe_json_list, "arg": _arg, "cmd": _maybe_json, "copy": _maybe_json_list,
    "entrypoint": _maybe_json, "env": _name_values("ENV"), "expose": _whitespace_words,
    "from": _whitespace_words, "healthcheck": _health, "label": _name_values("LABEL"),
    "maintainer": _string, "run": _maybe_json, "shell": _maybe_json, "stopsignal": _string,
    "user": _string, "volume": _maybe_json_list, "workdir": _string,
}  # fmt: skip


def dump(node: Node) -> str:
    """node as BuildKit's parser prints one (its Node.Dump): `run "echo" "test"`, flags as
    ["--from=a"], ONBUILD's instruction in parentheses; for tests against BuildKit's files."""
    out = node.keyword
    if node.flags:
        out += " [" + " ".join(go_quote(f) for f in node.flags) + "]"
    if node.sub is not None:
        out += f" ({dump(node.sub)})"
    for value in node.values:
        out += " " + go_quote(value)
    return out.strip()


def go_quote(text: str) -> str:
    """text as Go's strconv.Quote writes it."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}[ch])
        elif ch == " " or (ch.isprintable() and code != 0xFFFD or code == 0xFFFD):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
