"""`sdc build`: each stage's steps run or applied on a snapshot of the one before, each a layer.

A RUN runs as `sdc run` runs a container (its own name, sdc-build-ID; a scope of systemd's, the
default network, seccomp, capabilities, limits), its exit status awaited; what it changed is
committed as a layer over its parent's. A COPY or ADD writes into a container's files made over
the parent's top layer, then commits the same way. The config-only instructions change the
stage's config (state.Scope) and add no layer. Each step's image is kept, unnamed: it is the build
cache's entry (cache.py), keyed by its parent image, the instruction and what it reads.

Nothing of a build stays running: its RUN's container is removed once its changes are
committed (--rm; a failed one's too unless --rm=false keeps it for inspection), a COPY's files
once committed; a failure leaves the layers its earlier steps made, which the cache and `image
prune` account for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import posixpath
import re
import stat
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sdcontainer.build.context import Context as BuildContext
from sdcontainer.build.context import Digest, Source
from sdcontainer.build.dockerfile import DockerfileError, Heredoc, parse
from sdcontainer.build.instructions import PLATFORM_ARGS, PREDEFINED, Instruction, Plan, Stage, plan
from sdcontainer.build.state import Scope, from_word, meta_args
from sdcontainer.errors import SdcError, UsageError

if TYPE_CHECKING:
    from sdcontainer.api.context import Context
    from sdcontainer.images import Image

CONFIG_ONLY = ("arg", "env", "label", "user", "cmd", "entrypoint", "expose", "volume", "stopsignal", "healthcheck",
               "shell", "onbuild", "maintainer")  # fmt: skip
BUILD_PREFIX = "sdc-build-"  # a RUN step's container's name: sdc-build-ID


@dataclass
class Options:
    tags: Sequence[str] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    remove: bool = True  # --rm: a RUN step's container removed (a failed one's kept with --rm=false)
    force_remove: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = ""  # RUN's default network: "" (sdc's default), none or host
    where: str = "Containerfile"
    squash: str = ""  # "new": the target's new layers made one (--squash); "all": all its layers (--squash-all)
    layers: bool = True  # False: no step cached, and each stage one layer over its base (--layers=false)


class Progress:
    """What a build says as it goes: each step and its cache state, and RUN's output (its own)."""

    def __init__(self, out: IO[str] | None) -> None:
        self.out = out
        self.ran = 0  # RUN steps run (not taken from the cache)

    def step(self, stage: Stage, count: int, total: int, instruction: Instruction, state: str = "") -> None:
        if self.out is not None:
            name = f"{stage.name} " if stage.name else ""
            text = _printable(" ".join(instruction.node.original.split())[:160])
            self.out.write(f"[{name}{count}/{total}] {text}{'  ' + state if state else ''}\n")
            self.out.flush()

    def say(self, text: str) -> None:
        if self.out is not None:
            self.out.write(_printable(text) + "\n")
            self.out.flush()


def _printable(text: str) -> str:
    """text without what a terminal would take as a command (a Containerfile's escape sequences)."""
    return "".join(c if c.isprintable() else "?" for c in text)


@dataclass
class _Built:
    """A stage as it is built: its image so far (None: scratch, nothing yet), its scope."""

    image: Image | None
    scope: Scope
    history: list[dict[str, Any]] = field(default_factory=list)  # entries of config-only steps since the last layer


@dataclass
class _Build:
    """One build's parts, which each step reads."""

    ctx: Context
    made: Plan
    meta: Mapping[str, str | None]
    context: BuildContext | None
    options: Options
    progress: Progress
    escape: str
    built: dict[int, Image] = field(default_factory=dict)  # each stage's image, by its index
    used: set[str] = field(default_factory=set)  # the build args an ARG took
    steps: set[str] = field(default_factory=set)  # the IDs of the step images it made (--layers=false: removed)


def build(ctx: Context, containerfile: bytes, context_dir: str | None, options: Options, progress: Progress) -> Image:
    """The image of the Containerfile's target stage, named with options.tags."""
    parsed = parse(containerfile, where=options.where)
    made = plan(parsed, where=options.where, target=options.target)
    builtin = platform_args()
    meta, used = meta_args(made.meta, options.build_args, builtin, parsed.escape)
    for warning in parsed.warnings:
        progress.say(f"warning: {warning}")
    from sdcontainer import records
    from sdcontainer.images import buildcache

    context = BuildContext(context_dir) if context_dir is not None else None
    try:
        # (held through the build, its result's record and names: no image or layer it builds on
        # is removed meanwhile, nor its work in tmp/)
        with records.adding(ctx.paths):
            run = _Build(ctx, made, meta, context, options, progress, parsed.escape, used=set(used))
            for index in made.needed:
                stage_image(run, index)
            image = run.built[made.target.index]
            buildcache.record_result(ctx.paths, image)  # (no intermediate image: `images` shows it)
            if options.tags:
                from sdcontainer.api.images import tag_image

                for tag in options.tags:
                    tag_image(ctx, str(image.id), tag)
    finally:
        if context is not None:
            context.close()
    if not options.layers:
        _remove_steps(ctx, run.steps - {str(image.id)})
    unused = sorted(set(options.build_args) - run.used - set(PREDEFINED) - set(builtin))
    if unused:
        progress.say(f"warning: build args not used by any ARG: {', '.join(unused)}")
    return image


def stage_image(run: _Build, index: int) -> Image:
    """Stage index's image, built now if it is not yet (one a variable named: plan could not know)."""
    if index not in run.built:
        run.built[index] = _build_stage(run, run.made.stages[index])
    return run.built[index]


def platform_args() -> dict[str, str]:
    """The platform ARGs a build sets (this host's: sdc builds for it)."""
    from sdcontainer.images.pull import host_platform

    os_, arch = host_platform().split("/")
    values = {"PLATFORM": f"{os_}/{arch}", "OS": os_, "ARCH": arch, "VARIANT": ""}
    return {f"{kind}{key}": values[key] for kind in ("TARGET", "BUILD") for key in values} | {
        k: "" for k in PLATFORM_ARGS if k not in (f"{kind}{key}" for kind in ("TARGET", "BUILD") for key in values)}


