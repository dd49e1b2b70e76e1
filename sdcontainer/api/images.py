"""Images: import a rootfs tarball, list, remove."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from sdcontainer import cgroups, containers, files, records, units
from sdcontainer.api.context import Context
from sdcontainer.errors import Conflict, NotFound, UsageError

# tar, hashing and the storage layer: only for the commands that need them
if TYPE_CHECKING:
    from sdcontainer.containerspec import ContainerSpec
    from sdcontainer.images import Image
    from sdcontainer.images.fetch import Progress
    from sdcontainer.images.push import Progress as PushProgress


def import_image(
    ctx: Context,
    stream: BinaryIO,
    ref: str,
    *,
    max_size: int | None = None,
    changes: list[str] | None = None,
    message: str = "",
) -> Image:
    """A rootfs tarball as image ref, configured by changes (Dockerfile instructions, as
    `docker import --change`); max_size bounds the apparent size of its files."""
    from sdcontainer import images
    from sdcontainer.images import archive
    from sdcontainer.images.config import apply_changes

    images.normalize_reference(ref)  # refuse a bad name, or a bad change, before reading anything
    runtime = apply_changes(archive.IMPORTED_RUNTIME, changes or [])
    driver = ctx.driver()
    with records.adding(ctx.paths):
        return archive.import_rootfs(ctx.paths, driver, stream, ref, max_size=max_size, runtime=runtime,
                                     comment=message)  # fmt: skip


def list_images(ctx: Context) -> list[tuple[Image, list[str]]]:
    from sdcontainer import images

    return images.list_images(ctx.paths)


def intermediate(ctx: Context, listed: list[tuple[Image, list[str]]]) -> set[str]:
    """The IDs of a build's intermediate images among listed, which `images` shows with -a alone:
    unnamed, and the build cache's (buildcache.cached_images: no build's result)."""
    from sdcontainer.images import buildcache

    cached = buildcache.cached_images(ctx.paths)
    return {str(image.id) for image, names in listed if not names and str(image.id) in cached} if cached else set()


def created_at(image: Image) -> float:
    """When the image was made: its config's `created` (RFC 3339), else when the store got it."""
    import datetime

    text = image.config.get("created")
    if isinstance(text, str):
        with contextlib.suppress(ValueError):
            when = datetime.datetime.fromisoformat(text)  # Python 3.11 reads RFC 3339, nanoseconds and Z too
            return (when if when.tzinfo else when.replace(tzinfo=datetime.UTC)).timestamp()
    return image.created


IMAGE_FILTERS = ("dangling", "reference", "label", "before", "since")


def image_filter(values: list[str], listed: list[tuple[Image, list[str]]]) -> Callable[[Image, str | None], bool]:
    """`images --filter`s, Docker's: dangling=true|false, reference=PATTERN (a shell pattern on
    the name, as Docker's), label=KEY[=VALUE], before/since=IMAGE; one key's values any of them,
    keys all of them. The predicate takes an image and one of its names (None: it has none)."""
    import fnmatch

    from sdcontainer import images

    wanted: dict[str, list[str]] = {}
    for value in values:
        key, eq, text = value.partition("=")
        if not eq or key not in IMAGE_FILTERS or (key == "dangling" and text not in ("true", "false", "1", "0")):
            raise UsageError(f"invalid --filter {value!r}", hint="use dangling=true|false, reference=PATTERN, "
                             "label=KEY[=VALUE], before=IMAGE, since=IMAGE")  # fmt: skip
        wanted.setdefault(key, []).append(text)
    bounds: dict[str, float] = {}
    for key in ("before", "since"):
        for ref in wanted.get(key, []):
            match = next((img for img, names in listed if str(img.id).removeprefix("sha256:").startswith(
                ref.removeprefix("sha256:")) and len(ref) >= 4 or images.as_reference(ref) in names), None)  # fmt: skip
            if match is None:
                raise NotFound(f"no such image: {ref}", hint=f"--filter {key}= names an image of `sdc images`")
            bounds[key] = created_at(match)

    def reference(name: str | None, pattern: str) -> bool:
        if name is None:
            return False
        repo, tag = images.familiar(name)
        return any(fnmatch.fnmatchcase(n, pattern) for n in (f"{repo}:{tag}", repo, name))

    def keep(image: Image, name: str | None) -> bool:
        labels = image.runtime.get("Labels") or {}
        labels = labels if isinstance(labels, dict) else {}
        for key, texts in wanted.items():
            if key == "dangling" and (name is None) != (texts[-1] in ("true", "1")):
                return False
            if key == "reference" and not any(reference(name, t) for t in texts):
                return False
            if key == "label" and not all(k in labels and (not eq or labels[k] == v)
                                          for k, eq, v in (t.partition("=") for t in texts)):  # fmt: skip
                return False
            if key == "before" and created_at(image) >= bounds[key]:
                return False
            if key == "since" and created_at(image) <= bounds[key]:
                return False
        return True

    return keep


