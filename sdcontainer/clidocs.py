"""Man pages and shell completion, made from the CLI itself (its click commands, whose run
flags come from spec.RUN_FLAGS): one declaration of each flag, for the parser, the help, the
man pages and the completion alike.

`sdc completion bash|zsh|fish` prints a completion script; the Debian package installs them,
and its man pages (packaging/build-deb runs `sdc _man DIR`). The scripts complete commands and
flags from what they were made of, and container, image, volume and network names by asking
sdc (`sdc ps -a --format '{{.Names}}'`...) as you type.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import click

from sdcontainer import __version__

# An argument's metavar -> what completes it
NAME_KINDS = {"CONTAINER": "containers", "IMAGE": "images", "VOLUME": "volumes", "NETWORK": "networks",
              "SOURCE_IMAGE": "images", "CONTAINER|IMAGE": "objects", "NAME": "objects"}  # fmt: skip
LISTS = {
    "containers": "sdc ps -a --format '{{.Names}}'",
    "images": "sdc images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>'",
    "volumes": "sdc volume ls -q",
    "networks": "sdc network ls -q",
}


def commands(group: click.Group, path: tuple[str, ...] = ("sdc",)) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every visible command, groups' too, with the words that reach it."""
    found: list[tuple[tuple[str, ...], click.Command]] = [(path, group)]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if isinstance(command, click.Group):
            found += commands(command, (*path, name))
        else:
            found.append(((*path, name), command))
    return found


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def _arguments(command: click.Command) -> list[click.Argument]:
    return [p for p in command.params if isinstance(p, click.Argument)]


# --- man pages ---------------------------------------------------------------------


def _roff(text: str) -> str:
    """Text as roff reads it: backslashes and hyphens escaped, no line starting with . or '."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line if line.startswith((".", "'")) else line) for line in text.splitlines())


def _metavar(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.is_flag:
        return ""
    if isinstance(param, click.Argument):
        return str(param.metavar or param.name or "").upper()
    return str(param.metavar or param.type.name).upper()


def man_page(path: tuple[str, ...], command: click.Command, subcommands: list[tuple[str, str]]) -> str:
    """One command's page, sdc-run(1) say, as man(7) writes them."""
    title = "-".join(path)
    help_text = (command.help or "").strip()
    summary = help_text.splitlines()[0] if help_text else ""
    date = datetime.date.today().isoformat()
    lines = [f'.TH "{title.upper()}" "1" "{date}" "sdc {__version__}" "sdc manual"', ".SH NAME",
             f"{_roff(title)} \\- {_roff(summary.rstrip('.'))}", ".SH SYNOPSIS"]  # fmt: skip
    words = " ".join(path)
    if isinstance(command, click.Group):
        lines.append(f".B {_roff(words)}\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]")
    else:
        args = " ".join(_metavar(a) for a in _arguments(command))
        lines.append(f".B {_roff(words)}\n[\\fIOPTIONS\\fR] {_roff(args)}")
    lines += [".SH DESCRIPTION", _roff(help_text)]
    if subcommands:
        lines.append(".SH COMMANDS")
        for name, text in subcommands:
            lines += [".TP", f"\\fB{_roff(name)}\\fR", _roff(text)]
    options = _options(command)
    if options:
        lines.append(".SH OPTIONS")
        for option in options:
            names = ", ".join(f"\\fB{_roff(n)}\\fR" for n in [*option.opts, *option.secondary_opts])
            meta = _metavar(option)
            lines += [".TP", names + (f" \\fI{_roff(meta)}\\fR" if meta else ""), _roff(option.help or "")]
    see = ["sdc(1)" if title != "sdc" else "", "systemctl(1)", "journalctl(1)", "machinectl(1)", "systemd.unit(5)"]
    lines += [".SH SEE ALSO", ", ".join(f"\\fB{s.split('(')[0]}\\fR({s.split('(')[1]}" for s in see if s)]
    return "\n".join(lines) + "\n"


def write_man_pages(root: click.Group, directory: Path) -> list[Path]:
    """sdc.1 and sdc-COMMAND[-SUBCOMMAND].1 for every visible command of root, in directory."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for path, command in commands(root):
        subs: list[tuple[str, str]] = []
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    subs.append((name, (sub.help or "").strip().splitlines()[0] if sub.help else ""))
        page = directory / f"{'-'.join(path)}.1"
        page.write_text(man_page(path, command, subs))
        written.append(page)
    return written


# --- completion --------------------------------------------------------------------


def _table(root: click.Group) -> dict[str, tuple[list[str], list[str], str]]:
    """Each command path ("sdc run", "sdc image ls") -> (its subcommands, its flags, what its
    arguments are: containers, images, volumes, networks, objects or "")."""
    table = {}
    for path, command in commands(root):
        subs = []
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            subs = [n for n in command.list_commands(ctx) if not (c := command.get_command(ctx, n)) or not c.hidden]
        flags = [o for option in _options(command) for o in [*option.opts, *option.secondary_opts]]
        metas = [str(a.metavar or "").rstrip(".").split("[")[0].rstrip(".").strip("[]") for a in _arguments(command)]
        kind = next((NAME_KINDS[m] for m in metas if m in NAME_KINDS), "")
        arguments = _arguments(command)
        if kind and arguments and arguments[0].nargs == 1:
            kind += "1"  # a name first, then other words (exec's command)
        table[" ".join(path)] = (subs, [*flags, "--help"], kind)
    return table


def _valued(command: click.Command) -> list[str]:
    return [o for option in _options(command) if not option.is_flag for o in option.opts]


SHELLS = ("bash", "zsh", "fish")


def completion(root: click.Group, shell: str) -> str:
    """The completion script of root's commands for shell (one of SHELLS)."""
    if shell == "zsh":
        return "#compdef sdc\n# sdc's completion for zsh, through its bash completion (bashcompinit)\n" \
               "autoload -U +X bashcompinit && bashcompinit\n" + _bash(root)  # fmt: skip
    return _fish(root) if shell == "fish" else _bash(root)


