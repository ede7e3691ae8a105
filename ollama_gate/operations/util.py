"""Helpers shared by the operations: the one way an operation fails its host, and a deploy
file that inspect finds at once."""

from __future__ import annotations

import os
import sys
import types

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


def known_to_inspect(path: str) -> None:
    """Name the deploy file ``path`` in ``sys.modules`` (once), so that ``inspect`` finds it at once.

    The pyinfra CLI orders a deploy's operations by their call stack: each operation call
    runs ``inspect.stack()`` and ``getframeinfo`` on every frame. For a frame of a file that
    is no imported module (deploy.py: pyinfra runs it with ``exec``), ``inspect.getmodule``
    scans all of ``sys.modules`` (~1,000 modules) every time: ~2.5 ms of CPU per operation
    per host, most of what preparing a host costs, paid host after host. Named here, the
    file is mapped by inspect's first scan and found at once after that. The frames, their
    line numbers and so the order of the operations are the same.
    """
    file = os.path.abspath(path)  # as inspect names a frame's file
    name = f"__ollama_gate_deploy__:{file}"
    if name not in sys.modules:
        module = types.ModuleType(name, f"{path}, as pyinfra runs it (a name for inspect only)")
        module.__file__ = file
        sys.modules[name] = module


class ContentUnavailable(Exception):
    """Raised by the content function of ``stack.file`` when what the file is made of is
    not there: that host fails with the message (the file is left as it is)."""
