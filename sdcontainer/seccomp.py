"""seccomp filters as classic BPF programs (seccomp(2), <linux/filter.h>), built without libseccomp.

Pure: `build_namespace_filter` returns the program's bytes; sdc writes them into the
container's bundle and the launcher loads them as the last step before the exec.

The filter refuses what a container's root needs no capability for and must not have:
new namespaces. A user namespace gives its creator every capability inside it, and
with them a mount of the cgroup v1 hierarchies, where the container could write its
own memory and pids limits. Namespace flags to unshare(2) and clone(2) get EPERM,
setns(2) too (Docker's default profile refuses all three without CAP_SYS_ADMIN);
clone3(2) passes its flags in memory a filter cannot read, so it gets ENOSYS, on
which the C libraries fall back to clone(2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sdcontainer.errors import SdcError

# <linux/bpf_common.h>: the few instructions the filter uses
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = the 32-bit word at offset k of struct seccomp_data
_ALU_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K: A &= k
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K: A == k ? jt : jf
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K: A & k ? jt : jf
_RET_K = 0x06  # BPF_RET | BPF_K: return k

# <linux/seccomp.h>
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
EPERM, ENOSYS = 1, 38

# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # args[0]'s low word: little-endian ABIs only (both below)

# <linux/sched.h>: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET; the kernel reads
# only the low 32 bits of clone's flags. CLONE_NEWTIME (0x80) is unshare's alone: in clone's
# flags those bits are the exit signal.
CLONE_NAMESPACES = 0x7E020000
UNSHARE_NAMESPACES = CLONE_NAMESPACES | 0x80
X32_SYSCALL_BIT = 0x40000000


@dataclass(frozen=True, kw_only=True)
class Abi:
    """One system call ABI a process on this machine can use: its audit arch and numbers."""

    arch: int
    unshare: int
    clone: int
    clone3: int
    setns: int
    x32: bool = False  # x86_64's: x32 calls are the same numbers with X32_SYSCALL_BIT set


# The native ABI and the compat one of each supported machine (<asm/unistd*.h>, <linux/audit.h>).
ABIS: dict[str, tuple[Abi, ...]] = {
    "x86_64": (
        Abi(arch=0xC000003E, unshare=272, clone=56, clone3=435, setns=308, x32=True),
        Abi(arch=0x40000003, unshare=310, clone=120, clone3=435, setns=346),  # i386
    ),
    "aarch64": (
        Abi(arch=0xC00000B7, unshare=97, clone=220, clone3=435, setns=268),
        Abi(arch=0x40000028, unshare=337, clone=120, clone3=435, setns=375),  # arm
    ),
}

# An instruction before assembly: (code, k, jump-if-true label, jump-if-false label); a
# label of None is the next instruction. A str alone marks where a label is.
_Insn = tuple[int, int, str | None, str | None]


def _abi_block(abi: Abi, n: int) -> list[_Insn | str]:
    denied, unsupported, allowed = f"deny{n}", f"nosys{n}", f"allow{n}"
    block: list[_Insn | str] = [f"abi{n}", (_LD_W_ABS, _NR, None, None)]
    if abi.x32:
        block.append((_ALU_AND_K, ~X32_SYSCALL_BIT & 0xFFFFFFFF, None, None))
    block += [
        (_JEQ_K, abi.unshare, f"unshare{n}", None),
        (_JEQ_K, abi.clone, f"clone{n}", None),
        (_JEQ_K, abi.clone3, unsupported, None),
        (_JEQ_K, abi.setns, denied, allowed),
        f"unshare{n}",
        (_LD_W_ABS, _ARG0_LOW, None, None),
        (_JSET_K, UNSHARE_NAMESPACES, denied, allowed),
        f"clone{n}",
        (_LD_W_ABS, _ARG0_LOW, None, None),
        (_JSET_K, CLONE_NAMESPACES, denied, allowed),
        denied,
        (_RET_K, RET_ERRNO | EPERM, None, None),
        unsupported,
        (_RET_K, RET_ERRNO | ENOSYS, None, None),
        allowed,
        (_RET_K, RET_ALLOW, None, None),
    ]
    return block


def _assemble(source: list[_Insn | str]) -> bytes:
    """struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k) with the labels resolved."""
    labels: dict[str, int] = {}
    program: list[_Insn] = []
    for item in source:
        if isinstance(item, str):
            labels[item] = len(program)
        else:
            program.append(item)
    out = bytearray()
    for index, (code, k, jt, jf) in enumerate(program):
        offsets = [0 if label is None else labels[label] - index - 1 for label in (jt, jf)]
        if not all(0 <= offset <= 255 for offset in offsets):  # BPF jumps only forward, by a byte
            raise ValueError(f"jump out of range at instruction {index}")
        out += struct.pack("=HBBI", code, offsets[0], offsets[1], k)
    return bytes(out)


def build_namespace_filter(machine: str) -> bytes:
    """The filter for a machine (os.uname().machine); a system call of any other ABI kills."""
    abis = ABIS.get(machine)
    if abis is None:
        raise SdcError(f"sdc has no seccomp filter for {machine}", hint=f"sdc runs on {', '.join(ABIS)}")
    source: list[_Insn | str] = [(_LD_W_ABS, _ARCH, None, None)]
    source += [(_JEQ_K, abi.arch, f"abi{n}", None) for n, abi in enumerate(abis)]
    source.append((_RET_K, RET_KILL_PROCESS, None, None))
    for n, abi in enumerate(abis):
        source += _abi_block(abi, n)
    return _assemble(source)
