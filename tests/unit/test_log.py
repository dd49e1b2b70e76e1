"""sdc's loggers: logging is imported only for a message that can be shown."""

from __future__ import annotations

import subprocess
import sys


def python(code: str) -> subprocess.CompletedProcess[str]:
    prelude = "import sys; from sdcontainer import log; x = log.get_logger('sdcontainer.x')\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, check=True)


def test_debug_and_info_cost_nothing_until_logging_is_configured() -> None:
    proc = python("x.debug('d %s', 1); x.info('i'); print('logging' in sys.modules)")
    assert (proc.stdout, proc.stderr) == ("False\n", "")


def test_a_warning_is_shown_in_sdcs_format() -> None:
    proc = python("x.warning('careful: %s', 'this'); x.debug('not shown'); x.error('bad')")
    assert proc.stderr == "sdc: WARNING: careful: this\nsdc: ERROR: bad\n"


def test_debug_shows_everything() -> None:
    proc = python("log.configure(debug=True); x.debug('d %d', 1); x.info('i'); x.warning('w')")
    assert proc.stderr == "sdc: DEBUG: d 1\nsdc: INFO: i\nsdc: WARNING: w\n"
