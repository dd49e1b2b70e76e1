"""Frozen records: the part of dataclasses sdc uses, without its import cost.

`import dataclasses` brings inspect, and inspect ast, dis, tokenize and linecache: 4-5 ms of
every `sdc` command here, before a class is made; a dataclass without a docstring costs an
inspect.signature on top. `@record` makes what sdc's frozen dataclasses had: __init__ (keyword-
only if asked), __repr__, __eq__ and __hash__ over the compared fields, and attributes that
cannot be set; `replace`, `asdict` and `fields` work as dataclasses' do. Type checkers see it as a
dataclass (PEP 681's dataclass_transform).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is ~2 ms of import
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from typing_extensions import dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_: object) -> object:
        return lambda decorator: decorator


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """An attribute of a record set or deleted (dataclasses' name for it)."""


class Field:
    __slots__ = ("name", "type", "default", "default_factory", "compare")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, compare: bool = True) -> None:
        self.name, self.type = "", ""
        self.default, self.default_factory, self.compare = default, default_factory, compare


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING, compare: bool = True) -> Any:
    """A field's default, a factory of it, or that it is left out of == and hash."""
    return Field(default, default_factory, compare)


def _fields_of(cls: type) -> list[Field]:
    """The fields of cls and of the records it derives from, as the annotations declare them."""
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for inherited in base.__dict__.get("__record_fields__", ()):
            found[inherited.name] = inherited
    for name, kind in cls.__dict__.get("__annotations__", {}).items():
        if str(kind).startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, MISSING)
        declared = value if isinstance(value, Field) else Field(default=value)
        declared.name, declared.type = name, str(kind)
        if isinstance(value, Field):
            if value.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
        found[name] = declared
    return list(found.values())


def _make_init(cls: type, fields: list[Field], kw_only: bool) -> None:
    """__init__, made as source and compiled once, as dataclasses makes it (its own names all
    begin __record_, which no field's may)."""
    names: dict[str, Any] = {"__record_missing": MISSING}
    params, body = [], []
    for f in fields:
        if f.name.startswith("__record_"):
            raise TypeError(f"{cls.__name__}: field {f.name}: names beginning __record_ are the record's own")
        if f.default is not MISSING:
            if f.default.__class__.__hash__ is None:
                raise ValueError(f"{cls.__name__}: mutable default {type(f.default).__name__} for field {f.name} "
                                 "is not allowed: use default_factory")  # fmt: skip
            names[f"__record_default_{f.name}"] = f.default
            params.append(f"{f.name}=__record_default_{f.name}")
            body.append(f"    __record_dict[{f.name!r}] = {f.name}")
        elif f.default_factory is not MISSING:
            names[f"__record_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=__record_missing")
            body.append(f"    __record_dict[{f.name!r}] = __record_factory_{f.name}() if {f.name} is __record_missing "
                        f"else {f.name}")
        else:
            if not kw_only and any("=" in p for p in params):
                raise TypeError(f"{cls.__name__}: field {f.name} without a default follows one with a default")
            params.append(f.name)
            body.append(f"    __record_dict[{f.name!r}] = {f.name}")
    star = ["*"] if kw_only and params else []
    post = ["    __record_self.__post_init__()"] if hasattr(cls, "__post_init__") else []
    source = "\n".join([f"def __init__({', '.join(['__record_self', *star, *params])}):",
                        "    __record_dict = __record_self.__dict__", *body, *post, "    pass"])  # fmt: skip
    exec(source, names)  # noqa: S102 - our own source, from the class's field names
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _make_methods(cls: type, fields: list[Field], kw_only: bool) -> None:
    compared = tuple(f.name for f in fields if f.compare)
    shown = tuple(f.name for f in fields)

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        mine, theirs = self.__dict__, other.__dict__
        return all(mine[name] == theirs[name] for name in compared)

    def __hash__(self: Any) -> int:
        mine = self.__dict__
        return hash(tuple(mine[name] for name in compared))

    def __repr__(self: Any) -> str:
        mine = self.__dict__
        return f"{self.__class__.__qualname__}({', '.join(f'{name}={mine[name]!r}' for name in shown)})"

    # A class's own __eq__ leaves __hash__ None in its dict: not one of its own (dataclasses' rule).
    own_hash = cls.__dict__.get("__hash__") is not None or "__eq__" not in cls.__dict__ and "__hash__" in cls.__dict__
    for method in (__eq__, __hash__, __repr__):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        if method.__name__ not in cls.__dict__ or method is __hash__ and not own_hash:
            setattr(cls, method.__name__, method)
    cls.__setattr__ = _frozen_setattr  # type: ignore[method-assign,assignment]
    cls.__delattr__ = _frozen_delattr  # type: ignore[method-assign,assignment]
    cls.__match_args__ = () if kw_only else tuple(f.name for f in fields)  # type: ignore[attr-defined,misc]


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, kw_only: bool = False) -> Any:
    """@record or @record(kw_only=True): a frozen record of the class's annotated fields."""

    def make(cls: type[T]) -> type[T]:
        fields = _fields_of(cls)
        cls.__record_fields__ = tuple(fields)  # type: ignore[attr-defined]
        _make_init(cls, fields, kw_only)
        _make_methods(cls, fields, kw_only)
        return cls

    return make if cls is None else make(cls)


def fields(kind: type | object) -> tuple[Field, ...]:
    """A record's fields (of its class, or of one of its instances), in order."""
    found: tuple[Field, ...] | None = getattr(kind, "__record_fields__", None)
    if found is None:
        raise TypeError(f"{kind!r} is not a record")
    return found


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of obj with changes, made through __init__ as dataclasses.replace makes it."""
    names = {f.name for f in fields(obj)}
    unknown = changes.keys() - names
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    current = obj.__dict__
    return obj.__class__(**{name: changes[name] if name in changes else current[name] for name in names})


def asdict(obj: object) -> dict[str, Any]:
    """A record as a dict, records within it too, and the lists, tuples and dicts that hold them
    copied (as dataclasses.asdict)."""
    return {f.name: _plain(obj.__dict__[f.name]) for f in fields(obj)}


def _plain(value: Any) -> Any:
    if hasattr(type(value), "__record_fields__"):
        return asdict(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple: its fields by position
        return type(value)(*(_plain(v) for v in value))
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
