"""The launcher's command: `python -I -S …/sdcontainer/launcher_entry.py ARGS` (see launcher.py).

A file run as a script is compiled on every start (~3 ms for the launcher on the benchmark's VM);
a module is imported from its cached bytecode. So this is all the interpreter compiles on a
container's start and at its ExecStopPost; the launcher itself is imported."""

import os
import sys

# -I leaves the script's directory off the path, and -S site: find our package beside this file.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sdcontainer import protocol  # noqa: E402

# A detached container's ExecStopPost (`--exited BUNDLE`) while `sdc rm -f` removes it: how it
# ended is what rm left (protocol.REMOVING), made its state.json before the unit goes down, and
# nothing else imported: the launcher's import is most of this process's time otherwise, paid by
# every container of an `rm -f` of many. Only where systemd says a SIGKILL ended PID 1 (an exit of
# its own just before rm's kill is recorded as any is) and the mark is rm's of now (not one an
# interrupted rm left: protocol.REMOVING_FRESH).
if len(sys.argv) == 3 and sys.argv[1] == "--exited" and os.environ.get("EXIT_CODE") == "killed" \
        and os.environ.get("EXIT_STATUS") == "KILL":  # fmt: skip
    import time

    mark = os.path.join(sys.argv[2], protocol.REMOVING)
    try:
        if time.time() - os.stat(mark).st_mtime < protocol.REMOVING_FRESH:
            os.rename(mark, os.path.join(sys.argv[2], protocol.STATE))
            sys.exit(0)
    except OSError:
        pass  # not being removed: recorded as any end is

from sdcontainer.launcher import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
