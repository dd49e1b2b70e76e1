"""A stage's variables and image config as its instructions change them (Docker's rules).

ARG scoping, as Docker and BuildKit have it:
- the ARGs before the first FROM (meta) are for FROM lines alone; a stage sees one only when it
  declares it again (`ARG NAME`, no value: the meta one's);
- an ARG's value is its --build-arg, else its default (its words expanded with what is in scope
  before it), else nothing (declared, not set); it is in scope from its line to its stage's end;
- ENV wins over an ARG of the same name, in expansions and in RUN's environment; ARGs are RUN's
  environment too, but not the image's;
- the proxy variables (PREDEFINED) pass from --build-arg to RUN without a declaration, and the
  platform ones (TARGETARCH...) are set in the meta scope by the build.

Config-only instructions (ENV, LABEL, USER, WORKDIR, CMD, ENTRYPOINT, EXPOSE, VOLUME,
STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER, ARG) change `config` here; WORKDIR also
tells the build the directory to make.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sdcontainer.build.dockerfile import DockerfileError
from sdcontainer.build.instructions import PREDEFINED, Instruction
from sdcontainer.build.shell import Lexer, ShellError

DEFAULT_SHELL = ("/bin/sh", "-c")
DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
MAX_ENV = 1 << 20  # bytes of a stage's variables: ENV and ARG values together


def parse_duration(text: str, at: str, flag: str) -> int:
    """A Go duration ("30s", "1m30s", "1.5h") in nanoseconds."""
    if text == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        match = DURATION.match(text, pos)
        if not match:
            raise DockerfileError(f"{at}: {flag}: {text!r} is no duration", hint="write 30s, 1m30s or 1h")
        total += float(match.group(1)) * UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise DockerfileError(f"{at}: {flag}: an empty duration", hint="write 30s, 1m30s or 1h")
    return int(total)


def env_map(env: Sequence[str] | None) -> dict[str, str]:
    """An image config's Env ("K=V" each) as a dict, the last of a name winning."""
    return dict(e.partition("=")[::2] for e in env or ())


