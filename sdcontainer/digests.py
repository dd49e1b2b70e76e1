"""Content identifiers, parsed once where they come in.

A digest names content by its hash: a layer's diff ID, a blob's, a manifest's, an image's ID
(its config's), a chain ID (a layer with everything under it). Those in configs, manifests,
indexes, archives, registry replies and the store's own records are outside input: each is
parsed into a `Digest` at the edge (`Digest.parse`), and only a `Digest` becomes a name in
the store (`Digest.hex`), so that a config whose diff ID is `/etc` or `../..` is refused there
instead of naming a host path. containers/storage's `digest.Digest` (go-digest) is the model:
an algorithm and an encoded hash of the length that algorithm gives, lowercase hex only.
"""

from __future__ import annotations

from sdcontainer.errors import UsageError
from sdcontainer.record import record

# The algorithms sdc reads, and their hex lengths: sha256, which the image spec requires
# (descriptor.md) and every registry and tool uses; sha512 content is refused with one line.
ALGORITHMS = {"sha256": 64}
_HEX = frozenset("0123456789abcdef")


class InvalidDigest(UsageError):
    """A digest from outside that is not one."""


@record
class Digest:
    algorithm: str
    hex: str  # lowercase, of ALGORITHMS[algorithm] characters: safe as a file name

    def __post_init__(self) -> None:
        if ALGORITHMS.get(self.algorithm) != len(self.hex) or not _HEX.issuperset(self.hex):
            raise InvalidDigest(f"not a digest: {self.algorithm[:16]!r}:{self.hex[:80]!r}",
                                hint="the image or record is corrupt, or was made to be")  # fmt: skip

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        """The 12 characters Docker shows."""
        return self.hex[:12]

    @classmethod
    def parse(cls, text: object, *, what: str = "a digest") -> Digest:
        """ALGORITHM:HEX, as the image spec writes one, from outside: anything else is refused
        with one line naming what it was (what: "the config's diff ID 2", say)."""
        if isinstance(text, str):
            algorithm, sep, encoded = text.partition(":")
            if sep and ALGORITHMS.get(algorithm) == len(encoded) and _HEX.issuperset(encoded):
                return cls(algorithm, encoded)
        shown = repr(text)[:90] if isinstance(text, str) else type(text).__name__
        raise InvalidDigest(f"{what} is not a digest: {shown}",
                            hint="a digest is sha256: and 64 lowercase hex digits (sdc reads sha256 only); "
                                 "the image is corrupt, or was made to be")  # fmt: skip

    @classmethod
    def from_hex(cls, encoded: str, *, what: str = "a digest") -> Digest:
        """A sha256 digest by its hex alone, as the store names files (images/<hex>.json)."""
        return cls.parse(f"sha256:{encoded}", what=what)

    @classmethod
    def of(cls, data: bytes) -> Digest:
        """The sha256 digest of data: ours, computed, never parsed."""
        import hashlib  # OpenSSL's: not for `sdc run`, which parses a record's digests only

        return cls("sha256", hashlib.sha256(data).hexdigest())

    def matches(self, data: bytes) -> bool:
        import hashlib

        return hashlib.new(self.algorithm, data).hexdigest() == self.hex


def parse_list(values: object, *, what: str) -> tuple[Digest, ...]:
    """A JSON list of digests (a config's rootfs.diff_ids): each parsed, the list refused whole
    if one is not a digest."""
    if not isinstance(values, list):
        raise InvalidDigest(f"{what} is not a list of digests", hint="the image is corrupt, or was made to be")
    return tuple(Digest.parse(value, what=f"{what} {index + 1}") for index, value in enumerate(values))
