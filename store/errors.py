"""Domain errors. `commands/` maps them to what the user sees in one place (commands/boundary.py)."""

from __future__ import annotations


class DomainError(Exception):
    """Base: the message is safe to show to the person who asked."""


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does (both read the same)."""


class NotAllowed(DomainError):
    """The caller has no role that permits this."""


class Conflict(DomainError):
    """The state forbids it now (already approved, already executed …)."""


class Invalid(DomainError):
    """Input that cannot be accepted; `field` names the form field (block id) when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
