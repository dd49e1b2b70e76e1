"""Image references as Docker reads them: [DOMAIN[:PORT]/]PATH[:TAG][@DIGEST].

A short name is Docker Hub's: `alpine` is docker.io/library/alpine:latest, `me/app` is
docker.io/me/app:latest. sdc keeps the full form and shows the familiar one (distribution's
reference package: normalize.go, regexp.go).
"""

from __future__ import annotations

from sdcontainer.errors import UsageError
from sdcontainer.record import record

DEFAULT_DOMAIN = "docker.io"
OFFICIAL = "library"
DEFAULT_TAG = "latest"

# Distribution's grammar (regexp.go), checked by hand: the re module is ~3 ms of every `sdc run`
# (tests/unit/test_reference.py holds each check to its regular expression).
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = frozenset("0123456789abcdef")
_DIGITS = frozenset("0123456789")
_WORD = _ALNUM | {"_"}
_TAG = _WORD | {".", "-"}
_LABEL = _ALNUM | {"-"}
_IPV6 = _HEX | frozenset("ABCDEF:")


def is_hex(text: str, least: int, most: int) -> bool:
    """least to most lowercase hex digits, nothing else."""
    return least <= len(text) <= most and _HEX.issuperset(text)


def is_path(path: str) -> bool:
    """COMPONENT(/COMPONENT)*, a component lowercase letters and digits, a run of them apart from
    the next by one . or _, two _, or any number of -."""
    for component in path.split("/"):
        if not component or component[0] not in _LOWER_ALNUM or component[-1] not in _LOWER_ALNUM:
            return False
        gap = ""
        for c in component:
            if c in _LOWER_ALNUM:
                if gap and gap not in (".", "_", "__") and gap != "-" * len(gap):
                    return False
                gap = ""
            elif c in "._-":
                gap += c
            else:
                return False
    return True


def is_domain(domain: str) -> bool:
    """HOST[:PORT]: HOST dot-separated labels of letters, digits and inner -, or [IPv6]; PORT
    up to 5 digits."""
    if domain.startswith("["):
        host, bracket, port = domain[1:].partition("]")
        if not bracket or not host or not _IPV6.issuperset(host):
            return False
    else:
        host, colon, port = domain.partition(":")
        port = colon + port
        for label in host.split("."):
            if not label or label[0] not in _ALNUM or label[-1] not in _ALNUM or not _LABEL.issuperset(label):
                return False
    return not port or (port[0] == ":" and 2 <= len(port) <= 6 and _DIGITS.issuperset(port[1:]))


def is_tag(tag: str) -> bool:
    """A letter, digit or _, then up to 127 of those, . and -."""
    return 1 <= len(tag) <= 128 and tag[0] in _WORD and _TAG.issuperset(tag)


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
    if at and not (digest.startswith("sha256:") and is_hex(digest[7:], 64, 64)):
        raise _invalid(text, "a digest is sha256: and 64 hex digits")
    name, tag = split_tag(name)
    if is_hex(name, 64, 64) or (name == "sha256" and tag is not None and is_hex(tag, 64, 64)):
        # An image ID is never a name: one would let an archive name an image by another's ID.
        raise _invalid(text, "an image ID (64 hex digits) is not a name, as Docker has it")
    first, slash, rest = name.partition("/")
    if slash and (("." in first or ":" in first) or first == "localhost"):
        domain, path = first, rest
        if not is_domain(domain):
            raise _invalid(text, "a registry is HOST[:PORT]")
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"{OFFICIAL}/{path}"
    if not is_path(path) or len(domain) + 1 + len(path) > NAME_MAX:
        raise _invalid(text, "use lowercase letters, digits and . _ - /, with an optional :tag")
    if tag is not None and not is_tag(tag):
        raise _invalid(text, "a tag is up to 128 letters, digits, _ . and -")
    return Reference(domain, path, tag if tag is not None or at else DEFAULT_TAG, digest or None)


def split_tag(name: str) -> tuple[str, str | None]:
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
