"""Use cases: what each sdc command does, in terms of the store and systemd.

A module by noun (images, run, containers), each a set of functions over one
Context. No rendering and no exit codes here: functions return data or raise
SdcError.
"""

from sdcontainer.api.context import Clock, Context, require_root

__all__ = ["Clock", "Context", "require_root"]