def remove_image(ctx: Context, ref: str, *, force: bool = False) -> list[str]:
    """Untag ref; delete the image once no name refers to it. An image a container uses is
    refused, or with force untagged and kept (dangling) while the container needs it, as Docker
    does; `image prune` removes it once nothing does. What was done, as Docker says it."""
    from sdcontainer import images

    with records.removing(ctx.paths), records.locked(ctx.paths):
        image = images.find_image(ctx.paths, ref)
        names = [r for r, iid in images.read_repositories(ctx.paths).items() if iid == image.id]
        name = images.as_reference(ref) if _names(ref) else None
        if name in names and len(names) > 1:
            images.untag_image(ctx.paths, ref)
            return [f"Untagged: {'{}:{}'.format(*images.familiar(name))}"]
        users = [c.name for c in containers.list_containers(ctx.paths) if c.image_id == str(image.id)]
        if users and not force:
            raise Conflict(
                f"image {ref} is used by container {users[0]}",
                hint=f"remove the container first (`sdc rm {users[0]}`), or use `sdc rmi -f`",
            )
        done = [f"Untagged: {'{}:{}'.format(*images.familiar(n))}" for n in names]
        for n in names:
            images.untag_image(ctx.paths, n)
        if not users:
            images.delete_image(ctx.paths, ctx.driver(), image)
            done.append(f"Deleted: {image.id}")  # its str(): sha256:HEX
        return done


def tag_image(ctx: Context, source: str, target: str) -> None:
    from sdcontainer import images

    images.normalize_reference(target)
    with records.locked(ctx.paths):
        images.tag_image(ctx.paths, images.find_image(ctx.paths, source), target)


def prune_images(ctx: Context, *, every: bool = False, build_cache: bool = False,
                 dangling: bool = True) -> tuple[list[str], int]:  # fmt: skip
    """Remove the images no container uses that have no name (with every: all of them), those of
    the build cache left alone unless every or build_cache (which forgets the cache and its mounts'
    directories; without dangling, only the cache's images go), and the layers no image needs and
    the records of none (left by an interrupted pull or rmi, say): what was removed, and the
    apparent size of the files freed."""
    from sdcontainer import images
    from sdcontainer.images import buildcache, store

    removed: list[str] = []
    freed = 0
    # No layer is added meanwhile (removing); the store is locked for one image or layer at a time,
    # so that a container's start or a --rm container's clean-up waits for one removal at most.
    from sdcontainer.api.autoupdate import held_images

    with records.removing(ctx.paths):
        driver = ctx.driver()
        cached = buildcache.cached_images(ctx.paths)
        if build_cache:
            buildcache.forget(ctx.paths)
        for image, _ in images.list_images(ctx.paths, strict=True):
            with records.locked(ctx.paths):  # as they are now: a tag or a container may have come
                used = {c.image_id for c in containers.list_containers(ctx.paths)} | held_images(ctx.paths.root)
                named = str(image.id) in {str(i) for i in images.read_repositories(ctx.paths).values()}
                of_cache = str(image.id) in cached
                if str(image.id) in used or (named and not every) or \
                        (of_cache and not (every or build_cache)) or (not of_cache and not (every or dangling)):
                    continue  # fmt: skip
                freed += images.delete_image(ctx.paths, driver, image)  # (its names with it)
                removed.append(str(image.id))
        for layer in store.unreferenced_layers(ctx.paths, driver):
            with records.locked(ctx.paths):
                freed += store.layer_size(ctx.paths, layer)
                driver.remove_layer(layer)
                store.forget_layer(ctx.paths, layer)
        with records.locked(ctx.paths):
            for layer in store.stray_records(ctx.paths, driver):
                store.forget_layer(ctx.paths, layer)
            images.remove_stray_configs(ctx.paths)
            # what a kill left of a record being written (each written under the store's lock)
            files.remove_partial_writes(str(ctx.paths.layers))
            files.remove_partial_writes(str(ctx.paths.images))
            files.remove_partial_writes(str(ctx.paths.root), of=ctx.paths.repositories.name)
    return removed, freed


