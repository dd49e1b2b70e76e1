"""Wildcard patterns matched in linear time: ignore files' (**, *, ?, [classes]), COPY's globs and
${VAR#pattern}'s, compiled to a small program run as an NFA (one pass over the text, a set of
states at a time), as Go's regexp package runs them. Python's re backtracks: `*a*a*a*a*ab` on
a long name took minutes, and these patterns are a build's outside input.

A program is a list of steps: ("char", test) consumes one character that passes test and goes
on; ("star", test) consumes any number of them; ("split", a, b) goes on at both a and b without
consuming. The last step's index + 1 is the match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Test = Callable[[str], bool]
Step = tuple[Any, ...]  # ("char", Test) | ("star", Test) | ("split", int, int)

ANY: Test = lambda ch: True  # noqa: E731
NOT_SLASH: Test = lambda ch: ch != "/"  # noqa: E731


def literal(expected: str) -> Test:
    return lambda ch: ch == expected


def char_class(body: str, *, slash: bool) -> Test | None:
    """[body]: ranges a-z and single characters, ^ or ! first negating; None where it is malformed.
    slash: whether it may match a "/"."""
    negate = body[:1] in ("^", "!")
    if negate:
        body = body[1:]
    items: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            ch = body[i + 1]
            i += 1
        if i + 2 < len(body) and body[i + 1] == "-":
            high = body[i + 2]
            if high == "\\" and i + 3 < len(body):
                high = body[i + 3]
                i += 1
            if high < ch:
                return None
            items.append((ch, high))
            i += 3
        else:
            items.append((ch, ch))
            i += 1
    if not items:
        return None

    def test(c: str) -> bool:
        if c == "/" and not slash:
            return False
        return any(low <= c <= high for low, high in items) != negate

    return test


def run(program: Sequence[Step], text: str, *, start: int = 0) -> list[int]:
    """The positions of text (from start) at which program has matched, in order."""
    end = len(program)
    found = []
    states = _closure(program, {0})
    if end in states:
        found.append(start)
    for pos in range(start, len(text)):
        ch = text[pos]
        moved = set()
        for i in states:
            if i == end:
                continue
            step = program[i]
            if step[0] == "char" and step[1](ch):
                moved.add(i + 1)
            elif step[0] == "star" and step[1](ch):
                moved.add(i)
        if not moved:
            break
        states = _closure(program, moved)
        if end in states:
            found.append(pos + 1)
    return found


def search(program: Sequence[Step], text: str, start: int = 0) -> tuple[int, int] | None:
    """The leftmost match in text from start, the longest there: (its start, its end); in one pass
    (each state keeps the earliest start that reached it)."""
    end = len(program)
    threads: dict[int, int] = {}  # state -> the earliest start that reached it
    best: tuple[int, int] | None = None
    for pos in range(start, len(text) + 1):
        if best is None:
            for state in _closure(program, {0}):
                threads.setdefault(state, pos)
        if end in threads:
            found = (threads[end], pos)
            if best is None or found[0] < best[0] or (found[0] == best[0] and found[1] > best[1]):
                best = found
        if pos == len(text) or not threads:
            break
        ch = text[pos]
        moved: dict[int, int] = {}
        for state, origin in threads.items():
            if best is not None and origin > best[0]:
                continue
            if state == end:
                continue
            step = program[state]
            if step[0] == "char" and step[1](ch):
                target = state + 1
            elif step[0] == "star" and step[1](ch):
                target = state
            else:
                continue
            for reached in _closure(program, {target}):
                if reached not in moved or origin < moved[reached]:
                    moved[reached] = origin
        threads = moved
        if best is not None and not threads:
            break
    return best


def _closure(program: Sequence[Step], states: set[int]) -> set[int]:
    todo = list(states)
    seen = set(states)
    while todo:
        i = todo.pop()
        if i >= len(program):
            continue
        step = program[i]
        targets = (step[1], step[2]) if step[0] == "split" else (i + 1,) if step[0] == "star" else ()
        for target in targets:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def full_match(program: Sequence[Step], text: str) -> bool:
    return len(text) in run(program, text)


def glob_program(pattern: str, *, slash: bool = False) -> list[Step] | None:
    """A shell pattern (* ? [class] \\x) as a program; slash: whether * and ? may match a "/"
    (${VAR#...}'s may; a path part's may not). None where it is malformed."""
    program: list[Step] = []
    any_char = ANY if slash else NOT_SLASH
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            if not program or program[-1] != ("star", any_char):
                program.append(("star", any_char))
        elif ch == "?":
            program.append(("char", any_char))
        elif ch == "[":
            end = pattern.find("]", i + 1 if pattern[i : i + 1] in ("^", "!") else i)
            if end < 0:
                return None
            test = char_class(pattern[i:end], slash=slash)
            if test is None:
                return None
            program.append(("char", test))
            i = end + 1
        elif ch == "\\":
            if i >= len(pattern):
                return None
            program.append(("char", literal(pattern[i])))
            i += 1
        else:
            program.append(("char", literal(ch)))
    return program
