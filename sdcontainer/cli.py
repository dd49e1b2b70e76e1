"""The sdc command line (typer): parse options, call one api function, render the result.

Docker's flag names wherever they fit. SdcError becomes a one-line message
with a hint and a non-zero exit; anything else reaching here is a bug and
shows its traceback.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import pathlib
import sys
from collections.abc import Callable, Iterator
from inspect import Parameter, Signature
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, NoReturn, Optional

import click
import typer

from sdcontainer import __version__, clidocs, log, render
from sdcontainer.api import Context, require_root
from sdcontainer.api import containers as lifecycle
from sdcontainer.errors import SdcError
from sdcontainer.paths import STORAGE_DRIVERS, Paths, root_of
from sdcontainer.record import replace
from sdcontainer.spec import LIMIT_FLAGS, RUN_FLAGS, RunFlag, build_run_spec
from sdcontainer.text import parse_size

if TYPE_CHECKING:
    from sdcontainer.api import images as image_cases
    from sdcontainer.api import run as run_cases
    from sdcontainer.images import Image
else:

    class _Imported:
        """A module imported on first use: the run path (api.run) and images' (api.images) cost
        nothing to a command that uses neither (stop, rm, logs, inspect of a container)."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            import importlib

            return getattr(importlib.import_module(self._name), attr)

    image_cases, run_cases = _Imported("sdcontainer.api.images"), _Imported("sdcontainer.api.run")

Containers = Annotated[list[str], typer.Argument(metavar="CONTAINER...")]  # the commands' arguments
SomeContainers = Annotated[Optional[list[str]], typer.Argument(metavar="CONTAINER...")]  # or --all
Every = Annotated[bool, typer.Option("--all", "-a", help="Every container this command can act on")]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="sdc: containers as transient systemd units on btrfs snapshots.",
)


class State:
    context: Context


def _sdc(ctx: typer.Context) -> Context:
    require_root()
    obj = ctx.find_object(State)
    if obj is None:  # pragma: no cover - the callback always sets it
        raise RuntimeError("no state")
    return obj.context


def _check_format(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter("is empty: give table, json or a Go template")
    return value


Format = Annotated[str, typer.Option("--format", help=render.FORMAT_HELP, callback=_check_format)]


def _confirmed(force: bool, warning: str) -> bool:
    """A prune's question, as Docker asks it (on stdin, a terminal or not; no answer is no)."""
    if force:
        return True
    typer.echo(f"WARNING! {warning}")
    typer.echo("Are you sure you want to continue? [y/N] ", nl=False)
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


InspectFormat = Annotated[Optional[str], typer.Option("--format", "-f", help="json (the default), or a Go template: "
                                                    "'{{.State.Pid}}', '{{json .Config.Env}}'", callback=_check_format)]


def _show_inspected(found: list[dict[str, Any]], fmt: str | None, kind: str) -> None:
    """inspect's output: a JSON array, or each object through the template, a line each (Docker's)."""
    if fmt is None or fmt == "json":
        typer.echo(json.dumps(found, indent=2, default=str))
        return
    from sdcontainer import gotemplate

    template = gotemplate.compile_format(fmt)
    typer.echo("".join(gotemplate.format_one(template, gotemplate.structs(item, type_name=kind)) + "\n"
                       for item in found), nl=False)  # fmt: skip


def _show_listed(fmt: str, rows: list[dict[str, Any]], headers: dict[str, str], *, noheading: bool = False) -> None:
    """An ls's rows (Docker's field names) through a --format template."""
    from sdcontainer import gotemplate

    contexts = [gotemplate.structs(row, type_name="row") for row in rows]
    typer.echo(render.templated(fmt, contexts, None if noheading else headers), nl=False)


def _check_root(value: str | None) -> str | None:
    if value == "":
        raise typer.BadParameter("give a directory")
    return value


def _check_driver(value: str | None) -> str | None:
    if value not in (None, *STORAGE_DRIVERS):
        raise typer.BadParameter(f"{value!r} is not {' or '.join(STORAGE_DRIVERS)}")
    return value


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sdc version {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    root: Annotated[
        Optional[str],
        typer.Option("--root", envvar="SDC_ROOT", help="Store directory [default: /var/lib/sdc]", callback=_check_root),
    ] = None,
    storage_driver: Annotated[
        Optional[str],
        typer.Option("--storage-driver", envvar="SDC_STORAGE_DRIVER", help="btrfs, overlay or vfs",
                     callback=_check_driver),  # fmt: skip
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", "-D", envvar="SDC_DEBUG", help="Log what sdc does")] = False,
    log_level: Annotated[Optional[str], typer.Option("--log-level", help="debug, info, warn or error (Podman's; "
                         "--debug is debug)", click_type=click.Choice(log.LEVELS))] = None,  # fmt: skip
    version: Annotated[
        bool, typer.Option("--version", "-v", callback=_version, is_eager=True, help="Print the version")
    ] = False,
) -> None:
    log.configure(debug=debug, level=log_level)
    state = State()
    try:
        state.context = Context(Paths(root_of(root)), storage_driver=storage_driver)
        state.context.pull_progress = lambda: render.PullProgress(quiet=False)
    except SdcError as exc:
        raise typer.Exit(render.report(exc.message, exc.hint, exc.exit_code)) from None
    ctx.obj = state
    ctx.call_on_close(state.context.close)


# --- images --------------------------------------------------------------------

# The bound on an image's size, against decompression bombs: import, load and pull.
MaxSize = Annotated[
    Optional[str],
    typer.Option("--max-size", envvar="SDC_MAX_IMAGE_SIZE",
                 help="Refuse an image whose files add up to more, each entry 1 KiB [default: 64g]"),  # fmt: skip
]


TlsVerify = Annotated[
    bool,
    typer.Option("--tls-verify/--no-tls-verify",
                 help="Verify the registry's TLS certificate; --tls-verify=false as Podman's works too"),  # fmt: skip
]


# Boolean flags that Docker and Podman users give a value (--pause=false), by command.
VALUED_BOOLS = {"pull": ("--tls-verify",), "push": ("--tls-verify",), "login": ("--tls-verify",),
                "commit": ("--pause",),
                "build": ("--rm", "--pull", "--no-cache", "--force-rm", "--squash", "--squash-all",
                          "--layers")}  # fmt: skip


def _bool_flags(argv: list[str]) -> list[str]:
    """Docker's --pause=false and Podman's --tls-verify=false, as click's --no-pause and
    --no-tls-verify (its boolean flags take no value), for the commands that have them only: a
    container's command is never rewritten."""
    takes_value = ("--root", "--storage-driver")
    words = [a for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or argv[i - 1] not in takes_value)]
    if not words or words[0] not in VALUED_BOOLS:
        return argv
    names = VALUED_BOOLS[words[0]]
    out = []
    for arg in argv:
        flag, eq, value = arg.partition("=")
        if eq and flag in names:
            if value.lower() not in ("true", "false", "1", "0"):
                raise SdcError(f"invalid {arg}", hint=f"give {flag}=true or {flag}=false")
            negated = f"--{flag[5:]}" if flag.startswith("--no-") else f"--no-{flag[2:]}"
            arg = flag if value.lower() in ("true", "1") else negated
        out.append(arg)
    return out


def _limit(max_size: str | None) -> int | None:
    return parse_size(max_size, flag="--max-size") if max_size is not None else None


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A rootfs tarball (tar, tar.gz, tar.xz...) or - for stdin")],
    reference: Annotated[str, typer.Argument(metavar="NAME[:TAG]")],
    max_size: MaxSize = None,
    change: Annotated[
        Optional[list[str]], typer.Option("--change", "-c", help="A Dockerfile instruction: CMD, ENV, USER...")
    ] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="A comment for the image's history")] = "",
) -> None:
    """Import a rootfs tarball as an image (like docker import)."""
    limit = _limit(max_size)
    sdc = _sdc(ctx)

    def import_from(stream: BinaryIO) -> Image:
        return image_cases.import_image(sdc, stream, reference, max_size=limit, changes=change or [], message=message)

    if file == "-":
        image = import_from(sys.stdin.buffer)
    else:
        try:
            stream = open(file, "rb")
        except OSError as exc:
            raise SdcError(
                f"cannot read {file}: {exc.strerror}", hint="give the path of a tar archive, or - for stdin"
            ) from None
        with stream:
            image = import_from(stream)
    typer.echo(image.id)


@app.command("load")
def load(
    ctx: typer.Context,
    input_: Annotated[Optional[str], typer.Option("--input", "-i", help="Read from a file, not stdin")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Say nothing")] = False,
    max_size: MaxSize = None,
) -> None:
    """Load images from a docker-archive (docker save's) or an oci-archive, plain or compressed."""
    from sdcontainer.images import familiar

    limit = _limit(max_size)
    sdc = _sdc(ctx)
    if input_ in (None, "-"):
        loaded = image_cases.load_images(sdc, sys.stdin.buffer, max_size=limit)
    else:
        try:
            stream = open(input_, "rb")  # noqa: SIM115 - closed below, after the load
        except OSError as exc:
            raise SdcError(f"cannot read {input_}: {exc.strerror}", hint="give the path of an image archive") from None
        with stream:
            loaded = image_cases.load_images(sdc, stream, max_size=limit)
    for image, names in loaded if not quiet else ():
        for name in names:
            typer.echo("Loaded image: {}:{}".format(*familiar(name)))
        if not names:
            typer.echo(f"Loaded image ID: {image.id}")


@app.command("save")
def save(
    ctx: typer.Context,
    images: Annotated[list[str], typer.Argument(metavar="IMAGE...")],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to a file, not stdout")] = None,
    fmt: Annotated[str, typer.Option("--format", help="oci-archive or docker-archive")] = "oci-archive",
) -> None:
    """Save images to an archive that `sdc load`, `docker load`, podman and skopeo read."""
    sdc = _sdc(ctx)
    if output in (None, "-"):
        if sys.stdout.isatty():
            raise SdcError("refusing to write an archive to a terminal", hint="give -o FILE or redirect stdout")
        image_cases.save_images(sdc, images, sys.stdout.buffer, fmt=fmt)
        return
    with _output_file(output) as stream:
        image_cases.save_images(sdc, images, stream, fmt=fmt)


@contextlib.contextmanager
def _output_file(path: str) -> Iterator[BinaryIO]:
    """A file written beside path and renamed over it once complete: a failure leaves nothing."""
    tmp = f"{path}.{os.getpid()}.partial"
    try:
        stream = open(tmp, "xb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise SdcError(f"cannot write {path}: {exc.strerror}", hint="give a writable path with -o") from None
    try:
        with stream:
            yield stream
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@app.command("pull")
def pull(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME[:TAG|@DIGEST]")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the image's name")] = False,
    platform: Annotated[
        Optional[str],
        typer.Option("--platform", help="OS/ARCH[/VARIANT] of a multi-platform image [default: this machine's]"),
    ] = None,
    tls_verify: TlsVerify = True,
    max_size: MaxSize = None,
) -> None:
    """Pull an image from a registry."""
    from sdcontainer.images import familiar, reference

    limit = _limit(max_size)
    reference.parse(name)  # a bad name is its one-line error, before anything is said
    sdc = _sdc(ctx)
    progress = render.PullProgress(quiet=quiet)
    if not quiet:
        sys.stderr.write(f"Pulling {name}\n")
    image, digest, full = image_cases.pull_image(sdc, name, progress=progress, platform=platform,
                                                 tls_verify=tls_verify, max_size=limit)  # fmt: skip
    if not quiet:
        news = "Downloaded newer image for" if progress.pulled else "Image is up to date for"
        shown = full if "@" in full else "{}:{}".format(*familiar(full))
        sys.stderr.write(f"Digest: {digest}\nStatus: {news} {shown}\n")
    del image
    typer.echo(full)


