"""A parsed Containerfile's instructions as what a build does: stages, each instruction's flags
checked, its arguments in their form (BuildKit's frontend/dockerfile/instructions is the
reference for what each takes).

Words are not expanded here: a stage's variables are only known as it is built (its base
image's ENV, its ARGs and the --build-args); expand() does it for the instructions that take
variables (ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, and ARG's
default values; RUN, CMD and ENTRYPOINT leave them to the shell, as Docker does).

A flag sdc does not do is an error naming it and the line, never ignored: COPY --link,
--parents, --exclude; ADD --keep-git-dir, --link, --exclude, --unpack; RUN
--security, and --mount of another type than cache or bind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sdcontainer.build.dockerfile import DockerfileError, Heredoc, Node, Parsed

# Each instruction's flags: name -> kind ("string", "bool", "strings": given again, each one kept)
FLAGS: dict[str, dict[str, str]] = {
    "from": {"platform": "string"},
    "run": {"mount": "strings", "network": "string", "security": "string"},
    "copy": {"from": "string", "chown": "string", "chmod": "string", "link": "bool", "parents": "bool",
             "exclude": "strings"},
    "add": {"chown": "string", "chmod": "string", "link": "bool", "checksum": "string", "keep-git-dir": "bool",
            "exclude": "strings", "unpack": "bool"},
    "healthcheck": {"interval": "string", "timeout": "string", "start-period": "string", "start-interval": "string",
                    "retries": "string"},
}  # fmt: skip
# Flags taken by BuildKit that sdc refuses, and why
NOT_DONE = {
    ("copy", "link"): "sdc's layers are snapshots of the one before: a linked copy is one all the same",
    ("add", "link"): "sdc's layers are snapshots of the one before: a linked copy is one all the same",
    ("copy", "parents"): "sdc does not keep the sources' parent directories (BuildKit's labs feature)",
    ("copy", "exclude"): "sdc does not take --exclude yet: use .containerignore",
    ("add", "exclude"): "sdc does not take --exclude yet: use .containerignore",
    ("add", "keep-git-dir"): "sdc does not ADD git repositories",
    ("add", "unpack"): "sdc unpacks a local archive always and a URL's never, as Docker does",
    ("run", "security"): "sdc runs every RUN as it runs containers: no insecure mode",
}
KEYWORDS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label", "maintainer",
            "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir")  # fmt: skip
EXPANDED = ("add", "copy", "env", "expose", "from", "label", "stopsignal", "user", "volume", "workdir", "arg")
NETWORKS = ("default", "none", "host")
# ARGs a build sets itself, in the global scope (an ARG NAME in a stage takes them into it)
PLATFORM_ARGS = ("TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT", "BUILDPLATFORM", "BUILDOS", "BUILDARCH",
                 "BUILDVARIANT")  # fmt: skip
# ARGs a --build-arg may set without the Containerfile declaring them (proxies: Docker's), not kept in the image
PREDEFINED = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY",
              "no_proxy", "ALL_PROXY", "all_proxy")  # fmt: skip


@dataclass(frozen=True)
class Instruction:
    """One step of a stage: its node (keyword, values, lines), its flags read; for what its
    keyword needs (form/command, sources, pairs) see the properties."""

    node: Node
    flags: Mapping[str, str | bool | tuple[str, ...]] = field(default_factory=dict)
    where: str = "Containerfile"

    @property
    def keyword(self) -> str:
        return self.node.keyword

    @property
    def line(self) -> int:
        return self.node.start

    @property
    def at(self) -> str:
        """Where it is, for errors: Containerfile:LINE."""
        return f"{self.where}:{self.node.start}"

    @property
    def values(self) -> tuple[str, ...]:
        return self.node.values

    @property
    def heredocs(self) -> tuple[Heredoc, ...]:
        return self.node.heredocs

    def flag(self, name: str, default: str = "") -> str:
        value = self.flags.get(name, default)
        return value if isinstance(value, str) else default

    def many(self, name: str) -> tuple[str, ...]:
        """A flag given as often as wanted (RUN --mount): each value."""
        value = self.flags.get(name, ())
        return value if isinstance(value, tuple) else ()

    def pairs(self) -> list[tuple[str, str]]:
        """ENV's and LABEL's (key, value) pairs, unexpanded (values as written, quotes and all)."""
        return [(self.values[i], self.values[i + 1]) for i in range(0, len(self.values), 3)]


@dataclass(frozen=True)
class Stage:
    index: int
    name: str  # its AS name, lowercased ("" where none)
    base: str  # its FROM's image, a stage's name, or scratch (unexpanded)
    platform: str  # its FROM --platform (unexpanded)
    line: int
    instructions: tuple[Instruction, ...] = ()

    @property
    def ref(self) -> str:
        """How other stages name it: its name, else its index."""
        return self.name or str(self.index)


@dataclass(frozen=True)
class Plan:
    meta: tuple[Instruction, ...]  # the ARGs before the first FROM
    stages: tuple[Stage, ...]
    target: Stage  # the stage the image is made of (--target, else the last)
    needed: tuple[int, ...]  # the stages it needs, in their order (COPY --from, FROM of a stage)


def read_flags(node: Node, where: str) -> dict[str, str | bool | tuple[str, ...]]:
    """node's --flags, checked against its keyword's (FLAGS); DockerfileError naming the flag."""
    known = FLAGS.get(node.keyword, {})
    found: dict[str, str | bool | tuple[str, ...]] = {}
    at = f"{where}:{node.start}"
    for text in node.flags:
        if not text.startswith("--"):
            raise DockerfileError(f"{at}: {node.command} arg should start with --: {text}", hint="write --name=value")
        name, eq, value = text[2:].partition("=")
        if name not in known:
            hint = f"{node.command} takes {', '.join('--' + k for k in known)}" if known else \
                f"{node.command} takes no flags"  # fmt: skip
            raise DockerfileError(f"{at}: unknown flag: --{name}", hint=hint)
        if (node.keyword, name) in NOT_DONE:
            raise DockerfileError(f"{at}: {node.command} --{name} is not taken by sdc",
                                  hint=NOT_DONE[node.keyword, name])  # fmt: skip
        kind = known[name]
        if name in found and kind != "strings":
            raise DockerfileError(f"{at}: duplicate flag specified: --{name}", hint="give it once")
        if kind == "bool":
            if eq and not value:
                raise DockerfileError(f"{at}: missing a value on flag: --{name}", hint=f"write --{name}")
            if value.lower() not in ("", "true", "false"):
                raise DockerfileError(f"{at}: expecting boolean value for flag --{name}, not: {value}",
                                      hint="write true or false")  # fmt: skip
            found[name] = value.lower() != "false"
        elif not eq:
            raise DockerfileError(f"{at}: missing a value on flag: --{name}", hint=f"write --{name}=VALUE")
        elif kind == "strings":
            previous = found.get(name, ())
            found[name] = (*previous, value) if isinstance(previous, tuple) else (value,)
        else:
            found[name] = value
    return found


def plan(parsed: Parsed, *, where: str = "Containerfile", target: str = "") -> Plan:
    """parsed's stages, each instruction checked; the one the image is made of and those it needs."""
    meta: list[Instruction] = []
    stages: list[Stage] = []
    current: list[Instruction] = []
    for node in parsed.nodes:
        keyword = node.keyword
        at = f"{where}:{node.start}"
        if keyword not in KEYWORDS:
            raise DockerfileError(f"{at}: unknown instruction: {node.command}",
                                  hint="see the Containerfile reference for the instructions")  # fmt: skip
        instruction = Instruction(node, read_flags(node, where), where)
        _check(instruction)
        if keyword == "from":
            if stages:
                stages[-1] = dataclasses.replace(stages[-1], instructions=tuple(current))
            stages.append(_stage(instruction, len(stages), stages))
            current = []
        elif not stages:
            if keyword != "arg":
                raise DockerfileError(f"{at}: {node.command} before any FROM",
                                      hint="a Containerfile starts with FROM (ARGs may come before it)")  # fmt: skip
            meta.append(instruction)
        else:
            current.append(instruction)
    if not stages:
        raise DockerfileError(f"{where}: no FROM", hint="a Containerfile has at least one FROM")
    stages[-1] = dataclasses.replace(stages[-1], instructions=tuple(current))
    chosen = stages[-1]
    if target:
        matches = [s for s in stages if s.name == target.lower()]
        if not matches:
            raise DockerfileError(f"{where}: no stage named {target!r}",
                                  hint=f"its stages: {', '.join(s.name for s in stages if s.name) or 'none named'}")
        chosen = matches[0]
    return Plan(tuple(meta), tuple(stages), chosen, _needed(stages, chosen))


