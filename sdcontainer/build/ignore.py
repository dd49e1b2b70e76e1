""".containerignore and .dockerignore: which files of a build's context it leaves out, as Docker
and Podman read them (moby/patternmatcher is the reference; its cases are the tests').

A file holds one pattern a line; a line starting with # is a comment; blanks around a pattern
are taken off, the path is cleaned (a/../b is b) and a leading / dropped. A pattern is a path
whose parts may hold * (any text within one part), ? (one character), [a-z] and [^a-z]
(classes), \\ (the next character as it is); ** stands for any number of parts. A path is left
out when the last pattern it, or a directory above it, matches is not an exception (!PATTERN).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from sdcontainer.build import pattern
from sdcontainer.errors import UsageError

NAMES = (".containerignore", ".dockerignore")  # in the context's root, the first there read (Podman's order)
MAX_PATTERNS = 10000


class IgnoreError(UsageError):
    pass


def clean(path: str) -> str:
    """Go's filepath.Clean: the shortest equal path ("" is ".", "//a" is "/a")."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def read_patterns(text: str) -> list[str]:
    """An ignore file's patterns, in order (exceptions keep their leading !)."""
    patterns = []
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
        if len(patterns) > MAX_PATTERNS:
            raise IgnoreError(f"the ignore file has more than {MAX_PATTERNS} patterns (line {number})",
                              hint="is it an ignore file?")  # fmt: skip
    return patterns


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    parts: int  # how many path parts it has
    kind: str  # exact, prefix, suffix, program
    program: tuple[pattern.Step, ...] = ()

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return pattern.full_match(self.program, path)


def _compile(text: str, exclusion: bool) -> _Pattern:
    """text as moby's patternmatcher compiles it: an exact name, a prefix (dir/**), a suffix
    (**/name), or else a program (pattern.py: linear in the path's length)."""
    program: list[pattern.Step] = []
    kind = "exact"
    i = 0
    first = True
    while i < len(text):
        ch = text[i]
        i += 1
        if ch == "*":
            if i < len(text) and text[i] == "*":
                i += 1
                if i < len(text) and text[i] == "/":
                    i += 1
                if i >= len(text):
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        program.append(("star", pattern.ANY))
                        kind = "program"
                else:  # (.*/)?: any directories, or none
                    split = len(program)
                    program += [("split", 0, 0), ("star", pattern.ANY), ("char", pattern.literal("/"))]
                    program[split] = ("split", split + 1, len(program))
                    kind = "program"
                if first:
                    kind = "suffix"
            else:
                program.append(("star", pattern.NOT_SLASH))
                kind = "program"
        elif ch == "?":
            program.append(("char", pattern.NOT_SLASH))
            kind = "program"
        elif ch == "\\":
            if i < len(text):
                program.append(("char", pattern.literal(text[i])))
                i += 1
                kind = "program"
            else:
                program.append(("char", pattern.literal("\\")))
        elif ch == "[":
            end = text.find("]", i + 1 if text[i : i + 1] in ("^", "!") else i)
            test = pattern.char_class(text[i:end], slash=True) if end >= 0 else None
            if test is None:
                raise IgnoreError(f"ignore pattern {text!r} is malformed", hint="check its [ and ]")
            program.append(("char", test))
            i = end + 1
            kind = "program"
        else:
            program.append(("char", pattern.literal(ch)))
        first = False
    return _Pattern(text, exclusion, text.count("/") + 1, kind, tuple(program))


def _check_syntax(text: str) -> None:
    """What Go's filepath.Match refuses: an unclosed [ class, or a \\ at the end."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            if i + 1 >= len(text):
                raise IgnoreError(f"ignore pattern {text!r} ends with \\", hint="escape it: \\\\")
            i += 2
            continue
        if text[i] == "[":
            end = text.find("]", i + 2 if text[i + 1 : i + 2] in ("^", "]") else i + 1)
            if end < 0:
                raise IgnoreError(f"ignore pattern {text!r} has an unclosed [", hint="close it, or escape it: \\[")
            i = end
        i += 1


class Ignore:
    """A context's ignore patterns."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            text = clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if text == "!":
                    raise IgnoreError('illegal exclusion pattern: "!"', hint="write !PATTERN")
                text = text[1:]
            _check_syntax(text)
            self.patterns.append(_compile(text, exclusion))
        self.exclusions = any(p.exclusion for p in self.patterns)

    def ignored(self, path: str) -> bool:
        """Whether path (relative to the context, / separated) is left out: the last pattern
        that it or a directory above it matches is not an exception."""
        path = clean(path)
        if path == ".":
            return False
        parent = posixpath.dirname(path) or "."
        parents = parent.split("/") if parent != "." else []
        matched = False
        for one in self.patterns:
            if one.exclusion != matched:
                continue
            match = one.match(path)
            if not match:
                match = any(one.match("/".join(parents[: i + 1])) for i in range(len(parents)))
            if match:
                matched = not one.exclusion
        return matched