@app.command("push")
def push(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(metavar="IMAGE")],
    destination: Annotated[Optional[str], typer.Argument(metavar="[DESTINATION]")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Say nothing but errors")] = False,
    tls_verify: TlsVerify = True,
) -> None:
    """Push an image to a registry: under its own name, or as DESTINATION (NAME[:TAG])."""
    from sdcontainer.images import reference

    target = reference.parse(destination or image)  # a bad name is its one-line error, before anything is said
    if not quiet:
        sys.stderr.write(f"The push refers to repository [{target.repository}]\n")
    full, digest = image_cases.push_image(_sdc(ctx), image, destination, progress=render.PushProgress(quiet=quiet),
                                          tls_verify=tls_verify)  # fmt: skip
    if not quiet:
        sys.stderr.write(f"{full.rsplit(':', 1)[1]}: digest: {digest}\n")
    typer.echo(f"{full}@{digest}")


@app.command("login")
def login(
    ctx: typer.Context,
    registry: Annotated[str, typer.Argument(metavar="REGISTRY", help="HOST[:PORT]; docker.io for Docker Hub")],
    username: Annotated[Optional[str], typer.Option("--username", "-u", help="User name")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
    tls_verify: TlsVerify = True,
) -> None:
    """Log in to a registry: the credentials are checked, then kept in sdc's store (root's only)."""
    import getpass

    if username is None and sys.stdin.isatty() and not password_stdin:
        username = input("Username: ").strip() or None
    if username is None:
        raise SdcError("no user name", hint="give one with -u")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        raise SdcError("no password", hint="pipe it in with --password-stdin")
    if not password:
        raise SdcError("an empty password", hint="give the password on stdin")
    image_cases.login(_sdc(ctx), registry, username, password, tls_verify=tls_verify)
    typer.echo("Login Succeeded")


@app.command("logout")
def logout(
    ctx: typer.Context,
    registry: Annotated[str, typer.Argument(metavar="REGISTRY")],
) -> None:
    """Forget sdc's credentials for a registry."""
    image_cases.logout(_sdc(ctx), registry)
    typer.echo(f"Removed login credentials for {registry}")


IMAGE_FIELDS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE"}  # fmt: skip


@app.command("images")
def images_(
    ctx: typer.Context,
    reference: Annotated[Optional[str], typer.Argument(metavar="[REPOSITORY[:TAG]]")] = None,
    every: Annotated[bool, typer.Option("--all", "-a", help="All images, a build's intermediate ones too")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only image IDs")] = False,
    fmt: Format = "table",
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Show whole image IDs")] = False,
    digests: Annotated[bool, typer.Option("--digests", help="Show digests")] = False,
    noheading: Annotated[bool, typer.Option("--noheading", help="No header line")] = False,
    filters: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="dangling=true|false, "
                       "reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE")] = None,
) -> None:
    """List images."""
    from sdcontainer.images import familiar

    def shown_id(image_id: str) -> str:
        return image_id if no_trunc else image_id.removeprefix("sha256:")[:12]

    if reference is not None and not reference.strip():
        raise SdcError("an empty image name", hint="give REPOSITORY[:TAG], or none for every image")
    sdc = _sdc(ctx)
    listed = image_cases.list_images(sdc)
    if not every:
        hidden = image_cases.intermediate(sdc, listed)
        listed = [(image, names) for image, names in listed if str(image.id) not in hidden]
    keep = image_cases.image_filter([*(filters or []), *([f"reference={reference}"] if reference else [])], listed)
    rows: list[dict[str, Any]] = []
    for image, names in listed:
        shown: list[str | None] = [*names] or [None]
        for name in shown:
            if not keep(image, name):
                continue
            repo, tag = familiar(name) if name else ("<none>", "<none>")
            digest = next((d.partition("@")[2] for d in image.repo_digests if name and d.startswith(
                name.rpartition(":")[0] + "@")), "<none>")  # fmt: skip
            rows.append({"Repository": repo, "Tag": tag, "Id": str(image.id), "Digest": digest,
                         "Created": image_cases.created_at(image), "Size": image.size,
                         "Labels": image.runtime.get("Labels") or {}})  # fmt: skip
    if quiet:
        for iid in dict.fromkeys(shown_id(r["Id"]) for r in rows):
            typer.echo(iid)
    elif fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
    elif render.is_template(fmt):
        from sdcontainer.gotemplate import Struct

        contexts = [Struct({"ID": shown_id(r["Id"]), "Repository": r["Repository"], "Tag": r["Tag"],
                            "Digest": r["Digest"], "CreatedSince": render.ago(r["Created"]),
                            "CreatedAt": render.local_time(r["Created"]), "Size": render.size(r["Size"]),
                            "Containers": "N/A", "SharedSize": "N/A", "UniqueSize": "N/A",
                            "VirtualSize": render.size(r["Size"])}, type_name="image") for r in rows]  # fmt: skip
        typer.echo(render.templated(fmt, contexts, None if noheading else IMAGE_FIELDS), nl=False)
    else:
        table = [["REPOSITORY", "TAG", *(["DIGEST"] if digests else []), "IMAGE ID", "CREATED", "SIZE"]]
        for r in rows:
            table.append([r["Repository"], r["Tag"], *([r["Digest"]] if digests else []), shown_id(r["Id"]),
                          render.ago(r["Created"]), render.size(r["Size"])])  # fmt: skip
        typer.echo(render.format_table(table[1:] if noheading else table), nl=False)


@app.command("rmi")
def rmi(
    ctx: typer.Context,
    images: Annotated[Optional[list[str]], typer.Argument(metavar="IMAGE...")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Untag even if containers use it")] = False,
    every: Annotated[bool, typer.Option("--all", "-a", help="Every image")] = False,
) -> None:
    """Remove images."""
    sdc = _sdc(ctx)
    if every == bool(images):
        raise SdcError("give images to remove, or --all" if not every else "--all and images given",
                       hint="sdc rmi IMAGE..., or sdc rmi --all")  # fmt: skip
    refs = images or [str(image.id) for image, _ in image_cases.list_images(sdc)]
    failed: list[tuple[str, SdcError]] = []
    for ref in refs:  # each that can be removed is; what could not, said at the end in one line
        try:
            for line in image_cases.remove_image(sdc, ref, force=force):
                typer.echo(line)
        except SdcError as exc:
            failed.append((ref, exc))
    if len(failed) == 1:
        raise failed[0][1]
    if failed:
        first = failed[0][1]
        raise type(first)(f"{first.message}; and {len(failed) - 1} more could not be removed: "
                          + ", ".join(repr(ref) for ref, _ in failed[1:]), hint=first.hint)  # fmt: skip


@app.command("tag")
def tag(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="SOURCE_IMAGE[:TAG]")],
    target: Annotated[str, typer.Argument(metavar="TARGET_IMAGE[:TAG]")],
) -> None:
    """Give an image another name."""
    image_cases.tag_image(_sdc(ctx), source, target)


@app.command("history")
def history(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(metavar="IMAGE")],
    fmt: Format = "table",
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Whole steps and IDs")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only image IDs")] = False,
) -> None:
    """Show how an image was made, a line per step, newest first."""
    rows = image_cases.history(_sdc(ctx), image)
    if quiet:
        typer.echo("".join((r["Id"] if no_trunc else r["Id"].removeprefix("sha256:")[:12]) + "\n" for r in rows),
                   nl=False)  # fmt: skip
        return
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    if render.is_template(fmt):
        _show_listed(fmt, [{"ID": r["Id"] if no_trunc or r["Id"] == "<missing>" else r["Id"][7:19],
                            "CreatedSince": render.ago_iso(r["Created"]), "CreatedAt": r["Created"],
                            "CreatedBy": r["CreatedBy"] if no_trunc else render.truncate(r["CreatedBy"], 45),
                            "Size": render.size(r["Size"]), "Comment": r["Comment"]} for r in rows],
                     {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                      "Size": "SIZE", "Comment": "COMMENT"})  # fmt: skip
        return
    table = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
    for r in rows:
        iid = r["Id"] if r["Id"] == "<missing>" else r["Id"].removeprefix("sha256:")[:12]
        table.append([iid, render.ago_iso(r["Created"]), render.truncate(r["CreatedBy"], 45), render.size(r["Size"]),
                      r["Comment"]])  # fmt: skip
    typer.echo(render.format_table(table), nl=False)


image_app = typer.Typer(help="Manage images.", no_args_is_help=True)
app.add_typer(image_app, name="image")


@image_app.command("inspect")
def image_inspect(
    ctx: typer.Context,
    images: Annotated[list[str], typer.Argument(metavar="IMAGE...")],
    fmt: InspectFormat = None,
) -> None:
    """Show details of images as JSON, or through a template."""
    sdc = _sdc(ctx)
    _show_inspected([image_cases.inspect_image(sdc, ref) for ref in images], fmt, "image")


