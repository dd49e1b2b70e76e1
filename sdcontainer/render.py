"""Text and JSON for the terminal: shared by the typer CLI and the fast entry paths.

Light on imports on purpose: `sdc ps` renders with it without loading typer.
"""

from __future__ import annotations

import time
from _json import encode_basestring as quoted  # json.dumps(text, ensure_ascii=False), without json's imports
from collections.abc import Callable, Sequence

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    from typing import Any

    from sdcontainer.api.containers import ContainerStatus
    from sdcontainer.api.usage import Usage
    from sdcontainer.containers import Container

PS_HEADER = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES", "UNIT"]


PS_SORT = ("created", "runningfor", "names", "id", "image", "command", "status")


def format_ps(statuses: Sequence[ContainerStatus], *, all_: bool, quiet: bool, fmt: str, no_trunc: bool = False,
              last: int | None = None, noheading: bool = False, sort: str = "created",
              keep: Callable[[ContainerStatus], bool] | None = None,
              sizes: Callable[[Container], tuple[int | None, int | None]] | None = None,
              pods: bool = False) -> str:  # fmt: skip
    """`ps`: running containers (all_: every one) that keep() takes, newest first (or by sort),
    the last (newest) few only; as a table, IDs (quiet), JSON, or through a template. sizes: each
    one's writable layer's and virtual sizes (usage.sizer), for --size; pods: a column of each
    one's pod (--pod)."""
    from sdcontainer.containers import published_ports

    rows = [s for s in statuses if (all_ or last is not None or s.state in ("running", "paused", "restarting"))
            and (keep is None or keep(s))]  # fmt: skip
    if last is not None and last >= 0:  # Docker's -n: the newest N, whatever their state; -n -1: all
        rows = rows[:last]
    rows = _sorted(rows, sort)
    if quiet:
        return "".join((s.container.id if no_trunc else s.container.short_id) + "\n" for s in rows)
    sized = {s.container.id: sizes(s.container) for s in rows} if sizes else {}
    if fmt == "json":
        import json

        return json.dumps([{**status_json(s), **({"SizeRw": sized[s.container.id][0],
                                                  "SizeRootFs": sized[s.container.id][1]} if sizes else {})}
                           for s in rows], indent=2) + "\n"  # fmt: skip
    if is_template(fmt):
        return templated(fmt, [ps_row(s, no_trunc=no_trunc, sizes=sized.get(s.container.id)) for s in rows],
                         None if noheading else PS_FIELDS)  # fmt: skip
    table = [[*PS_HEADER, *(["SIZE"] if sizes else []), *(["POD"] if pods else [])]]
    for s in rows:
        c = s.container
        cmd = " ".join(c.spec.argv)
        short = quoted(cmd if no_trunc else cmd[:20] + ("…" if len(cmd) > 20 else ""))
        ports = ", ".join(map(str, published_ports(c))) if s.state in ("running", "paused") else ""
        table.append([c.id if no_trunc else c.short_id, c.spec.image, short, ago(c.created), status_text(s), ports,
                      c.name, c.unit, *([size_text(sized[c.id])] if sizes else []),
                      *([c.spec.pod] if pods else [])])  # fmt: skip
    return format_table(table[1:] if noheading else table)


def _sorted(rows: list[ContainerStatus], by: str) -> list[ContainerStatus]:
    if by in ("created", "runningfor"):
        return rows  # newest first already
    keys: dict[str, Callable[[ContainerStatus], str]] = {
        "names": lambda s: s.container.name, "id": lambda s: s.container.id, "image": lambda s: s.container.spec.image,
        "command": lambda s: " ".join(s.container.spec.argv), "status": lambda s: s.state}  # fmt: skip
    return sorted(rows, key=keys[by])


# --- --format templates (gotemplate: imported only when one is given) --------------------

FORMAT_HELP = "table, json, or a Go template: '{{.Names}} {{.Status}}', 'table {{.ID}}\\t{{.Image}}'"


def is_template(fmt: str) -> bool:
    """Neither table nor json: a Go template (a text without {{ }} is one too, as Docker's)."""
    return fmt not in ("table", "json")


def templated(fmt: str, rows: Sequence[dict[str, Any]], headers: dict[str, str] | None = None) -> str:
    """Each row through Docker's template, a line each; with `table ` first, a header line made
    from headers (the fields' column titles) and the columns aligned as Docker's tabwriter does."""
    from sdcontainer import gotemplate

    table, body = gotemplate.table(fmt.strip())
    template = gotemplate.compile_format(body.strip())
    lines = []
    if table and headers is not None:
        lines.append(template.header(headers))
    lines += [gotemplate.format_one(template, row) for row in rows]
    text = "".join(line + "\n" for line in lines)
    return gotemplate.tabwrite(text) if table else text


PS_FIELDS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
             "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
             "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL", "Mounts": "MOUNTS", "Networks": "NETWORKS",
             "LocalVolumes": "LOCAL VOLUMES", "ExitCode": "EXIT CODE", "Pid": "PID", "Unit": "UNIT",
             "StartedAt": "STARTED AT", "Pod": "POD"}  # fmt: skip


