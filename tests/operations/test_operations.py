"""Operation fixtures: every tests/operations/<module.op>/<case>.json (args, facts, commands)."""

from pathlib import Path

from pyinfra_testing.operations import make_operation_tests

HERE = Path(__file__).parent

for folder in sorted(p for p in HERE.iterdir() if p.is_dir() and "." in p.name):
    test_class = make_operation_tests("ollama_gate.operations", folder.name, folder)
    test_class.__name__ = "TestOperation_" + folder.name.replace(".", "_")
    globals()[test_class.__name__] = test_class

del test_class  # only the named copies above are collected