@image_app.command("prune")
def image_prune(
    ctx: typer.Context,
    every: Annotated[bool, typer.Option("--all", "-a", help="All images no container uses, not only unnamed")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask")] = False,
) -> None:
    """Remove unnamed images no container uses, and layers no image needs."""
    if not _confirmed(force, "This will remove all images without at least one container associated to them."
                      if every else "This will remove all dangling images."):  # fmt: skip
        return
    _say_pruned(*image_cases.prune_images(_sdc(ctx), every=every))


def _say_pruned(removed: list[str], freed: int) -> None:
    for iid in removed:
        typer.echo(f"Deleted: {iid}")
    typer.echo(f"Total reclaimed space: {render.size(freed)}")


builder_app = typer.Typer(help="Manage the build cache (sdc build's).", no_args_is_help=True)
app.add_typer(builder_app, name="builder")


@builder_app.command("prune")
def builder_prune(
    ctx: typer.Context,
    every: Annotated[bool, typer.Option("--all", "-a", help="The same: sdc's cache has no other part")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask")] = False,
) -> None:
    """Remove the build cache: its entries, the intermediate images no name or container holds,
    and RUN --mount=type=cache's directories."""
    del every
    if not _confirmed(force, "This will remove all build cache."):
        return
    _say_pruned(*image_cases.prune_images(_sdc(ctx), build_cache=True, dangling=False))


image_app.command("ls", help="List images.")(images_)
image_app.command("rm", help="Remove images.")(rmi)
image_app.command("tag", help="Give an image another name.")(tag)
image_app.command("history", help="Show how an image was made.")(history)


# --- networks --------------------------------------------------------------------

network_app = typer.Typer(help="Manage networks.", no_args_is_help=True)
app.add_typer(network_app, name="network")


@network_app.command("create")
def network_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME")],
    subnet: Annotated[Optional[list[str]], typer.Option(help="Its IPv4 subnet (default: a free 10.91.N.0/24); "
                                                             "again for an IPv6 one")] = None,
    ipv6: Annotated[bool, typer.Option("--ipv6", help="IPv6 too (default: a unique local /64)")] = False,
    gateway: Annotated[Optional[str], typer.Option(help="The bridge's address (default: the subnet's first)")] = None,
    internal: Annotated[bool, typer.Option("--internal", help="No way out: no route, no masquerade")] = False,
    disable_dns: Annotated[bool, typer.Option("--disable-dns", help="No names of its containers")] = False,
    driver: Annotated[str, typer.Option("--driver", "-d", help="bridge (the only one)")] = "bridge",
    ignore: Annotated[bool, typer.Option("--ignore", help="One of the name there already is no error (it is "
                      "kept as it is)")] = False,
) -> None:
    """Create a network: a bridge of its own, where containers find each other by name."""
    from sdcontainer.api import networks as network_cases
    from sdcontainer.errors import NotFound
    from sdcontainer.network import find_network

    if ignore:
        with contextlib.suppress(NotFound):
            typer.echo(find_network(_sdc(ctx).paths, name).id)
            return

    if driver != "bridge":
        raise SdcError(f"network driver {driver!r} is not sdc's", hint="sdc's networks are bridges: --driver bridge")
    subnets = subnet or []
    v4, v6 = [s for s in subnets if ":" not in s], [s for s in subnets if ":" in s]
    if len(v4) > 1 or len(v6) > 1:
        raise SdcError("more than one --subnet of a kind", hint="give one IPv4 subnet and, with --ipv6, one IPv6 one")
    network = network_cases.create_network(_sdc(ctx), name, subnet=v4[0] if v4 else None, gateway=gateway,
                                           internal=internal, dns=not disable_dns, ipv6=ipv6 or bool(v6),
                                           subnet6=v6[0] if v6 else None)  # fmt: skip
    typer.echo(network.id)


NETWORK_FIELDS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
                  "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT", "Subnet": "SUBNET",
                  "Gateway": "GATEWAY", "Containers": "CONTAINERS"}  # fmt: skip


@network_app.command("ls")
def network_ls(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only network names")] = False,
    fmt: Format = "table",
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Show whole network IDs")] = False,
    noheading: Annotated[bool, typer.Option("--noheading", help="No header line")] = False,
) -> None:
    """List networks."""
    from sdcontainer.api import networks as network_cases

    found = network_cases.list_networks(_sdc(ctx))
    if render.is_template(fmt):
        rows = [{"ID": n.id if no_trunc else n.id[:12], "Name": n.name, "Driver": "bridge", "Scope": "local",
                 "IPv6": bool(n.subnet6), "Internal": n.internal, "Labels": "",
                 "CreatedAt": render.local_time(n.created), "Subnet": n.subnet, "Gateway": n.gateway,
                 "Containers": len(users)} for n, users in found]  # fmt: skip
        _show_listed(fmt, rows, NETWORK_FIELDS, noheading=noheading)
    elif quiet:
        for network, _ in found:
            typer.echo(network.name)
    elif fmt == "json":
        typer.echo(json.dumps([{"Name": n.name, "Id": n.id, "Driver": "bridge", "Subnet": n.subnet,
                                "Subnet6": n.subnet6, "Gateway": n.gateway, "Internal": n.internal, "DNSEnabled": n.dns,
                                "Bridge": n.bridge, "Containers": users} for n, users in found], indent=2))  # fmt: skip
    else:
        table = [["NETWORK ID", "NAME", "DRIVER", "SUBNET", "CONTAINERS"]]
        for n, users in found:
            table.append([n.id if no_trunc else n.id[:12], n.name, "bridge", n.subnet, str(len(users))])
        typer.echo(render.format_table(table), nl=False)


@network_app.command("inspect")
def network_inspect(
    ctx: typer.Context,
    networks: Annotated[list[str], typer.Argument(metavar="NETWORK...")],
    fmt: InspectFormat = None,
) -> None:
    """Show details of networks as JSON (or through a template), with their containers."""
    from sdcontainer.api import networks as network_cases

    sdc = _sdc(ctx)
    _show_inspected([network_cases.inspect_network(sdc, ref) for ref in networks], fmt, "network")


@network_app.command("rm")
def network_rm(
    ctx: typer.Context,
    networks: Annotated[list[str], typer.Argument(metavar="NETWORK...")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Remove its containers too")] = False,
) -> None:
    """Remove networks no container is on (with -f, their containers too)."""
    from sdcontainer.api import networks as network_cases

    for name in network_cases.remove_networks(_sdc(ctx), networks, force=force):
        typer.echo(name)


@network_app.command("prune")
def network_prune(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask")] = False,
) -> None:
    """Remove every network of yours that no container is on."""
    from sdcontainer.api import networks as network_cases

    if not _confirmed(force, "This will remove all custom networks not used by at least one container."):
        return
    removed = network_cases.prune_networks(_sdc(ctx))
    if removed:
        typer.echo("Deleted Networks:")
    for name in removed:
        typer.echo(name)


@network_app.command("connect")
def network_connect(
    ctx: typer.Context,
    network: Annotated[str, typer.Argument(metavar="NETWORK")],
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    alias: Annotated[Optional[list[str]], typer.Option("--alias", help="Another name it has there")] = None,
    ip: Annotated[Optional[str], typer.Option("--ip", help="Its address there (default: a free one)")] = None,
) -> None:
    """Connect a container to one more network (a running one at once, as eth1, eth2, ...)."""
    from sdcontainer.api import networks as network_cases

    network_cases.connect(_sdc(ctx), network, container, aliases=alias or (), ip=ip or "")


@network_app.command("disconnect")
def network_disconnect(
    ctx: typer.Context,
    network: Annotated[str, typer.Argument(metavar="NETWORK")],
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Accepted, as Docker's (sdc never forces)")] = False,
) -> None:
    """Disconnect a container from a network (a running one at once)."""
    from sdcontainer.api import networks as network_cases

    del force
    network_cases.disconnect(_sdc(ctx), network, container)


network_app.command("remove", help="Remove networks (as rm).", hidden=True)(network_rm)
network_app.command("list", help="List networks (as ls).", hidden=True)(network_ls)


# --- pods ------------------------------------------------------------------------

pod_app = typer.Typer(help="Manage pods: containers sharing a network, IPC and UTS namespaces.",
                      no_args_is_help=True)  # fmt: skip
app.add_typer(pod_app, name="pod")


@pod_app.command("create")
def pod_create(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Option("--name", "-n", help="Its name (default: a generated one)")] = None,
    publish: Annotated[Optional[list[str]], typer.Option("--publish", "-p", help="Publish a port of its containers': "
                       "[IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp|sctp]")] = None,
    network: Annotated[Optional[str], typer.Option("--network", "--net", help="bridge (the default), a network's "
                       "name, none or host")] = None,
    hostname: Annotated[Optional[str], typer.Option("--hostname", help="Its containers' hostname [its name]")] = None,
    share: Annotated[Optional[str], typer.Option("--share", help="The namespaces its containers share: net, ipc, "
                     "uts (comma-separated; net always)")] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="KEY=VALUE")] = None,
    ip: Annotated[Optional[str], typer.Option("--ip", help="Its address on its network")] = None,
) -> None:
    """Create a pod (started by its first container, or `sdc pod start`); print its ID."""
    from sdcontainer.api import pods

    labels = [text if "=" in text else f"{text}=" for text in label or []]
    pod = pods.create(_sdc(ctx), name=name or "", publish=publish or (), network=network or "",
                      hostname=hostname or "", share=None if share is None else [share], labels=labels,
                      ip=ip or "")  # fmt: skip
    typer.echo(pod.id)


POD_FIELDS = {"ID": "POD ID", "Name": "NAME", "Status": "STATUS", "Created": "CREATED", "NumberOfContainers":
              "# OF CONTAINERS", "Networks": "NETWORKS", "Labels": "LABELS"}  # fmt: skip


@pod_app.command("ls")
def pod_ls(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only pod IDs")] = False,
    fmt: Format = "table",
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Show whole pod IDs")] = False,
    noheading: Annotated[bool, typer.Option("--noheading", help="No header line")] = False,
) -> None:
    """List pods."""
    from sdcontainer.api import pods

    found = pods.listing(_sdc(ctx))
    if render.is_template(fmt):
        rows = [{"ID": p["Id"] if no_trunc else p["Id"][:12], "Name": p["Name"], "Status": p["Status"],
                 "Created": render.ago(p["Created"]), "NumberOfContainers": len(p["Containers"]),
                 "Networks": ",".join(p["Networks"]),
                 "Labels": ",".join(f"{k}={v}" for k, v in p["Labels"].items())} for p in found]  # fmt: skip
        _show_listed(fmt, rows, POD_FIELDS, noheading=noheading)
    elif quiet:
        for p in found:
            typer.echo(p["Id"] if no_trunc else p["Id"][:12])
    elif fmt == "json":
        typer.echo(json.dumps(found, indent=2))
    else:
        table = [["POD ID", "NAME", "STATUS", "CREATED", "# OF CONTAINERS"]]
        for p in found:
            table.append([p["Id"] if no_trunc else p["Id"][:12], p["Name"], p["Status"], render.ago(p["Created"]),
                          str(len(p["Containers"]))])  # fmt: skip
        typer.echo(render.format_table(table[1:] if noheading else table), nl=False)


