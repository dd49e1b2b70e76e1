"""A Containerfile's words as BuildKit's frontend reads them: quotes, the escape character,
variables ($NAME, ${NAME}, ${NAME:-word} and the other forms), and the split into words.

What is outside input here: the whole Containerfile. Every form is bounded by its text (no
recursion deeper than the nesting the text writes, which the parser's line limit bounds);
an error is ShellError, one line naming what is wrong.

Semantics, as BuildKit's (frontend/dockerfile/shell), which `docker build` and Podman's
buildah follow:
- '...' keeps everything as it is; "..." keeps everything but $ expansions and the escape
  character before ", $ or itself; outside quotes the escape character takes the next
  character as it is (and is dropped at the end of the text).
- $NAME and ${NAME} expand to the variable's value, "" when it is not set (with skip_unset,
  they are kept as written); ${NAME:-w} ${NAME-w} ${NAME:+w} ${NAME+w} ${NAME:?w} ${NAME?w}
  as a POSIX shell's; ${NAME#p} ${NAME##p} ${NAME%p} ${NAME%%p} trim a pattern (* and ?);
  ${NAME/p/r} and ${NAME//p/r} replace it. Positional and special parameters ($1, $@, $$...)
  are never set.
- Words are split on white space after expansion, but not inside quotes: "a b" is one word,
  $X with X="a b" two (words()).
"""

from __future__ import annotations

from collections.abc import Mapping

from sdcontainer.build import pattern

SPECIAL = "@*#?-$!0"
MAX_WORD = 1 << 20  # characters of an expanded word
MAX_DEPTH = 64  # ${...} inside ${...}  # POSIX's special parameters: never set in a build
WHITESPACE = " \t\n\r\v\f"


class ShellError(ValueError):
    """A word that cannot be expanded: its message is one line."""


class _Text:
    """The characters of a word, read one at a time."""

    __slots__ = ("text", "at")

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.at += 1 if ch else 0
        return ch