def _build_stage(run: _Build, stage: Stage) -> Image:
    ctx, made, meta, options, progress, escape = (run.ctx, run.made, run.meta, run.options, run.progress,
                                                   run.escape)  # fmt: skip
    at = f"{options.where}:{stage.line}"
    base = from_word(stage.base, meta, at, escape)
    platform = from_word(stage.platform, meta, at, escape) if stage.platform else ""
    other = platform.lower().rstrip("/") if platform and platform != platform_args()["TARGETPLATFORM"] else ""
    by_ref = {s.ref: s.index for s in made.stages if s.index < stage.index}
    image: Image | None
    if base.lower() == "scratch":
        image = None
    elif base.lower() in by_ref:
        image = stage_image(run, by_ref[base.lower()])
    elif other:  # (another platform's: the store's alone, never the host's pulled for it)
        from sdcontainer import images
        from sdcontainer.errors import NotFound

        try:
            image = images.find_image(ctx.paths, base)
        except NotFound:
            image = None
    else:
        image = _base_image(ctx, base, options, at)
    if other and (image is None or not _is_platform(image, other)):
        # (another platform's image, where the store has one: COPY from it, or RUN where binfmt runs it)
        have = f"the store's {base} is {_platform_of(image)}" if image is not None else f"the store has no {base}"
        raise DockerfileError(f"{at}: FROM --platform={platform}: {have}, and sdc builds for another platform only "
                              "from an image the store has for it", hint=f"sdc pull --platform {other} {base}")
    runtime = dict(image.runtime) if image is not None else {}
    env = list(runtime.get("Env") or [])
    if not any(isinstance(e, str) and e.startswith("PATH=") for e in env):
        from sdcontainer.bundle import DEFAULT_PATH

        runtime["Env"] = [*env, f"PATH={DEFAULT_PATH}"]  # (as BuildKit and Buildah give every stage one)
    triggers = list(runtime.pop("OnBuild", None) or [])
    state = _Built(image, Scope.for_stage(runtime, options.build_args, meta, escape))
    steps = list(stage.instructions)
    if triggers:
        steps[:0] = _triggers(triggers, options.where, stage.line)
    total = len(steps) + 1
    progress.step(stage, 1, total, Instruction(_from_node(stage), {}, options.where))
    for number, instruction in enumerate(steps, 2):
        _step(run, stage, state, instruction, (number, total))
    run.used |= state.scope.used
    if options.labels and stage.index == made.target.index:
        state.scope.config["Labels"] = {**(state.scope.config.get("Labels") or {}), **options.labels}
    finished = _finish(run, state, at)
    squash = options.squash if stage.index == made.target.index else ""
    if squash or not options.layers:
        # (--layers=false: each stage one layer over its base, as Buildah commits it; --squash: the
        # target's; --squash-all: one layer of all its files)
        below = None if squash == "all" else image
        if below is None or finished.layers != below.layers:
            finished = _squashed(ctx, below, finished)
    return finished


def _is_platform(image: Image, wanted: str) -> bool:
    """image is wanted's (OS/ARCH[/VARIANT]: without a variant, any of that OS and ARCH)."""
    have = _platform_of(image).split("/")
    asked = wanted.split("/")
    return have[:2] == asked[:2] and (len(asked) < 3 or have[2:3] == asked[2:3])


def _platform_of(image: Image) -> str:
    """An image's OS/ARCH[/VARIANT], as its config says."""
    config = image.config
    parts = [str(config.get("os") or ""), str(config.get("architecture") or ""), str(config.get("variant") or "")]
    return "/".join(p for p in parts if p).lower()


def _from_node(stage: Stage) -> Any:
    from sdcontainer.build.dockerfile import Node

    text = f"FROM {stage.base}" + (f" AS {stage.name}" if stage.name else "")
    return Node("FROM", original=text, start=stage.line, end=stage.line)


def _triggers(triggers: Sequence[str], where: str, line: int) -> list[Instruction]:
    """The base image's ONBUILD triggers, as instructions run first in the stage."""
    from sdcontainer.build.instructions import _check, read_flags

    text = "\n".join(str(t) for t in triggers if isinstance(t, str))
    nodes = parse(text, where=f"{where}:{line}: ONBUILD of the base image").nodes if text.strip() else ()
    found = []
    for node in nodes:
        node = dataclasses.replace(node, start=line, end=line)  # (its errors name the FROM that ran it)
        instruction = Instruction(node, read_flags(node, where), where)
        if node.keyword in ("onbuild", "from", "maintainer"):
            raise DockerfileError(f"{where}:{line}: the base image's ONBUILD {node.command} is not allowed",
                                  hint="build from another image")  # fmt: skip
        _check(instruction)
        found.append(instruction)
    return found


def _base_image(ctx: Context, name: str, options: Options, at: str) -> Image:
    from sdcontainer import images
    from sdcontainer.api.run import _pullable, _pulled
    from sdcontainer.errors import NotFound

    if options.pull and _pullable(name):
        return _pulled(ctx, name, keep_local=False, quiet=True)
    try:
        return images.find_image(ctx.paths, name)
    except NotFound as missing:
        if not _pullable(name):
            raise DockerfileError(f"{at}: FROM {name}: {missing.message}", hint=missing.hint or "") from None
    return _pulled(ctx, name, keep_local=False, quiet=True)


def _step(run: _Build, stage: Stage, state: _Built, instruction: Instruction, place: tuple[int, int]) -> None:
    keyword = instruction.keyword
    if keyword in CONFIG_ONLY:
        state.scope.apply(instruction)
        state.history.append(_history(instruction, empty=True))
        run.progress.step(stage, *place, instruction)
        return
    if keyword == "workdir":
        path = state.scope.apply(instruction)
        if state.image is not None and not _has_directory(run.ctx, state.image, path):
            # (made as BuildKit and Buildah make it: owned by the stage's USER)
            user = state.scope.config.get("User") or ""
            owner = _owner(run.ctx, state, user, instruction.at) if user else (0, 0)
            key = _key(state, "WORKDIR", path, owner)
            _layer_step(run, stage, state, instruction, key, place, lambda root: _make_workdir(root, path, owner))
        else:
            state.history.append(_history(instruction, empty=True))
            run.progress.step(stage, *place, instruction)
        return
    if keyword == "run":
        _run_step(run, stage, state, instruction, place)
        return
    if keyword in ("copy", "add"):
        _copy_step(run, stage, state, instruction, place)
        return
    raise DockerfileError(f"{instruction.at}: {instruction.node.command} is not taken by sdc's build",
                          hint="report it: every instruction is read by one step")  # fmt: skip


def _history(instruction: Instruction, *, empty: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"created_by": " ".join(instruction.node.original.split())[:4096]}
    if empty:
        entry["empty_layer"] = True
    return entry