@pod_app.command("inspect")
def pod_inspect(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="POD...")],
    fmt: InspectFormat = None,
) -> None:
    """Show details of pods as JSON (or through a template)."""
    from sdcontainer.api import pods

    sdc = _sdc(ctx)
    _show_inspected([pods.inspect(sdc, ref) for ref in refs], fmt, "pod")


@pod_app.command("start")
def pod_start(ctx: typer.Context, refs: Annotated[list[str], typer.Argument(metavar="POD...")]) -> None:
    """Start pods: their namespaces made, then their containers."""
    from sdcontainer.api import pods

    for pod in pods.start(_sdc(ctx), refs):
        typer.echo(pod.id)


@pod_app.command("stop")
def pod_stop(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="POD...")],
    time_: Annotated[Optional[int], typer.Option("--time", "-t", help="Seconds each container has before "
                     "SIGKILL [default: its stop timeout]")] = None,
) -> None:
    """Stop pods: their containers (stop signal, then SIGKILL), then their namespaces."""
    from sdcontainer.api import pods

    for pod in pods.stop(_sdc(ctx), refs, timeout=time_):
        typer.echo(pod.id)


@pod_app.command("rm")
def pod_rm(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="POD...")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Remove its containers too, running or not")] = False,
) -> None:
    """Remove pods with no containers (with -f, and their containers)."""
    from sdcontainer.api import pods

    for pod in pods.remove(_sdc(ctx), refs, force=force):
        typer.echo(pod.id)


pod_app.command("ps", help="List pods (as ls).", hidden=True)(pod_ls)
pod_app.command("list", help="List pods (as ls).", hidden=True)(pod_ls)
pod_app.command("remove", help="Remove pods (as rm).", hidden=True)(pod_rm)


@app.command("auto-update")
def auto_update(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say which would be updated; change nothing")] = False,
    rollback: Annotated[bool, typer.Option("--rollback/--no-rollback", help="Make one whose new image fails "
                        "again from its old one")] = True,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Update running containers labelled io.containers.autoupdate=registry (or local): made again
    from their image's reference when it has moved (units/sdc-auto-update.timer runs this daily)."""
    from sdcontainer.api import autoupdate

    if fmt not in ("table", "json"):
        raise SdcError(f"invalid --format {fmt[:40]!r}", hint="table or json")
    found = autoupdate.auto_update(_sdc(ctx), dry_run=dry_run, rollback=rollback)
    rows = [{"Unit": u.unit, "Container": u.container, "Image": u.image, "Policy": u.policy, "Updated": u.updated}
            for u in found]  # fmt: skip
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
    else:
        table = [["UNIT", "CONTAINER", "IMAGE", "POLICY", "UPDATED"], *[list(r.values()) for r in rows]]
        typer.echo(render.format_table(table), nl=False)
    if any(u.updated not in ("true", "false", "pending") for u in found):  # failed, or rolled back
        raise typer.Exit(1)


# --- Kubernetes YAML ----------------------------------------------------------------

kube_app = typer.Typer(help="Kubernetes YAML: play a file's pods (v1 Pod, apps/v1 Deployment, v1 ConfigMap), "
                       "take them down.", no_args_is_help=True)  # fmt: skip
app.add_typer(kube_app, name="kube")


@kube_app.command("play")
def kube_play(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="The YAML file (- for stdin)")],
    network: Annotated[Optional[str], typer.Option("--network", "--net", help="The pods' network (default: "
                       "bridge; hostNetwork: true is the host's)")] = None,
    replace_: Annotated[bool, typer.Option("--replace", help="Remove the file's pods first if they are there")] = False,
) -> None:
    """Make the file's pods and run their containers: a pod each (`sdc pod`), a container each
    (`run -d --pod`). Fields sdc does not play are errors that name them."""
    from sdcontainer.kube import play

    for pod, made in play.play(_sdc(ctx), play.read(file), network=network or "", replace_pods=replace_):
        typer.echo(f"Pod:\n{pod.id}\nContainers:")
        for container in made:
            typer.echo(container.id)


@kube_app.command("down")
def kube_down(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="The YAML file played (- for stdin)")],
) -> None:
    """Remove the file's pods, their containers and their emptyDir volumes (claims' volumes stay)."""
    from sdcontainer.kube import play

    removed = play.down(_sdc(ctx), play.read(file))
    if removed:
        typer.echo("Pods removed:")
    for name in removed:
        typer.echo(name)


@kube_app.command("generate")
def kube_generate(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="POD|CONTAINER...")],
    filename: Annotated[Optional[str], typer.Option("--filename", "-f", help="Write it to this file")] = None,
) -> None:
    """Print a pod (or a container) as a Kubernetes v1 Pod, with its ConfigMaps: `kube play` plays
    it back, `kubectl apply` takes it."""
    from sdcontainer.kube import generate

    text = generate.generate(_sdc(ctx), refs)
    if filename:
        pathlib.Path(filename).write_text(text)
    else:
        typer.echo(text, nl=False)


# --- volumes ---------------------------------------------------------------------

volume_app = typer.Typer(help="Manage volumes.", no_args_is_help=True)
app.add_typer(volume_app, name="volume")


def _labels(values: Optional[list[str]]) -> dict[str, str]:
    labels = {}
    for value in values or []:
        key, _, text = value.partition("=")
        if not key:
            raise SdcError(f"invalid --label {value!r}", hint="give KEY=VALUE (or KEY)")
        labels[key] = text
    return labels


@volume_app.command("create")
def volume_create(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(metavar="[NAME]")] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="KEY=VALUE, kept with it")] = None,
    driver: Annotated[str, typer.Option("--driver", "-d", help="local (the only one)")] = "local",
    opt: Annotated[Optional[list[str]], typer.Option("--opt", "-o", help="Driver options: none here")] = None,
) -> None:
    """Create a volume (a btrfs subvolume of the store's; a directory on overlay and vfs)."""
    from sdcontainer.api import volumes as volume_cases

    if driver != "local":
        raise SdcError(f"volume driver {driver!r} is not sdc's", hint="sdc's volumes are the store's: --driver local")
    if opt:
        raise SdcError(f"--opt {opt[0]!r}: sdc's volumes take no driver options",
                       hint="for a tmpfs use run --tmpfs; for a host directory, bind it: -v /path:/dest")  # fmt: skip
    typer.echo(volume_cases.create_volume(_sdc(ctx), name, labels=_labels(label)))


def _volume_filter(values: Optional[list[str]]) -> Callable[[dict[str, Any]], bool]:
    """`volume ls --filter`s, Docker's: dangling=true|false, name=TEXT, label=KEY[=VALUE], driver=local."""
    wanted = []
    for value in values or []:
        key, eq, text = value.partition("=")
        if not eq or key not in ("dangling", "name", "label", "driver") or (
                key == "dangling" and text not in ("true", "false", "1", "0")):  # fmt: skip
            raise SdcError(f"invalid --filter {value!r}", hint="use dangling=true|false, name=TEXT, label=KEY[=VALUE]")
        wanted.append((key, text))

    def keep(volume: dict[str, Any]) -> bool:
        for key, text in wanted:
            label, has_value, label_value = text.partition("=")
            if ((key == "dangling" and (not volume["UsedBy"]) != (text in ("true", "1")))
                    or (key == "name" and text not in volume["Name"]) or (key == "driver" and text != "local")
                    or (key == "label" and (label not in volume["Labels"]
                                            or (has_value and volume["Labels"][label] != label_value)))):  # fmt: skip
                return False
        return True

    return keep


VOLUME_FIELDS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
                 "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "CreatedAt": "CREATED AT"}  # fmt: skip


@volume_app.command("ls")
def volume_ls(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only volume names")] = False,
    fmt: Format = "table",
    filters: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="dangling=true, name=, label=")] = None,
    noheading: Annotated[bool, typer.Option("--noheading", help="No header line")] = False,
) -> None:
    """List volumes."""
    from sdcontainer.api import volumes as volume_cases

    keep = _volume_filter(filters)
    found = [v for v in volume_cases.list_volumes(_sdc(ctx)) if keep(v)]
    if render.is_template(fmt):
        rows = [{"Name": v["Name"], "Driver": "local", "Scope": "local", "Mountpoint": v["Mountpoint"],
                 "Labels": ",".join(f"{k}={x}" for k, x in v["Labels"].items()), "Links": str(len(v["UsedBy"])),
                 "Size": "N/A", "CreatedAt": v["CreatedAt"]} for v in found]  # fmt: skip
        _show_listed(fmt, rows, VOLUME_FIELDS, noheading=noheading)
    elif quiet:
        typer.echo("".join(v["Name"] + "\n" for v in found), nl=False)
    elif fmt == "json":
        typer.echo(json.dumps(found, indent=2))
    else:
        table = [["DRIVER", "VOLUME NAME"], *[["local", v["Name"]] for v in found]]
        typer.echo(render.format_table(table[1:] if noheading else table), nl=False)


@volume_app.command("inspect")
def volume_inspect(
    ctx: typer.Context,
    volumes: Annotated[list[str], typer.Argument(metavar="VOLUME...")],
    fmt: InspectFormat = None,
) -> None:
    """Show details of volumes as JSON (or through a template), with the containers that use them."""
    from sdcontainer.api import volumes as volume_cases

    sdc = _sdc(ctx)
    _show_inspected([volume_cases.inspect_volume(sdc, name) for name in volumes], fmt, "volume")


@volume_app.command("rm")
def volume_rm(
    ctx: typer.Context,
    volumes: Annotated[list[str], typer.Argument(metavar="VOLUME...")],
    force: Annotated[bool, typer.Option("--force", "-f", help="No error for a volume that is not there")] = False,
) -> None:
    """Remove volumes no container uses (a stopped container uses its volumes too)."""
    from sdcontainer.api import volumes as volume_cases

    for name in volume_cases.remove_volumes(_sdc(ctx), volumes, force=force):
        typer.echo(name)


@volume_app.command("prune")
def volume_prune(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask")] = False,
    every: Annotated[bool, typer.Option("--all", "-a", help="Accepted, as Docker's: every unused volume goes "
                                                             "(named ones too, as Podman's prune)")] = False,
) -> None:
    """Remove every volume no container uses."""
    from sdcontainer.api import volumes as volume_cases

    if not _confirmed(force, "This will remove all local volumes not used by at least one container."):
        return
    del force, every
    removed = volume_cases.prune_volumes(_sdc(ctx))
    if removed:
        typer.echo("Deleted Volumes:")
    for name in removed:
        typer.echo(name)


volume_app.command("remove", help="Remove volumes (as rm).", hidden=True)(volume_rm)
volume_app.command("list", help="List volumes (as ls).", hidden=True)(volume_ls)


# --- containers ------------------------------------------------------------------


