"""One way for a host to fail: operations yield fail_host(message), never raise (a raise
from an operation ends the run for every host)."""

import ast

from ollama_gate import PROJECT_DIR
from ollama_gate.operations import util


def _operations(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
                (isinstance(d, ast.Call) and getattr(d.func, "id", None) == "operation")
                or getattr(d, "id", None) == "operation" for d in node.decorator_list):
            yield node


def test_no_operation_raises():
    found, operations = [], 0
    for path in sorted((PROJECT_DIR / "ollama_gate" / "operations").glob("*.py")):
        for op in _operations(ast.parse(path.read_text())):
            operations += 1
            found += [f"{path.name}:{n.lineno} ({op.name})" for n in ast.walk(op) if isinstance(n, ast.Raise)]
    assert operations >= 15
    assert found == []


def test_the_failing_command_carries_the_message_and_fails(caplog):
    class Host:
        name = "gpu1"

        def log_styled(self, message, fg=None, log_func=None):
            log_func(message)

    with caplog.at_level("ERROR"):
        assert util.host_failed(None, Host(), "proxy_port: port 22 is in use") is False
    assert "proxy_port: port 22 is in use" in caplog.text
