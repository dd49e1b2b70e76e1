"""pathlib without what sdc's fast commands never ask of it.

pathlib imports fnmatch and re (for glob patterns) and urllib.parse (for file: URIs) at its top:
~4 ms of an `sdc ps` here, a fifth of it, for nothing `ps`, `run` or `run --rm` calls (issue 26).
import_pathlib imports pathlib with a stand-in for each of those three that is not imported yet,
in sys.modules only while pathlib is imported: the module itself is imported on pathlib's
first use of it (a glob, a match, an as_uri), and an `import re` anywhere else imports re as
ever. Python 3.11's pathlib uses none of them as it is imported and takes one name from
urllib.parse (quote_from_bytes: a test checks both); a pathlib that needs one at once (a later
Python's, whose glob compiles a pattern as it is imported) is imported as ever."""

from __future__ import annotations

import sys

ModuleType = type(sys)  # (types.ModuleType, without importing types)

DEFERRED = ("fnmatch", "re", "urllib.parse")


class _Deferred(ModuleType):  # type: ignore[misc,valid-type]
    """A module's stand-in: any attribute asked of it is the real module's, imported then."""

    def __getattr__(self, attr: str) -> object:
        name: str = self.__dict__["__name__"]
        if attr.startswith("__") or sys.modules.get(name) is self:
            raise AttributeError(attr)  # (while pathlib is being imported: no real import under us)
        return getattr(__import__(name, fromlist=["_"]), attr)


def _quote_from_bytes(*args: object, **kwargs: object) -> object:
    from urllib.parse import quote_from_bytes

    return quote_from_bytes(*args, **kwargs)  # type: ignore[arg-type]


def import_pathlib() -> None:
    """pathlib imported (once), its three modules deferred; a no-op once pathlib is there."""
    if "pathlib" in sys.modules:
        return
    stand_ins = {name: _Deferred(name) for name in DEFERRED if name not in sys.modules}
    if "urllib.parse" in stand_ins:
        stand_ins["urllib.parse"].quote_from_bytes = _quote_from_bytes
    sys.modules.update(stand_ins)
    try:
        import pathlib  # noqa: F401
    except (ImportError, AttributeError):
        pass  # a pathlib (another Python's) that uses one as it is imported: imported as ever below
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
    import pathlib  # noqa: F401, F811
