"""Image references as Docker reads them: [DOMAIN[:PORT]/]PATH[:TAG][@DIGEST].

A short name is Docker Hub's: `alpine` is docker.io/library/alpine:latest, `me/app` is
docker.io/me/app:latest. sdc keeps the full form and shows the familiar one (distribution's
reference package: normalize.go, regexp.go).
"""

from __future__ import annotations

import re

from sdcontainer.errors import UsageError
from sdcontainer.record import record

DEFAULT_DOMAIN = "docker.io"
OFFICIAL = "library"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# \Z, not $: $ matches before a last newline too
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*\Z")
_DOMAIN_RE = re.compile(
    r"^(?:localhost|\[[0-9a-fA-F:]+\]|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]{1,5})?\Z"
)
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}\Z")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}\Z")
_ID_RE = re.compile(r"^[0-9a-f]{64}\Z")
NAME_MAX = 255


@record
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def familiar_repository(self) -> str:
        """As Docker shows it: Docker Hub's without its domain, official images without library/."""
        if self.domain != DEFAULT_DOMAIN:
            return self.repository
        return self.path.removeprefix(f"{OFFICIAL}/")

    def __str__(self) -> str:
        return self.repository + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def familiar(self) -> str:
        return (
            self.familiar_repository + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")
        )


def parse(text: str) -> Reference:
    """A reference, normalized: a default domain, library/ for an official image, the tag `latest`
    when it names neither a tag nor a digest."""
    name, at, digest = text.partition("@")
    if at and not _DIGEST_RE.match(digest):
        raise _invalid(text, "a digest is sha256: and 64 hex digits")
    name, tag = _split_tag(name)
    if _ID_RE.match(name) or (name == "sha256" and tag is not None and _ID_RE.match(tag)):
        # An image ID is never a name: one would let an archive name an image by another's ID.
        raise _invalid(text, "an image ID (64 hex digits) is not a name, as Docker has it")
    first, slash, rest = name.partition("/")
    if slash and (("." in first or ":" in first) or first == "localhost"):
        domain, path = first, rest
        if not _DOMAIN_RE.match(domain):
            raise _invalid(text, "a registry is HOST[:PORT]")
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"{OFFICIAL}/{path}"
    if not _PATH_RE.match(path) or len(domain) + 1 + len(path) > NAME_MAX:
        raise _invalid(text, "use lowercase letters, digits and . _ - /, with an optional :tag")
    if tag is not None and not _TAG_RE.match(tag):
        raise _invalid(text, "a tag is up to 128 letters, digits, _ . and -")
    return Reference(domain, path, tag if tag is not None or at else DEFAULT_TAG, digest or None)


def _split_tag(name: str) -> tuple[str, str | None]:
    """NAME[:TAG]: a colon after the last slash starts a tag (one before it is a port's)."""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, None


def normalize(text: str) -> str:
    return str(parse(text))


def _invalid(text: str, hint: str) -> UsageError:
    return UsageError(f"invalid image reference {text!r}", hint=hint)
