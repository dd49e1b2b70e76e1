"""A Debian image made from the test host's own installed packages: debootstrap's minbase (the
packages of Priority: required, and apt) with their dependencies, file for file as dpkg installed
them here, and dpkg's database of just those. No mirror, no network: the tests never send a packet
out, and every Debian host has these packages (the Debian package of sdc depends on python3)."""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

DPKG = Path("/var/lib/dpkg")
# What the container needs beside the packages' files: usrmerge's links, mount points, apt's
# and dpkg's directories, the host's accounts (apt's download methods run as _apt).
LINKS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")
DIRS = ("dev", "proc", "sys", "run", "tmp", "root", "home", "var/tmp", "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial", "var/log/apt", "var/lib/dpkg/updates", "var/lib/dpkg/triggers",
        "etc/apt/sources.list.d", "etc/apt/apt.conf.d", "etc/apt/preferences.d")  # fmt: skip
ACCOUNTS = ("etc/passwd", "etc/group", "etc/shadow", "etc/gshadow")
# Files postinst scripts make, which no package lists: PAM's common stacks (pam-auth-update), which
# login and su need (machinectl shell).
GENERATED = ("etc/pam.d/common-auth", "etc/pam.d/common-account", "etc/pam.d/common-password",
             "etc/pam.d/common-session", "etc/pam.d/common-session-noninteractive")  # fmt: skip


def installed() -> dict[str, str]:
    """dpkg's status: package name → its stanza, for those installed."""
    stanzas = {}
    for stanza in (DPKG / "status").read_text().split("\n\n"):
        fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
        if fields.get("Status") == "install ok installed":
            stanzas[fields["Package"]] = stanza.strip() + "\n"
    return stanzas


def closure(stanzas: dict[str, str], roots: list[str]) -> list[str]:
    """roots with what they depend on (Depends, Pre-Depends; of alternatives, the installed one)."""
    provided: dict[str, str] = {}
    for name, stanza in stanzas.items():
        for virtual in re.findall(r"^Provides: (.*)$", stanza, re.M)[:1]:
            for item in virtual.split(","):
                provided.setdefault(item.split()[0].split(":")[0], name)
    chosen: list[str] = []
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        chosen.append(name)
        for field in re.findall(r"^(?:Pre-)?Depends: (.*)$", stanzas[name], re.M):
            for clause in field.split(","):
                for alternative in clause.split("|"):
                    dep = alternative.split()[0].split(":")[0]
                    dep = dep if dep in stanzas else provided.get(dep, "")
                    if dep:
                        todo.append(dep)
                        break
    return sorted(chosen)


def minbase_tar(dest: Path, *, extra: tuple[str, ...] = ("python3",),
                files: dict[str, bytes] | None = None) -> Path:  # fmt: skip
    """A tarball of the host's minbase (plus extra packages, plus files: name → content)."""
    stanzas = installed()
    roots = [n for n, s in stanzas.items() if re.search(r"^Priority: required$", s, re.M)] + ["apt", *extra]
    packages = closure(stanzas, roots)
    paths: set[str] = set()
    info = []
    for package in packages:
        for stem in (package, f"{package}:amd64", f"{package}:{os.uname().machine}"):
            if (DPKG / "info" / f"{stem}.list").exists():
                break
        listed = (DPKG / "info" / f"{stem}.list").read_text().splitlines()
        paths.update(p for p in map(canonical, listed) if p and os.path.lexists(p))
        info += [p for p in (DPKG / "info").iterdir() if p.name.startswith(f"{stem}.")]
    with tarfile.open(dest, "w") as tar:
        for name in LINKS:
            if os.path.islink(f"/{name}"):
                tar.add(f"/{name}", arcname=name)
        for name in DIRS:
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o1777 if name.endswith("tmp") else 0o755
            tar.addfile(entry)
        for path in sorted(paths | alternatives(paths)):
            tar.add(path, arcname=path.lstrip("/"), recursive=False)
        for path in [*info, *(Path("/") / a for a in (*ACCOUNTS, *GENERATED) if os.path.exists(f"/{a}"))]:
            tar.add(path, arcname=str(path).lstrip("/"), recursive=False)
        _add(tar, "var/lib/dpkg/status", "\n".join(stanzas[p] for p in packages).encode())
        _add(tar, "var/lib/dpkg/available", b"")
        for name, content in (files or {}).items():
            _add(tar, name, content)
    return dest


def canonical(path: str) -> str | None:
    """A listed path as the container has it: /bin/ls is /usr/bin/ls where /bin links to usr/bin
    (an image must not write through its own links); None for the links themselves."""
    top, _, rest = path.lstrip("/").partition("/")
    if top in ("", "."):
        return None
    if top in LINKS and os.path.islink(f"/{top}"):
        return os.path.join(os.path.realpath(f"/{top}"), rest) if rest else None
    return path


def alternatives(paths: set[str]) -> set[str]:
    """update-alternatives' links (awk → /etc/alternatives/awk → mawk), which no package lists,
    for programs the image has; and ld.so's cache."""
    found = {"/etc/ld.so.cache"} if os.path.exists("/etc/ld.so.cache") else set()
    for directory in ("/usr/bin", "/usr/sbin"):
        for entry in os.scandir(directory):
            target = os.readlink(entry.path) if entry.is_symlink() else ""
            if target.startswith("/etc/alternatives/") and os.path.realpath(entry.path) in paths:
                found.update({entry.path, target})
    return found


def _add(tar: tarfile.TarFile, name: str, content: bytes, mode: int = 0o644) -> None:
    entry = tarfile.TarInfo(name)
    entry.size, entry.mode = len(content), mode
    tar.addfile(entry, io.BytesIO(content))