def _key(state: _Built, *parts: object) -> str:
    """A step's cache key: its parent image, the stage's config now, and what the step is."""
    parent = str(state.image.id) if state.image is not None else "scratch"
    env = {k: v for k, v in state.scope.run_env().items() if k not in PREDEFINED}  # (proxies: Docker's too)
    text = json.dumps([parent, state.scope.config, env, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _cached(ctx: Context, key: str, options: Options) -> Image | None:
    from sdcontainer.images import buildcache as cache

    return None if options.no_cache or not options.layers else cache.lookup(ctx.paths, key)


def _record(run: _Build, key: str, image: Image) -> None:
    """image the step's cache entry (none with --layers=false: the step's image is removed then)."""
    from sdcontainer.images import buildcache as cache

    run.steps.add(str(image.id))
    if run.options.layers:
        cache.record(run.ctx.paths, key, image)


def _squashed(ctx: Context, below: Image | None, image: Image) -> Image:
    """image as below's layers and one more of what image's files add to below's (all its files
    where below is None), its config's history as said, less the layers squashed."""
    from sdcontainer.images import archive, store
    from sdcontainer.layers import DEFAULT_MAX_SIZE, write_changes, write_root
    from sdcontainer.storage.changes import changes

    driver = ctx.driver()
    with driver.spool() as tar, driver.layer_view(image.top_layer) as new:
        if below is None:
            fd = os.open(new, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                write_root(fd, tar)
            finally:
                os.close(fd)
        else:
            with driver.layer_view(below.top_layer) as old:
                found = changes(old, new, None, exact=True)  # (an xattr or a link made: changed too)
                write_changes(new, [(kind.value, path) for kind, path in found], tar)
        tar.seek(0)
        parent = below.top_layer if below is not None else None
        chain, digests, _ = store.add_layer(ctx.paths, driver, parent, tar, max_size=DEFAULT_MAX_SIZE)
    config = json.loads(json.dumps(image.config))
    kept = len(below.layers) if below is not None else 0
    config["rootfs"] = {"type": "layers", "diff_ids": [*config["rootfs"]["diff_ids"][:kept], str(digests.diff_id)]}
    history: list[dict[str, Any]] = []
    seen, last = 0, -1
    for entry in config.get("history") or []:  # (the squashed layers' entries: empty, but the last's)
        if not entry.get("empty_layer"):
            seen += 1
            if seen > kept:
                entry, last = {**entry, "empty_layer": True}, len(history)
        history.append(entry)
    if last >= 0:
        history[last].pop("empty_layer")
    config["history"] = history
    layers = (*below.layers, chain) if below is not None else (chain,)
    return archive.publish(ctx.paths, driver, archive.config_bytes(config), layers, names=[])


def _remove_steps(ctx: Context, ids: set[str]) -> None:
    """--layers=false: the step images the build made removed, where nothing holds them (a name,
    a container, another build's cache entry of the same image)."""
    from sdcontainer import containers, images, records
    from sdcontainer.images import buildcache

    with records.removing(ctx.paths):
        kept = buildcache.cached_images(ctx.paths)
        for image, names in images.list_images(ctx.paths, strict=True):
            if str(image.id) not in ids or names or str(image.id) in kept:
                continue
            with records.locked(ctx.paths):
                if str(image.id) not in {c.image_id for c in containers.list_containers(ctx.paths)}:
                    images.delete_image(ctx.paths, ctx.driver(), image)


def _layer_step(run: _Build, stage: Stage, state: _Built, instruction: Instruction, key: str, place: tuple[int, int],
                change: Callable[[Path], None], cacheable: Callable[[], bool] = lambda: True) -> None:  # fmt: skip
    """A step that changes files by change(root of a writable copy of the parent's files): cached,
    else done and committed (and cached, where cacheable() says so once it is done)."""

    if (hit := _cached(run.ctx, key, run.options)) is not None:
        run.progress.step(stage, *place, instruction, "CACHED")
        _advance(state, hit)
        return
    run.progress.step(stage, *place, instruction)
    image = _commit_files(run.ctx, state, instruction, change)
    if cacheable():
        _record(run, key, image)
    else:
        run.steps.add(str(image.id))
    _advance(state, image)


def _advance(state: _Built, image: Image) -> None:
    state.image = image
    state.history = []


def _has_directory(ctx: Context, image: Image, path: str) -> bool:
    with ctx.driver().layer_view(image.top_layer) as view:
        fd = os.open(view, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return _is_directory_in(fd, path)
        finally:
            os.close(fd)


def _make_workdir(root: Path, path: str, owner: tuple[int, int]) -> None:
    from sdcontainer import linux

    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(linux.make_in_root(fd, path, directory=True, owner=owner))
    finally:
        os.close(fd)


def _commit_files(ctx: Context, state: _Built, instruction: Instruction, change: Callable[[Path], None]) -> Image:
    """change done in a container's files made over the parent's top layer (or empty, for a
    scratch stage's first), committed as a layer: the new image."""
    from sdcontainer import containers

    driver = ctx.driver()
    work = containers.new_id()
    if state.image is None:
        with _empty_root(driver) as root:
            change(root)
            return _commit_tree(ctx, state, instruction, root)
    driver.make_container_fs(work, state.image.top_layer)
    try:
        with driver.container_files(work) as root:
            change(root)
        return _commit_container(ctx, state, instruction, work)
    finally:
        driver.remove_container_fs(work)


def _less_stubs(changes: list[tuple[str, str]], stubs: Sequence[str]) -> list[tuple[str, str]]:
    """changes less the directories added for the mounts on stubs: each stub, and each directory
    made above one that holds nothing else the layer keeps (what is under a stub is the mount's)."""
    if not stubs:
        return changes
    relative = [s.strip("/") for s in stubs]  # (as changes name paths: from the root, no leading /)
    under = [s + "/" for s in relative]
    kept = [c for c in changes if c[1] not in relative and not any(c[1].startswith(u) for u in under)]
    made = {path for kind, path in kept if kind == "A"}
    above = {p for s in relative for p in _parents(s) if p in made}
    return [c for c in kept if c[1] not in above or any(o[1].startswith(c[1] + "/") for o in kept if o[1] not in above)]


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


@contextlib.contextmanager
def _empty_root(driver: Any) -> Iterator[Path]:
    """A directory on the store's file system for a scratch stage's first files."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="build-", dir=driver.tmp))
    try:
        os.chmod(path, 0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _commit_container(ctx: Context, state: _Built, instruction: Instruction, container_id: str,
                      stubs: Sequence[str] = ()) -> Image:  # fmt: skip
    """The container's changes as a layer, less the directories made for stubs (RUN --mount's
    targets) alone."""
    from sdcontainer.layers import write_changes

    assert state.image is not None
    driver = ctx.driver()
    with driver.spool() as tar:
        with driver.container_changes(container_id, state.image.top_layer) as (view, found):
            write_changes(view, _less_stubs([(kind.value, path) for kind, path in found], stubs), tar)
        tar.seek(0)
        return _publish(ctx, state, instruction, tar)


def _commit_tree(ctx: Context, state: _Built, instruction: Instruction, root: Path) -> Image:
    from sdcontainer.layers import write_root

    driver = ctx.driver()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with driver.spool() as tar:
            write_root(fd, tar)
            tar.seek(0)
            return _publish(ctx, state, instruction, tar)
    finally:
        os.close(fd)


def _publish(ctx: Context, state: _Built, instruction: Instruction, tar: IO[bytes]) -> Image:
    """tar added as a layer over the stage's image, and the image of it with the stage's config."""
    from sdcontainer import records
    from sdcontainer.images import archive, store
    from sdcontainer.images import config as image_config
    from sdcontainer.layers import DEFAULT_MAX_SIZE

    driver = ctx.driver()
    parent = state.image.top_layer if state.image is not None else None
    with records.adding(ctx.paths):
        chain, digests, _ = store.add_layer(ctx.paths, driver, parent, tar, max_size=DEFAULT_MAX_SIZE)  # type: ignore[arg-type]
        base = _base_config(state)
        config = image_config.committed(base, _runtime(state), str(digests.diff_id), created=ctx.clock.time(),
                                        created_by=_history(instruction, empty=False)["created_by"])  # fmt: skip
        layers = (*state.image.layers, chain) if state.image is not None else (chain,)
        return archive.publish(ctx.paths, driver, archive.config_bytes(config), layers, names=[])


def _base_config(state: _Built) -> dict[str, Any]:
    """The parent's config, with the history of the config-only steps since its last layer."""
    if state.image is not None:
        base = dict(state.image.config)
    else:
        from sdcontainer.images.archive import ARCHITECTURES

        machine = os.uname().machine
        base = {"architecture": ARCHITECTURES.get(machine, machine), "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []}, "history": []}  # fmt: skip
    if state.history:
        base["history"] = [*(base.get("history") or []), *state.history]
    if state.scope.author:
        base["author"] = state.scope.author
    return base


def _runtime(state: _Built) -> dict[str, Any]:
    return {k: v for k, v in state.scope.config.items() if v is not None and v != {} and v != []}


def _finish(run: _Build, state: _Built, at: str) -> Image:
    """The stage's image: its last layer's, with the config its last steps made (no new layer),
    cached as a step is (an unchanged rebuild makes the same image, not one of a newer time)."""
    from sdcontainer.images import archive
    from sdcontainer.images import config as image_config

    ctx = run.ctx
    if state.image is None:
        raise UsageError(f"{at}: a stage FROM scratch that adds no files makes no image sdc can store",
                         hint="COPY a file into it")  # fmt: skip
    config = _base_config(state)
    config["config"] = _runtime(state)
    if config == state.image.config:
        return state.image
    key = _key(state, "CONFIG", state.history)
    if (hit := _cached(ctx, key, run.options)) is not None:
        return hit
    if state.history:
        config["created"] = image_config.iso_time(ctx.clock.time())
    image = archive.publish(ctx.paths, ctx.driver(), archive.config_bytes(config), state.image.layers, names=[])
    _record(run, key, image)
    return image


# --- RUN -----------------------------------------------------------------------------------


def run_argv(scope: Scope, instruction: Instruction) -> list[str]:
    """What a RUN runs: its exec form as it is, its shell form through the stage's SHELL. With
    heredocs, as BuildKit runs them: a RUN that is one heredoc alone runs its lines as the
    shell's command; another gets its heredocs' lines after it, for the shell to read as its own
    (<<EOF in a shell's command is the shell's heredoc)."""
    if instruction.node.json:
        return list(instruction.values)
    shell = list(scope.config.get("Shell") or ("/bin/sh", "-c"))
    command = instruction.values[0]
    docs = instruction.heredocs
    if not docs:
        return [*shell, command]
    from sdcontainer.build.dockerfile import HEREDOC

    alone = HEREDOC.match(command.strip())
    if len(docs) == 1 and alone and alone.group(3).strip("'\"") == docs[0].name:
        if (script := _script(instruction)) is not None:
            return [posixpath.join(PIPES, script[0])]
        return [*shell, _chomped(docs[0])]
    return [*shell, command + "".join(f"\n{doc.content}{doc.name}" for doc in docs)]


PIPES = "/dev/pipes"  # where a RUN heredoc with its own interpreter is, a file (BuildKit's place)


def _script(instruction: Instruction) -> tuple[str, str] | None:
    """A RUN that is one heredoc starting with #!: its name and content, run as a program of its
    own (BuildKit writes it to /dev/pipes/NAME, mode 0755, and runs that)."""
    from sdcontainer.build.dockerfile import HEREDOC

    docs = instruction.heredocs
    if instruction.node.json or len(docs) != 1 or not instruction.values:
        return None
    alone = HEREDOC.match(instruction.values[0].strip())
    content = _chomped(docs[0])
    if not alone or alone.group(3).strip("'\"") != docs[0].name or not content.startswith("#!"):
        return None
    if "/" in docs[0].name or docs[0].name in (".", ".."):
        raise DockerfileError(f"{instruction.at}: a heredoc named {docs[0].name!r} makes no file name",
                              hint="name it EOF")  # fmt: skip
    return docs[0].name, content


def _script_mount(run: _Build, name: str, content: str) -> _Mount:
    """The script of a #! heredoc, a file of a directory of its own mounted on /dev/pipes, read-only."""

    def made(stack: contextlib.ExitStack) -> str:
        import shutil
        import tempfile

        directory = tempfile.mkdtemp(prefix="pipes-", dir=run.ctx.driver().tmp)
        stack.callback(shutil.rmtree, directory, True)
        os.chmod(directory, 0o755)
        path = os.path.join(directory, name)
        with open(path, "x", encoding="utf-8", errors="surrogateescape") as f:
            f.write(content)
        os.chmod(path, 0o755)
        return f"{directory}:{PIPES}:ro"

    return _Mount(PIPES, ["script", name, content], made)


def _chomped(doc: Heredoc) -> str:
    """A heredoc's content, its lines' leading tabs taken off where it is a <<- one."""
    if not doc.chomp:
        return doc.content
    return "".join(line.lstrip("\t") for line in doc.content.splitlines(keepends=True))


def _run_step(run: _Build, stage: Stage, state: _Built, instruction: Instruction, place: tuple[int, int]) -> None:

    ctx, options, progress = run.ctx, run.options, run.progress
    if state.image is None:
        raise DockerfileError(f"{instruction.at}: RUN in a stage FROM scratch with no files yet",
                              hint="a RUN needs a shell or a program in the image: COPY one first")  # fmt: skip
    argv = run_argv(state.scope, instruction)
    network = instruction.flag("network") or options.network or ""
    if network in ("", "default"):  # sdc's default network ($SDC_NETWORK's, where it is set, as run's)
        network = os.environ.get("SDC_NETWORK", "")
    mounts = [_mount(run, stage, state, text, instruction.at) for text in instruction.many("mount")]
    if (script := _script(instruction)) is not None:
        mounts.append(_script_mount(run, *script))
    key = _key(state, "RUN", argv, network, [[m.target, *m.key] for m in mounts])
    if (hit := _cached(ctx, key, options)) is not None:
        progress.step(stage, *place, instruction, "CACHED")
        _advance(state, hit)
        return
    progress.step(stage, *place, instruction)
    progress.ran += 1
    with contextlib.ExitStack() as stack:
        volumes = [m.make(stack) for m in mounts]
        for ident in sorted({m.lock for m in mounts if m.lock}):  # (in one order: no two builds wait on each other)
            _hold_cache(ctx, ident, stack)
        image = _run_and_commit(ctx, state, instruction, argv, network, options, volumes, [m.target for m in mounts])
    _record(run, key, image)
    _advance(state, image)


# --- RUN --mount -----------------------------------------------------------------------------


@dataclass
class _Mount:
    """A RUN --mount: where it goes, what the cache key holds of it, and how it is made for the
    RUN (make: the -v of sdc run that mounts it, what it made undone by the stack)."""

    target: str
    key: list[object]
    make: Callable[[contextlib.ExitStack], str]
    lock: str = ""  # a cache mount's id, held through the RUN (sharing=locked or private)


def _mount(run: _Build, stage: Stage, state: _Built, text: str, at: str) -> _Mount:
    """A RUN --mount of type cache (a directory of the store's kept from build to build, by its
    id: its contents are in no layer and no cache key) or bind (the context's files, or a stage's
    or an image's, as a copy of them: the ignore file holds, and writes with rw are thrown away);
    its target relative to WORKDIR, and left out of the layer where the mount made it."""
    from sdcontainer.build.instructions import check_mount

    fields = check_mount(state.scope.word(text, at), at)
    kind = fields.get("type", "bind")
    where = fields.get("target") or fields.get("dst") or fields.get("destination") or ""
    target = "/" + posixpath.normpath(posixpath.join(state.scope.config.get("WorkingDir") or "/", where)).strip("/")
    if target == "/" or any(c in target for c in ":,\n"):
        raise DockerfileError(f"{at}: RUN --mount target={where!r}: sdc mounts on a path below / with no ':' or ','",
                              hint="give another target")  # fmt: skip
    rw = _switch(fields, ("rw", "readwrite"), at) if kind == "bind" else not _switch(fields, ("ro", "readonly"), at)
    suffix = "" if rw else ":ro"
    if kind == "cache":
        ident = fields.get("id") or target
        owner = (_number(fields, "uid", 10, at), _number(fields, "gid", 10, at))
        mode = _number(fields, "mode", 8, at, default=0o755)
        locked = fields.get("sharing", "shared") != "shared"

        def cache_dir(stack: contextlib.ExitStack) -> str:
            return _cache_dir(run.ctx, ident, owner, mode) + f":{target}{suffix}"

        return _Mount(target, ["cache", ident, rw, owner, mode, locked], cache_dir, ident if locked else "")
    source = fields.get("source") or fields.get("src") or "."
    ref = fields.get("from", "")
    reader: _ContextReader
    if ref:
        stage_reader = _stage_reader(run, stage, ref, at)
        reader, what = stage_reader, str(stage_reader.image.id)
    elif run.context is None:
        raise DockerfileError(f"{at}: RUN --mount=type=bind needs a build context, and there is none",
                              hint="build from a directory, or bind from= a stage")  # fmt: skip
    else:
        reader = _ContextReader(run.context)
        what = "context"
    with reader:
        resolved = reader.resolve(source, at)
        if len(resolved) != 1:
            raise DockerfileError(f"{at}: RUN --mount source={source!r} names {len(resolved)} files",
                                  hint="bind one file or directory")  # fmt: skip
        digest = reader.content_hash(resolved) if not ref else ""

    def bound(stack: contextlib.ExitStack) -> str:
        import shutil
        import tempfile

        copy = Path(tempfile.mkdtemp(prefix="mount-", dir=run.ctx.driver().tmp))
        stack.callback(shutil.rmtree, copy, True)
        os.chmod(copy, 0o755)
        copied = Digest()
        with reader:
            [found] = reader.resolve(source, at)
            keep = None if ref else (0, 0)  # (a stage's owners kept; the context's files root's, as COPY's)
            _write_sources(reader, [found], copy, "/", slash=True, owner=keep, mode=None, unpack=False, at=at,
                           digest=copied)  # fmt: skip
        host = copy if stat.S_ISDIR(found.mode) else copy / (found.name or posixpath.basename(found.path))
        kind = stat.S_IFMT(os.lstat(host).st_mode) if os.path.lexists(host) else None
        if kind != stat.S_IFMT(found.mode) or kind not in (stat.S_IFDIR, stat.S_IFREG) or \
                (digest and copied.hexdigest() != digest):  # fmt: skip
            # (what the copy made is what is mounted: never a symlink, which the host would follow)
            raise DockerfileError(f"{at}: RUN --mount source={source!r} changed as it was read",
                                  hint="build again, with the context left alone")  # fmt: skip
        return f"{host}:{target}{suffix}"

    return _Mount(target, ["bind", what, source, digest, rw], bound)


def _switch(fields: Mapping[str, str], names: tuple[str, ...], at: str) -> bool:
    values = [fields[n].lower() for n in names if n in fields]
    if any(v not in ("true", "false", "1", "0") for v in values):
        raise DockerfileError(f"{at}: RUN --mount {names[0]}= is true or false", hint=f"write {names[0]}")
    return any(v in ("true", "1") for v in values)


def _number(fields: Mapping[str, str], name: str, base: int, at: str, default: int = 0) -> int:
    text = fields.get(name)
    if text is None:
        return default
    digits = "01234567" if base == 8 else "0123456789"
    if not text or len(text) > 10 or any(c not in digits for c in text) or int(text, base) > 0xFFFFFFFE:
        raise DockerfileError(f"{at}: RUN --mount {name}={text}: not a number sdc takes",
                              hint="mode= in octal (0755), uid= and gid= in decimal")  # fmt: skip
    return int(text, base)


def _cache_path(ctx: Context, ident: str) -> str:
    base = os.path.join(ctx.paths.root, "build-mounts")
    os.makedirs(base, mode=0o700, exist_ok=True)
    return os.path.join(base, hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:32])


def _cache_dir(ctx: Context, ident: str, owner: tuple[int, int], mode: int) -> str:
    """A cache mount's directory, build-mounts/HASH of the store, made owned by owner with mode
    the first time (as a directory made aside, then renamed: none is left half made)."""
    import shutil
    import tempfile

    path = _cache_path(ctx, ident)
    if not os.path.isdir(path):
        made = tempfile.mkdtemp(prefix=".made-", dir=os.path.dirname(path))
        try:
            os.chown(made, *owner)
            os.chmod(made, mode)
            os.rename(made, path)
        except OSError:
            shutil.rmtree(made, ignore_errors=True)
            if not os.path.isdir(path):  # (another build's made it meanwhile: that one)
                raise
    return path


def _hold_cache(ctx: Context, ident: str, stack: contextlib.ExitStack) -> None:
    """The cache mount ident held for this RUN alone (sharing=locked; private is taken as locked)."""
    import fcntl

    lock = os.open(_cache_path(ctx, ident) + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    stack.callback(os.close, lock)
    fcntl.flock(lock, fcntl.LOCK_EX)


def _run_and_commit(ctx: Context, state: _Built, instruction: Instruction, argv: list[str], network: str,
                    options: Options, volumes: Sequence[str] = (), stubs: Sequence[str] = ()) -> Image:  # fmt: skip
    from sdcontainer import containers, record
    from sdcontainer.api import containers as lifecycle
    from sdcontainer.api import run
    from sdcontainer.spec import build_run_spec

    assert state.image is not None
    config = state.scope.config
    env = [f"{k}={v}" for k, v in state.scope.run_env().items()]
    name = BUILD_PREFIX + containers.new_id()[:12]
    flags: dict[str, Any] = {"name": name, "entrypoint": "", "env": env, "pull": "never", "quiet": True,
                             "workdir": config.get("WorkingDir") or "/", "user": config.get("User") or "root"}
    if network:
        flags["network"] = network
    if volumes:
        flags["volume"] = list(volumes)
    # (the stage's VOLUMEs are no volumes of its RUNs: what they write there is in the layer, as
    # BuildKit and Buildah keep it, and no anonymous volume is left behind)
    spec = record.replace(build_run_spec(image=str(state.image.id), command=argv, environ={}, **flags),
                          image_volumes=False)
    keep = False
    try:
        code = run.run_foreground(ctx, spec)
        if code != 0:
            keep = not options.remove and not options.force_remove
            kept = f" (its container {name} kept: sdc rm {name})" if keep else ""
            raise SdcError(f"{instruction.at}: {' '.join(instruction.node.original.split())[:200]} "
                           f"returned a non-zero code: {code}{kept}", hint="see its output above")  # fmt: skip
        found = containers.find_container(ctx.paths, name)
        return _commit_container(ctx, state, instruction, found.id, stubs)
    finally:
        if not keep:
            with contextlib.suppress(SdcError):
                lifecycle.remove(ctx, [name], force=True)


# --- COPY and ADD ----------------------------------------------------------------------------


def _copy_step(run: _Build, stage: Stage, state: _Built, instruction: Instruction, place: tuple[int, int]) -> None:
    from sdcontainer.build import fetch

    ctx, context = run.ctx, run.context
    scope, at = state.scope, instruction.at
    values = [scope.word(v, at) for v in instruction.values]
    *sources, dest = values
    command = instruction.node.command
    chown = scope.word(instruction.flag("chown"), at) if instruction.flag("chown") else ""
    chmod = instruction.flag("chmod")
    mode = _chmod(chmod, at) if chmod else None
    slash = dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))
    target = posixpath.normpath(posixpath.join(scope.config.get("WorkingDir") or "/", dest))
    source_from = instruction.flag("from")
    reader: _ContextReader
    urls = instruction.keyword == "add" and any(fetch.is_url(source) for source in sources)
    if instruction.heredocs:
        reader = _heredoc_reader(ctx, state.scope, instruction, sources)
        sources = [doc.name for doc in instruction.heredocs]
    elif urls:
        if not all(fetch.is_url(source) for source in sources):
            raise DockerfileError(f"{at}: ADD of URLs and other sources together is not taken by sdc",
                                  hint="ADD the URLs in a step of their own")  # fmt: skip
        reader, sources = _url_reader(run, instruction, sources)
    elif source_from:
        reader = _stage_reader(run, stage, scope.word(source_from, at), at)
    else:
        if context is None:
            raise DockerfileError(f"{at}: {command} needs a build context, and there is none",
                                  hint="build from a directory: sdc build DIR")  # fmt: skip
        reader = _ContextReader(context)
    if instruction.flag("checksum") and not urls:
        raise DockerfileError(f"{at}: ADD --checksum is for a URL's file", hint="leave it out, or ADD a URL")
    if instruction.keyword == "add" and any("://" in s for s in sources):
        raise DockerfileError(f"{at}: ADD of {sources[0][:200]}: sdc fetches http and https URLs alone",
                              hint="give an http:// or https:// URL")  # fmt: skip
    with reader:
        resolved = [r for s in sources for r in reader.resolve(s, at)]
        if len(resolved) > 1 and not slash:
            raise DockerfileError(f"{at}: when using {command} with more than one source file, the destination "
                                  "must be a directory and end with a /", hint=f"write {command} SRC... {dest}/")
        digest = reader.content_hash(resolved)
        unpack = instruction.keyword == "add" and not urls  # (a URL's archive is not unpacked: Docker's rule)
        key = _key(state, instruction.keyword, [(r.path, r.name) for r in resolved], target, slash, chown, chmod,
                   digest, unpack)  # fmt: skip
        owner = _owner(ctx, state, chown, at) if chown else (0, 0)
        copied = Digest()

        def change(root: Path) -> None:
            _write_sources(reader, resolved, root, target, slash=slash, owner=owner, mode=mode, unpack=unpack,
                           at=at, digest=copied)  # fmt: skip

        # (a file changed between its hash and its copy: this copy is not what the key says)
        _layer_step(run, stage, state, instruction, key, place, change, lambda: copied.hexdigest() == digest)


def _chmod(text: str, at: str) -> int:
    if not text or len(text) > 4 or any(c not in "01234567" for c in text):
        raise DockerfileError(f"{at}: --chmod={text}: sdc takes an octal mode", hint="write --chmod=0755")
    return int(text, 8)


def _owner(ctx: Context, state: _Built, chown: str, at: str) -> tuple[int, int]:
    """--chown's USER[:GROUP], names read from the stage's own /etc/passwd and /etc/group."""
    from sdcontainer.api.run import account_in

    user, _, group = chown.partition(":")
    if user.isdigit() and (not group or group.isdigit()):
        uid = int(user)
        gid = int(group) if group else uid
        if max(uid, gid) > 0xFFFFFFFE:  # (-1 is no owner to chown(2))
            raise DockerfileError(f"{at}: {chown}: an owner of 32 bits, less 1, is the largest",
                                  hint="give a uid and gid below 4294967295")  # fmt: skip
        return uid, gid
    if state.image is None:
        raise DockerfileError(f"{at}: --chown={chown}: a scratch stage has no /etc/passwd to read names from",
                              hint="give numbers: --chown=1000:1000")  # fmt: skip
    driver = ctx.driver()
    with driver.layer_view(state.image.top_layer) as view:
        try:
            account = account_in(Path(view), chown)
        except (SdcError, OSError, ValueError) as exc:
            why = exc.message if isinstance(exc, SdcError) else str(exc)
            raise DockerfileError(f"{at}: --chown={chown}: {why}",
                                  hint="give numbers, or a user of the image") from None  # fmt: skip
    return account.uid, account.gid


class _ContextReader:
    def __init__(self, context: BuildContext) -> None:
        self.context = context

    def __enter__(self) -> _ContextReader:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def resolve(self, pattern: str, at: str) -> list[Source]:
        return self.context.resolve(pattern, at=at)

    def content_hash(self, sources: list[Source]) -> str:
        return self.context.content_hash(sources)

    def walk(self, source: Source) -> Iterator[tuple[str, os.stat_result]]:
        return self.context.walk(source)

    def open(self, path: str) -> int:
        return self.context.open_file(path)

    def readlink(self, path: str) -> str:
        return self.context.readlink(path)


class _StageReader(_ContextReader):
    """COPY --from: another stage's or image's files, read from a view of its top layer as if it
    were a context (no ignore file)."""

    def __init__(self, ctx: Context, image: Image) -> None:
        self.ctx = ctx
        self.image = image
        self.stack = contextlib.ExitStack()

    def __enter__(self) -> _StageReader:
        view = self.stack.enter_context(self.ctx.driver().layer_view(self.image.top_layer))
        self.context = self.stack.enter_context(BuildContext(str(view), ignore_file=False))
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


class _MadeReader(_ContextReader):
    """Files made for the step in a directory of their own (fill makes them in it), read as a
    context: COPY <<EOF's heredocs, ADD URL's fetched files."""

    def __init__(self, ctx: Context, fill: Callable[[str], None]) -> None:
        self.ctx = ctx
        self.fill = fill
        self.stack = contextlib.ExitStack()

    def __enter__(self) -> _MadeReader:
        import shutil
        import tempfile

        directory = tempfile.mkdtemp(prefix="made-", dir=self.ctx.driver().tmp)
        self.stack.callback(shutil.rmtree, directory, True)
        try:
            self.fill(directory)
            self.context = self.stack.enter_context(BuildContext(directory, ignore_file=False))
        except BaseException:
            self.stack.close()  # (__exit__ is not called: what it made goes now)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


def _url_reader(run: _Build, instruction: Instruction, urls: Sequence[str]) -> tuple[_MadeReader, list[str]]:
    """ADD URL...: the URLs fetched (each time: the cache key holds their contents' hash), each a
    file of mode 0600 named by its URL's last component, its time the server's Last-Modified;
    --checksum checked. The reader, and the files' names as sources."""
    from sdcontainer.build import fetch
    from sdcontainer.layers import DEFAULT_MAX_SIZE

    at = instruction.at
    checksum = instruction.flag("checksum")
    if checksum and (not checksum.startswith("sha256:") or not re.fullmatch(r"[0-9a-f]{64}", checksum[7:])):
        raise DockerfileError(f"{at}: ADD --checksum={checksum[:80]}: sdc checks sha256:HEX",
                              hint="give the file's sha256:HEX")  # fmt: skip
    if checksum and len(urls) != 1:
        raise DockerfileError(f"{at}: ADD --checksum with more than one source", hint="ADD each URL in a step")
    names = [fetch.name_of(url, at) for url in urls]
    if len(set(names)) != len(names):
        raise DockerfileError(f"{at}: ADD of URLs that name one file twice", hint="ADD each URL in a step")

    def fill(directory: str) -> None:
        left = DEFAULT_MAX_SIZE  # (for the step's URLs together)
        for url, name in zip(urls, names, strict=True):
            path = os.path.join(directory, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                got = fetch.fetch(url, out, at=at, max_size=left)
            left -= got.size
            if checksum and got.digest != checksum:
                raise DockerfileError(f"{at}: ADD {url[:200]}: its checksum is {got.digest}, not {checksum}",
                                      hint="check the URL and the checksum")  # fmt: skip
            os.chmod(path, 0o600)
            if got.mtime is not None:
                os.utime(path, (got.mtime, got.mtime))

    return _MadeReader(run.ctx, fill), names


def _heredoc_reader(ctx: Context, scope: Scope, instruction: Instruction, sources: Sequence[str]) -> _MadeReader:
    from sdcontainer.build.dockerfile import HEREDOC
    from sdcontainer.build.shell import Lexer, ShellError

    at = instruction.at
    named = {doc.name: doc for doc in instruction.heredocs}
    files = {}
    for word in sources:
        match = HEREDOC.match(word)
        name = match.group(3).strip("'\"") if match else ""
        if name not in named:
            raise DockerfileError(f"{at}: {instruction.node.command} of heredocs and other sources together is not "
                                  "taken by sdc yet", hint="give the heredocs a COPY of their own")  # fmt: skip
        if "/" in name or name in (".", ".."):
            raise DockerfileError(f"{at}: a heredoc named {name!r} makes no file name", hint="name it EOF")
        doc = named[name]
        content = _chomped(doc)
        if doc.expand:
            try:
                content = Lexer(scope.escape, raw_quotes=True, raw_escapes=True).word(content, scope.env())
            except ShellError as exc:
                raise DockerfileError(f"{at}: heredoc {name}: {exc}", hint="check its ${...}") from None
        files[name] = content

    def fill(directory: str) -> None:
        for name, content in files.items():
            path = os.path.join(directory, name)
            with open(path, "x", encoding="utf-8", errors="surrogateescape") as f:
                f.write(content)
            os.chmod(path, 0o644)

    return _MadeReader(ctx, fill)


def _stage_reader(run: _Build, stage: Stage, ref: str, at: str) -> _StageReader:
    by_ref = {s.ref: s.index for s in run.made.stages if s.index < stage.index}
    if ref.lower() in by_ref:
        return _StageReader(run.ctx, stage_image(run, by_ref[ref.lower()]))
    if any(s.ref == ref.lower() for s in run.made.stages):
        raise DockerfileError(f"{at}: COPY --from={ref}: that stage comes after this one",
                              hint="copy from an earlier stage")  # fmt: skip
    return _StageReader(run.ctx, _base_image(run.ctx, ref, Options(), at))


def _write_sources(reader: _ContextReader, sources: list[Source], root: Path, target: str, *, slash: bool,
                   owner: tuple[int, int] | None, mode: int | None, unpack: bool, at: str,
                   digest: Digest) -> None:  # fmt: skip
    """The sources written at target in the root, as COPY writes them: a directory's contents into
    it; a file into it where it is a directory (written with a / at its end, or one there), else
    as it; an ADD's local archive unpacked into it. Owned by owner (None: as they are), with mode
    where given; the directories made on the way owned by owner too (as BuildKit and Buildah make
    them)."""
    from sdcontainer import linux
    from sdcontainer.layers import CopyPolicy, HashingReader, decompressed, extract_copy

    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        into = slash or _is_directory_in(root_fd, target)
        for source in sources:
            is_dir = stat.S_ISDIR(source.mode)
            archive = unpack and not is_dir and _is_archive(reader, source.path)
            directory, name = (target, "") if is_dir or into or archive else posixpath.split(target)
            dest_fd = _open_made(root_fd, directory or "/", linux, owner)
            try:
                if archive:
                    fd = reader.open(source.path)
                    with os.fdopen(fd, "rb") as raw:
                        hashing = HashingReader(raw)
                        try:
                            extract_copy(decompressed(hashing), dest_fd, CopyPolicy())
                        except SdcError as exc:
                            raise DockerfileError(f"{at}: {source.path}: {exc.message}", hint=exc.hint) from None
                        read = hashing.drain()  # (what is after the tar's end: hashed too)
                    digest.entry(reader.context, source.path, reader.context.lstat(source.path),
                                 bytes.fromhex(read.hex))  # fmt: skip
                    continue
                _copy_one(reader, source, name, is_dir, dest_fd, owner, mode, digest)
            finally:
                os.close(dest_fd)
    except OSError as exc:
        raise DockerfileError(f"{at}: cannot write to {target}: {exc.strerror}", hint="check the destination") from None
    finally:
        os.close(root_fd)


CHUNK = 1 << 20


def _open_made(root_fd: int, path: str, linux: Any, owner: tuple[int, int] | None = None) -> int:
    """The directory path in the root (made where missing, owned by owner where given, resolved
    inside it), opened."""
    made = linux.make_in_root(root_fd, path, directory=True, owner=owner)
    try:
        return os.open(f"/proc/self/fd/{made}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(made)


def _is_directory_in(root_fd: int, path: str) -> bool:
    """path, in the root, a directory (through its symlinks, resolved inside it)."""
    from sdcontainer import linux

    try:
        os.close(linux.open_in_root(root_fd, path, os.O_PATH | os.O_DIRECTORY))
    except OSError:
        return False
    return True


def _copy_one(reader: _ContextReader, source: Source, name: str, is_dir: bool, dest_fd: int,
              owner: tuple[int, int] | None,
              mode: int | None, digest: Digest) -> None:  # fmt: skip
    """source tarred as it is read and extracted into dest_fd as it comes (_stream)."""
    from sdcontainer.layers import CopyPolicy, extract_copy

    def write(out: IO[bytes]) -> None:
        _tar_source(reader, source, name, is_dir, out, owner, mode, digest)

    def read(stream: IO[bytes]) -> None:
        extract_copy(stream, dest_fd, CopyPolicy())  # type: ignore[arg-type]

    _stream(write, read)


def _is_archive(reader: _ContextReader, path: str) -> bool:
    fd = reader.open(path)
    try:
        head = os.read(fd, 512)
    finally:
        os.close(fd)
    return head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head[:4] == b"(\xb5/\xfd" \
        or (len(head) >= 262 and head[257:262] == b"ustar")  # fmt: skip


def _stream(write: Callable[[IO[bytes]], None], read: Callable[[IO[bytes]], object]) -> None:
    """write's output read by read as it is written, through a pipe: no copy of the whole."""
    r, w = os.pipe2(os.O_CLOEXEC)
    failed: list[BaseException] = []

    def writer() -> None:
        try:
            with os.fdopen(w, "wb") as out:
                write(out)
        except BaseException as exc:  # noqa: BLE001 - said by the reading side
            failed.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with os.fdopen(r, "rb") as stream:
            read(stream)
            stream.read()  # (what the reader left: the writer must not block)
    finally:
        thread.join()
    if failed:
        raise failed[0]


def _tar_source(reader: _ContextReader, source: Source, name: str, is_dir: bool, out: IO[bytes],
                owner: tuple[int, int] | None, mode: int | None, digest: Digest) -> None:  # fmt: skip
    """A tar of source: a directory's contents (its entries' names relative to it), or the file
    named name (its name as COPY named it where name is ""), with the xattrs a layer keeps and
    its hard links; each entry fed to digest as read."""
    from sdcontainer.layers import xattr_headers

    base = source.path
    linked: dict[tuple[int, int], tuple[str, bytes]] = {}  # a file of several links: its first name, digest
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path, st in reader.walk(source):
            if is_dir:
                if path == base:  # (its contents are copied, not itself)
                    digest.entry(reader.context, path, st)
                    continue
                relative = path[len(base) + 1 :] if base else path
            else:
                relative = name or source.name or posixpath.basename(path)
            info = tarfile.TarInfo(relative)
            xattrs = reader.context.xattrs(path) if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) else {}
            info.pax_headers = xattr_headers(xattrs)
            info.uid, info.gid = owner if owner is not None else (st.st_uid, st.st_gid)
            info.mtime = int(st.st_mtime)
            info.mode = mode if mode is not None else stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                digest.entry(reader.context, path, st, xattrs=xattrs)
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = reader.readlink(path)
                info.mode = 0o777
                tar.addfile(info)
                digest.entry(reader.context, path, st)
            elif stat.S_ISREG(st.st_mode) and (first := linked.get((st.st_dev, st.st_ino))) is not None:
                info.type = tarfile.LNKTYPE  # (a hard link to a file copied before it: linked again)
                info.linkname, content = first
                tar.addfile(info)
                digest.entry(reader.context, path, st, content, xattrs)
            elif stat.S_ISREG(st.st_mode):
                info.size = st.st_size
                fd = reader.open(path)
                with os.fdopen(fd, "rb") as f:
                    exact = _Exact(f, st.st_size)
                    tar.addfile(info, exact)
                digest.entry(reader.context, path, st, exact.digest.digest(), xattrs)
                if st.st_nlink > 1:
                    linked[(st.st_dev, st.st_ino)] = (relative, exact.digest.digest())
            else:
                digest.entry(reader.context, path, st)
            # (sockets, fifos and devices of a context are not copied)


class _Exact:
    """A file read as exactly size bytes (one that changes as it is read: cut, or padded with zeros)."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self.f = f
        self.left = size
        self.digest = hashlib.sha256()  # of what the file gave (a file that changed: another digest)

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if n < 0 else min(n, self.left)
        data = self.f.read(want)
        self.digest.update(data)
        if len(data) < want:
            self.digest.update(b"\0changed")
            data += b"\0" * (want - len(data))
        self.left -= len(data)
        return data
