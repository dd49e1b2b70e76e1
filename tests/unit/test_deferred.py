"""sdcontainer.deferred: pathlib imported without fnmatch, re and urllib.parse, all of it working."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

from sdcontainer import deferred

PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
from sdcontainer.deferred import DEFERRED, import_pathlib
import_pathlib()
import pathlib
print(sorted(name for name in DEFERRED if name in sys.modules))
print(pathlib.Path("/etc/os-release").as_uri(), pathlib.PurePath("a/b.py").match("*.py"),
      pathlib.Path("/etc/os-release") in pathlib.Path("/etc").glob("os-rel*"))
import re
print(re.fullmatch("a+", "aa") is not None, sys.modules["re"] is re, type(re).__name__)
"""


def test_pathlib_works_and_its_three_modules_wait_for_their_first_use() -> None:
    root = str(pathlib.Path(deferred.__file__).parent.parent)
    out = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE, root], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "file:///etc/os-release True True", "True True module"]


def test_pathlib_takes_no_other_name_from_urllib_parse() -> None:
    """The one name the stand-in for urllib.parse has: what this Python's pathlib imports from it."""
    tree = ast.parse(pathlib.Path(pathlib.__file__).read_text())
    taken = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "urllib.parse"
             for alias in node.names}  # fmt: skip
    assert taken == {"quote_from_bytes"}


def test_a_module_imported_already_is_left_as_it_is() -> None:
    out = subprocess.run([sys.executable, "-I", "-S", "-c", "import re\n" + PROBE.replace("import re\n", ""),
                          str(pathlib.Path(deferred.__file__).parent.parent)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.splitlines()[0] == "['re']"


def test_a_pathlib_that_uses_one_as_it_is_imported_is_imported_as_ever() -> None:
    """As a later Python's would: here `from operator import attrgetter` at pathlib's top, with
    operator deferred too."""
    probe = PROBE.replace("import_pathlib()", "import sdcontainer.deferred as d\n"
                                              "d.DEFERRED = (*DEFERRED, 'operator')\nimport_pathlib()")
    probe = probe.replace("import pathlib\n", "import pathlib\nassert 'pathlib' in sys.modules\n")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(pathlib.Path(deferred.__file__).parent.parent)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.splitlines()[1:] == ["file:///etc/os-release True True", "True True module"]
