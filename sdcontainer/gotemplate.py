"""Go's text/template, the part `--format` templates use, over plain data only.

Docker and Podman users write `--format '{{.State.Pid}}'`, `'{{json .Config.Env}}'`,
`'table {{.Names}}\\t{{.Status}}'`, `'{{range .Mounts}}{{.Source}} {{end}}'`. This module
parses those templates and runs them on JSON-shaped data: dicts, lists, str, int, float, bool
and None, plus two marks of its own, Struct (a dict whose keys are the documented fields:
any other name is an error, as a Go struct's) and Method (a documented field taking
arguments, as ps's `.Label "key"`). Nothing else is ever looked up: no attribute of a Python
object is reachable from a template, whatever it names.

Supported: text and actions with `{{-`/`-}}` trimming and `{{/* comments */}}`; fields
`.A.B`, `$`, variables (`$x := ...`, `$x = ...`, `range $i, $e := ...`); string, raw string,
number, true/false/nil literals; parenthesised pipelines and `|`; if/else if/else, range (with
else, break, continue), with/else; Go's builtins and, or, not, len, index, slice, print, printf
(the usual verbs), println, eq, ne, lt, le, gt, ge; Docker's json, join, split, lower, upper,
title, pad, truncate. Not supported: define/template/block and call (no way to run code).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sdcontainer.record import record


class TemplateError(Exception):
    """A template that does not parse, or fails as it runs: Go's message, one line."""


