"""The namespace filter, run through a classic BPF interpreter for every ABI it must cover."""

from __future__ import annotations

import struct

import pytest

from sdcontainer import seccomp
from sdcontainer.errors import SdcError

EPERM = seccomp.RET_ERRNO | seccomp.EPERM
ENOSYS = seccomp.RET_ERRNO | seccomp.ENOSYS
ALLOW = seccomp.RET_ALLOW
NEWUSER, NEWNS, NEWCGROUP, NEWNET, NEWTIME = 0x10000000, 0x20000, 0x02000000, 0x40000000, 0x80
SIGCHLD, CLONE_VM, CLONE_THREAD = 17, 0x100, 0x10000


def run(program: bytes, arch: int, nr: int, arg0: int = 0) -> int:
    """What the kernel's classic BPF interpreter returns for struct seccomp_data (nr, arch, args)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    insns = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:
            acc &= k
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x45:
            pc += jt if acc & k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


@pytest.mark.parametrize("machine", sorted(seccomp.ABIS))
def test_namespaces_are_refused_in_every_abi_of_the_machine(machine: str) -> None:
    program = seccomp.build_namespace_filter(machine)
    for abi in seccomp.ABIS[machine]:
        for x32 in [0] + ([seccomp.X32_SYSCALL_BIT] if abi.x32 else []):

            def call(nr: int, arg0: int = 0, abi: seccomp.Abi = abi, x32: int = x32) -> int:
                return run(program, abi.arch, nr | x32, arg0)

            for flag in (NEWUSER, NEWNS, NEWCGROUP, NEWNET, NEWUSER | NEWNS | NEWCGROUP):
                assert call(abi.unshare, flag) == EPERM
                assert call(abi.clone, flag | SIGCHLD) == EPERM
            assert call(abi.unshare, NEWTIME) == EPERM
            assert call(abi.setns) == EPERM
            assert call(abi.clone3) == ENOSYS  # its flags are in memory: the C library falls back to clone
            # What programs do all the time still works: fork, threads, unshare of files or fs.
            assert call(abi.clone, SIGCHLD) == ALLOW
            assert call(abi.clone, CLONE_VM | CLONE_THREAD | SIGCHLD) == ALLOW
            assert call(abi.clone, 0x80 | 0x7F) == ALLOW  # exit signal bits, not CLONE_NEWTIME
            assert call(abi.unshare, 0x400 | 0x200) == ALLOW  # CLONE_FILES | CLONE_FS
            # Only the low word is read: unshare(2) refuses unknown high bits itself (EINVAL), and
            # clone(2) ignores them.
            assert call(abi.unshare, NEWUSER << 32) == ALLOW
            for nr in (0, 1, 59, 200, 434, 436):
                if nr not in (abi.unshare, abi.clone, abi.clone3, abi.setns):
                    assert call(nr, NEWUSER) == ALLOW


def test_any_other_abi_is_killed() -> None:
    program = seccomp.build_namespace_filter("x86_64")
    assert run(program, 0xC00000B7, 97, NEWUSER) == seccomp.RET_KILL_PROCESS  # aarch64's unshare


def test_an_unsupported_machine_is_an_error() -> None:
    with pytest.raises(SdcError, match="no seccomp filter for riscv64"):
        seccomp.build_namespace_filter("riscv64")
