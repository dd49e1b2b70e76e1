"""The layering of STYLE.md, checked: nothing imports upward; the launcher is standalone."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sdcontainer"

# Lower numbers are lower layers; a module may import only from strictly lower
# layers, or from its own subpackage.
LAYERS = {
    "__init__": -1, "errors": 0, "log": 0, "files": 0, "protocol": 0, "phases": 0, "record": 0, "jsonscan": 0,
    "deferred": 0,
    "text": 0.5, "gotemplate": 0.5,
    "paths": 0.5, "digests": 1, "run": 1, "linux": 1, "devices": 1, "seccomp": 1, "cgroups": 1, "volumes": 1,
    "machined": 1, "ports": 1, "journal": 1, "netns": 2, "podns": 2.5,
    "containerspec": 1.5, "records": 2, "spec": 2, "userns": 2,
    "units": 3, "bundle": 3, "systemd": 3, "storage": 3, "layers": 3, "launcher": 3, "network": 3,
    "images": 4, "containers": 4, "launcher_entry": 4, "persist": 4,
    "api": 5, "quadlet": 5.5, "kube": 5.5, "build": 5.5,
    "render": 6, "clidocs": 6.5, "cli": 7, "entry": 8, "__main__": 9,
}  # fmt: skip


def top(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "sdcontainer":
                found.update(f"sdcontainer.{alias.name}" for alias in node.names)
    return found


def modules() -> dict[str, Path]:
    result = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        result[name] = path
    return result


def test_every_module_has_a_layer() -> None:
    for name in modules():
        assert top(name) in LAYERS, f"{name} is in no layer: add it to LAYERS"


def test_nothing_imports_upward() -> None:
    bad = []
    for name, path in modules().items():
        mine = top(name)
        for imp in imports_of(path):
            if not imp.startswith("sdcontainer.") or imp == "sdcontainer":
                continue
            theirs = top(imp) if top(imp) in LAYERS else "__init__"  # `from sdcontainer import __version__`
            if theirs == mine:
                continue
            if LAYERS[theirs] >= LAYERS[mine] and theirs != "__init__":
                bad.append(f"{name} imports {imp}")
    assert bad == []


def test_launcher_is_standard_library_only() -> None:
    allowed = {"sdcontainer", "sdcontainer.linux", "sdcontainer.files", "sdcontainer.protocol", "sdcontainer.machined",
               "sdcontainer.netns", "sdcontainer.podns", "sdcontainer.journal", "sdcontainer.phases",
               "sdcontainer.jsonscan", "sdcontainer.cgroups", "sdcontainer.errors"}  # fmt: skip
    checked = ("launcher", "linux", "files", "protocol", "machined", "journal", "phases", "jsonscan", "netns", "podns",
               "errors", "cgroups")  # fmt: skip
    for mod in checked:
        for imp in imports_of(PACKAGE / f"{mod}.py"):
            root = imp.split(".")[0]
            assert imp in allowed or root in sys.stdlib_module_names or root == "__future__", f"{mod} imports {imp}"


def test_the_launcher_starts_on_c_modules() -> None:
    """It runs on every container start: enum, re and the stdlib wrappers they come with stay out."""
    proc = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", str(PACKAGE / "launcher_entry.py")],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "usage:" in proc.stderr  # it ran, and stopped at its usage message
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert {"sdcontainer.linux", "ctypes", "_json"} <= imported
    assert not imported & {"enum", "re", "json", "socket", "signal", "selectors", "typing"}