class Struct(dict):  # type: ignore[type-arg]
    """Data with documented fields: naming another is an error (a Go struct's behaviour)."""

    def __init__(self, *args: Any, type_name: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.type_name = type_name


@record
class Method:
    """A documented field that takes arguments (`.Label "com.example.x"`)."""

    name: str
    function: Callable[..., Any]
    arity: int = 1  # -1: any number


MISSING = object()  # a map's absent key: printed as Go prints it, <no value>
MAX_DEPTH = 100  # nesting of blocks and parentheses a template may have
MAX_TEXT = 16 << 20  # characters a template's output, or a string it makes, may have


# --- lexing -----------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    |(?P<declare>:=)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\\n]|\\.)+')
    |(?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))
    |(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
    |(?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<chain>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
    |(?P<punct>[()|,=])
    """,
    re.VERBOSE,
)


@record
class Token:
    kind: str
    text: str
    col: int


def _tokens(action: str, col: int) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(action):
        m = _TOKEN.match(action, pos)
        if m is None:
            raise TemplateError(f"template: 1:{col + pos}: unexpected {action[pos]!r} in command")
        kind = m.lastgroup or ""
        if kind != "space":
            text = m.group()
            # `(x).Field`: a field chain right after a closing parenthesis is a chain on its value
            if kind == "field" and text != "." and out and out[-1].text == ")" and pos == out[-1].col - col + 1:
                kind = "chain"
            out.append(Token(kind, text, col + pos))
        pos = m.end()
    return out


def _split(template: str) -> Iterator[tuple[str, str, int]]:
    """("text", TEXT, col) and ("action", INSIDE, col) pieces, trim markers applied, comments dropped."""
    pos, trim_next = 0, False
    while True:
        start = template.find("{{", pos)
        text = template[pos:] if start < 0 else template[pos:start]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if start < 0:
            if text:
                yield "text", text, pos
            return
        inner_start = start + 2
        if re.match(r"-[ \t\r\n]", template[inner_start : inner_start + 2]):
            text = text.rstrip(" \t\r\n")
            inner_start += 2
        if text:
            yield "text", text, pos
        if template.startswith("/*", inner_start):
            close = template.find("*/", inner_start + 2)
            if close < 0:
                raise TemplateError(f"template: 1:{start + 1}: unclosed comment")
            after = template[close + 2 :]
            if after.startswith("}}"):
                trim_next, pos = False, close + 4
            elif re.match(r"[ \t\r\n]-}}", after):
                trim_next, pos = True, close + 6
            else:
                raise TemplateError(f"template: 1:{start + 1}: comment ends before closing delimiter")
            continue
        end = _action_end(template, inner_start, start)
        inner = template[inner_start:end]
        trim_next = bool(re.search(r"[ \t\r\n]-\Z", inner))
        if trim_next:
            inner = inner[:-2]
        yield "action", inner, inner_start + 1
        pos = end + 2


def _action_end(template: str, pos: int, start: int) -> int:
    """Where the action's `}}` is, past strings that hold one."""
    i = pos
    while i < len(template):
        if template.startswith("}}", i):
            return i
        if template[i] in "\"'`":
            close = _quote_end(template, i)
            if close < 0:
                raise TemplateError(f"template: 1:{i + 1}: unterminated quoted string")
            i = close
        i += 1
    raise TemplateError(f"template: 1:{start + 1}: unclosed action")


def _quote_end(template: str, i: int) -> int:
    quote, j = template[i], i + 1
    while j < len(template):
        c = template[j]
        if c == "\\" and quote != "`":
            j += 2
            continue
        if c == quote:
            return j
        if c == "\n" and quote != "`":
            return -1
        j += 1
    return -1


# --- parsing ----------------------------------------------------------------------


@dataclass
class Node:
    col: int


@dataclass
class Text(Node):
    text: str


@dataclass
class Literal(Node):
    value: Any


@dataclass
class Field(Node):
    names: tuple[str, ...]  # () is `.`


@dataclass
class Variable(Node):
    name: str  # "$" or "$x"
    names: tuple[str, ...]


@dataclass
class Function(Node):
    name: str


@dataclass
class Chain(Node):
    node: Node  # a parenthesised pipeline
    names: tuple[str, ...]


@dataclass
class Command(Node):
    args: list[Node]


@dataclass
class Pipeline(Node):
    commands: list[Command]
    declare: list[str] = field(default_factory=list)
    assign: bool = False  # `=`, not `:=`


@dataclass
class Action(Node):
    pipeline: Pipeline


@dataclass
class Block(Node):
    kind: str  # if, range, with
    pipeline: Pipeline
    body: list[Node]
    orelse: list[Node]


@dataclass
class Jump(Node):
    kind: str  # break, continue


FUNCTIONS: dict[str, Callable[..., Any]] = {}  # filled below the evaluator


class _Parser:
    def __init__(self, template: str) -> None:
        self.pieces = list(_split(template))
        self.at = 0
        self.depth = 0
        self.loops = 0

    def parse(self) -> list[Node]:
        nodes, stop = self.list_until(())
        if stop is not None:
            raise TemplateError(f"template: 1:{stop[1][0].col}: unexpected {{{{{stop[0]}}}}}")
        return nodes

    def list_until(self, stops: tuple[str, ...]) -> tuple[list[Node], tuple[str, list[Token]] | None]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TemplateError("template: nested too deeply")
        nodes: list[Node] = []
        try:
            while self.at < len(self.pieces):
                kind, text, col = self.pieces[self.at]
                self.at += 1
                if kind == "text":
                    nodes.append(Text(col, text))
                    continue
                tokens = _tokens(text, col)
                if not tokens:
                    raise TemplateError(f"template: 1:{col}: missing value for command")
                word = tokens[0].text if tokens[0].kind == "ident" else ""
                if word in ("end", "else"):
                    if word not in stops:
                        raise TemplateError(f"template: 1:{col}: unexpected {{{{{word}}}}}")
                    return nodes, (word, tokens)
                if word in ("if", "range", "with"):
                    nodes.append(self.block(word, tokens))
                elif word in ("break", "continue"):
                    if not self.loops:
                        raise TemplateError(f"template: 1:{col}: {{{{{word}}}}} outside {{{{range}}}}")
                    if len(tokens) > 1:
                        raise TemplateError(f"template: 1:{col}: unexpected {tokens[1].text!r} in {word}")
                    nodes.append(Jump(col, word))
                elif word in ("define", "template", "block"):
                    raise TemplateError(f"template: 1:{col}: {{{{{word}}}}} is not supported in --format")
                else:
                    nodes.append(Action(col, self.pipeline(tokens, 0, allow_declare=True)[0]))
            if stops:
                raise TemplateError("template: 1: unexpected EOF (a block has no {{end}})")
            return nodes, None
        finally:
            self.depth -= 1

    def block(self, kind: str, tokens: list[Token]) -> Block:
        col = tokens[0].col
        self.depth += 1  # (an `else if` is a block inside its else: a chain of them nests)
        try:
            return self._block(kind, tokens, col)
        finally:
            self.depth -= 1

    def _block(self, kind: str, tokens: list[Token], col: int) -> Block:
        if self.depth > MAX_DEPTH:
            raise TemplateError("template: nested too deeply")
        if len(tokens) < 2:
            raise TemplateError(f"template: 1:{col}: missing value for {kind}")
        pipeline, end = self.pipeline(tokens, 1, allow_declare=True, in_range=kind == "range")
        if end != len(tokens):
            raise TemplateError(f"template: 1:{tokens[end].col}: unexpected {tokens[end].text!r} in {kind}")
        self.loops += kind == "range"
        body, stop = self.list_until(("end", "else"))
        self.loops -= kind == "range"
        orelse: list[Node] = []
        assert stop is not None
        if stop[0] == "else":
            rest = stop[1][1:]
            if rest and rest[0].kind == "ident" and rest[0].text in ("if", "with") and kind in ("if", "with"):
                if rest[0].text != kind:
                    raise TemplateError(f"template: 1:{rest[0].col}: {{{{else {rest[0].text}}}}} in {{{{{kind}}}}}")
                orelse = [self.block(kind, rest)]  # `else if`: the rest is this else's one block
                return Block(col, kind, pipeline, body, orelse)
            if rest:
                raise TemplateError(f"template: 1:{rest[0].col}: unexpected {rest[0].text!r} in else")
            orelse, stop = self.list_until(("end",))
            assert stop is not None
        if len(stop[1]) > 1:
            raise TemplateError(f"template: 1:{stop[1][1].col}: unexpected {stop[1][1].text!r} in end")
        return Block(col, kind, pipeline, body, orelse)

    def pipeline(self, tokens: list[Token], at: int, *, allow_declare: bool = False,
                 in_range: bool = False) -> tuple[Pipeline, int]:  # fmt: skip
        col = tokens[at].col if at < len(tokens) else 0
        declare: list[str] = []
        assign = False
        kinds = [t.kind if t.kind != "punct" else t.text for t in tokens[at : at + 4]]
        if allow_declare and kinds and kinds[0] == "variable" and "." not in tokens[at].text:
            if in_range and kinds == ["variable", ",", "variable", "declare"]:
                declare, at = [tokens[at].text, tokens[at + 2].text], at + 4
            elif kinds[1:2] in (["declare"], ["="]):
                declare, assign, at = [tokens[at].text], kinds[1] == "=", at + 2
            if "$" in declare:
                raise TemplateError(f"template: 1:{col}: cannot assign to $")
            if at >= len(tokens):
                raise TemplateError(f"template: 1:{col}: missing value for command")
        commands: list[Command] = []
        while True:
            command, at = self.command(tokens, at)
            commands.append(command)
            if at < len(tokens) and tokens[at].text == "|":
                at += 1
                continue
            break
        return Pipeline(col, commands, declare, assign), at

    def command(self, tokens: list[Token], at: int) -> tuple[Command, int]:
        args: list[Node] = []
        col = tokens[at].col if at < len(tokens) else 0
        while at < len(tokens) and tokens[at].text not in ("|", ")"):
            node, at = self.operand(tokens, at)
            args.append(node)
        if not args:
            raise TemplateError(f"template: 1:{col}: missing value for command")
        return Command(col, args), at

    def operand(self, tokens: list[Token], at: int) -> tuple[Node, int]:
        tok = tokens[at]
        node: Node
        if tok.kind == "field":
            node = Field(tok.col, tuple(tok.text.split(".")[1:]) if tok.text != "." else ())
        elif tok.kind == "variable":
            name, *names = tok.text.split(".")
            node = Variable(tok.col, name, tuple(names))
        elif tok.kind in ("string", "raw", "char"):
            node = Literal(tok.col, _unquote(tok))
        elif tok.kind == "number":
            node = Literal(tok.col, _number(tok))
        elif tok.kind == "ident":
            if tok.text in ("true", "false"):
                node = Literal(tok.col, tok.text == "true")
            elif tok.text == "nil":
                node = Literal(tok.col, None)
            elif tok.text in FUNCTIONS:
                node = Function(tok.col, tok.text)
            else:
                raise TemplateError(f'template: 1:{tok.col}: function "{tok.text}" not defined')
        elif tok.text == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise TemplateError("template: nested too deeply")
            if at + 1 >= len(tokens):
                raise TemplateError(f"template: 1:{tok.col}: unclosed left paren")
            inner, end = self.pipeline(tokens, at + 1)
            self.depth -= 1
            if end >= len(tokens) or tokens[end].text != ")":
                raise TemplateError(f"template: 1:{tok.col}: unclosed left paren")
            at = end
            node = inner
            if at + 1 < len(tokens) and tokens[at + 1].kind == "chain":
                at += 1
                node = Chain(tok.col, inner, tuple(tokens[at].text.split(".")[1:]))
        else:
            raise TemplateError(f"template: 1:{tok.col}: unexpected {tok.text!r} in operand")
        return node, at + 1


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v", "0": "\0"}  # fmt: skip


def _unquote(tok: Token) -> Any:
    body = tok.text[1:-1]
    if tok.kind == "raw":
        return body
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise TemplateError(f"template: 1:{tok.col}: invalid syntax in {tok.text}")
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise TemplateError(f"template: 1:{tok.col}: invalid syntax in {tok.text}")
            out.append(chr(code))
            i += 2 + width
        elif e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        else:
            raise TemplateError(f"template: 1:{tok.col}: invalid syntax in {tok.text}")
    text = "".join(out)
    if tok.kind == "char":
        if len(text) != 1:
            raise TemplateError(f"template: 1:{tok.col}: malformed character constant: {tok.text}")
        return ord(text)
    return text


def _number(tok: Token) -> int | float:
    text = tok.text.replace("_", "")
    try:
        if len(text) > 40:
            raise ValueError(text)
        if text.lstrip("+-")[:2].lower() == "0x":
            number: int | float = int(text, 16)
        elif any(c in text for c in ".eE"):
            number = float(text)
        else:
            number = int(text, 10)
    except ValueError:
        raise TemplateError(f"template: 1:{tok.col}: illegal number syntax: {tok.text[:40]!r}") from None
    if isinstance(number, int) and not -(2**63) <= number < 2**64:
        raise TemplateError(f"template: 1:{tok.col}: number {tok.text[:40]} overflows int64")
    if isinstance(number, float) and number in (float("inf"), float("-inf")):
        raise TemplateError(f"template: 1:{tok.col}: number {tok.text[:40]} overflows float64")
    return number


# --- running ----------------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


@record
class Template:
    nodes: list[Node]
    source: str

    def render(self, data: Any) -> str:
        out: list[str] = []
        try:
            _Run(out, FUNCTIONS).nodes(self.nodes, data, [{"$": data}])
        except (RecursionError, ValueError, OverflowError, TypeError, UnicodeError, MemoryError) as exc:
            raise TemplateError(f"template: {type(exc).__name__}: {str(exc)[:200]}") from None
        return "".join(out)

    def header(self, titles: dict[str, str]) -> str:
        """The template run on its fields' column titles, as Docker makes a table's header line:
        each field (a method's too) gives its title; json, join, upper... give their argument."""
        data = Struct({name: Method(name, lambda *_, t=title: t, arity=-1) for name, title in titles.items()})
        out: list[str] = []
        try:
            _Run(out, HEADER_FUNCTIONS).nodes(self.nodes, data, [{"$": data}])
        except (TemplateError, RecursionError, ValueError, OverflowError, TypeError, UnicodeError):
            pass  # a header is what came out before it (Docker ignores the error too)
        return "".join(out)


def parse(template: str) -> Template:
    return Template(_Parser(template).parse(), template)


def render(template: str, data: Any) -> str:
    return parse(template).render(data)


class _Run:
    def __init__(self, out: list[str], functions: dict[str, Callable[..., Any]]) -> None:
        self.out = out
        self.functions = functions
        self.size = 0

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_TEXT:
            raise TemplateError(f"template: its output is over {MAX_TEXT >> 20} MiB")
        self.out.append(text)

    def nodes(self, nodes: list[Node], dot: Any, scopes: list[dict[str, Any]]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self.write(node.text)
            elif isinstance(node, Action):
                value = self.pipeline(node.pipeline, dot, scopes)
                if not node.pipeline.declare:
                    self.write(show(value))
            elif isinstance(node, Block):
                self.block(node, dot, scopes)
            elif isinstance(node, Jump):
                raise _Break() if node.kind == "break" else _Continue()

    def block(self, node: Block, dot: Any, scopes: list[dict[str, Any]]) -> None:
        scope: dict[str, Any] = {}
        inner = [*scopes, scope]
        if node.kind == "range":
            self.range(node, dot, inner, scope)
            return
        value = self.pipeline(node.pipeline, dot, inner, scope)
        if truth(value):
            self.nodes(node.body, value if node.kind == "with" else dot, inner)
        else:
            self.nodes(node.orelse, dot, inner)

    def range(self, node: Block, dot: Any, scopes: list[dict[str, Any]], scope: dict[str, Any]) -> None:
        pipeline = node.pipeline
        value = self.pipeline(Pipeline(pipeline.col, pipeline.commands), dot, scopes)
        if isinstance(value, Struct):
            raise TemplateError(f"template: 1:{node.col}: range can't iterate over a {value.type_name or 'struct'}")
        if isinstance(value, dict):
            items = sorted(value.items(), key=lambda kv: _key(kv[0]))
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif value is None or value is MISSING:
            items = []
        else:
            raise TemplateError(f"template: 1:{node.col}: range can't iterate over {show(value)}")
        if not items:
            self.nodes(node.orelse, dot, scopes)
            return
        for key, element in items:
            if len(pipeline.declare) == 1:
                scope[pipeline.declare[0]] = element
            elif len(pipeline.declare) == 2:
                scope[pipeline.declare[0]], scope[pipeline.declare[1]] = key, element
            try:
                self.nodes(node.body, element, [*scopes[:-1], dict(scope)])
            except _Break:
                break
            except _Continue:
                continue

    def pipeline(self, pipeline: Pipeline, dot: Any, scopes: list[dict[str, Any]],
                 scope: dict[str, Any] | None = None) -> Any:  # fmt: skip
        value: Any = MISSING
        piped = False
        for command in pipeline.commands:
            value = self.command(command, dot, scopes, value if piped else MISSING, piped)
            piped = True
        if pipeline.declare:
            name = pipeline.declare[-1]
            if pipeline.assign:
                for s in reversed(scopes):
                    if name in s:
                        s[name] = value
                        break
                else:
                    raise TemplateError(f"template: 1:{pipeline.col}: undefined variable: {name}")
            else:
                (scope if scope is not None else scopes[-1])[name] = value
        return value

    def command(self, command: Command, dot: Any, scopes: list[dict[str, Any]], piped: Any, has_piped: bool) -> Any:
        first, rest = command.args[0], command.args[1:]
        if isinstance(first, Function) and first.name in ("and", "or"):
            return self.logic(first, rest, dot, scopes, [piped] if has_piped else [])
        if isinstance(first, Function):
            args = [self.arg(a, dot, scopes) for a in rest] + ([piped] if has_piped else [])
            return self.call(first, args)
        if isinstance(first, (Field, Variable, Chain)):
            args = [self.arg(a, dot, scopes) for a in rest] + ([piped] if has_piped else [])
            return self.path(first, dot, scopes, args)
        if rest or has_piped:
            raise TemplateError(f"template: 1:{command.col}: can't give argument to non-function {_source(first)}")
        return self.arg(first, dot, scopes)

    def arg(self, node: Node, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Pipeline):
            return self.pipeline(node, dot, [*scopes, {}])
        if isinstance(node, Function):
            return self.logic(node, [], dot, scopes, []) if node.name in ("and", "or") else self.call(node, [])
        return self.path(node, dot, scopes, [])

    def logic(self, node: Function, nodes: list[Node], dot: Any, scopes: list[dict[str, Any]],
              piped: list[Any]) -> Any:  # fmt: skip
        """and, or: the first argument that decides, evaluated no further than it (Go's)."""
        if not nodes and not piped:
            raise TemplateError(f"template: 1:{node.col}: wrong number of args for {node.name}: want at least 1 got 0")
        value: Any = None
        for i, arg in enumerate(nodes):
            value = self.arg(arg, dot, scopes)
            if truth(value) != (node.name == "and") or (i == len(nodes) - 1 and not piped):
                return value
        return piped[0]

    def call(self, node: Function, args: list[Any]) -> Any:
        try:
            result = self.functions[node.name](*args)
            if isinstance(result, str) and len(result) > MAX_TEXT:
                raise TemplateError(f"a string over {MAX_TEXT >> 20} MiB")
            return result
        except TemplateError as e:
            raise TemplateError(f"template: 1:{node.col}: error calling {node.name}: {e}") from None
        except TypeError:
            raise TemplateError(f"template: 1:{node.col}: wrong number of args for {node.name}") from None

    def path(self, node: Node, dot: Any, scopes: list[dict[str, Any]], args: list[Any]) -> Any:
        if isinstance(node, Field):
            value, names, where = dot, node.names, ""
        elif isinstance(node, Variable):
            for s in reversed(scopes):
                if node.name in s:
                    value = s[node.name]
                    break
            else:
                raise TemplateError(f"template: 1:{node.col}: undefined variable: {node.name}")
            names, where = node.names, node.name
        elif isinstance(node, Chain):
            value, names, where = self.arg(node.node, dot, scopes), node.names, "(...)"
        else:  # pragma: no cover - the parser makes no other
            raise TemplateError("template: bad node")
        if not names:
            if args:
                raise TemplateError(f"template: 1:{node.col}: can't give argument to non-function {where or '.'}")
            return value
        for i, name in enumerate(names):
            last = i == len(names) - 1
            value = self.field(node.col, value, name, args if last else [], where)
            where += "." + name
        return value

    def field(self, col: int, value: Any, name: str, args: list[Any], where: str) -> Any:
        if isinstance(value, Struct):
            if name not in value:
                kind = value.type_name or "this value"
                raise TemplateError(f"template: 1:{col}: executing at <{where}.{name}>: can't evaluate field {name} "
                                    f"in {kind}")  # fmt: skip
            found = value[name]
            if isinstance(found, Method):
                if found.arity >= 0 and len(args) != found.arity:
                    raise TemplateError(f"template: 1:{col}: wrong number of args for {name}: want {found.arity} "
                                        f"got {len(args)}")  # fmt: skip
                return found.function(*args)
        elif isinstance(value, dict):
            found = value.get(name, MISSING)
        elif value is None or value is MISSING:
            raise TemplateError(f"template: 1:{col}: executing at <{where}.{name}>: nil pointer evaluating {name}")
        else:
            raise TemplateError(f"template: 1:{col}: executing at <{where}.{name}>: can't evaluate field {name} "
                                f"in type {_type(value)}")  # fmt: skip
        if args:
            raise TemplateError(f"template: 1:{col}: {name} has arguments but cannot be invoked as function")
        return found


def _source(node: Node) -> str:
    if isinstance(node, Literal):
        return show(node.value)
    return "value"


def _key(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, (int, float)) and not isinstance(key, bool) else (1, str(key))


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return "interface {}"


# --- values as Go prints them -------------------------------------------------------


def truth(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def show(value: Any) -> str:
    """fmt's %v."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_inner(v) for v in value) + "]"
    if isinstance(value, Struct):
        return "{" + " ".join(_inner(v) for v in value.values() if not isinstance(v, Method)) + "}"
    if isinstance(value, dict):
        return (
            "map["
            + " ".join(f"{_inner(k)}:{_inner(v)}" for k, v in sorted(value.items(), key=lambda kv: _key(kv[0])))
            + "]"
        )
    if isinstance(value, Method):
        return f"<method {value.name}>"
    raise TemplateError(f"template: a value of type {type(value).__name__} cannot be shown")


def _inner(value: Any) -> str:
    return "<nil>" if value is MISSING else show(value)


def go_float(value: float) -> str:
    """fmt's %v of a float64 (strconv's shortest %g): 100, 0.5, 123456, 1.234567e+06, 1e-05."""
    return _float(value, low=-4, high=6, pad=2)


def _float(value: float, *, low: int, high: int, pad: int) -> str:
    from decimal import Decimal

    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    number = Decimal(repr(value)).normalize()  # repr: the shortest digits that read back as value
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    e10 = len(digits) + exponent - 1
    if low <= e10 < high:
        return format(number, "f")
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return ("-" if sign else "") + mantissa + "e" + ("-" if e10 < 0 else "+") + str(abs(e10)).rjust(pad, "0")


def to_json(value: Any) -> str:
    """Go's json.Marshal with HTML escaping off (Docker's `json`): maps' keys sorted, a struct's
    fields in their order, floats as Go writes them."""
    import json

    if value is MISSING or value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TemplateError(f"json: unsupported value: {go_float(value)}")
        return _float(value, low=-6, high=21, pad=1)  # encoding/json's cut-offs
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, dict):
        items = value.items() if isinstance(value, Struct) else sorted(value.items(), key=lambda kv: str(kv[0]))
        return "{" + ",".join(f"{to_json(str(k))}:{to_json(v)}" for k, v in items if not isinstance(v, Method)) + "}"
    raise TemplateError(f"json: unsupported type: {type(value).__name__}")


# --- functions --------------------------------------------------------------------


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            if not isinstance(key, str):
                raise TemplateError(f"value has type {_type(key)}; should be string")
            value = value.get(key, "" if not isinstance(value, Struct) else MISSING)
        elif isinstance(value, (list, tuple, str)):
            if not isinstance(key, int) or isinstance(key, bool):
                raise TemplateError(f"cannot index slice/array with type {_type(key)}")
            items = value.encode() if isinstance(value, str) else value  # a string's bytes, as Go's
            if not 0 <= key < len(items):
                raise TemplateError(f"index out of range: {key}")
            value = items[key]
        elif value is None or value is MISSING:
            raise TemplateError("index of untyped nil")
        else:
            raise TemplateError(f"can't index item of type {_type(value)}")
    return value


def _slice(value: Any, *bounds: Any) -> Any:
    if not isinstance(value, (list, tuple, str)):
        raise TemplateError(f"can't slice item of type {_type(value)}")
    if len(bounds) > 2 or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
        raise TemplateError("wrong slice bounds")
    items = value.encode() if isinstance(value, str) else value  # a string's bytes, as Go's
    start, end = (list(bounds) + [0, len(items)][len(bounds) :])[:2]
    if not 0 <= start <= end <= len(items):
        raise TemplateError(f"slice bounds out of range [{start}:{end}]")
    part = items[start:end]
    return part.decode("utf-8", "replace") if isinstance(part, bytes) else part


def _len(value: Any) -> int:
    if isinstance(value, (str, list, tuple, dict)):
        return len(value.encode() if isinstance(value, str) else value)
    raise TemplateError(f"len of type {_type(value)}")


def _compare(a: Any, b: Any) -> tuple[Any, Any]:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        if not (isinstance(a, bool) and isinstance(b, bool)):
            raise TemplateError("incompatible types for comparison")
    elif isinstance(a, numbers) and isinstance(b, numbers):
        return a, b
    elif isinstance(a, str) and isinstance(b, str):
        return a, b
    elif (a is None or a is MISSING) or (b is None or b is MISSING):
        return a is None or a is MISSING, b is None or b is MISSING
    elif isinstance(a, (list, tuple, dict)) or isinstance(b, (list, tuple, dict)):
        raise TemplateError("non-comparable type")
    elif type(a) is not type(b):
        raise TemplateError("incompatible types for comparison")
    return a, b


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("missing argument for comparison")
    for b in others:
        x, y = _compare(a, b)
        if x == y:
            return True
    return False


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        x, y = _compare(a, b)
        if not (isinstance(x, (int, float, str)) and isinstance(y, (int, float, str))) or isinstance(x, bool):
            raise TemplateError("invalid type for comparison")
        return op(x, y)

    return compare


def _print(*args: Any) -> str:
    # Go's Sprint: a space between operands when neither is a string
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += show(a)
    return out


def _println(*args: Any) -> str:
    return " ".join(show(a) for a in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*))?([a-zA-Z%])")


PRINTF_MAX = 1000  # a verb's width or precision, at most


def _printf(fmt: Any, *args: Any) -> str:
    """fmt.Sprintf's verbs as templates use them: %v %s %q %d %x %X %o %b %e %f %g %t %c %%,
    with Go's flags (- + # 0 space), width and precision (* takes them from the arguments)."""
    if not isinstance(fmt, str):
        raise TemplateError(f"printf: the format is a {_type(fmt)}, not a string")
    values = list(args)

    def number_of(spec: str | None) -> int | None:
        if spec is None:
            return None
        if spec == "*":
            taken = values.pop(0) if values else None
            if not isinstance(taken, int) or isinstance(taken, bool):
                raise TemplateError("printf: * wants an int argument")
            spec = str(taken)
        if abs(int(spec)) > PRINTF_MAX:
            raise TemplateError(f"printf: {spec} is too wide")
        return int(spec)

    def verb(m: re.Match[str]) -> str:
        flags, kind = m.group(1), m.group(4)
        if kind == "%":
            return "%"
        width, precision = number_of(m.group(2)), number_of(m.group(3))
        if not values:
            return f"%!{kind}(MISSING)"
        value = values.pop(0)
        integer = isinstance(value, int) and not isinstance(value, bool)
        sign = "+" if "+" in flags else " " if " " in flags else ""
        if kind == "v" or (kind == "s" and isinstance(value, str)) or (kind == "t" and isinstance(value, bool)):
            text = show(value)[:precision] if precision is not None else show(value)
        elif kind == "s" and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            text = show(value)
        elif kind == "q" and isinstance(value, str):
            text = _go_quote(value)
        elif kind == "c" and integer and 0 <= value <= 0x10FFFF:
            text = chr(value)
        elif kind in "dxXob" and integer:
            base = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[kind]
            prefix = "#" if "#" in flags and kind != "d" else ""
            zero = "0" if "0" in flags and "-" not in flags and width else ""
            text = format(value, f"{sign}{prefix}{zero}{width or ''}{base}")
            width = None
        elif kind in "xX" and isinstance(value, str):
            text = value.encode().hex()
            text = text.upper() if kind == "X" else text
        elif kind in "efgEG" and isinstance(value, (int, float)) and not isinstance(value, bool):
            zero = "0" if "0" in flags and "-" not in flags and width else ""
            if kind in "gG" and precision is None:
                text = sign * (value >= 0) + go_float(float(value))
            else:
                text = format(float(value), f"{sign}{zero}{width or ''}.{6 if precision is None else precision}{kind}")
                width = None
        else:
            return f"%!{kind}({_type(value)}={show(value)})"
        if width:
            text = text.ljust(width) if "-" in flags else text.rjust(width)
        return text

    out = _VERB.sub(verb, fmt)
    if values:
        out += "%!(EXTRA " + ", ".join(f"{_type(v)}={show(v)}" for v in values) + ")"
    return out


_QUOTED = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
           "\\": "\\\\", '"': '\\"'}  # fmt: skip


def _go_quote(text: str) -> str:
    """strconv.Quote: Go's escapes; what is not printable as \\xNN, \\uNNNN or \\UNNNNNNNN."""
    out = []
    for c in text:
        if c in _QUOTED:
            out.append(_QUOTED[c])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TemplateError(f"{name}: wants a string, got {_type(value)}")
    return value


def _join(values: Any, sep: Any) -> str:
    if not isinstance(values, (list, tuple)) or not isinstance(sep, str):
        raise TemplateError(f"join: wants a list and a separator, got {_type(values)} and {_type(sep)}")
    return sep.join(show(v) for v in values)


def _split_(text: Any, sep: Any) -> list[str]:
    text, sep = _text("split", text), _text("split", sep)
    return list(text) if sep == "" else text.split(sep)


def _title(text: Any) -> str:
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), _text("title", text))