def inspect_image(ctx: Context, ref: str) -> dict[str, Any]:
    """An image as `docker image inspect` shows it."""
    from sdcontainer import images
    from sdcontainer.images.config import iso_time

    image = images.find_image(ctx.paths, ref)
    names = sorted(r for r, iid in images.read_repositories(ctx.paths).items() if iid == image.id)
    config = image.config if "rootfs" in image.config else {}
    return {
        "Id": str(image.id),
        "RepoTags": ["{}:{}".format(*images.familiar(n)) for n in names],
        "RepoDigests": list(image.repo_digests),
        "Created": config.get("created") or iso_time(image.created),
        "Author": config.get("author", ""),
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        "Size": image.size,
        "Config": image.runtime,
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in image.diff_ids]},
        "Storage": {"Layers": [str(layer) for layer in image.layers]},
    }


def history(ctx: Context, ref: str) -> list[dict[str, Any]]:
    """The image's history, newest first, with the size of each layer's files; an entry that made
    no layer (ENV, CMD...) has size 0, as `docker history` shows."""
    from sdcontainer import images
    from sdcontainer.images import store

    image = images.find_image(ctx.paths, ref)
    entries = list(image.config.get("history") or [])
    sizes = [store.layer_size(ctx.paths, layer) for layer in image.layers]
    rows: list[dict[str, Any]] = []
    for entry in entries:
        empty = bool(entry.get("empty_layer"))
        size = 0 if empty or not sizes else sizes.pop(0)
        rows.append({"CreatedBy": entry.get("created_by", ""), "Created": entry.get("created", ""),
                     "Comment": entry.get("comment", ""), "Size": size})  # fmt: skip
    rows.reverse()
    for row in rows:
        row["Id"] = "<missing>"
    if rows:
        rows[0]["Id"] = str(image.id)
    return rows


def load_images(ctx: Context, source: BinaryIO, *, max_size: int | None = None) -> list[tuple[Image, list[str]]]:
    """The images of a docker-archive or an oci-archive, plain or compressed, from a file or a pipe,
    with the names the archive gives them."""

    from sdcontainer.errors import StoreFull, UsageError
    from sdcontainer.images import archive
    from sdcontainer.layers import DEFAULT_MAX_SIZE, HashingReader, decompressed

    driver = ctx.driver()
    with records.adding(ctx.paths), contextlib.ExitStack() as stack:
        if _plain_file(source):
            seekable = source
        else:  # a pipe, or compressed: one pass into a file of the store's, which a kill leaves nothing of
            seekable = stack.enter_context(driver.spool())
            limit = max_size or DEFAULT_MAX_SIZE
            try:
                reader = decompressed(HashingReader(source))
                while chunk := reader.read(1 << 20):
                    seekable.write(chunk)
                    if seekable.tell() > limit:
                        raise UsageError(f"the archive is larger than the limit of {limit >> 20} MiB",
                                         hint="raise --max-size if the archive is what you expect")  # fmt: skip
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StoreFull("the store is full: the archive does not fit", hint="free space first") from exc
                raise UsageError(f"cannot read the archive: {exc}", hint="give a docker or OCI image archive") from exc
            except EOFError as exc:
                raise UsageError("the archive is cut short", hint="save or copy it again") from exc
            seekable.seek(0)
        tar = stack.enter_context(archive.open_archive(seekable))
        return archive.load(ctx.paths, driver, tar, max_size=max_size or DEFAULT_MAX_SIZE)


def _plain_file(source: BinaryIO) -> bool:
    """A regular file (it can be read in any order), not compressed: read where it is."""
    import stat

    from sdcontainer.layers import BZIP2, GZIP, XZ, ZSTD

    try:
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            return False
        head = os.pread(source.fileno(), 6, 0)
    except (OSError, ValueError, AttributeError):
        return False
    return not head.startswith((GZIP, BZIP2, XZ, ZSTD))


