"""Helpers shared by the operations."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import FunctionCommand
from pyinfra.api.output import format_text


def _failed(state, host) -> bool:
    return False


def fail_host(message: str):
    """Fail this host's operation with ``message`` while the other hosts go on.

    Raising OperationError from an operation ends the whole run, so the other hosts'
    results are never seen; a command that fails marks only this host failed (and the
    run's exit status non-zero). Use as ``yield from fail_host("...")``.
    """
    logger.error(f"{host.print_prefix}{format_text(message, fg='red')}")
    yield FunctionCommand(_failed, (), {})
