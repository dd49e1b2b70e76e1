"""`python -m sdcontainer`, and `python -I .../sdcontainer/__main__.py` as the units run sdc."""

import os
import sys

if not __package__:
    # Run as a file: find our package beside this file, wherever sdc is installed
    # (a venv, /usr/lib/sdc, a checkout), without relying on the interpreter's path.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if sys.flags.no_site and sys.prefix == "/usr" and os.path.isdir("/usr/lib/python3/dist-packages"):
        sys.path.append("/usr/lib/python3/dist-packages")  # Debian's modules (the package's dependencies)

from sdcontainer.entry import main  # noqa: E402 - after the path set-up above

main()