def _stage(instruction: Instruction, index: int, before: Sequence[Stage]) -> Stage:
    values = instruction.values
    at = instruction.at
    if len(values) not in (1, 3) or (len(values) == 3 and values[1].lower() != "as"):
        raise DockerfileError(f"{at}: FROM takes an image and an optional AS name", hint="write FROM IMAGE [AS NAME]")
    name = values[2].lower() if len(values) == 3 else ""
    if name:
        import re

        if not re.fullmatch(r"[a-z][a-z0-9._-]*", name):
            raise DockerfileError(f"{at}: invalid name for build stage: {values[2]!r}",
                                  hint="a stage's name starts with a letter: letters, digits, ., _ and -")  # fmt: skip
        if any(s.name == name for s in before):
            raise DockerfileError(f"{at}: duplicate name {name!r}", hint="name each stage once")
    return Stage(index, name, values[0], instruction.flag("platform"), instruction.line)


def _check(instruction: Instruction) -> None:
    """What each keyword needs of its arguments, checked before anything is built."""
    keyword, values, at = instruction.keyword, instruction.values, instruction.at
    command = instruction.node.command
    if keyword in ("copy", "add") and len(values) < 2 and not (instruction.heredocs and values):
        raise DockerfileError(f"{at}: {command} requires at least two arguments", hint=f"write {command} SRC... DEST")
    if keyword in ("workdir", "user", "stopsignal", "maintainer") and not values:
        raise DockerfileError(f"{at}: {command} requires exactly one argument", hint=f"write {command} VALUE")
    if keyword in ("run", "cmd", "entrypoint", "shell") and not values and not instruction.node.json:
        raise DockerfileError(f"{at}: {command} requires at least one argument", hint=f"write {command} COMMAND")
    if keyword == "shell" and not instruction.node.json:
        raise DockerfileError(f"{at}: SHELL requires the arguments to be in JSON form",
                              hint='write SHELL ["/bin/sh", "-c"]')  # fmt: skip
    if keyword in ("arg", "env", "label", "expose", "volume") and not values:
        raise DockerfileError(f"{at}: {command} requires at least one argument", hint=f"write {command} VALUE")
    if keyword == "run":
        network = instruction.flag("network")
        if network and network not in NETWORKS:
            raise DockerfileError(f"{at}: RUN --network={network}: not one of {', '.join(NETWORKS)}",
                                  hint="give default (the build's network), none or host")  # fmt: skip
        for mount in instruction.many("mount"):
            check_mount(mount, at)
    if keyword == "healthcheck":
        kind = values[0].upper() if values else ""
        if kind not in ("CMD", "NONE"):
            raise DockerfileError(f"{at}: HEALTHCHECK takes CMD or NONE, not {values[0] if values else 'nothing'!r}",
                                  hint="write HEALTHCHECK [--interval=30s] CMD COMMAND, or HEALTHCHECK NONE")
        if kind == "NONE" and (len(values) > 1 or instruction.flags):
            raise DockerfileError(f"{at}: HEALTHCHECK NONE takes no arguments or flags", hint="write HEALTHCHECK NONE")
        if kind == "CMD" and len(values) < 2:
            raise DockerfileError(f"{at}: HEALTHCHECK CMD needs a command", hint="write HEALTHCHECK CMD COMMAND")
    if keyword == "onbuild":
        sub = instruction.node.sub
        if sub is None:
            raise DockerfileError(f"{at}: ONBUILD needs an instruction", hint="write ONBUILD INSTRUCTION")
        if sub.keyword in ("onbuild", "from", "maintainer"):
            raise DockerfileError(f"{at}: {sub.command} isn't allowed as an ONBUILD trigger",
                                  hint="ONBUILD takes the other instructions")  # fmt: skip
        if sub.keyword not in KEYWORDS:
            raise DockerfileError(f"{at}: unknown instruction: {sub.command}", hint="ONBUILD takes an instruction")
        _check(Instruction(sub, read_flags(dataclasses.replace(sub, start=instruction.line), instruction.where),
                           instruction.where))  # fmt: skip


