"""A deploy file named for inspect: pyinfra's operation order reads the same frames, found at once."""

from __future__ import annotations

import inspect
import sys

from ollama_gate.operations.util import known_to_inspect

SOURCE = """
def where():
    frame = inspect.currentframe()
    return inspect.getmodule(frame, frame.f_code.co_filename), [(i.filename, i.lineno) for i in inspect.stack()[:2]]

first = where()
known_to_inspect(__file__)
second = where()
"""


def test_inspect_finds_the_deploy_file_as_a_module_and_reads_the_same_frames(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deploy.py").write_text(SOURCE)
    # As pyinfra runs a deploy file: compiled under the name given on its command line.
    data = {"__file__": "deploy.py", "inspect": inspect, "known_to_inspect": known_to_inspect}
    name = f"__ollama_gate_deploy__:{tmp_path / 'deploy.py'}"
    try:
        exec(compile(SOURCE, "deploy.py", "exec"), data)
        module_before, frames_before = data["first"]
        module_after, frames_after = data["second"]
        assert module_before is None  # found by no scan of sys.modules: scanned for every frame
        assert module_after is sys.modules[name]
        assert module_after.__file__ == str(tmp_path / "deploy.py")
        assert [line for _, line in frames_before] == [4, 6] and [line for _, line in frames_after] == [4, 8]
        assert {name for name, _ in frames_before + frames_after} == {"deploy.py"}
        known_to_inspect("deploy.py")  # once per run, whatever the number of hosts
        assert sys.modules[name] is module_after
    finally:
        sys.modules.pop(name, None)