@dataclass
class Scope:
    """What a stage knows as it goes: its config (the image config's "config" object), its ARGs."""

    build_args: Mapping[str, str]
    meta: Mapping[str, str | None]  # the meta ARGs (before the first FROM), resolved
    escape: str = "\\"
    config: dict[str, Any] = field(default_factory=dict)
    args: dict[str, str | None] = field(default_factory=dict)  # this stage's ARGs, in order (None: not set)
    used: set[str] = field(default_factory=set)  # the build args a declaration took (the rest: warned of)
    cmd_set: bool = False  # a CMD of this stage's (an ENTRYPOINT resets an inherited one only)
    author: str = ""  # MAINTAINER

    @classmethod
    def for_stage(cls, base_config: Mapping[str, Any], build_args: Mapping[str, str],
                  meta: Mapping[str, str | None], escape: str = "\\") -> Scope:  # fmt: skip
        return cls(build_args=build_args, meta=meta, escape=escape, config=copy.deepcopy(dict(base_config)))

    def env(self) -> dict[str, str]:
        """The variables an expansion sees: the ARGs that are set, then ENV over them."""
        found = {k: v for k, v in self.args.items() if v is not None}
        found.update(env_map(self.config.get("Env")))
        return found

    def run_env(self) -> dict[str, str]:
        """RUN's environment: the image's ENV, the stage's ARGs under it, and the proxy
        variables a --build-arg gives."""
        found = {k: v for k, v in self.build_args.items() if k in PREDEFINED}
        found.update(self.env())
        return found

    def word(self, text: str, at: str) -> str:
        try:
            return Lexer(self.escape).word(text, self.env())
        except ShellError as exc:
            raise DockerfileError(f"{at}: {exc}", hint="check its quotes and ${...}") from None

    def words(self, text: str, at: str) -> list[str]:
        try:
            return Lexer(self.escape).words(text, self.env())
        except ShellError as exc:
            raise DockerfileError(f"{at}: {exc}", hint="check its quotes and ${...}") from None

    def apply(self, instruction: Instruction) -> str:
        """A config-only instruction applied; for WORKDIR, the directory to make (else "")."""
        keyword, values, at = instruction.keyword, instruction.values, instruction.at
        handler = getattr(self, f"_{keyword}", None)
        if handler is None:
            raise DockerfileError(f"{at}: {instruction.node.command} changes files: it is no config change",
                                  hint="report it: sdc's build should run it as a step")  # fmt: skip
        result = handler(instruction, values, at)
        self._check_size(at)
        return result if isinstance(result, str) else ""

    def _check_size(self, at: str) -> None:
        size = sum(len(k) + len(v or "") for k, v in self.args.items()) + sum(map(len, self.config.get("Env") or ()))
        if size > MAX_ENV:
            raise DockerfileError(f"{at}: the stage's variables are more than {MAX_ENV >> 20} MiB",
                                  hint="is a variable made of itself, again and again?")  # fmt: skip

    def _arg(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        for word in values:
            name, eq, default = word.partition("=")
            if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise DockerfileError(f"{at}: ARG {name!r} is no variable's name", hint="write ARG NAME[=DEFAULT]")
            value: str | None
            if name in self.build_args:
                value = self.build_args[name]
                self.used.add(name)
            elif eq:
                value = self.word(default, at)
            else:
                value = self.meta.get(name)
            self.args.pop(name, None)
            self.args[name] = value

    def _env(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        env = env_map(self.config.get("Env"))
        updates = [(self.word(key, at), self.word(value, at)) for key, value in instruction.pairs()]
        for key, value in updates:
            if not key or "=" in key:
                raise DockerfileError(f"{at}: ENV {key!r} is no variable's name", hint="write ENV NAME=VALUE")
            env.pop(key, None)
            env[key] = value
        self.config["Env"] = [f"{k}={v}" for k, v in env.items()]

    def _label(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        labels = dict(self.config.get("Labels") or {})
        for key, value in instruction.pairs():
            name = self.word(key, at)
            if not name:
                raise DockerfileError(f"{at}: LABEL with an empty name", hint="write LABEL NAME=VALUE")
            labels[name] = self.word(value, at)
        self.config["Labels"] = labels

    def _maintainer(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        self.author = self.word(values[0], at)

    def _user(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        self.config["User"] = self.word(values[0], at)

    def _workdir(self, instruction: Instruction, values: tuple[str, ...], at: str) -> str:
        import posixpath

        path = self.word(values[0], at)
        if not path:
            raise DockerfileError(f"{at}: WORKDIR of an empty path", hint="write WORKDIR /PATH")
        current = self.config.get("WorkingDir") or "/"
        workdir = posixpath.normpath(posixpath.join(current, path))
        self.config["WorkingDir"] = "/" + workdir.lstrip("/")
        return str(self.config["WorkingDir"])

    def _command(self, instruction: Instruction, values: tuple[str, ...]) -> list[str]:
        """CMD's and ENTRYPOINT's: the exec form as it is, the shell form through SHELL."""
        if instruction.node.json:
            return list(values)
        return [*(self.config.get("Shell") or DEFAULT_SHELL), *values]

    def _cmd(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        self.config["Cmd"] = self._command(instruction, values)
        self.cmd_set = True

    def _entrypoint(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        self.config["Entrypoint"] = self._command(instruction, values) or None
        if not self.cmd_set:  # (an inherited CMD is the old ENTRYPOINT's arguments: not this one's)
            self.config["Cmd"] = None

    def _shell(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        if not values:
            raise DockerfileError(f"{at}: SHELL requires at least one argument", hint='write SHELL ["/bin/sh", "-c"]')
        self.config["Shell"] = list(values)

    def _expose(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        ports = dict(self.config.get("ExposedPorts") or {})
        for value in values:
            for port in expose_ports(self.word(value, at), at):
                ports[port] = {}
        self.config["ExposedPorts"] = ports

    def _volume(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        volumes = dict(self.config.get("Volumes") or {})
        for value in values:
            path = self.word(value, at) if not instruction.node.json else value
            if not path.strip():
                raise DockerfileError(f"{at}: VOLUME of an empty path", hint="write VOLUME /PATH")
            volumes[path] = {}
        self.config["Volumes"] = volumes

    def _stopsignal(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        from sdcontainer.containerspec import parse_signal
        from sdcontainer.errors import UsageError

        signal = self.word(values[0], at)
        try:
            parse_signal(signal)
        except (UsageError, ValueError):  # (its own message is about a flag)
            raise DockerfileError(f"{at}: STOPSIGNAL {signal!r} is no signal",
                                  hint="write STOPSIGNAL SIGTERM") from None  # fmt: skip
        self.config["StopSignal"] = signal

    def _healthcheck(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        if values[0].upper() == "NONE":
            self.config["Healthcheck"] = {"Test": ["NONE"]}
            return
        command = list(values[1:])
        test = ["CMD", *command] if instruction.node.json else ["CMD-SHELL", command[0]]
        check: dict[str, Any] = {"Test": test}
        for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                          ("start-interval", "StartInterval")):  # fmt: skip
            if instruction.flag(flag):
                check[key] = parse_duration(instruction.flag(flag), at, f"--{flag}")
        if instruction.flag("retries"):
            try:
                check["Retries"] = int(instruction.flag("retries"))
            except ValueError:
                raise DockerfileError(f"{at}: --retries: {instruction.flag('retries')!r} is no number",
                                      hint="write --retries=3") from None  # fmt: skip
        self.config["Healthcheck"] = check

    def _onbuild(self, instruction: Instruction, values: tuple[str, ...], at: str) -> None:
        original = instruction.node.original.strip()
        trigger = re.sub(r"^\S+\s+", "", original, count=1)  # (the instruction after ONBUILD, as written)
        self.config["OnBuild"] = [*(self.config.get("OnBuild") or []), trigger]


def expose_ports(text: str, at: str) -> list[str]:
    """EXPOSE's word: 80, 80/udp, 8000-8002/tcp: each port with its protocol (tcp by default)."""
    port, _, protocol = text.partition("/")
    protocol = (protocol or "tcp").lower()
    if protocol not in ("tcp", "udp", "sctp"):
        raise DockerfileError(f"{at}: EXPOSE {text!r}: {protocol!r} is no protocol", hint="write tcp, udp or sctp")
    first, dash, last = port.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        raise DockerfileError(f"{at}: EXPOSE {text!r} is no port", hint="write EXPOSE 80, 80/udp or 8000-8002")
    low, high = int(first), int(last) if dash else int(first)
    if not 0 < low <= high <= 65535 or high - low > 1000:
        raise DockerfileError(f"{at}: EXPOSE {text!r} is out of range", hint="ports are 1-65535")
    return [f"{p}/{protocol}" for p in range(low, high + 1)]


def meta_args(meta: Sequence[Instruction], build_args: Mapping[str, str], builtin: Mapping[str, str],
              escape: str = "\\") -> tuple[dict[str, str | None], set[str]]:  # fmt: skip
    """The meta ARGs' values (the platform ones first), and the build args they took."""
    scope = Scope(build_args=build_args, meta={}, escape=escape)
    scope.args.update(builtin)
    for instruction in meta:
        scope.apply(instruction)
    return dict(scope.args), set(scope.used)


def from_word(text: str, meta: Mapping[str, str | None], at: str, escape: str = "\\") -> str:
    """A FROM's image (or --platform) expanded with the meta ARGs alone."""
    env = {k: v for k, v in meta.items() if v is not None}
    try:
        return Lexer(escape).word(text, env)
    except ShellError as exc:
        raise DockerfileError(f"{at}: {exc}", hint="check its quotes and ${...}") from None