MOUNT_TYPES = ("cache", "bind")
MOUNT_KEYS = {"type", "target", "dst", "destination", "source", "src", "from", "id", "sharing", "mode", "uid", "gid",
              "readonly", "ro", "rw", "readwrite"}  # fmt: skip


def check_mount(text: str, at: str) -> dict[str, str]:
    """A RUN --mount's fields (type=cache or bind; target=; source=, from=, id=, sharing=, mode=,
    uid=, gid=, ro/rw); DockerfileError for another type or key."""
    fields: dict[str, str] = {}
    for part in (p for p in text.split(",") if p):
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if key not in MOUNT_KEYS:
            raise DockerfileError(f"{at}: RUN --mount: unknown field {key!r}",
                                  hint="sdc takes type, target, source, from, id, sharing, mode, uid, gid, ro, rw")
        fields[key] = value if eq else "true"
    kind = fields.get("type", "bind")
    if kind not in MOUNT_TYPES:
        raise DockerfileError(f"{at}: RUN --mount=type={kind} is not taken by sdc",
                              hint="sdc mounts type=cache and type=bind (secrets and ssh: not yet)")  # fmt: skip
    if not (fields.get("target") or fields.get("dst") or fields.get("destination")):
        raise DockerfileError(f"{at}: RUN --mount needs a target", hint="write --mount=type=cache,target=/root/.cache")
    if fields.get("sharing", "shared") not in ("shared", "private", "locked"):
        raise DockerfileError(f"{at}: RUN --mount sharing={fields['sharing']}: not shared, private or locked",
                              hint="write sharing=locked")  # fmt: skip
    return fields


def _needed(stages: Sequence[Stage], chosen: Stage) -> tuple[int, ...]:
    """The indexes of the stages chosen needs (its FROM of a stage, COPY --from and RUN
    --mount from= of one, theirs in turn), chosen's included, in their order."""
    by_ref = {s.ref: s for s in stages}
    wanted: set[int] = set()
    todo = [chosen]
    while todo:
        stage = todo.pop()
        if stage.index in wanted:
            continue
        wanted.add(stage.index)
        refs = [stage.base.lower()]
        for instruction in stage.instructions:
            if instruction.keyword == "copy" and instruction.flag("from"):
                refs.append(instruction.flag("from").lower())
            for mount in instruction.many("mount"):
                refs += [v.lower() for k, _, v in (p.partition("=") for p in mount.split(",")) if k == "from"]
        todo += [by_ref[r] for r in refs if r in by_ref and by_ref[r].index < stage.index]  # (one named through
        # a variable: the build builds it as it is named)
    return tuple(sorted(wanted))