def run(ctx: typer.Context, image: str, command: Optional[list[str]] = None, **flags: Any) -> None:
    """Run a command in a new container, as a transient systemd unit."""
    spec = build_run_spec(image=image, command=command, **flags)
    sdc = _sdc(ctx)  # flags are checked before root is: a typo gets its own message
    if spec.detach:
        typer.echo(run_cases.run_detached(sdc, spec).id)
        return
    raise typer.Exit(run_cases.run_foreground(sdc, spec))


def create(ctx: typer.Context, image: str, command: Optional[list[str]] = None, **flags: Any) -> None:
    """Create a container, and run nothing: `sdc start` runs it. Prints its ID."""
    spec = build_run_spec(image=image, command=command, **flags)
    typer.echo(run_cases.create_only(_sdc(ctx), spec).id)


def _option(flag: RunFlag) -> Parameter:
    """A RUN_FLAGS entry as the typer parameter it is."""
    if flag.kind is bool:
        kind: Any = bool
    elif flag.kind is list:
        kind = Optional[list[str]]
    else:
        kind = Optional[flag.kind] if flag.default is None else flag.kind
    return Parameter(flag.param, Parameter.KEYWORD_ONLY, default=flag.default,
                             annotation=Annotated[kind, typer.Option(*flag.names, help=flag.help)])  # fmt: skip


# typer reads a command's options off its signature: run's and create's are made from
# spec.RUN_FLAGS, where each flag is declared once for typer and for entry.py's fast path alike.
run.__signature__ = create.__signature__ = Signature(  # type: ignore[attr-defined]
    [
        Parameter("ctx", Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        Parameter("image", Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[str, typer.Argument(metavar="IMAGE")]),
        Parameter("command", Parameter.POSITIONAL_OR_KEYWORD, default=None,
                  annotation=Annotated[Optional[list[str]], typer.Argument(metavar="[COMMAND] [ARG...]")]),
        *(_option(flag) for flag in RUN_FLAGS),
    ]
)  # fmt: skip
app.command("run", context_settings={"allow_interspersed_args": False})(run)
app.command("create", context_settings={"allow_interspersed_args": False})(create)


@app.command()
def start(
    ctx: typer.Context,
    containers: SomeContainers = None,
    attach: Annotated[bool, typer.Option("--attach", "-a", help="Run it in the foreground; its exit status is sdc's")]
    = False,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="With -a: your stdin is its stdin")]
    = False,
    every: Annotated[bool, typer.Option("--all", help="Every container that is not running")] = False,  # -a: attach
) -> None:
    """Start containers again, over the files they kept: each in a fresh transient unit."""
    sdc = _sdc(ctx)
    containers = _chosen(ctx, containers, every, ("created", "exited"))
    if attach:
        if len(containers) != 1:
            _fail("start --attach takes one container", "start the others without -a", 125)
        raise typer.Exit(run_cases.start(sdc, containers[0], attach=True, interactive=interactive))
    _each(ctx, containers, run_cases.start)


@app.command()
def restart(
    ctx: typer.Context,
    containers: SomeContainers = None,
    time_: Annotated[Optional[int], typer.Option("--time", "-t", help="Seconds to wait before SIGKILL")] = None,
    every: Every = False,
    running: Annotated[bool, typer.Option("--running", help="With --all: the running ones only")] = False,
) -> None:
    """Stop containers (as stop does) and start them again, detached."""
    containers = _chosen(ctx, containers, every, ("running", "paused") if running else ())
    foreign = run_cases.foreign_units(_sdc(ctx), containers)  # (their stop removes them: their units make them)
    lifecycle.stop(_sdc(ctx), containers, timeout=time_)
    _each(ctx, [c for c in containers if c not in foreign], run_cases.start)
    for unit in foreign.values():
        run_cases.start_unit_again(_sdc(ctx), unit)


def _chosen(ctx: typer.Context, refs: Optional[list[str]], every: bool, states: tuple[str, ...] = ()) -> list[str]:
    """The containers a command acts on: those named, or with --all each one (in one of states,
    when given), newest first, as Podman's --all."""
    if every and refs:
        raise SdcError("--all and containers given", hint="name containers, or give --all")
    if not every:
        if not refs:
            raise SdcError("no container given", hint="name one or more, or give --all")
        return refs
    return [s.container.name for s in lifecycle.status(_sdc(ctx)) if not states or s.state in states]


def _each(ctx: typer.Context, refs: list[str], action: Callable[[Context, str], object]) -> None:
    """action on each container in turn, its name echoed once done (as Docker's commands say)."""
    sdc = _sdc(ctx)
    for ref in refs:
        action(sdc, ref)
        typer.echo(ref)


@app.command()
def enable(ctx: typer.Context, containers: Containers) -> None:
    """Make containers come back after a reboot: enabled sdc@NAME.service units (units/sdc@.service)."""
    _each(ctx, containers, lambda sdc, ref: run_cases.enable(sdc, lifecycle.find(sdc, ref)))


@app.command()
def disable(ctx: typer.Context, containers: Containers) -> None:
    """Containers no longer start at boot (they keep running, and `sdc start` starts them)."""
    _each(ctx, containers, lambda sdc, ref: run_cases.disable(sdc, lifecycle.find(sdc, ref)))


@app.command()
def wait(ctx: typer.Context, containers: Containers) -> None:
    """Block until containers stop; print each one's exit code."""
    sdc = _sdc(ctx)
    for ref in containers:
        typer.echo(lifecycle.wait(sdc, ref))


@app.command()
def pause(ctx: typer.Context, containers: SomeContainers = None, every: Every = False) -> None:
    """Freeze every process of running containers."""
    _each(ctx, _chosen(ctx, containers, every, ("running",)), lifecycle.pause)


@app.command()
def unpause(ctx: typer.Context, containers: SomeContainers = None, every: Every = False) -> None:
    """Let the processes of paused containers go on."""
    _each(ctx, _chosen(ctx, containers, every, ("paused",)), lifecycle.unpause)


@app.command("ps")
def ps(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Show stopped containers too")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only container IDs")] = False,
    fmt: Format = "table",
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Whole IDs and commands")] = False,
    noheading: Annotated[bool, typer.Option("--noheading", help="No header line")] = False,
    last: Annotated[Optional[int], typer.Option("--last", "-n", help="The N newest, in any state")] = None,
    latest: Annotated[bool, typer.Option("--latest", "-l", help="The newest, in any state")] = False,
    filters: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="id=, name=, label=KEY[=VALUE], "
                       "status=, exited=, ancestor=, before=, since=, volume=, network=, publish=, expose=, "
                       "pod=")] = None,
    sort: Annotated[str, typer.Option("--sort", help="created (newest first), names, id, image, command or status",
                                      click_type=click.Choice(render.PS_SORT))] = "created",
    size: Annotated[bool, typer.Option("--size", "-s", help="What each one's writable layer holds, and with "
                                       "its image's (virtual)")] = False,
    pod: Annotated[bool, typer.Option("--pod", "-p", help="A column of each one's pod")] = False,
) -> None:
    """List containers."""
    sdc = _sdc(ctx)
    listed = lifecycle.status(sdc)
    options = lifecycle.ps_options(listed, all_=all_, quiet=quiet, fmt=fmt, no_trunc=no_trunc, noheading=noheading,
                                   last=last, latest=latest, filters=filters or [], sort=sort, size=size, pod=pod,
                                   ctx=sdc)  # fmt: skip
    typer.echo(render.format_ps(listed, **options), nl=False)


@app.command()
def stop(
    ctx: typer.Context,
    containers: SomeContainers = None,
    time_: Annotated[
        Optional[int],
        typer.Option("--time", "-t", help="Seconds to wait before SIGKILL [default: the container's stop timeout, 10]"),
    ] = None,
    every: Every = False,
    ignore: Annotated[bool, typer.Option("--ignore", "-i", help="No error for a container that is not there")] = False,
) -> None:
    """Stop running containers: stop signal, then SIGKILL after the timeout."""
    containers = _chosen(ctx, containers, every, ("running", "paused", "restarting"))
    if ignore:
        containers = _present(ctx, containers)
    lifecycle.stop(_sdc(ctx), containers, timeout=time_)
    typer.echo("".join(ref + "\n" for ref in containers), nl=False)


@app.command()
def kill(
    ctx: typer.Context,
    containers: SomeContainers = None,
    signal: Annotated[str, typer.Option("--signal", "-s", help="Signal to send")] = "KILL",
    every: Every = False,
) -> None:
    """Send a signal to running containers."""
    chosen = _chosen(ctx, containers, every, ("running", "paused"))
    _each(ctx, chosen, lambda sdc, ref: lifecycle.kill(sdc, ref, signal))


def _present(ctx: typer.Context, refs: list[str]) -> list[str]:
    """Those of refs that name a container (--ignore, and rm -f, pass over the others in silence)."""
    from sdcontainer.errors import NotFound

    found = []
    for ref in refs:
        with contextlib.suppress(NotFound):
            lifecycle.find(_sdc(ctx), ref)
            found.append(ref)
    return found


def exec_(ctx: typer.Context, container: str, command: list[str], **flags: Any) -> None:
    """Run a command in a running container; its exit status is sdc's."""
    from sdcontainer.api import enter

    code = enter.exec_in(_sdc(ctx), container, command, env=flags["env"] or [], workdir=flags["workdir"] or "",
                         user=flags["user"] or "", detach=flags["detach"], tty=flags["tty"],
                         interactive=flags["interactive"])  # fmt: skip
    raise typer.Exit(code)


