"""seccomp profiles in Docker's JSON format, compiled to a BPF program by libseccomp.

A container's profile is sdc's default (seccomp-default.json: Docker's own default profile),
a file given with --security-opt seccomp=FILE, or none (seccomp=unconfined). It is compiled
when the container is created, for this machine's system call ABIs (the profile's archMap) and
the container's capabilities (a rule may need or exclude some), and the program is kept in the
bundle, where the launcher, which stays standard-library only, loads it as its last step
before the exec. The default profile's program is cached in the store, so `sdc run` compiles
nothing on the way.

libseccomp through ctypes, not a Python binding: libseccomp2 is on every systemd host (systemd
links it), while its Python module exists for the distribution's Python only. The profile's
semantics are Docker's (moby's seccomp.setupSeccomp): a rule's `includes` must all hold and none
of its `excludes` (capabilities, architectures by Go's names, minimum kernel); a system call this
libseccomp does not know is left out; the comparisons of one rule are ANDed when they test
different arguments, and become a rule each when two test the same one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sdcontainer.errors import SdcError, UsageError
from sdcontainer.files import read_given

TYPE_CHECKING = False  # (typing itself is ~2 ms of every command's import)
if TYPE_CHECKING:
    import ctypes
    from typing import Any

DEFAULT_PROFILE = Path(__file__).with_name("seccomp-default.json")
UNCONFINED = "unconfined"
_ArgCmp: Any = None  # struct scmp_arg_cmp, defined with libseccomp's functions

ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,  # the thread
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,  # | the errno
    "SCMP_ACT_TRACE": 0x7FF00000,  # | the tracer's message
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
_WITH_VALUE = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
EPERM = 1
# Go's names for the machine (what a profile's "arches" say), by os.uname().machine
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
          "s390x": "s390x", "riscv64": "riscv64", "mips64": "mips64", "mips64el": "mips64le"}  # fmt: skip
_NR_SCMP_ERROR = -1
_FLTATR_CTL_OPTIMIZE = 8  # libseccomp >= 2.5: 2 sorts the rules into a binary tree


def _libseccomp() -> ctypes.CDLL:
    """libseccomp, typed; ctypes and its search for the library are paid by a compile only (the
    default profile's program is read from the store's cache)."""
    import ctypes
    import ctypes.util

    global _ArgCmp

    class _ArgCmp(ctypes.Structure):  # struct scmp_arg_cmp
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                    ("datum_b", ctypes.c_uint64)]  # fmt: skip

    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        raise SdcError("libseccomp is not installed: sdc cannot build the container's seccomp filter",
                       hint="install libseccomp2, or run with --security-opt seccomp=unconfined") from None  # fmt: skip
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]  # fmt: skip
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def load_profile(source: str | Path) -> dict[str, Any]:
    """A profile file in Docker's JSON format, checked enough to compile."""
    import json  # (a profile is compiled once, its program kept: program_for)

    try:
        profile = json.loads(read_given(str(source)))
    except FileNotFoundError:
        raise UsageError(f"no seccomp profile {source}", hint="give a file in Docker's JSON format") from None
    except OSError as exc:
        raise UsageError(f"cannot read the seccomp profile {source}: {exc.strerror}",
                         hint="give a file in Docker's JSON format") from None  # fmt: skip
    except ValueError as exc:
        raise UsageError(f"cannot read the seccomp profile {source}: {exc}",
                         hint="give a file in Docker's JSON format") from None  # fmt: skip
    if not isinstance(profile, dict) or profile.get("defaultAction") not in ACTIONS:
        raise UsageError(f"{source} is not a seccomp profile: no known defaultAction",
                         hint="give a file in Docker's JSON format") from None  # fmt: skip
    return profile


def _action(name: object, errno: object, where: str) -> int:
    if name not in ACTIONS:
        raise UsageError(f"seccomp profile: unknown action {name!r} in {where}",
                         hint=f"use one of {', '.join(ACTIONS)}")  # fmt: skip
    value = ACTIONS[str(name)]
    if name in _WITH_VALUE:
        value |= int(errno if isinstance(errno, int) else EPERM) & 0xFFFF
    return value


def _kernel_at_least(release: str, wanted: str) -> bool:
    def version(text: str) -> tuple[int, ...]:
        return tuple(int("".join(c for c in part if c.isdigit()) or 0) for part in text.split("-")[0].split(".")[:2])

    return version(release) >= version(wanted)


def _applies(rule: dict[str, Any], *, caps: Iterable[str], machine: str, kernel: str) -> bool:
    """Docker's includes and excludes: by capability, architecture (Go's names) and kernel."""
    caps, arch = set(caps), GOARCH.get(machine, machine)
    includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
    if not set(includes.get("caps") or ()) <= caps or set(excludes.get("caps") or ()) & caps:
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if arch in (excludes.get("arches") or ()):
        return False
    return not (includes.get("minKernel") and not _kernel_at_least(kernel, str(includes["minKernel"])))


def _comparisons(args: list[dict[str, Any]], where: str) -> list[list[Any]]:
    """The comparisons of a rule, as the rules libseccomp gets: one rule ANDing them all, or
    (where two test the same argument, which libseccomp refuses in one rule) one each."""
    cmps = []
    for arg in args:
        if arg.get("op") not in OPS or not isinstance(arg.get("index"), int) or not 0 <= arg["index"] < 6:
            raise UsageError(f"seccomp profile: a bad argument comparison in {where}: {arg}",
                             hint=f"index 0-5, op one of {', '.join(OPS)}")  # fmt: skip
        cmps.append(_ArgCmp(arg["index"], OPS[arg["op"]], int(arg.get("value") or 0) & (2**64 - 1),
                            int(arg.get("valueTwo") or 0) & (2**64 - 1)))  # fmt: skip
    if len({c.arg for c in cmps}) == len(cmps):
        return [cmps]
    return [[c] for c in cmps]