class _Words:
    """Words as the characters come: white space outside quotes ends a word."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.current: list[str] = []
        self.in_word = False

    def char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.current:
                self.words.append("".join(self.current))
                self.current = []
                self.in_word = False
        else:
            self.raw(ch)

    def raw(self, text: str) -> None:
        self.current.append(text)
        self.in_word = True

    def expanded(self, text: str) -> None:
        for ch in text:
            self.char(ch)

    def done(self) -> list[str]:
        if self.current:
            self.words.append("".join(self.current))
            self.current = []
        return self.words


class Lexer:
    """How words are read: the escape character (\\ or `), and
    raw_quotes: quotes kept in the result (the parser's use, finding heredocs);
    raw_escapes: escape characters kept;
    skip_unset: a variable that is not set kept as written (an ARG a later stage may set)."""

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset: bool = False) -> None:  # fmt: skip
        if escape not in ("\\", "`"):
            raise ValueError(f"escape character {escape!r}")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset

    def word(self, text: str, env: Mapping[str, str]) -> str:
        """text with its quotes and escapes taken and its variables expanded, as one word."""
        return _Expansion(self, text, env).run()[0]

    def words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """text as its words: expanded, then split on white space outside quotes."""
        return _Expansion(self, text, env).run()[1]

    def used(self, text: str, env: Mapping[str, str]) -> tuple[str, set[str], set[str]]:
        """word(), and the names it looked up that are set, and those that are not."""
        expansion = _Expansion(self, text, env)
        result = expansion.run()[0]
        return result, expansion.matched, expansion.unmatched


class _Expansion:
    def __init__(self, lexer: Lexer, text: str, env: Mapping[str, str]) -> None:
        self.lexer = lexer
        self.source = text
        self.text = _Text(text)
        self.env = env
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()
        self.depth = 0
        self.size = 0  # characters of expansions so far

    def run(self) -> tuple[str, list[str]]:
        try:
            return self._until("", self.lexer.raw_escapes)
        except ShellError as exc:
            raise ShellError(f"{exc} in {self.source[:200]!r}") from None

    def _until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """The text up to stop (taken, not kept; "" for the end), and its words."""
        result: list[str] = []
        words = _Words()
        escape = self.lexer.escape
        while (ch := self.text.peek()) != "":
            if stop and ch == stop:
                self.text.next()
                return "".join(result), words.done()
            if ch == "$":
                value = self._dollar()
                result.append(value)
                words.expanded(value)
            elif ch == "<":
                value = self._maybe_heredoc()
                result.append(value)
                words.raw(value)
            elif ch in "'\"":
                value = self._single() if ch == "'" else self._double(raw_escapes)
                result.append(value)
                words.raw(value)
            else:
                self.text.next()
                if ch == escape:
                    if raw_escapes:
                        words.raw(ch)
                        result.append(ch)
                    ch = self.text.next()
                    if not ch:
                        break
                    words.raw(ch)
                else:
                    words.char(ch)
                result.append(ch)
        if stop:
            raise ShellError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.done()

    def _single(self) -> str:
        quote = self.text.next()
        out = [quote] if self.lexer.raw_quotes else []
        while True:
            ch = self.text.next()
            if not ch:
                raise ShellError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lexer.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double(self, raw_escapes: bool) -> str:
        quote = self.text.next()
        out = [quote] if self.lexer.raw_quotes else []
        escape = self.lexer.escape
        while True:
            ch = self.text.peek()
            if not ch:
                raise ShellError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.text.next()
                if self.lexer.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            self.text.next()
            if ch == escape:
                if raw_escapes:
                    out.append(ch)
                following = self.text.peek()
                if not following:
                    continue  # (an escape at the end of the word: dropped)
                if following in ('"', "$", escape):
                    ch = self.text.next()
            out.append(ch)

    def _maybe_heredoc(self) -> str:
        self.text.next()
        if self.text.peek() != "<":
            return "<"
        self.text.next()
        space = []
        while self.text.peek() in ("\t", "\r", " ") and self.text.peek():
            space.append(self.text.next())
        return "<<" + "".join(space)

    def _name(self) -> str:
        """A variable's name: letters, digits and _ (not starting with a digit: then the digits
        alone, a positional parameter), or one special parameter's character."""
        ch = self.text.peek()
        if ch and ch.isdigit():
            digits = []
            while self.text.peek() and self.text.peek().isdigit():
                digits.append(self.text.next())
            return "".join(digits)
        if ch and ch in SPECIAL:
            return self.text.next()
        name = []
        while (ch := self.text.peek()) and (ch.isalpha() or ch.isdigit() or ch == "_"):
            name.append(self.text.next())
        return "".join(name)

    def _lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def _dollar(self) -> str:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ShellError(f"more than {MAX_DEPTH} ${{...}} one inside another")
            value = self._expand()
        finally:
            self.depth -= 1
        self.size += len(value)
        if self.size > MAX_WORD:
            raise ShellError(f"expansions of more than {MAX_WORD >> 20} MiB")
        return value

    def _expand(self) -> str:
        self.text.next()
        if self.text.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._lookup(name)
            return "$" + name if not found and self.lexer.skip_unset else value
        self.text.next()
        if not self.text.peek():
            raise ShellError("syntax error: missing '}'")
        if self.text.peek() in "{}:":
            raise ShellError("syntax error: bad substitution")
        name = self._name()
        ch = self.text.next()
        written = ch
        if ch == "}":
            value, found = self._lookup(name)
            return f"${{{name}}}" if not found and self.lexer.skip_unset else value
        if ch == "/":
            return self._replace(name)
        null_is_unset = ch == ":"
        if null_is_unset:
            ch = self.text.next()
            written += ch
        if ch not in ("+", "-", "?", "#", "%") or (null_is_unset and ch in "#%"):
            raise ShellError(f"unsupported modifier ({written}) in substitution")
        word = self._closed_by("}", ch in "#%", "syntax error: missing '}'")
        value, found = self._lookup(name)
        if self.lexer.skip_unset and not found:
            return f"${{{name}{written}{word}}}"
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(ch)
        pattern = word[1:] if greedy else word
        return trim_suffix(pattern, value, greedy) if ch == "%" else trim_prefix(pattern, value, greedy)

    def _closed_by(self, stop: str, raw_escapes: bool, missing: str) -> str:
        """The text up to stop; ShellError missing where the text ends before it."""
        try:
            return self._until(stop, raw_escapes)[0]
        except ShellError:
            if not self.text.peek():
                raise ShellError(missing) from None
            raise

    def _replace(self, name: str) -> str:
        every = self.text.peek() == "/"
        if every:
            self.text.next()
        pattern = self._closed_by("/", True, "syntax error: missing '/' in ${}")
        replacement = self._closed_by("}", True, "syntax error: missing '}'")
        value, found = self._lookup(name)
        if self.lexer.skip_unset and not found:
            return f"${{{name}/{pattern}/{replacement}}}"
        return replace(pattern, value, replacement, every=every)


def shell_program(text: str) -> list[pattern.Step]:
    """A ${VAR#...} pattern (* any text, ? one character, \\ taking the next as it is) as a
    program (build/pattern.py: matched in linear time); ShellError for an escape of anything but
    *, ? or \\ (one before } or / is the ${...}'s, dropped)."""
    program: list[pattern.Step] = []
    i = 0
    while i < len(text):
        ch = text[i]
        i += 1
        if ch == "*":
            program.append(("star", pattern.ANY))
        elif ch == "?":
            program.append(("char", pattern.ANY))
        elif ch == "\\":
            if i < len(text) and text[i] in "}/":
                continue
            if i >= len(text) or text[i] not in "*?\\":
                raise ShellError(f"invalid pattern ({text}) in substitution: invalid escape "
                                 f"'\\{text[i] if i < len(text) else ''}'")  # fmt: skip
            program.append(("char", pattern.literal(text[i])))
            i += 1
        else:
            program.append(("char", pattern.literal(ch)))
    return program


def trim_prefix(text: str, value: str, greedy: bool) -> str:
    ends = pattern.run(shell_program(text), value)
    return value[(ends[-1] if greedy else ends[0]) :] if ends else value


def replace(text: str, value: str, replacement: str, *, every: bool) -> str:
    """${VAR/text/replacement}: the leftmost (longest) match replaced; with every, each one."""
    program = shell_program(text)
    out: list[str] = []
    pos = start = 0
    while start <= len(value):
        found = pattern.search(program, value, start)
        if found is None:
            break
        begin, end = found
        out += [value[pos:begin], replacement]
        pos = end
        if not every:
            break
        if end == begin:  # (an empty match: the character after it kept, the search on after it)
            out.append(value[begin : begin + 1])
            pos = end = begin + 1
        start = end
    out.append(value[pos:])
    return "".join(out)


def _reversed_pattern(pattern: str) -> str:
    """pattern backwards, each escape still before what it escapes (a\\*c: c\\*a)."""
    pieces = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            pieces.append(pattern[i : i + 2])
            i += 2
        else:
            pieces.append(pattern[i])
            i += 1
    return "".join(reversed(pieces))


def trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    """The shortest (or longest) match at the end: the leftmost one of both reversed."""
    return trim_prefix(_reversed_pattern(pattern), value[::-1], greedy)[::-1]