def pull_image(
    ctx: Context,
    name: str,
    *,
    progress: Progress,
    platform: str | None = None,
    tls_verify: bool = True,
    max_size: int | None = None,
) -> tuple[Image, str, str]:
    """Pull an image into the store: the image, its manifest's digest, its full name."""
    from sdcontainer.images import auth, pull, reference
    from sdcontainer.images.registry import Registry
    from sdcontainer.layers import DEFAULT_MAX_SIZE

    ref = reference.parse(name)
    registry = Registry(ref.domain, credentials=auth.lookup(ctx.paths, ref.domain), tls_verify=tls_verify)
    try:
        driver = ctx.driver()
        # The store is locked for each layer's commit and the image's record alone, not while
        # the layers download and unpack: a container's start or exit need not wait on a registry.
        with records.adding(ctx.paths):
            image, digest = pull.pull(ctx.paths, driver, registry, ref, platform=platform,
                                      max_size=max_size or DEFAULT_MAX_SIZE, progress=progress)  # fmt: skip
    finally:
        registry.close()
    return image, str(digest), str(ref)


def login(ctx: Context, domain: str, username: str, password: str, *, tls_verify: bool = True) -> None:
    """Check the credentials with the registry, then keep them (images/auth.py)."""
    from sdcontainer.images import auth
    from sdcontainer.images.registry import Credentials, Registry

    domain = _domain(domain)
    credentials = Credentials(username, password)
    registry = Registry(domain, credentials=credentials, tls_verify=tls_verify)
    try:
        registry.check_login()
    finally:
        registry.close()
    with records.locked(ctx.paths):
        auth.store(ctx.paths, domain, credentials)


def logout(ctx: Context, domain: str) -> None:
    from sdcontainer.images import auth

    with records.locked(ctx.paths):
        auth.store(ctx.paths, _domain(domain), None)


def _domain(text: str) -> str:
    """A registry as login takes it: HOST[:PORT], or a URL; Docker Hub by any of its names."""
    from sdcontainer.errors import UsageError
    from sdcontainer.images.auth import HUB_KEYS
    from sdcontainer.images.registry import DOCKER_HUB

    host = text.removeprefix("https://").removeprefix("http://").split("/")[0]
    if text in HUB_KEYS or host in HUB_KEYS:
        return DOCKER_HUB
    if not host or not re.fullmatch(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9a-fA-F:]+\](:[0-9]{1,5})?", host):
        raise UsageError(f"invalid registry {text!r}", hint="give HOST[:PORT], like 127.0.0.1:5000")
    return host


def save_images(ctx: Context, refs: list[str], out: BinaryIO, *, fmt: str = "oci-archive") -> None:
    """Write images to out as one archive (images/save.py), each with the name it was asked by.
    The store is not locked while it is written (a container's start would wait on it); its
    layers stay (records.adding: rmi waits), an image untagged meanwhile is saved as it was."""
    from sdcontainer import images
    from sdcontainer.errors import UsageError
    from sdcontainer.images import save

    try:
        form = save.Format(fmt)
    except ValueError:
        raise UsageError(f"unknown archive format {fmt!r}", hint="use oci-archive or docker-archive") from None
    driver = ctx.driver()
    with records.adding(ctx.paths):
        chosen = [(images.find_image(ctx.paths, ref), images.as_reference(ref) if _names(ref) else None)
                  for ref in refs]  # fmt: skip
        save.save(ctx.paths, driver, chosen, out, form)


def _names(ref: str) -> bool:
    """ref names an image (alpine:3.20), rather than giving its ID or an ID's prefix."""
    return not re.fullmatch(r"(?:sha256:)?[0-9a-f]{4,64}", ref)