def _case_lines(indent: str, entries: dict[str, str]) -> str:
    return "".join(f'{indent}"{key}") {value} ;;\n' for key, value in entries.items())


def _bash(root: click.Group) -> str:
    table = _table(root)
    valued = {" ".join(p): _valued(c) for p, c in commands(root)}
    words = {path: " ".join([*subs, *flags]) for path, (subs, flags, _) in table.items()}
    kinds = {path: kind for path, (_, _, kind) in table.items() if kind}
    takes = {path: " ".join(v) for path, v in valued.items() if v}
    return f"""# bash completion for sdc {__version__} (made by `sdc completion bash`)
_sdc_names() {{
    case "$1" in
        containers) {LISTS["containers"]} 2>/dev/null ;;
        images) {LISTS["images"]} 2>/dev/null ;;
        volumes) {LISTS["volumes"]} 2>/dev/null ;;
        networks) {LISTS["networks"]} 2>/dev/null ;;
        objects) {{ {LISTS["containers"]}; {LISTS["images"]}; }} 2>/dev/null ;;
    esac
}}

_sdc() {{
    local cur path word i given=0
    cur=${{COMP_WORDS[COMP_CWORD]}}
    path=sdc
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${{COMP_WORDS[i]}}
        case "$word" in
            -*) continue ;;
        esac
        case " $(_sdc_takes "$path") " in
            *" ${{COMP_WORDS[i-1]}} "*) continue ;;  # the value of a flag before it
        esac
        if _sdc_is_command "$path $word"; then
            path="$path $word"
        else
            given=$((given + 1))  # an argument of the command
        fi
    done
    case " $(_sdc_takes "$path") " in
        *" ${{COMP_WORDS[COMP_CWORD-1]}} "*) COMPREPLY=(); return 0 ;;  # a flag's value: nothing to offer
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_sdc_words "$path")" -- "$cur"))
        return 0
    fi
    local kind
    kind=$(_sdc_kind "$path")
    if [[ $kind == *1 ]]; then  # one name, then words of other kinds
        ((given == 0)) && kind=${{kind%1}} || kind=none
    fi
    if [[ $kind == none ]]; then
        COMPREPLY=()
    elif [[ -n $kind ]]; then
        local names
        names=$(_sdc_names "$kind")
        local IFS=$'\\n'  # (a name is a line)
        COMPREPLY=($(compgen -W "$names" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(_sdc_words "$path" | tr ' ' '\\n' | grep -v '^-')" -- "$cur"))
    fi
}}

_sdc_words() {{
    case "$1" in
{_case_lines(" " * 8, {k: f"echo '{v}'" for k, v in words.items()})}    esac
}}

_sdc_kind() {{
    case "$1" in
{_case_lines(" " * 8, {k: f"echo {v}" for k, v in kinds.items()})}    esac
}}

_sdc_takes() {{
    case "$1" in
{_case_lines(" " * 8, {k: f"echo '{v}'" for k, v in takes.items()})}    esac
}}

_sdc_is_command() {{
    case "$1" in
{_case_lines(" " * 8, {k: "return 0" for k in table})}    esac
    return 1
}}

complete -F _sdc sdc
"""


def _fish(root: click.Group) -> str:
    out = [f"# fish completion for sdc {__version__} (made by `sdc completion fish`)", "complete -c sdc -f"]
    for kind, listing in LISTS.items():
        out.append(f"function __sdc_{kind}; {listing} 2>/dev/null; end")
    out.append("function __sdc_objects; __sdc_containers; __sdc_images; end")
    table = _table(root)
    for path, (subs, flags, kind) in table.items():
        words = path.split()[1:]
        # at this command: its words seen, and none of its subcommands yet
        seen = [f"__fish_seen_subcommand_from {w}" for w in words] or ["true"]
        condition = "; and ".join([*seen, *([f"not __fish_seen_subcommand_from {' '.join(subs)}"] if subs else [])])
        for sub in subs:
            out.append(f"complete -c sdc -n '{condition}' -a {_fish_quote(sub)}")
        for flag in flags:
            option = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
            out.append(f"complete -c sdc -n '{condition}' {option}")
        if kind:
            out.append(f"complete -c sdc -n '{condition}' -a '(__sdc_{kind.rstrip('1')})'")
    return "\n".join(out) + "\n"


def _fish_quote(word: str) -> str:
    return "'" + re.sub(r"(['\\\\])", r"\\\1", word) + "'"
