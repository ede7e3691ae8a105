"""Fact fixtures: every tests/facts/<module.Fact>/<case>.json (command, output, expected fact)."""

from pathlib import Path

from pyinfra_testing.facts import make_fact_tests

HERE = Path(__file__).parent

for folder in sorted(p for p in HERE.iterdir() if p.is_dir() and "." in p.name):
    test_class = make_fact_tests("ollama_gate.facts", folder.name, folder)
    test_class.__name__ = "TestFact_" + folder.name.replace(".", "_")
    globals()[test_class.__name__] = test_class

del test_class  # only the named copies above are collected