# exec's flags are run's (RUN_FLAGS: one declaration of each name and type), told for exec.
EXEC_HELP = {
    "detach": "Run it in the background",
    "env": "Set NAME=VALUE; NAME alone passes on yours",
    "workdir": "Working directory [default: the container's]",
    "user": "USER[:GROUP], names or ids [default: the container's]",
    "interactive": "Keep stdin open: yours is its (without it, its stdin is /dev/null)",
    "tty": "A terminal of its own, relayed to yours",
}
exec_.__signature__ = Signature(  # type: ignore[attr-defined]
    [
        Parameter("ctx", Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        Parameter("container", Parameter.POSITIONAL_OR_KEYWORD,
                  annotation=Annotated[str, typer.Argument(metavar="CONTAINER")]),
        Parameter("command", Parameter.POSITIONAL_OR_KEYWORD,
                  annotation=Annotated[list[str], typer.Argument(metavar="COMMAND [ARG...]")]),
        *(_option(replace(flag, help=EXEC_HELP[flag.param])) for flag in RUN_FLAGS
          if flag.param in EXEC_HELP),
    ]
)  # fmt: skip
app.command("exec", context_settings={"allow_interspersed_args": False})(exec_)


def update(ctx: typer.Context, containers: list[str], **limits: Any) -> None:
    """Change containers' limits, at once while they run (systemd's SetUnitProperties), and for their next starts."""
    sdc = _sdc(ctx)
    for ref in containers:
        lifecycle.update(sdc, ref, **limits)
        typer.echo(ref)


update.__signature__ = Signature(  # type: ignore[attr-defined]
    [
        Parameter("ctx", Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        Parameter("containers", Parameter.POSITIONAL_OR_KEYWORD, annotation=Containers),
        *(_option(flag) for flag in RUN_FLAGS if flag.param in LIMIT_FLAGS),
    ]
)  # fmt: skip
app.command("update")(update)


@app.command()
def rename(
    ctx: typer.Context,
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    name: Annotated[str, typer.Argument(metavar="NEW_NAME")],
) -> None:
    """Give a container that is not running a new name (its unit's, machined's, its DNS name's)."""
    from sdcontainer.api import rename as renaming

    renaming.rename(_sdc(ctx), container, name)


@app.command()
def rm(
    ctx: typer.Context,
    containers: SomeContainers = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Kill and remove running containers (and no error "
                                                             "for one that is not there, as Podman's)")] = False,
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Remove their anonymous volumes too")] = False,
    every: Every = False,
    ignore: Annotated[bool, typer.Option("--ignore", "-i", help="No error for a container that is not there")] = False,
    time_: Annotated[Optional[int], typer.Option("--time", "-t", help="With -f: seconds its stop signal has before "
                                                                      "SIGKILL [default: SIGKILL at once]")] = None,
) -> None:
    """Remove containers (those that are there: a name that is not is said at the end, as Docker's)."""
    from sdcontainer.errors import NotFound

    containers = _chosen(ctx, containers, every)
    if force or ignore:
        containers = _present(ctx, containers)
    if force and time_ is not None:  # Podman's: a stop with that timeout first, then the removal
        lifecycle.stop(_sdc(ctx), containers, timeout=time_)
    missing: list[str] = []
    lifecycle.remove(_sdc(ctx), containers, force=force, volumes=volumes, missing=missing)
    typer.echo("".join(ref + "\n" for ref in containers if ref not in missing), nl=False)
    if missing:
        raise NotFound(f"no such container: {', '.join(missing)}", hint="`sdc ps -a` lists the containers here")


@app.command()
def diff(
    ctx: typer.Context,
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
) -> None:
    """Show what a container changed in its files: A added, C changed, D deleted."""
    for kind, path in lifecycle.diff(_sdc(ctx), container):
        typer.echo(f"{kind} {path}")


@app.command()
def build(
    ctx: typer.Context,
    context: Annotated[str, typer.Argument(metavar="CONTEXT", help="The directory COPY reads from; - for none "
                                           "(the Containerfile on standard input)")],
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="Name the image NAME[:TAG]")] = None,
    file: Annotated[Optional[str], typer.Option("--file", "-f", help="The Containerfile [CONTEXT/Containerfile, "
                                                "else CONTEXT/Dockerfile]; - for standard input")] = None,
    build_arg: Annotated[Optional[list[str]], typer.Option("--build-arg", help="NAME=VALUE for an ARG (NAME "
                                                           "alone: this environment's value)")] = None,
    target: Annotated[str, typer.Option("--target", help="Build this stage (its name) and those it needs")] = "",
    no_cache: Annotated[bool, typer.Option("--no-cache/--cache", help="Run every step again")] = False,
    pull: Annotated[bool, typer.Option("--pull/--no-pull", help="Pull the FROM images even if the store has them")]
    = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the image's ID alone")] = False,
    iidfile: Annotated[Optional[str], typer.Option("--iidfile", help="Write the image's ID to this file")] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", help="KEY=VALUE on the image")] = None,
    rm: Annotated[bool, typer.Option("--rm/--no-rm", help="Remove a RUN step's container (--rm=false keeps a "
                                     "failed one's)")] = True,
    force_rm: Annotated[bool, typer.Option("--force-rm/--no-force-rm", help="Remove a failed step's container "
                                           "whatever --rm says")] = False,
    network: Annotated[str, typer.Option("--network", help="RUN's network: sdc's default, none or host")] = "",
    squash: Annotated[bool, typer.Option("--squash/--no-squash", help="The image's new layers made one")] = False,
    squash_all: Annotated[bool, typer.Option("--squash-all/--no-squash-all", help="All the image's layers, its "
                                             "base's too, made one")] = False,
    layers: Annotated[bool, typer.Option("--layers/--no-layers", help="Cache each step (--layers=false: none "
                                         "cached, each stage one layer over its base)")] = True,
) -> None:
    """Build an image from a Containerfile (Dockerfile): each step a layer, cached by content."""
    from sdcontainer.build import command as build_cases

    image = build_cases.build(_sdc(ctx), context, file=file, tags=tag or [], build_args=build_arg or [],
                              target=target, no_cache=no_cache, pull=pull, quiet=quiet, labels=label or [],
                              remove=rm, force_remove=force_rm, network=network,
                              squash="all" if squash_all else "new" if squash else "", layers=layers)  # fmt: skip
    if iidfile:
        from sdcontainer.files import write_atomically

        write_atomically(iidfile, str(image.id).encode())
    typer.echo(str(image.id) if quiet else f"{image.id}")


@app.command()
def commit(
    ctx: typer.Context,
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    repository: Annotated[Optional[str], typer.Argument(metavar="[REPOSITORY[:TAG]]")] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Commit message")] = "",
    author: Annotated[str, typer.Option("--author", "-a", help='Author, e.g. "Name <mail>"')] = "",
    change: Annotated[
        Optional[list[str]], typer.Option("--change", "-c", help="A Dockerfile instruction: CMD, ENV, USER...")
    ] = None,
    pause: Annotated[
        bool, typer.Option("--pause/--no-pause", "-p", help="Freeze a running container while its changes are read")
    ] = True,
) -> None:
    """Make an image of a container's changes: its image and one more layer."""
    image = image_cases.commit(_sdc(ctx), container, repository, message=message, author=author,
                               changes=change or [], pause=pause)  # fmt: skip
    typer.echo(image.id)


@app.command()
def logs(
    ctx: typer.Context,
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow the output until the container stops")] = False,
    since: Annotated[Optional[str], typer.Option("--since", help="Since 10m, 1h30m, 2026-12-05T10:00:00Z, Unix "
                                                                  "seconds, or journalctl's '10 min ago'")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Until such a time (as --since)")] = None,
    tail: Annotated[Optional[str], typer.Option("--tail", "-n", help="Only the last N lines (or all)")] = None,
    timestamps: Annotated[bool, typer.Option("--timestamps", "-t", help="Each line after its time")] = False,
) -> None:
    """Show a container's output (detached or foreground), from the journal; with -f, until it stops."""
    from sdcontainer.api import logs as log_cases

    sys.stdout.flush()
    first = log_cases.journal_time(since, flag="--since") if since is not None else None
    last = log_cases.journal_time(until, flag="--until") if until is not None else None
    lines = log_cases.parse_tail(tail)
    if follow:
        if last:
            raise SdcError("--until and --follow together", hint="follow (-f) until the container stops, or "
                           "show what it wrote until a time (--until)")  # fmt: skip
        raise typer.Exit(log_cases.follow_logs(_sdc(ctx), container, since=first, tail=lines, timestamps=timestamps))
    raise typer.Exit(log_cases.show_logs(_sdc(ctx), container, since=first, until=last, tail=lines,
                                         timestamps=timestamps))  # fmt: skip


@app.command("cp")
def cp(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="SRC", help="CONTAINER:PATH, a host path, or - (a tar stream)")],
    dest: Annotated[str, typer.Argument(metavar="DEST", help="CONTAINER:PATH, a host path, or - (a tar stream)")],
    archive: Annotated[bool, typer.Option("--archive", "-a", help="Keep owners and setuid bits")] = False,
    follow: Annotated[bool, typer.Option("--follow-link", "-L", help="Copy what a symlink SRC points to")] = False,
) -> None:
    """Copy files between a container (running or not) and the host."""
    from sdcontainer.api import copy as copy_cases

    if dest == "-" and sys.stdout.isatty():
        raise SdcError("refusing to write a tar stream to a terminal", hint="redirect stdout, or pipe it: | tar t")
    copy_cases.copy(_sdc(ctx), source, dest, archive=archive, follow=follow)


@app.command("export")
def export(
    ctx: typer.Context,
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to a file, not stdout")] = None,
) -> None:
    """Write a container's files (not its volumes) as a tar archive."""
    from sdcontainer.api import copy as copy_cases

    sdc = _sdc(ctx)
    if output in (None, "-"):
        if sys.stdout.isatty():
            raise SdcError("refusing to write an archive to a terminal", hint="give -o FILE or redirect stdout")
        copy_cases.export(sdc, container, sys.stdout.buffer)
        return
    with _output_file(output) as stream:
        copy_cases.export(sdc, container, stream)


@app.command()
def stats(
    ctx: typer.Context,
    containers: Annotated[Optional[list[str]], typer.Argument(metavar="[CONTAINER...]")] = None,
    every: Annotated[bool, typer.Option("--all", "-a", help="Stopped containers too")] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="One table, not a live one")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table, json (a line each) or a Go template: "
                                                      "'{{.Name}} {{.CPUPerc}}'")] = "table",
    interval: Annotated[float, typer.Option("--interval", help="Seconds between samples")] = 1.0,
) -> None:
    """What containers use, as systemd accounts it: CPU, memory, network and block I/O, tasks."""
    import time

    from sdcontainer.api import stats as stats_cases

    if not 0.05 <= interval <= 3600:
        raise SdcError(f"invalid --interval {interval}", hint="give seconds, from 0.05 to 3600")
    if not fmt.strip():
        raise SdcError("--format is empty", hint="give table, json or a template: {{.Name}} {{.CPUPerc}}")
    show = _stats_renderer(fmt)
    sdc = _sdc(ctx)
    refs = containers or []
    found = stats_cases.running(sdc, refs, every=every)
    before = {s.container.id: s for s in stats_cases.sample(sdc, found)}
    try:
        while True:
            time.sleep(interval if not no_stream else min(interval, 0.5))
            found = stats_cases.running(sdc, refs, every=every) if not refs else found
            now = stats_cases.sample(sdc, found)
            rows = [stats_cases.row(before.get(s.container.id), s) for s in now]
            if not no_stream and fmt == "table" and sys.stdout.isatty():
                sys.stdout.write("\033[H\033[J")  # drawn again in place
            typer.echo(show(rows), nl=False)
            if no_stream:
                return
            before = {s.container.id: s for s in now}
    except KeyboardInterrupt:
        return