def commit(
    ctx: Context,
    ref: str,
    name: str | None = None,
    *,
    message: str = "",
    author: str = "",
    changes: list[str] | None = None,
    pause: bool = True,
) -> Image:
    """A new image: the container's image and one more layer, what the container changed (the
    init layer's files left out), run as the container was, with changes applied (--change).

    A running container is paused while its changes are read, as Docker's commit does (its
    processes frozen: cgroups.frozen), so no file is caught half-written; with pause=False,
    btrfs still reads a read-only snapshot taken at one instant (the files as a power cut would
    leave them), while overlay and vfs read the files as they change."""
    from sdcontainer import images
    from sdcontainer.errors import UsageError
    from sdcontainer.images import archive, store
    from sdcontainer.images import config as image_config
    from sdcontainer.layers import DEFAULT_MAX_SIZE, write_changes

    if name is not None:
        images.normalize_reference(name)
    image_config.apply_changes({}, changes or [])  # a bad instruction fails before any work
    driver = ctx.driver()
    # The store is not locked while the changes are read and applied (records.adding): the
    # layer's commit and the image's record take it, each for a moment.
    container = containers.find_container(ctx.paths, ref)
    ctx.claim(container.name)  # not removed (nor started) while its changes are read
    with records.adding(ctx.paths), contextlib.ExitStack() as undo:
        image = images.find_image(ctx.paths, container.image_id)
        if len(image.diff_ids) != len(image.layers):
            raise UsageError(f"the image of {container.name} has no OCI config to add a layer to",
                             hint="an older sdc imported it: import or pull the image again")  # fmt: skip
        tar = undo.enter_context(driver.spool())
        with contextlib.ExitStack() as paused:
            cgroup = units.unit_cgroup(container.unit, container.spec.pod)
            if pause and cgroups.populated(cgroup):  # running
                paused.enter_context(cgroups.frozen(cgroup))
            with driver.container_changes(container.id, image.top_layer) as (view, found):
                if unseen := driver.unseen_subvolumes(view, found):
                    raise UsageError(f"{container.name} made the btrfs subvolume {unseen[0]}, whose files a commit "
                                     "cannot see", hint="copy its files into a plain directory (cp -a), remove the "
                                     "subvolume, and commit again")  # fmt: skip
                write_changes(view, [(kind.value, path) for kind, path in found], tar)
        tar.seek(0)
        chain, digests, new = store.add_layer(ctx.paths, driver, image.top_layer, tar, max_size=DEFAULT_MAX_SIZE)
        if new:
            undo.callback(store.discard, ctx.paths, driver, [chain])
        runtime = image_config.apply_changes(_runtime_of(image.runtime, container.spec), changes or [])
        config = image_config.committed(
            image.config, runtime, str(digests.diff_id), created=ctx.clock.time(), author=author, comment=message,
            created_by=shlex.join(container.spec.argv),
        )  # fmt: skip
        committed = archive.publish(ctx.paths, driver, archive.config_bytes(config), (*image.layers, chain),
                                    names=[name] if name is not None else [])  # fmt: skip
        undo.pop_all()
    return committed


def _runtime_of(image_runtime: dict[str, Any], spec: ContainerSpec) -> dict[str, Any]:
    """How the container was run, as an image config says it (docker commit keeps it)."""
    runtime = dict(image_runtime)
    runtime["Entrypoint"] = list(spec.entrypoint) if spec.entrypoint else None
    runtime["Cmd"] = list(spec.command) or None
    env = dict(e.partition("=")[::2] for e in (*(runtime.get("Env") or ()), *spec.env))
    runtime["Env"] = [f"{k}={v}" for k, v in env.items()]
    if spec.workdir != (runtime.get("WorkingDir") or "/"):
        runtime["WorkingDir"] = spec.workdir
    if spec.user != (runtime.get("User") or "root"):
        runtime["User"] = spec.user
    if spec.labels:  # the image's, and the container's own over them (spec.labels has both)
        from sdcontainer.containerspec import label_map

        runtime["Labels"] = label_map(spec.labels)
    return runtime


def push_image(
    ctx: Context, source: str, destination: str | None = None, *, progress: PushProgress, tls_verify: bool = True
) -> tuple[str, str]:
    """Push an image (source) as destination, or under its own name: (the full name, the manifest's digest).
    The store is not locked while the layers go (a container's start would wait on it)."""
    from sdcontainer import images
    from sdcontainer.errors import UsageError
    from sdcontainer.images import auth, push, reference
    from sdcontainer.images.registry import Registry

    ref = reference.parse(destination or source)
    if ref.digest:
        raise UsageError(f"cannot push to a digest ({ref})", hint="push to a tag: NAME[:TAG]")
    if ref.tag is None:
        ref = reference.parse(f"{ref}:latest")
    driver = ctx.driver()
    with records.adding(ctx.paths):  # its layers stay while they go (rmi waits)
        image = images.find_image(ctx.paths, source)
        if len(image.diff_ids) != len(image.layers):
            raise UsageError(f"{source} has no OCI config to push", hint="an older sdc imported it: import it again")
        registry = Registry(ref.domain, credentials=auth.lookup(ctx.paths, ref.domain), tls_verify=tls_verify)
        try:
            digest = push.push(ctx.paths, driver, registry, image, ref, progress)
        finally:
            registry.close()
    with records.locked(ctx.paths):
        images.add_repo_digest(ctx.paths, image, f"{ref.repository}@{digest}")
    return str(ref), digest