def usage_row(usage: Usage) -> dict[str, Any]:
    """A line of `system df` as Docker's `--format` sees it (strings, as its DiskUsageContext's)."""
    share = f" ({round(100 * usage.reclaimable / usage.size)}%)" if usage.size else ""
    return {"Type": usage.kind, "TotalCount": str(usage.total), "Active": str(usage.active),
            "Size": size(usage.size), "Reclaimable": size(usage.reclaimable) + share}  # fmt: skip


def disk_usage_verbose(found: dict[str, Any]) -> str:
    """`system df -v`: each image, container and volume with its size (usage.disk_usage), as Docker's."""
    from sdcontainer.images import familiar

    images = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"]]
    for row in found["Images"]:
        image = row["image"]
        for name in row["names"] or [None]:
            repo, tag = familiar(name) if name else ("<none>", "<none>")
            images.append([repo, tag, str(image.id).removeprefix("sha256:")[:12], ago(image.created),
                           size(row["size"]), size(row["shared"]), size(row["unique"]), str(row["containers"])])
    containers = [["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"]]
    for row in found["Containers"]:
        s, c = row["status"], row["status"].container
        command = quoted(truncate(" ".join(c.spec.argv), 20))
        containers.append([c.short_id, c.spec.image, command, str(len(c.spec.named_volumes)),
                           "-" if row["size"] is None else size(row["size"]), ago(c.created), status_text(s), c.name])
    volumes = [["VOLUME NAME", "LINKS", "SIZE"], *([r["name"], str(r["links"]), size(r["size"])]
                                                   for r in found["Volumes"])]  # fmt: skip
    return (f"Images space usage:\n\n{format_table(images)}\nContainers space usage:\n\n"
            f"{format_table(containers)}\nLocal Volumes space usage:\n\n{format_table(volumes)}")


def size_text(sizes: tuple[int | None, int | None] | None) -> str:
    """A container's sizes as Docker's ps shows them: "12B (virtual 4.3MB)"."""
    if sizes is None or sizes[0] is None or sizes[1] is None:
        return "-"
    return f"{size(sizes[0])} (virtual {size(sizes[1])})"


def ps_row(s: ContainerStatus, *, no_trunc: bool = False,
           sizes: tuple[int | None, int | None] | None = None) -> dict[str, Any]:  # fmt: skip
    """A container as Docker's `ps --format` template sees it (its ContainerContext's fields);
    its Size where sizes are given (usage.sizer: what a template showing .Size asks for)."""
    from sdcontainer import gotemplate
    from sdcontainer.containers import published_ports
    from sdcontainer.containerspec import label_map

    c = s.container
    command = " ".join(c.spec.argv)
    if not no_trunc and len(command) > 20:
        command = command[:19] + "…"
    labels = label_map(c.spec.labels)
    mounts = [m.split(":")[0] for m in (*c.spec.named_volumes, *c.spec.volumes)]
    up = s.state in ("running", "paused")
    fields: dict[str, Any] = {
        "Command": quoted(command),
        "CreatedAt": local_time(c.created),
        "ExitCode": s.exit_code if s.exit_code is not None else 0,
        "ID": c.id if no_trunc else c.short_id,
        "Image": c.spec.image,
        "Label": gotemplate.Method("Label", lambda key: labels.get(key, "") if isinstance(key, str) else ""),
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "LocalVolumes": str(len(c.spec.named_volumes)),
        "Mounts": ",".join(m if no_trunc else truncate(m, 15) for m in mounts),
        "Names": c.name,
        "Networks": c.spec.network,
        "Pid": _pid(c.bundle) if up else 0,
        "Pod": c.spec.pod,
        "Ports": ", ".join(map(str, published_ports(c))) if up else "",
        "RunningFor": ago(c.created),
        "Size": size_text(sizes),
        "StartedAt": local_time(s.started) if s.started else "",
        "State": s.state,
        "Status": status_text(s),
        "Unit": c.unit,
    }
    return gotemplate.Struct(fields, type_name="container")


def _pid(bundle: str) -> int:
    import os

    from sdcontainer import protocol

    try:
        with open(os.path.join(bundle, protocol.PID)) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def local_time(ts: float) -> str:
    """Go's time.Time.String() as Docker prints CreatedAt: 2026-12-05 13:04:05 +0000 UTC."""
    import datetime

    when = datetime.datetime.fromtimestamp(ts).astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S %z ") + (when.tzname() or "")


def status_json(s: ContainerStatus) -> dict[str, Any]:
    from sdcontainer.containers import published_ports

    c = s.container
    return {
        "Id": c.id,
        "Name": c.name,
        "Image": c.spec.image,
        "Command": list(c.spec.argv),
        "Created": c.created,
        "State": s.state,
        "ExitCode": s.exit_code,
        "Unit": c.unit,
        "Status": status_text(s),
        "Ports": [str(p) for p in published_ports(c)],
        "Network": c.spec.network,
        **({"PodName": c.spec.pod} if c.spec.pod else {}),
    }


