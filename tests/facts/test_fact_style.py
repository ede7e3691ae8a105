"""The project's facts in one style, pyinfra's: typed FactBase[...], @override on what they
implement, a docstring that starts with what the fact returns, shell arguments quoted with
shlex.quote (what pyinfra's QuoteString does) rather than by hand."""

import ast
import re

from ollama_gate import PROJECT_DIR

FACTS = sorted((PROJECT_DIR / "ollama_gate" / "facts").glob("*.py"))


def _facts():
    for path in FACTS:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and any("FactBase" in ast.unparse(b) for b in node.bases):
                yield path, node


def test_every_fact_is_typed_overrides_and_says_what_it_returns():
    problems, count = [], 0
    for path, cls in _facts():
        count += 1
        where = f"{path.name}:{cls.name}"
        if not any(ast.unparse(b).startswith("FactBase[") for b in cls.bases):
            problems.append(f"{where}: not FactBase[...]")
        if not (ast.get_docstring(cls) or "").startswith("Returns"):
            problems.append(f"{where}: docstring does not start with Returns")
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef) and fn.name in ("command", "process", "requires_command") \
                    and "override" not in [ast.unparse(d) for d in fn.decorator_list]:
                problems.append(f"{where}.{fn.name}: no @override")
    assert count >= 15
    assert problems == []


def test_no_fact_quotes_an_argument_by_hand():
    hand = re.compile(r"""'\{[a-z_]+\}'""")  # '{stack_dir}' inside an f-string
    found = [f"{p.name}:{n}" for p in FACTS for n, line in enumerate(p.read_text().splitlines(), 1)
             if hand.search(line)]
    assert found == []