def _pad(text: Any, left: Any, right: Any) -> str:
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 1000 for n in (left, right)):
        raise TemplateError("pad: wants counts of spaces from 0 to 1000")
    return " " * int(left) + _text("pad", text) + " " * int(right)


def _truncate(text: Any, length: Any) -> str:
    if not isinstance(length, int) or isinstance(length, bool):
        raise TemplateError("truncate: wants a length")
    return _text("truncate", text)[: max(0, length)]


def _not(value: Any) -> bool:
    return not truth(value)


FUNCTIONS.update({
    "and": lambda *a: None,  # evaluated in _Run.logic
    "or": lambda *a: None,
    "not": _not,
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": _print,
    "printf": _printf,
    "println": _println,
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": _ordered(lambda a, b: a < b),
    "le": _ordered(lambda a, b: a <= b),
    "gt": _ordered(lambda a, b: a > b),
    "ge": _ordered(lambda a, b: a >= b),
    "json": to_json,
    "join": _join,
    "split": _split_,
    "lower": lambda s: _text("lower", s).lower(),
    "upper": lambda s: _text("upper", s).upper(),
    "title": _title,
    "pad": _pad,
    "truncate": _truncate,
})  # fmt: skip


def _first(value: Any, *_: Any) -> Any:
    return value