def status_text(s: ContainerStatus) -> str:
    """Docker's wording: "Up 5 minutes", "Exited (0) 2 hours ago", "Restarting (1) 1 second ago", "Created"."""
    if s.state in ("running", "paused"):
        up = "Up " + duration(time.time() - s.started) if s.started else "Up"
        if s.container.spec.health_test[:1] not in ((), ("NONE",)):  # (api.health only then)
            from sdcontainer.api import health

            up += health.status_word(s.container)
        return up + " (Paused)" if s.state == "paused" else up
    if s.state in ("exited", "restarting"):
        code = s.exit_code if s.exit_code is not None else "?"
        return f"{s.state.capitalize()} ({code})" + (f" {ago(s.finished)}" if s.finished else "")
    return "Created"


def duration(seconds: float) -> str:
    delta = max(0, int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if delta >= size:
            n = delta // size
            return f"{n} {unit}{'s' if n > 1 else ''}"
    return "Less than a second" if delta == 0 else f"{delta} second{'s' if delta > 1 else ''}"


def ago(ts: float) -> str:
    return duration(time.time() - ts) + " ago"


def ago_iso(text: str) -> str:
    """An RFC 3339 time (an image config's) as "3 days ago"; unknown ones as N/A."""
    import datetime

    try:
        when = datetime.datetime.fromisoformat(text)  # Python 3.11 reads RFC 3339, nanoseconds and Z too
    except ValueError:
        return "N/A"
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return ago(when.timestamp())


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g}{unit}"
        n = n / 1000
    return f"{n:.3g}TB"


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows)


def error_line(message: str, hint: str | None) -> str:
    """The one line an error gets: what went wrong, and what to do about it."""
    return f"sdc: error: {message}" + (f" (hint: {hint})" if hint else "") + "\n"


def report(message: str, hint: str | None, code: int) -> int:
    """The error edge of both the typer CLI and entry.py's fast paths: the one line, after
    whatever was written to stdout; the exit status to end with."""
    import sys

    sys.stdout.flush()
    sys.stderr.write(error_line(message, hint))
    return code


class PullProgress:
    """A pull's progress on stderr, as Docker shows it; nothing with quiet. On a terminal, a line
    a layer, redrawn in place as the layers download side by side and are extracted one after
    another; elsewhere, a line a layer when it is done. Called from the downloads' threads too."""

    BAR = 30

    def __init__(self, *, quiet: bool) -> None:
        import sys
        import threading

        self.out = sys.stderr
        self.quiet = quiet
        self.tty = not quiet and self.out.isatty()
        self.lock = threading.Lock()
        self.lines: dict[str, str] = {}  # each layer's status, in the image's order
        self.sizes: dict[str, int] = {}
        self.drawn = 0  # the lines on the screen a redraw writes over
        self.last = 0.0
        self.pulled = 0  # layers fetched, not found in the store

    def layer(self, digest: str, size: int) -> None:
        with self.lock:
            key = _short(digest)
            self.sizes[key], self.lines[key] = size, "Pulling fs layer"
            self._draw(now=True)

    def advance(self, digest: str, status: str, done: int) -> None:
        if not self.tty:
            return
        with self.lock:
            key = _short(digest)
            total = self.sizes.get(key, 0)
            if total:
                filled = min(self.BAR, done * self.BAR // total)
                bar = "=" * filled + (">" if filled < self.BAR else "") + " " * (self.BAR - filled - 1)
                self.lines[key] = f"{status:<11} [{bar}] {size(done)}/{size(total)}"
            else:
                self.lines[key] = f"{status:<11} {size(done)}"
            self._draw()

    def finished(self, digest: str, status: str) -> None:
        with self.lock:
            self.pulled += status == "Pull complete"
            if self.tty:
                self.lines[_short(digest)] = status
                self._draw(now=True)
            elif not self.quiet and status != "Download complete":
                self.out.write(f"{_short(digest)}: {status}\n")
                self.out.flush()

    def _draw(self, *, now: bool = False) -> None:
        """Every layer's line again, over the last drawing; ten times a second at most."""
        if not self.tty or (not now and time.monotonic() - self.last < 0.1):
            return
        self.last = time.monotonic()
        up = f"\033[{self.drawn}A" if self.drawn else ""
        self.out.write(up + "".join(f"\r\033[K{key}: {line}\n" for key, line in self.lines.items()))
        self.out.flush()
        self.drawn = len(self.lines)


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


class PushProgress:
    """A push's progress on stderr, a line per layer and step, as Docker shows it; nothing with quiet."""

    def __init__(self, *, quiet: bool) -> None:
        import sys

        self.out = sys.stderr
        self.quiet = quiet

    def layer(self, digest: str, status: str) -> None:
        if not self.quiet:
            self.out.write(f"{digest.removeprefix('sha256:')[:12]}: {status}\n")
            self.out.flush()