def compile_profile(profile: dict[str, Any], *, caps: Iterable[str], machine: str, kernel: str) -> bytes:
    """The BPF program (struct sock_filter[]) of a profile, for a process with caps on this machine."""
    caps = tuple(caps)
    lib = _libseccomp()
    default = _action(profile["defaultAction"], profile.get("defaultErrnoRet"), "defaultAction")
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SdcError("libseccomp could not start a filter", hint="is libseccomp2 too old?")
    try:
        lib.seccomp_attr_set(ctx, _FLTATR_CTL_OPTIMIZE, 2)  # an older libseccomp keeps its linear order
        _add_architectures(lib, ctx, profile)
        for n, rule in enumerate(profile.get("syscalls") or ()):
            if not isinstance(rule, dict) or not _applies(rule, caps=caps, machine=machine, kernel=kernel):
                continue
            names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
            where = f"syscalls[{n}] ({', '.join(map(str, names[:3]))}{'...' if len(names) > 3 else ''})"
            action = _action(rule.get("action"), rule.get("errnoRet"), where)
            groups = _comparisons(list(rule.get("args") or ()), where)
            if action == default:
                continue  # what happens anyway (libseccomp refuses such a rule)
            for name in names:
                nr = lib.seccomp_syscall_resolve_name(str(name).encode())
                if nr == _NR_SCMP_ERROR:
                    continue  # not a system call this machine or this libseccomp knows
                for cmps in groups:
                    array = (_ArgCmp * len(cmps))(*cmps) if cmps else None
                    ret = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), array)
                    if ret < 0:
                        raise UsageError(f"seccomp profile: libseccomp refused the rule for {name} in {where}: "
                                         f"{os.strerror(-ret)}",
                                         hint="check the rule's action and arguments")  # fmt: skip
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


def _add_architectures(lib: ctypes.CDLL, ctx: int, profile: dict[str, Any]) -> None:
    """The native ABI is the filter's own; the archMap's entry for it adds its others (x86_64:
    i386 and x32), as Docker does; an older profile's "architectures" are added as they are."""
    native = lib.seccomp_arch_native()
    wanted: list[str] = []
    for entry in profile.get("archMap") or ():
        if isinstance(entry, dict) and _arch_token(lib, entry.get("architecture")) == native:
            wanted += [str(a) for a in entry.get("subArchitectures") or ()]
    wanted += [str(a) for a in profile.get("architectures") or ()]
    for name in wanted:
        token = _arch_token(lib, name)
        if token == 0:
            raise UsageError(f"seccomp profile: unknown architecture {name}", hint="use SCMP_ARCH_... names")
        ret = lib.seccomp_arch_add(ctx, token)
        if ret < 0 and -ret != 17:  # EEXIST: the native one, or named twice
            raise UsageError(f"seccomp profile: libseccomp cannot add {name}: {os.strerror(-ret)}",
                             hint="remove it from the profile")  # fmt: skip


def _arch_token(lib: ctypes.CDLL, name: object) -> int:
    text = str(name or "").removeprefix("SCMP_ARCH_").lower()
    return int(lib.seccomp_arch_resolve_name(text.encode())) if text else 0


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    fd = os.memfd_create("sdc-seccomp", os.MFD_CLOEXEC)
    try:
        ret = lib.seccomp_export_bpf(ctx, fd)
        if ret < 0:
            raise SdcError(f"libseccomp could not write the filter: {os.strerror(-ret)}", hint="a bug: report it")
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def program_for(store_root: Path, option: str | None, *, caps: Iterable[str]) -> bytes | None:
    """The program a container gets for --security-opt seccomp=OPTION (None: the default), or
    None for unconfined. The default profile's is compiled once per machine, kernel and set of
    capabilities, and kept in the store (a file's stat, not its hash: nothing to import)."""
    if option == UNCONFINED:
        return None
    machine, kernel = os.uname().machine, os.uname().release
    caps = sorted(caps)
    if option is not None:
        return compile_profile(load_profile(option), caps=caps, machine=machine, kernel=kernel)
    st = os.stat(DEFAULT_PROFILE)
    key = f"default-{machine}-{kernel}-{st.st_size}-{st.st_mtime_ns}-{_caps_key(caps)}.bpf"
    cached = store_root / "seccomp" / key
    try:
        return cached.read_bytes()
    except FileNotFoundError:
        pass
    program = compile_profile(load_profile(DEFAULT_PROFILE), caps=caps, machine=machine, kernel=kernel)
    from sdcontainer.files import write_atomically

    cached.parent.mkdir(mode=0o700, exist_ok=True)
    write_atomically(str(cached), program)
    return program


def _caps_key(caps: list[str]) -> str:
    """The capabilities as a name's part: their mask, in hex (every one's names would pass
    NAME_MAX: --cap-add ALL made ENAMETOOLONG)."""
    from sdcontainer.protocol import CAPABILITIES

    return f"{sum(1 << CAPABILITIES[c] for c in caps if c in CAPABILITIES):x}"