def _stats_renderer(fmt: str) -> Callable[[list[dict[str, Any]]], str]:
    from sdcontainer.api.stats import COLUMNS

    if fmt == "table":
        return lambda rows: render.format_table([[title for title, _ in COLUMNS],
                                                 *[[str(r[key]) for _, key in COLUMNS] for r in rows]])  # fmt: skip
    if fmt == "json":
        return lambda rows: "".join(json.dumps(r) + "\n" for r in rows)
    from sdcontainer import gotemplate

    gotemplate.compile_format(gotemplate.table(fmt.strip())[1])  # a template that does not parse: said at once
    headers = {key: title for title, key in COLUMNS} | {"Container": "CONTAINER"}
    return lambda rows: render.templated(fmt, [gotemplate.Struct(r, type_name="stats") for r in rows], headers)


@app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
def top(
    ctx: typer.Context,
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    options: Annotated[Optional[list[str]], typer.Argument(metavar="[ps OPTIONS]")] = None,
) -> None:
    """The container's processes (ps options passed on), each with its PID inside (CPID) too."""
    from sdcontainer.api import stats as stats_cases

    typer.echo(render.format_table(stats_cases.top(_sdc(ctx), container, options or [])), nl=False)


@app.command()
def events(
    since: Annotated[Optional[str], typer.Option("--since", help="Replay from 10m, an RFC 3339 time, Unix "
                                                                  "seconds, or journalctl's words")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Stop at such a time (else follow)")] = None,
    filters: Annotated[Optional[list[str]], typer.Option("--filter", "-f", help="container=, event=, image=")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help="json (a line each), or a template: {{.Action}} "
                                                                "{{.Actor.Attributes}}")] = None,
) -> None:
    """What happens to containers (create, start, die, oom, kill, stop, pause, unpause, destroy), from the journal."""
    from sdcontainer.api import events as event_cases
    from sdcontainer.api.logs import journal_time

    keep = event_cases.parse_filters(filters or [])
    first = journal_time(since, flag="--since") if since is not None else None
    last = journal_time(until, flag="--until") if until is not None else None
    if fmt is not None and not fmt:
        raise SdcError("--format is empty", hint="give json, or a template: {{.Action}} {{.id}}")
    try:
        event_cases.show(event_cases.events(since=first, until=last), keep, fmt or "")
    except KeyboardInterrupt:
        return


@app.command()
def attach(
    ctx: typer.Context,
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    detach_keys: Annotated[str, typer.Option("--detach-keys", help="Keys that leave it running: ctrl-p,ctrl-q "
                                                                    "(Docker's), a,b or ctrl-X")] = "ctrl-p,ctrl-q",
    sig_proxy: Annotated[bool, typer.Option("--sig-proxy/--no-sig-proxy", help="Pass ^C and SIGTERM on to it "
                                                                               "(without a terminal)")] = True,
) -> None:
    """Attach to a running detached container: its terminal (-t), or its output from now."""
    from sdcontainer.api import attach as attach_cases

    sys.stdout.flush()
    raise typer.Exit(attach_cases.attach(_sdc(ctx), container, detach_keys=detach_keys, sig_proxy=sig_proxy))


@app.command("version")
def version_(
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json, or a Go template: "
                                                            "'{{.Client.Version}}'", callback=_check_format)] = "table",
) -> None:
    """Show sdc's version (sdc has no daemon: no server to show)."""
    from sdcontainer.api import system

    _show_system(system.version(), fmt, "version")


def _show_system(found: dict[str, Any], fmt: str, kind: str) -> None:
    from sdcontainer.api import system

    if fmt == "json":
        typer.echo(json.dumps(found, indent=2))
    elif fmt in ("table", "text"):
        typer.echo(system.as_text(found), nl=False)
    else:
        _show_inspected([found], fmt, kind)


@app.command()
def info(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json, or a Go template: '{{.Host.Arch}}'",
                                     callback=_check_format)] = "table",
) -> None:
    """Show the host, its cgroups and systemd, the security defaults and the store, as podman info."""
    from sdcontainer.api import system

    found = system.info(_sdc(ctx))
    _show_system(found if fmt in ("json", "table", "text") else system.go_names(found), fmt, "info")


@app.command()
def inspect(
    ctx: typer.Context,
    objects: Annotated[list[str], typer.Argument(metavar="CONTAINER|IMAGE...")],
    fmt: InspectFormat = None,
    kind: Annotated[Optional[str], typer.Option("--type", help="container or image: only those",
                                                click_type=click.Choice(["container", "image"]))] = None,
) -> None:
    """Show details of containers (or, where no container has the name, images) as JSON, or through a template."""
    from sdcontainer.api import inspect as inspect_cases
    from sdcontainer.errors import NotFound

    sdc = _sdc(ctx)
    found: list[tuple[str, dict[str, Any]]] = []
    missing = []
    for ref in objects:
        try:
            if kind == "image":
                raise NotFound(ref)
            found.append(("container", inspect_cases.container(sdc, ref)))
        except NotFound:
            try:
                if kind == "container":
                    raise
                found.append(("image", image_cases.inspect_image(sdc, ref)))
            except NotFound:
                missing.append(ref)
    if fmt is None or fmt == "json" or not found:
        if found or not missing:
            typer.echo(json.dumps([item for _, item in found], indent=2, default=str))
    else:
        for what, item in found:
            _show_inspected([item], fmt, what)
    if missing:  # what was found is shown first, as Docker does
        what = {"container": "container", "image": "image"}.get(kind or "", "container or image")
        raise NotFound(f"no such {what}: {', '.join(missing)}", hint="`sdc ps -a` and `sdc images` list them")


@app.command()
def port(
    ctx: typer.Context,
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    private: Annotated[Optional[str], typer.Argument(metavar="[PRIVATE_PORT[/PROTO]]")] = None,
) -> None:
    """List a container's published ports, or the host's address of one of them."""
    found = [(f"{p.container_port + i}/{p.protocol}", p.host_ip or "0.0.0.0", p.host_port + i)
             for p in lifecycle.ports(_sdc(ctx), container) for i in range(p.count)]  # fmt: skip
    if private is None:
        for key, ip, host_port in found:
            typer.echo(f"{key} -> {f'[{ip}]' if ':' in ip else ip}:{host_port}")
        return
    wanted = private if "/" in private else f"{private}/tcp"
    matches = [(ip, host_port) for key, ip, host_port in found if key == wanted]
    if not matches:
        raise SdcError(f"no public port {wanted!r} published for {container}",
                       hint=f"`sdc port {container}` lists them")  # fmt: skip
    for ip, host_port in matches:
        typer.echo(f"{f'[{ip}]' if ':' in ip else ip}:{host_port}")


# --- man pages and completion ----------------------------------------------------------


@app.command("completion")
def completion_(
    shell: Annotated[str, typer.Argument(metavar="bash|zsh|fish", click_type=click.Choice(clidocs.SHELLS))],
) -> None:
    """Print a completion script: commands, flags, and the names of containers, images, volumes, networks."""
    import typer.main

    typer.echo(clidocs.completion(_root(typer.main.get_command(app)), shell), nl=False)


@app.command("_man", hidden=True)
def man_pages(directory: Annotated[str, typer.Argument()]) -> None:
    """Write sdc's man pages (sdc.1, sdc-run.1...) into directory (packaging/build-deb)."""
    import typer.main

    for page in clidocs.write_man_pages(_root(typer.main.get_command(app)), pathlib.Path(directory)):
        typer.echo(page)


def _root(command: click.Command) -> click.Group:
    assert isinstance(command, click.Group)
    return command


# --- health checks ------------------------------------------------------------------

healthcheck_app = typer.Typer(help="Health checks (run by a systemd timer per container).", no_args_is_help=True)
app.add_typer(healthcheck_app, name="healthcheck")


@healthcheck_app.command("run")
def healthcheck_run(
    ctx: typer.Context,
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    from_timer: Annotated[bool, typer.Option("--from-timer", hidden=True)] = False,
) -> None:
    """Run a container's health check now: exit 0 if it passes, 1 if not (and say its health)."""
    from sdcontainer.api import health

    code, status = health.run_check(_sdc(ctx), container, from_timer=from_timer)
    if from_timer:
        return  # the result is the container's, recorded: the timer's service does not fail
    if code != 0:
        typer.echo(status)
        raise typer.Exit(1)


@healthcheck_app.command("timer", hidden=True)
def healthcheck_timer(ctx: typer.Context, container: Annotated[str, typer.Argument()]) -> None:
    """A container's health-check timer started (its unit's ExecStartPost)."""
    from sdcontainer.api import health
    from sdcontainer.api.run import self_argv

    sdc = _sdc(ctx)
    health.start_timer(sdc, lifecycle.find(sdc, container), self_argv(sdc))


# --- exists, and the container group (Podman's and Docker's `container ...`) --------------


