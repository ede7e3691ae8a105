"""Helpers shared by the operations: the one way an operation fails its host."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import FunctionCommand
from pyinfra.api.output import format_text

from .. import outcomes


def host_failed(state, host, message: str) -> bool:
    """The command ``fail_host`` yields: log ``message`` for this host and fail."""
    host.log_styled(message, fg="red", log_func=logger.error)
    outcomes.failed(host.name, message)  # the run's summary says why
    return False


def fail_host(message: str):
    """The one way an operation fails its host: ``yield from fail_host("setting: why")``.

    The host's operation fails with ``message`` (logged when the failing command runs, and
    as a warning while a run is prepared, so ``--dry`` shows it too), the host takes no
    further operations, the other hosts go on, and the run's exit status is non-zero.
    Raising (OperationError or anything else) from an operation would end the run for
    every host, hiding the others' results, so no operation of ollama-gate raises for a
    host's condition: planning the Docker install, a missing image archive, a port in
    use, another deploy holding the host, a failed verification all come through here.
    The message is an argument of the command, so the operation fixtures assert it.
    """
    if not host.state.is_executing:
        logger.warning(f"{host.print_prefix}{format_text('will fail: ' + message, fg='yellow')}")
    yield FunctionCommand(host_failed, (message,), {})


class ContentUnavailable(Exception):
    """Raised by the content function of ``stack.file`` when what the file is made of is
    not there: that host fails with the message (the file is left as it is)."""
