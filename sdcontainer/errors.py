"""The one error hierarchy: library code raises these, only the CLI renders them."""

from __future__ import annotations


class SdcError(Exception):
    """An error the user can act on: a one-line message and an optional hint."""

    exit_code = 125  # like docker: the tool itself failed

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(SdcError):
    """Bad input: an invalid flag value, name or reference."""


class NotFound(SdcError):
    """An image, container or unit that does not exist."""


class Conflict(SdcError):
    """The thing exists already, or is in a state that forbids the request."""


class SystemdError(SdcError):
    """systemd refused a request or is not reachable."""


class StorageError(SdcError):
    """The container store could not do what was asked."""


class StoreFull(StorageError):
    """The store's file system has no room left (ENOSPC, EDQUOT)."""


class CommandFailed(SdcError):
    """An external command we ran exited non-zero."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {returncode}"
        super().__init__(f"{argv[0]} failed: {detail}")
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
