"""Containers are machines: each run is registered with systemd-machined, so that `machinectl
list`, `status`, `terminate`, `login` and `shell` and `systemd-cgls` know it.

The launcher registers PID 1 on every start (systemd's restarts too), so this module is
standard library only: one method call over libsystemd's sd-bus (a dependency of sdc's package),
through ctypes. RegisterMachine, not CreateMachine: the container's unit is systemd's already,
and machined takes it from the leader's cgroup; it forgets the machine when that unit goes, and
`machinectl terminate` stops the unit, which sdc then sees as any other stop.
"""

from __future__ import annotations

import ctypes

BUS = b"org.freedesktop.machine1"
PATH = b"/org/freedesktop/machine1"
IFACE = b"org.freedesktop.machine1.Manager"


class _BusError(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("message", ctypes.c_char_p), ("_need_free", ctypes.c_int)]


def machine_name(container_name: str) -> str:
    """The container's name as machined takes one (a hostname: no '_', which Docker-style
    generated names have)."""
    return container_name.replace("_", "-")


def register(name: str, machine_id: bytes, leader: int, root: str) -> str | None:
    """Register leader (the container's PID 1) as machine name; None, or why it was not (None
    too when machined is not there at all).

    A unit that restarts (Restart=) stays active between its runs, so machined keeps the machine
    of the run that ended, its leader dead: that one, and only where it is our own unit's (machined
    finds the machine of our PID, the launcher's, in the unit's cgroup), is unregistered, so that
    this run's PID 1 is the machine's leader and not a dead (or reused) PID."""
    try:
        lib = ctypes.CDLL("libsystemd.so.0")
    except OSError:
        return None
    bus = ctypes.c_void_p()
    try:
        if lib.sd_bus_open_system(ctypes.byref(bus)) < 0:
            return None
        why = _register(lib, bus, name, machine_id, leader, root)
        if why == EXISTS and _ours(lib, bus, name):
            why = _call(lib, bus, b"UnregisterMachine", b"s", name.encode())[0] or _register(
                lib, bus, name, machine_id, leader, root)
        return None if why in (None, NOT_THERE) else why.decode(errors="replace")
    finally:
        lib.sd_bus_flush_close_unref(bus)


# The errors we look for, by name: machined not installed (systemd-container): nothing to register
# with, and nothing to say; a machine of the name there already.
NOT_THERE = b"org.freedesktop.DBus.Error.ServiceUnknown"
EXISTS = b"org.freedesktop.machine1.MachineExists"
_KNOWN = {NOT_THERE: NOT_THERE, b"org.freedesktop.DBus.Error.NameHasNoOwner": NOT_THERE, EXISTS: EXISTS}


def _register(lib: ctypes.CDLL, bus: ctypes.c_void_p, name: str, machine_id: bytes, leader: int,
              root: str) -> bytes | None:  # fmt: skip
    """RegisterMachine: None, or its error (as _send's)."""
    msg = ctypes.c_void_p()
    try:
        r = lib.sd_bus_message_new_method_call(bus, ctypes.byref(msg), BUS, PATH, IFACE, b"RegisterMachine")
        if r >= 0:
            r = lib.sd_bus_message_append(msg, b"s", name.encode())
        if r >= 0:
            r = lib.sd_bus_message_append_array(msg, ctypes.c_char(b"y"), machine_id, ctypes.c_size_t(len(machine_id)))
        if r >= 0:
            r = lib.sd_bus_message_append(msg, b"ssus", b"sdc", b"container", ctypes.c_uint32(leader), root.encode())
        if r < 0:
            return b"cannot build the RegisterMachine call (error %d)" % -r
        return _send(lib, bus, msg, None)[0]
    finally:
        lib.sd_bus_message_unref(msg)


def _ours(lib: ctypes.CDLL, bus: ctypes.c_void_p, name: str) -> bool:
    """Machine name is our unit's: machined's machine of our own PID (0: the caller's) is it."""
    why, path = _call(lib, bus, b"GetMachineByPID", b"u", ctypes.c_uint32(0), read=b"o")
    named = _call(lib, bus, b"GetMachine", b"s", name.encode(), read=b"o")
    return why is None and named[0] is None and path == named[1]


def _call(lib: ctypes.CDLL, bus: ctypes.c_void_p, method: bytes, types: bytes, *args: object,
          read: bytes | None = None) -> tuple[bytes | None, bytes | None]:  # fmt: skip
    """A Manager method: as _send."""
    msg = ctypes.c_void_p()
    try:
        r = lib.sd_bus_message_new_method_call(bus, ctypes.byref(msg), BUS, PATH, IFACE, method)
        if r >= 0:
            r = lib.sd_bus_message_append(msg, types, *args)
        return (b"cannot build the %s call (error %d)" % (method, -r), None) if r < 0 else _send(lib, bus, msg, read)
    finally:
        lib.sd_bus_message_unref(msg)


def _send(lib: ctypes.CDLL, bus: ctypes.c_void_p, msg: ctypes.c_void_p,
          read: bytes | None) -> tuple[bytes | None, bytes | None]:  # fmt: skip
    """Call msg: (None, the reply's one string of type read, if asked) or (its error, None): the
    error's name where _KNOWN has it, or its message."""
    reply, error = ctypes.c_void_p(), _BusError()
    try:
        if lib.sd_bus_call(bus, msg, ctypes.c_uint64(0), ctypes.byref(error), ctypes.byref(reply)) < 0:
            return _KNOWN.get(error.name) or error.message or error.name or b"the call failed", None
        if read is None:
            return None, None
        value = ctypes.c_char_p()
        if lib.sd_bus_message_read(reply, read, ctypes.byref(value)) < 0:
            return b"cannot read the reply", None
        return None, value.value  # (a copy: value points into reply)
    finally:
        lib.sd_bus_error_free(ctypes.byref(error))
        lib.sd_bus_message_unref(reply)