HEADER_FUNCTIONS = {**FUNCTIONS, **{name: _first for name in ("json", "join", "split", "lower", "upper", "title", "pad",
                                                              "truncate")}}  # fmt: skip


# --- --format ---------------------------------------------------------------------

FORMAT_HINT = "Go's template syntax, as Docker's: '{{.Field}}', '{{json .}}', 'table {{.A}}\\t{{.B}}'"


def compile_format(fmt: str) -> Template:
    """A --format template (`\\t` and `\\n` read as Docker reads them); UsageError if it does not parse."""
    from sdcontainer.errors import UsageError

    try:
        return parse(unescape_tabs(fmt))
    except TemplateError as exc:
        raise UsageError(f"--format: {exc}", hint=FORMAT_HINT) from None


def format_one(template: Template, data: Any) -> str:
    """template run on data; UsageError naming the fields there are when it fails."""
    from sdcontainer.errors import UsageError

    try:
        return template.render(data)
    except TemplateError as exc:
        fields = ", ".join("." + k for k in data) if isinstance(data, Struct) else ""
        raise UsageError(f"--format: {exc}", hint=f"the fields are {fields}" if fields else FORMAT_HINT) from None


# Keys whose values are Go maps in Docker's types (free-form keys), not structs.
MAPS = frozenset({"Labels", "Annotations", "Options", "Attributes", "Networks", "Ports", "PortBindings",
                  "ExposedPorts", "Volumes", "Tmpfs", "Data", "Containers", "UnitProperties", "Env"})  # fmt: skip


