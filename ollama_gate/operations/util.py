"""Helpers shared by the operations: the one way an operation fails its host, and an
operation order pyinfra computes cheaply."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
import types

import pyinfra
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
    """Make the operation order pyinfra computes for each operation call cheap.

    The pyinfra CLI orders a deploy's operations by their call stack: each operation call
    runs ``inspect.stack()`` and ``getframeinfo`` on every frame, which reads each frame's
    source file, module and code positions: ~0.75 ms of CPU per operation call, ~18 ms per
    host for deploy.py's operations, paid host after host while pyinfra prepares them (and
    ~25 ms more for the first call, which maps all of ``sys.modules`` to their files).

    - While pyinfra's function is the one of pyinfra 3.10 (``_ORDER_SOURCE_SHA256``: its
      source, hashed), ``operation_order`` takes its place: the same list from the frames
      themselves (a test checks both agree, and that the pyinfra installed is the one it
      mirrors). Any other pyinfra keeps its own.
    - Either way the deploy file ``path`` gets a name in ``sys.modules``: pyinfra runs it
      with ``exec``, so it is no imported module and ``inspect.getmodule`` would scan all
      of ``sys.modules`` for each of its frames; named, it is found at once.
    """
    use_operation_order()
    file = os.path.abspath(path)  # as inspect names a frame's file
    name = f"__ollama_gate_deploy__:{file}"
    if name not in sys.modules:
        module = types.ModuleType(name, f"{path}, as pyinfra runs it (a name for inspect only)")
        module.__file__ = file
        sys.modules[name] = module


# sha256 of inspect.getsource(pyinfra.api.util.get_operation_order_from_stack), pyinfra 3.10.0.
_ORDER_SOURCE_SHA256 = "f4807f61585570e091fd453c7552d9e2b49329555f07f395a8e8f1d2a398a0b2"


def operation_order(state, _depth: int = 1) -> list[int]:
    """pyinfra 3.10's ``get_operation_order_from_stack`` (pyinfra/api/util.py), from the frames.

    The same list: the operation file's number (CLI), then the line of every frame from the
    outermost frame of the deploy file inwards, leaving out pyinfra's own frames. pyinfra
    takes each frame's file and line from ``inspect.getframeinfo``, which for a frame of
    Python source gives its code's file name and ``f_lineno``: read here directly, without
    reading any source. ``_depth``: frames of this call to leave out (this one's own).
    """
    pyinfra_dir = importlib.import_module("pyinfra.api.util").PYINFRA_INSTALL_DIR
    frames = []
    frame = sys._getframe(_depth)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    if state.current_deploy_filename:
        # From the deploy file's outermost frame; none of it: only pyinfra's own frame is
        # left there (its loop ends on the last frame, its own), which it leaves out.
        names = [frame.f_code.co_filename for frame in frames]
        found = state.current_deploy_filename in names
        frames = frames[names.index(state.current_deploy_filename):] if found else []
    lines = [state.current_op_file_number] if pyinfra.is_cli else []
    lines += [f.f_lineno for f in frames if not f.f_code.co_filename.startswith(pyinfra_dir)]
    return lines


def use_operation_order() -> bool:
    """Let pyinfra's operations take ``operation_order`` while pyinfra's own function is the
    one it mirrors (True); else leave pyinfra as it is (False)."""
    util = importlib.import_module("pyinfra.api.util")
    operation = importlib.import_module("pyinfra.api.operation")  # pyinfra.api.operation is a function
    theirs = util.get_operation_order_from_stack
    if operation.get_operation_order_from_stack is operation_order:
        return True
    if operation.get_operation_order_from_stack is not theirs:
        return False
    if hashlib.sha256(inspect.getsource(theirs).encode()).hexdigest() != _ORDER_SOURCE_SHA256:
        return False
    operation.get_operation_order_from_stack = operation_order
    return True


class ContentUnavailable(Exception):
    """Raised by the content function of ``stack.file`` when what the file is made of is
    not there: that host fails with the message (the file is left as it is)."""