def _exists(look: Callable[[Context, str], object]) -> Callable[..., None]:
    def exists(ctx: typer.Context, ref: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
        from sdcontainer.errors import NotFound

        try:
            look(_sdc(ctx), ref)
        except NotFound:
            raise typer.Exit(1) from None

    return exists


def _image_exists(sdc: Context, ref: str) -> None:
    image_cases.inspect_image(sdc, ref)


def _volume_exists(sdc: Context, ref: str) -> None:
    from sdcontainer.api import volumes as volume_cases

    volume_cases.inspect_volume(sdc, ref)


def _network_exists(sdc: Context, ref: str) -> None:
    from sdcontainer.api import networks as network_cases

    network_cases.inspect_network(sdc, ref)


EXISTS_HELP = "Exit 0 if there is one of that name, 1 if not (nothing printed)."
image_app.command("exists", help=EXISTS_HELP)(_exists(_image_exists))
volume_app.command("exists", help=EXISTS_HELP)(_exists(_volume_exists))
network_app.command("exists", help=EXISTS_HELP)(_exists(_network_exists))

container_app = typer.Typer(help="Manage containers (the same commands as sdc's own).", no_args_is_help=True)
app.add_typer(container_app, name="container")
container_app.command("exists", help=EXISTS_HELP)(_exists(lifecycle.find))


@container_app.command("inspect")
def container_inspect(
    ctx: typer.Context,
    containers: Containers,
    fmt: InspectFormat = None,
) -> None:
    """Show details of containers as JSON, or through a template."""
    inspect(ctx, containers, fmt, "container")


@container_app.command("prune")
def container_prune(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask")] = False,
    filters: Annotated[Optional[list[str]], typer.Option("--filter", help="label=KEY[=VALUE], until is not "
                                                                           "supported")] = None,
) -> None:
    """Remove every stopped container."""
    sdc = _sdc(ctx)
    if not _confirmed(force, "This will remove all stopped containers."):
        return
    listed = lifecycle.status(sdc)
    keep = lifecycle.ps_filter(filters or [], listed)
    stopped = [s.container for s in listed if s.state in ("created", "exited") and keep(s)]
    gone = lifecycle.remove(sdc, [c.name for c in stopped], missing=[])
    typer.echo("".join(c.id + "\n" for c in gone), nl=False)


system_app = typer.Typer(help="The store and the host: info, df, events, prune.", no_args_is_help=True)
app.add_typer(system_app, name="system")
system_app.command("info", help="Show the host, its cgroups and systemd, the security defaults and the store.")(info)
system_app.command("events", help="What happens to containers, from the journal.")(events)


@system_app.command("df")
def system_df(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Each image, container and volume too")] = False,
    fmt: Format = "table",
) -> None:
    """Show what images, containers and volumes take, and what removing the unused ones would free."""
    from sdcontainer.api import usage

    found = usage.disk_usage(_sdc(ctx))
    rows = [render.usage_row(u) for u in found["Usage"]]
    if fmt == "json":
        typer.echo("".join(json.dumps(row) + "\n" for row in rows), nl=False)  # a line each, as Docker's
    elif render.is_template(fmt):
        from sdcontainer.gotemplate import Struct

        typer.echo(render.templated(fmt, [Struct(row, type_name="disk usage") for row in rows], DF_FIELDS), nl=False)
    elif not verbose:
        typer.echo(render.format_table([["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
                                        *([r["Type"], r["TotalCount"], r["Active"], r["Size"], r["Reclaimable"]]
                                          for r in rows)]), nl=False)  # fmt: skip
    else:
        typer.echo(render.disk_usage_verbose(found), nl=False)


DF_FIELDS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}


@system_app.command("prune")
def system_prune(
    ctx: typer.Context,
    every: Annotated[bool, typer.Option("--all", "-a", help="Images no container uses too, not only unnamed")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask")] = False,
    volumes: Annotated[bool, typer.Option("--volumes", help="Volumes no container uses too")] = False,
) -> None:
    """Remove stopped containers, networks no container is on, unnamed images (-a: unused ones), the
    build cache and with --volumes unused volumes."""
    from sdcontainer.api import networks as network_cases
    from sdcontainer.api import volumes as volume_cases

    kinds = ["all stopped containers", "all networks not used by at least one container",
             *(["all volumes not used by at least one container"] if volumes else []),
             "all images without at least one container associated to them" if every else "all dangling images",
             "all build cache"]
    if not _confirmed(force, "This will remove:\n" + "".join(f"  - {k}\n" for k in kinds).rstrip("\n")):
        return
    sdc = _sdc(ctx)
    listed = lifecycle.status(sdc)
    gone = lifecycle.remove(sdc, [s.container.name for s in listed if s.state in ("created", "exited")], missing=[])
    if gone:
        typer.echo("Deleted Containers:\n" + "".join(c.id + "\n" for c in gone), nl=False)
    networks = network_cases.prune_networks(sdc)
    if networks:
        typer.echo("Deleted Networks:\n" + "".join(n + "\n" for n in networks), nl=False)
    if volumes:
        pruned = volume_cases.prune_volumes(sdc)
        if pruned:
            typer.echo("Deleted Volumes:\n" + "".join(v + "\n" for v in pruned), nl=False)
    removed, freed = image_cases.prune_images(sdc, every=every, build_cache=True)
    if removed:
        typer.echo("Deleted Images:\n" + "".join(f"deleted: {i}\n" for i in removed), nl=False)
    typer.echo(f"Total reclaimed space: {render.size(freed)}")


_CONTAINER_COMMANDS: list[tuple[str, Callable[..., None], dict[str, bool]]] = [
    ("ls", ps, {}), ("list", ps, {}), ("ps", ps, {}), ("run", run, {"allow_interspersed_args": False}),
    ("create", create, {"allow_interspersed_args": False}), ("start", start, {}), ("stop", stop, {}),
    ("restart", restart, {}), ("kill", kill, {}), ("rm", rm, {}), ("remove", rm, {}), ("pause", pause, {}),
    ("unpause", unpause, {}), ("wait", wait, {}), ("logs", logs, {}),
    ("exec", exec_, {"allow_interspersed_args": False}),
    ("cp", cp, {}), ("export", export, {}), ("diff", diff, {}), ("commit", commit, {}), ("port", port, {}),
    ("top", top, {"allow_interspersed_args": False, "ignore_unknown_options": True}), ("stats", stats, {}),
    ("attach", attach, {}), ("enable", enable, {}), ("disable", disable, {}), ("update", update, {}),
    ("rename", rename, {}),
]  # fmt: skip
for _name, _command, _settings in _CONTAINER_COMMANDS:
    container_app.command(_name, context_settings=_settings or None,
                          help=(_command.__doc__ or "").split("\n")[0])(_command)  # fmt: skip


@app.command("quadlet")
def quadlet(
    dryrun: Annotated[bool, typer.Option("--dryrun", help="Print the units the generator makes, and what it refuses")]
    = False,
    install_generator: Annotated[bool, typer.Option("--install-generator",
                                                    help="Install the generator (for sdc installed by pip)")] = False,
    remove_generator: Annotated[bool, typer.Option("--remove-generator", help="Remove what --install-generator put")]
    = False,
) -> None:  # fmt: skip
    """Services from Quadlet files (web.container in /etc/sdc/systemd): what the generator makes."""
    from sdcontainer.quadlet import generator

    if install_generator:
        require_root()
        typer.echo(f"installed {generator.install_generator()}: `systemctl daemon-reload` runs it")
    elif remove_generator:
        require_root()
        if not generator.remove_generator():
            raise SdcError("no generator of sdc's to remove", hint=f"it is in {generator.SYSTEM_GENERATORS} alone")
    elif dryrun:
        made, errors = generator.generate_all(generator.search_dirs())
        for generated in made:
            typer.echo(f"---{generated.unit}---\n{generated.text}")
        for exc in errors:
            render.report(exc.message, exc.hint, 1)
        if errors:
            raise typer.Exit(1)
    else:
        raise SdcError("say what to do", hint="`sdc quadlet --dryrun` prints the units the generator makes")


@app.command("_pod-unit-create", hidden=True)
def pod_unit_create(
    ctx: typer.Context,
    unit: str,
    name: Annotated[str, typer.Option("--name")],
    publish: Annotated[Optional[list[str]], typer.Option("--publish")] = None,
    network: Annotated[str, typer.Option("--network")] = "",
    hostname: Annotated[str, typer.Option("--hostname")] = "",
    label: Annotated[Optional[list[str]], typer.Option("--label")] = None,
    ip: Annotated[str, typer.Option("--ip")] = "",
) -> None:
    """Run by systemd as the ExecStartPre of a Quadlet .pod file's unit: its pod made."""
    from sdcontainer.api import pods

    labels = [text if "=" in text else f"{text}=" for text in label or []]
    pods.create_for_unit(_sdc(ctx), unit, name=name, publish=publish or (), network=network, hostname=hostname,
                         labels=labels, ip=ip)  # fmt: skip


@app.command("_pod-unit-cleanup", hidden=True)
def pod_unit_cleanup(ctx: typer.Context, unit: str, name: str) -> None:
    """Run by systemd as the ExecStopPost of a Quadlet .pod file's unit: its pod removed."""
    from sdcontainer.api import pods

    pods.cleanup_for_unit(_sdc(ctx), unit, name)


@app.command("_cleanup", hidden=True)
def cleanup(ctx: typer.Context, name: str) -> None:
    """Run by systemd as the ExecStopPost of a detached container."""
    lifecycle.cleanup(_sdc(ctx), name, dict(os.environ))


# --- errors ----------------------------------------------------------------------------


def _fail(message: str, hint: str | None, code: int) -> NoReturn:
    code = render.report(message, hint, code)
    sys.exit(code)


GLOBAL_OPTIONS_WITH_VALUES = ("--root", "--storage-driver")


def invoked_app(argv: list[str]) -> typer.Typer:
    """The app with only the command argv invokes, when that is plain to see.

    typer turns every command's signature into click parameters on each start
    (a third of `sdc run`'s time here); one command needs only its own. Help,
    errors and anything unclear get the whole app."""
    names = {info.name or (info.callback.__name__ if info.callback else ""): info for info in app.registered_commands}
    args = iter(argv)
    for arg in args:
        if arg in GLOBAL_OPTIONS_WITH_VALUES:
            next(args, None)
        elif arg.startswith("-"):
            if arg in ("--help", "--version", "-v"):
                return app
        else:
            groups = {info.name: info for info in app.registered_groups if info.name}
            if arg not in names and arg not in groups:
                return app
            only = copy.copy(app)  # that command alone, or that group alone (its own commands)
            only.registered_commands = [names[arg]] if arg in names else []
            only.registered_groups = [groups[arg]] if arg in groups else []
            return only
    return app


def _usage(exc: click.UsageError) -> tuple[str, str]:
    """A usage error's one line and its hint: what was close to a mistyped command or flag."""
    import difflib
    import re

    ctx = exc.ctx
    path = ctx.command_path if ctx else "sdc"
    if isinstance(exc, click.NoSuchOption) and ctx is not None:
        flags = [o for p in ctx.command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")]
        close = difflib.get_close_matches(exc.option_name, flags, n=1, cutoff=0.6)
        return (f"unknown flag {exc.option_name} for `{path}`",
                f"did you mean {close[0]}?" if close else f"see `{path} --help`")  # fmt: skip
    unknown = re.fullmatch(r"No such command '(.*)'\.", exc.message, re.DOTALL)
    if unknown and ctx is not None and isinstance(ctx.command, click.Group):
        names = ctx.command.list_commands(ctx)
        close = difflib.get_close_matches(unknown.group(1), names, n=1, cutoff=0.6)
        return (f"{unknown.group(1)!r} is not an sdc command" if path == "sdc" else
                f"{unknown.group(1)!r} is not a command of `{path}`",
                f"did you mean `{path} {close[0]}`?" if close else f"see `{path} --help`")  # fmt: skip
    return " ".join(exc.format_message().split()), f"see `{path} --help`"  # (one line: click's may be more)


def main() -> None:
    try:
        argv = _bool_flags(sys.argv[1:])
        code = invoked_app(argv)(args=argv, prog_name="sdc", standalone_mode=False)
    except SdcError as exc:
        _fail(exc.message, exc.hint, exc.exit_code)
    except click.UsageError as exc:
        _fail(*_usage(exc), 125)  # Docker's status for a command line it cannot take
    except click.ClickException as exc:
        _fail(exc.format_message(), None, exc.exit_code)
    except click.exceptions.Abort:
        _fail("aborted", None, 130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
