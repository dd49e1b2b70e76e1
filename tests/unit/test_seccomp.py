"""seccomp profiles compiled by libseccomp, and loaded for real: each check runs in a child
process that installs the program (no root needed: no_new_privs first) and reports the errno
of each system call it tries."""

from __future__ import annotations

import ctypes
import errno
import json
import os
from pathlib import Path

import pytest

from sdcontainer import linux, seccomp
from sdcontainer.errors import UsageError
from sdcontainer.spec import DEFAULT_CAPS

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NEWUSER, NEWNS = 0x10000000, 0x20000
AF_INET, AF_VSOCK, SOCK_STREAM = 2, 40, 1
ADDR_NO_RANDOMIZE = 0x0040000


def nr(name: str) -> int:
    lib = ctypes.CDLL("libseccomp.so.2")
    number = int(lib.seccomp_syscall_resolve_name(name.encode()))
    assert number >= 0, name
    return number


def errnos(program: bytes | None, calls: dict[str, tuple[str, tuple[object, ...]]]) -> dict[str, int]:
    """Each call (system call name, arguments) under program, in a child: 0 or its errno."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
            if program is not None:
                linux.load_seccomp_filter(program)
            results = {}
            for label, (name, args) in calls.items():
                ctypes.set_errno(0)
                ret = libc.syscall(nr(name), *args)
                results[label] = ctypes.get_errno() if ret < 0 else 0
            os.write(write, json.dumps(results).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)  # type: ignore[no-any-return]


def default_program(caps: tuple[str, ...] = tuple(DEFAULT_CAPS)) -> bytes:
    profile = seccomp.load_profile(seccomp.DEFAULT_PROFILE)
    return seccomp.compile_profile(profile, caps=caps, machine=os.uname().machine, kernel=os.uname().release)


def test_the_default_profile_refuses_what_dockers_refuses_and_lets_programs_work() -> None:
    empty = ctypes.c_char_p(b"")
    got = errnos(default_program(), {
        "unshare user": ("unshare", (NEWUSER,)),
        "unshare mount": ("unshare", (NEWNS,)),
        "setns": ("setns", (-1, 0)),
        "mount": ("mount", (empty, empty, empty, 0, None)),
        "keyctl": ("keyctl", (0, 0, 0, 0, 0)),
        "add_key": ("add_key", (empty, empty, None, 0, 0)),
        "bpf": ("bpf", (0, None, 0)),
        "perf_event_open": ("perf_event_open", (None, 0, -1, -1, 0)),
        "kexec_load": ("kexec_load", (0, 0, None, 0)),
        "open_by_handle_at": ("open_by_handle_at", (-1, None, 0)),
        "personality other": ("personality", (ADDR_NO_RANDOMIZE,)),
        "vsock": ("socket", (AF_VSOCK, SOCK_STREAM, 0)),
        "clone3": ("clone3", (None, 0)),
        # what every program does
        "getpid": ("getpid", ()),
        "personality query": ("personality", (ctypes.c_ulong(0xFFFFFFFF),)),  # as glibc passes it
        "inet": ("socket", (AF_INET, SOCK_STREAM, 0)),
        "bad fd": ("close", (-1,)),
    })  # fmt: skip
    refused = {k for k, v in got.items() if v == errno.EPERM}
    assert refused == {"unshare user", "unshare mount", "setns", "mount", "keyctl", "add_key", "bpf",
                       "perf_event_open", "kexec_load", "open_by_handle_at", "personality other", "vsock"}  # fmt: skip
    assert got["clone3"] == errno.ENOSYS  # its flags are in memory no filter reads: the C library falls back to clone
    assert got["bad fd"] == errno.EBADF and got["getpid"] == got["inet"] == got["personality query"] == 0


def test_includes_and_excludes_by_capability_architecture_and_kernel(tmp_path: Path) -> None:
    eacces = {"action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES}
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdirat"], **eacces, "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["unlinkat"], **eacces, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["fchdir"], **eacces, "includes": {"arches": ["sparc"]}},
        {"names": ["fchmod"], **eacces, "excludes": {"arches": [seccomp.GOARCH[os.uname().machine]]}},
        {"names": ["fsync"], **eacces, "includes": {"minKernel": "99.0"}},
        {"names": ["fdatasync"], **eacces, "includes": {"minKernel": "3.10"}},
    ]}  # fmt: skip

    def under(caps: tuple[str, ...], directory: str) -> dict[str, int]:
        program = seccomp.compile_profile(profile, caps=caps, machine=os.uname().machine, kernel=os.uname().release)
        path = ctypes.c_char_p(str(tmp_path / directory).encode())
        return errnos(program, {"mkdirat": ("mkdirat", (-100, path, 0o755)),
                                "unlinkat": ("unlinkat", (-100, ctypes.c_char_p(b"/nonexistent"), 0)),
                                **{name: (name, (-1,) if name != "fchmod" else (-1, 0))
                                   for name in ("fchdir", "fchmod", "fsync", "fdatasync")}})  # fmt: skip

    assert under((), "a") == {"mkdirat": 0, "unlinkat": errno.EACCES, "fchdir": errno.EBADF,
                              "fchmod": errno.EBADF, "fsync": errno.EBADF, "fdatasync": errno.EACCES}  # fmt: skip
    assert under(("CAP_SYS_ADMIN",), "b") == {"mkdirat": errno.EACCES, "unlinkat": errno.ENOENT,
                                              "fchdir": errno.EBADF, "fchmod": errno.EBADF, "fsync": errno.EBADF,
                                              "fdatasync": errno.EACCES}  # fmt: skip


def test_a_docker_profile_that_denies_mkdir(tmp_path: Path) -> None:
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }))  # fmt: skip
    program = seccomp.program_for(tmp_path, str(profile), caps=DEFAULT_CAPS)
    target = ctypes.c_char_p(str(tmp_path / "d").encode())
    got = errnos(program, {"mkdir": ("mkdirat", (-100, target, 0o755)), "getpid": ("getpid", ())})
    assert got == {"mkdir": errno.EACCES, "getpid": 0} and not (tmp_path / "d").exists()


def test_unconfined_is_no_program_and_the_default_is_compiled_once(tmp_path: Path) -> None:
    assert seccomp.program_for(tmp_path, "unconfined", caps=DEFAULT_CAPS) is None
    first = seccomp.program_for(tmp_path, None, caps=DEFAULT_CAPS)
    [cached] = (tmp_path / "seccomp").iterdir()
    assert cached.read_bytes() == first and first is not None and len(first) % 8 == 0
    cached.write_bytes(first + first[:8])  # what is read from now on is the store's copy
    assert seccomp.program_for(tmp_path, None, caps=DEFAULT_CAPS) == first + first[:8]
    other = seccomp.program_for(tmp_path, None, caps=("CAP_SYS_ADMIN",))
    assert other != first and len(list((tmp_path / "seccomp").iterdir())) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "cannot read the seccomp profile"),
        ('{"defaultAction": "SCMP_ACT_MAYBE"}', "is not a seccomp profile"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOPE"}]}',
         "unknown action 'SCMP_ACT_NOPE' in syscalls[0] (read)"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",'
         ' "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}', "a bad argument comparison"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_VAX"]}', "unknown architecture"),
    ],
)
def test_a_bad_profile_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "p.json").write_text(text)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        seccomp.program_for(tmp_path, str(tmp_path / "p.json"), caps=DEFAULT_CAPS)
    assert not (tmp_path / "seccomp").exists()


def test_a_missing_profile_says_so(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no seccomp profile"):
        seccomp.program_for(tmp_path, str(tmp_path / "nope.json"), caps=DEFAULT_CAPS)
