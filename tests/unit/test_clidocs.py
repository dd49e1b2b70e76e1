"""Man pages and completion made from the CLI itself (clidocs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sdcontainer.spec import RUN_FLAGS

FAKE_SDC = """sdc() { case "$1 $2" in
    "ps -a") printf 'web\\nweb-2\\ndb\\n' ;;
    "images --format") printf 'busybox:latest\\n<none>:<none>\\n' ;;
    "volume ls") echo data ;;
    "network ls") echo sdc ;;
esac; }
"""


def sdc(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "sdcontainer", *args], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def test_every_run_flag_is_in_sdc_runs_man_page(tmp_path: Path) -> None:
    written = sdc("_man", str(tmp_path)).split()
    assert str(tmp_path / "sdc-run.1") in written and str(tmp_path / "sdc-image-ls.1") in written
    page = (tmp_path / "sdc-run.1").read_text().replace("\\-", "-")
    assert [n for flag in RUN_FLAGS for n in flag.names if f"\\fB{n}\\fR" not in page] == []
    assert page.startswith('.TH "SDC-RUN" "1"') and ".SH OPTIONS" in page
    assert all(not line.startswith(".") or line.split()[0] in (".TH", ".SH", ".TP", ".B")
               for line in page.splitlines())  # fmt: skip  (no text line reads as a request)


def test_bash_completion_of_commands_flags_and_names(tmp_path: Path) -> None:
    script = tmp_path / "sdc.bash"
    script.write_text(sdc("completion", "bash"))
    cases = {"sdc st": "start stop stats", "sdc stop w": "web web-2", "sdc stop -t 5 d": "db",
             "sdc run --rm bu": "busybox:latest", "sdc run --name x": "", "sdc image rm b": "busybox:latest",
             "sdc volume rm ''": "data", "sdc network rm ''": "sdc",
             "sdc run --de": "--detach --device --device-cgroup-rule",
             "sdc exec web ''": "", "sdc container stop ''": "web web-2 db", "sdc logs w": "web web-2"}  # fmt: skip
    probe = FAKE_SDC + f". {script}\n" + "".join(
        f'COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMPREPLY=(); _sdc; echo "${{COMPREPLY[*]}}"\n'
        for words in cases)  # fmt: skip
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert dict(zip(cases, out, strict=True)) == cases


def test_zsh_and_fish_scripts(tmp_path: Path) -> None:
    zsh = sdc("completion", "zsh")
    assert zsh.startswith("#compdef sdc") and "complete -F _sdc sdc" in zsh
    fish = sdc("completion", "fish")
    assert "function __sdc_containers; sdc ps -a --format '{{.Names}}'" in fish
    assert "complete -c sdc -n '__fish_seen_subcommand_from stop' -a '(__sdc_containers)'" in fish
    proc = subprocess.run([sys.executable, "-m", "sdcontainer", "completion", "tcsh"], capture_output=True, text=True)
    assert proc.returncode == 125 and len(proc.stderr.splitlines()) == 1
