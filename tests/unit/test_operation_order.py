"""The operation order from the frames themselves is pyinfra's own, and is used only while
pyinfra's function is the one it mirrors."""

from __future__ import annotations

import importlib
import os
import types

import pytest

import pyinfra
from ollama_gate.operations import util
from ollama_gate.operations.util import operation_order, use_operation_order

PYINFRA_UTIL = importlib.import_module("pyinfra.api.util")
PYINFRA_OPERATION = importlib.import_module("pyinfra.api.operation")
THEIRS = PYINFRA_UTIL.get_operation_order_from_stack

# A deploy file as pyinfra runs it (compiled under the name given on its command line): it
# calls its own function, a helper of another file, and code of pyinfra's own directory.
DEPLOY = """
def in_deploy(depth):
    return helper(depth)

first = helper(0)
second = in_deploy(1)
third = [in_deploy(n) for n in (2, 3)]
fourth = through_pyinfra(lambda: helper(4))
"""

HELPER = """
def helper(depth):
    if depth:
        return helper(depth - 1)
    return both(state)
"""

PYINFRA_CODE = """
def through_pyinfra(call):
    return call()
"""


def both(state):
    # Both on one line, so this frame's line is the same for each.
    return THEIRS(state), operation_order(state)


def _run_deploy(state, deploy_name="deploy.py"):
    helper_ns = {"both": both, "state": state}
    exec(compile(HELPER, "/somewhere/ollama_gate/helper.py", "exec"), helper_ns)
    pyinfra_ns: dict = {}
    exec(compile(PYINFRA_CODE, os.path.join(PYINFRA_UTIL.PYINFRA_INSTALL_DIR, "fake_module.py"), "exec"),
         pyinfra_ns)
    data = {"helper": helper_ns["helper"], "through_pyinfra": pyinfra_ns["through_pyinfra"]}
    exec(compile(DEPLOY, deploy_name, "exec"), data)
    return [data["first"], data["second"], *data["third"], data["fourth"]]


@pytest.mark.parametrize("is_cli", [True, False])
@pytest.mark.parametrize("deploy_filename", ["deploy.py", None, "other.py"])
def test_the_order_from_the_frames_is_pyinfras_own(monkeypatch, is_cli, deploy_filename):
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    state = types.SimpleNamespace(current_deploy_filename=deploy_filename, current_op_file_number=3)
    results = _run_deploy(state)
    for theirs, ours in results:
        assert ours == theirs
    # The calls differ, so a list that ignored the frames could not pass.
    assert len({tuple(theirs) for theirs, _ in results}) == len(results) or deploy_filename == "other.py"
    if deploy_filename == "deploy.py":
        # File number, the deploy file's line, then the helper's lines (pyinfra's left out).
        assert results[0][0][:2 if is_cli else 1] == ([3, 5] if is_cli else [5])
        assert results[3][0][: 2 if is_cli else 1] == ([3, 7] if is_cli else [7])


def test_used_only_while_pyinfra_is_the_one_it_mirrors(monkeypatch):
    monkeypatch.setattr(PYINFRA_OPERATION, "get_operation_order_from_stack", THEIRS)
    # The pyinfra this project pins: its function is the mirrored one, so it is replaced.
    assert use_operation_order() is True
    assert PYINFRA_OPERATION.get_operation_order_from_stack is operation_order
    assert use_operation_order() is True  # once is enough; again changes nothing

    # A pyinfra whose function reads differently keeps its own.
    monkeypatch.setattr(PYINFRA_OPERATION, "get_operation_order_from_stack", THEIRS)
    monkeypatch.setattr(util, "_ORDER_SOURCE_SHA256", "0" * 64)
    assert use_operation_order() is False
    assert PYINFRA_OPERATION.get_operation_order_from_stack is THEIRS

    # So does one whose operations were given another function by someone else.
    def someone_elses(state):
        return []

    monkeypatch.undo()  # the source hash as it is again
    monkeypatch.setattr(PYINFRA_OPERATION, "get_operation_order_from_stack", someone_elses)
    assert use_operation_order() is False
    assert PYINFRA_OPERATION.get_operation_order_from_stack is someone_elses
