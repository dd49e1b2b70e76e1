"""sdcontainer.record against dataclasses, whose frozen records it replaces."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections import namedtuple

import pytest

from sdcontainer.record import FrozenInstanceError, asdict, field, fields, record, replace


@record(kw_only=True)
class Inner:
    a: int
    b: tuple[str, ...] = ()


@record
class Outer:
    name: str
    inner: Inner
    tags: list[str] = field(default_factory=list)
    note: dict[str, int] = field(default_factory=dict, compare=False)


@dataclasses.dataclass(frozen=True)
class OuterDC:
    name: str
    inner: Inner
    tags: list[str] = dataclasses.field(default_factory=list)
    note: dict[str, int] = dataclasses.field(default_factory=dict, compare=False)


def test_init_defaults_eq_hash_repr_as_dataclasses() -> None:
    x = Outer("x", Inner(a=1))
    assert (x.tags, x.note) == ([], {}) and x.tags is not Outer("y", Inner(a=1)).tags
    assert x == Outer("x", Inner(a=1), note={"other": 1})  # compare=False
    assert x != Outer("x", Inner(a=2))
    assert hash(Inner(a=1, b=("p",))) == hash(Inner(a=1, b=("p",)))
    assert repr(x) == repr(OuterDC("x", Inner(a=1))).replace("OuterDC", "Outer")
    assert Outer.__match_args__ == OuterDC.__match_args__ and Inner.__match_args__ == ()
    with pytest.raises(TypeError):
        Inner(1)  # type: ignore[misc]  # keyword-only
    with pytest.raises(FrozenInstanceError):
        x.name = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del x.name  # type: ignore[misc]


def test_replace_asdict_fields() -> None:
    x = Outer("x", Inner(a=1), tags=["t"])
    y = replace(x, name="y")
    assert (y.name, y.inner, y.tags) == ("y", x.inner, ["t"]) and x.name == "x"
    with pytest.raises(TypeError, match="no field"):
        replace(x, nope=1)
    assert asdict(x) == {"name": "x", "inner": {"a": 1, "b": ()}, "tags": ["t"], "note": {}}
    assert asdict(x)["tags"] is not x.tags
    assert [f.name for f in fields(Outer)] == [f.name for f in dataclasses.fields(OuterDC)]
    assert [f.name for f in fields(x)] == ["name", "inner", "tags", "note"]
    Pair = namedtuple("Pair", "left right")

    @record
    class Holder:
        pair: Pair
        items: frozenset[int]

    assert asdict(Holder(Pair(Inner(a=1), 2), frozenset({3}))) == {"pair": Pair({"a": 1, "b": ()}, 2),
                                                                  "items": frozenset({3})}  # fmt: skip


def test_copies_and_pickles() -> None:
    x = Outer("x", Inner(a=1), tags=["t"])
    assert copy.copy(x) == x and copy.deepcopy(x) == x and pickle.loads(pickle.dumps(x)) == x


def test_post_init_inheritance_and_own_methods() -> None:
    @record
    class Checked:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("negative")

    with pytest.raises(ValueError):
        Checked(-1)

    @record
    class Base:
        a: int

    @record
    class Derived(Base):
        b: int = 2

    assert (Derived(1).a, Derived(1).b) == (1, 2)

    @record
    class OwnEq:
        a: int

        def __eq__(self, other: object) -> bool:
            return True

    assert OwnEq(1) == OwnEq(2) and hash(OwnEq(1)) == hash(OwnEq(1))  # hashable still, as dataclasses makes it


def test_names_the_generated_code_uses_are_fields_like_any_other() -> None:
    @record
    class Odd:
        d: int
        MISSING: int = 0
        _default_d: int = 1

    odd = Odd(5)
    assert (odd.d, odd.MISSING, odd._default_d) == (5, 0, 1)


def test_mutable_defaults_are_refused() -> None:
    with pytest.raises(ValueError, match="default_factory"):
        @record
        class Bad:
            items: list[int] = []  # noqa: RUF012
