"""The launcher's command: `python -I -S …/sdcontainer/launcher_entry.py ARGS` (see launcher.py).

A file run as a script is compiled on every start (~3 ms for the launcher on the benchmark's VM);
a module is imported from its cached bytecode. So this is all the interpreter compiles on a
container's start and at its ExecStopPost; the launcher itself is imported."""

import os
import sys

# -I leaves the script's directory off the path, and -S site: find our package beside this file.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sdcontainer.launcher import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
