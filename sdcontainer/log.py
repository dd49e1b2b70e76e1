"""sdc's loggers: the logging module, imported at the first message that can be shown.

Importing logging costs every command ~13 ms here (it brings traceback, threading,
string and more), and most commands log nothing. Library modules take
`log = get_logger(__name__)` and call it as a logging.Logger. Debug and info
messages need logging configured, which only the CLI's --debug does (it calls
configure, importing logging first): until logging is imported they go nowhere,
unformatted, at no cost. A warning or an error imports logging and is shown in
sdc's format, or in whatever format the CLI configured.
"""

from __future__ import annotations

import sys

FORMAT = "sdc: %(levelname)s: %(message)s"
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging


LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "panic")  # Podman's --log-level


def configure(*, debug: bool, level: str | None = None) -> None:
    import logging

    named = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
             "warning": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL, "panic": logging.CRITICAL}
    chosen = logging.DEBUG if debug else named.get(level or "", logging.WARNING)
    logging.basicConfig(level=chosen, format=FORMAT)


class Logger:
    """The part of logging.Logger sdc uses, handing each message over to the real one."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _shown(self) -> logging.Logger:
        import logging

        if not logging.getLogger().handlers:  # nothing configured: sdc's format, not logging's bare one
            configure(debug=False)
        return logging.getLogger(self.name)

    def _if_configured(self) -> logging.Logger | None:
        logging = sys.modules.get("logging")
        return logging.getLogger(self.name) if logging is not None else None

    def debug(self, msg: str, *args: object) -> None:
        if (logger := self._if_configured()) is not None:
            logger.debug(msg, *args)

    def info(self, msg: str, *args: object) -> None:
        if (logger := self._if_configured()) is not None:
            logger.info(msg, *args)

    def warning(self, msg: str, *args: object) -> None:
        self._shown().warning(msg, *args)

    def error(self, msg: str, *args: object) -> None:
        self._shown().error(msg, *args)


def get_logger(name: str) -> Logger:
    return Logger(name)