def structs(value: Any, maps: frozenset[str] = MAPS, type_name: str = "") -> Any:
    """JSON-shaped data as a template sees a Go value: its objects structs (naming a field they
    lack is an error), but those under a key of maps (Labels, Networks...: free-form keys, a
    missing one <no value>), whose values are structs again (a network's endpoint)."""
    if isinstance(value, dict):
        fields = {}
        for k, v in value.items():
            if k in maps and isinstance(v, dict):
                fields[k] = {key: structs(item, maps, k) for key, item in v.items()}
            else:
                fields[k] = structs(v, maps, k)
        return Struct(fields, type_name=type_name)
    if isinstance(value, list):
        return [structs(v, maps, type_name) for v in value]
    return value


# --- tables -----------------------------------------------------------------------


def is_template(fmt: str) -> bool:
    return "{{" in fmt


def table(fmt: str) -> tuple[bool, str]:
    """Docker's `table ` prefix: (whether a header row comes first, the template of a row)."""
    if fmt.startswith("table ") or fmt == "table":
        return True, fmt[6:] if fmt != "table" else ""
    return False, fmt


def tabwrite(text: str, *, minwidth: int = 10, padding: int = 3) -> str:
    """Go's tabwriter as Docker sets it up (min width 10, padding 3, spaces): a tab ends a cell,
    cells of a column are as wide as its widest and padded; the last cell of a line is not."""
    lines = text.split("\n")
    cells = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for row in cells:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell) + padding, minwidth)
    return "\n".join("".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + row[-1] for row in cells)


def unescape_tabs(fmt: str) -> str:
    """`\\t` and `\\n` typed in a shell's single quotes, as Docker reads them."""
    return fmt.replace("\\t", "\t").replace("\\n", "\n")
