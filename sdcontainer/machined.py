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
# machined not installed (systemd-container): nothing to register with, and nothing to say
ABSENT = (b"org.freedesktop.DBus.Error.ServiceUnknown", b"org.freedesktop.DBus.Error.NameHasNoOwner")


class _BusError(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("message", ctypes.c_char_p), ("_need_free", ctypes.c_int)]


def machine_name(container_name: str) -> str:
    """The container's name as machined takes one (a hostname: no '_', which Docker-style
    generated names have)."""
    return container_name.replace("_", "-")


def register(name: str, machine_id: bytes, leader: int, root: str) -> str | None:
    """Register leader (the container's PID 1) as machine name; None, or why it was not (None
    too when machined is not there at all)."""
    try:
        lib = ctypes.CDLL("libsystemd.so.0")
    except OSError:
        return None
    bus, msg, reply = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    error = _BusError()
    try:
        if lib.sd_bus_open_system(ctypes.byref(bus)) < 0:
            return None
        r = lib.sd_bus_message_new_method_call(bus, ctypes.byref(msg), BUS, PATH, IFACE, b"RegisterMachine")
        if r >= 0:
            r = lib.sd_bus_message_append(msg, b"s", name.encode())
        if r >= 0:
            r = lib.sd_bus_message_append_array(msg, ctypes.c_char(b"y"), machine_id, ctypes.c_size_t(len(machine_id)))
        if r >= 0:
            r = lib.sd_bus_message_append(msg, b"ssus", b"sdc", b"container", ctypes.c_uint32(leader), root.encode())
        if r < 0:
            return f"cannot build the RegisterMachine call (error {-r})"
        if lib.sd_bus_call(bus, msg, ctypes.c_uint64(0), ctypes.byref(error), ctypes.byref(reply)) < 0:
            if error.name in ABSENT:
                return None
            return (error.message or error.name or b"RegisterMachine failed").decode(errors="replace")
        return None
    finally:
        lib.sd_bus_error_free(ctypes.byref(error))
        lib.sd_bus_message_unref(reply)
        lib.sd_bus_message_unref(msg)
        lib.sd_bus_flush_close_unref(bus)
