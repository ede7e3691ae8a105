"""Each default is written once, in group_data/all.py: the Settings take theirs from it, and
the README's settings tables must show every setting with that same default."""

import json
import re

from ollama_gate import PROJECT_DIR
from ollama_gate.settings import DEFAULTS, SETTING_NAMES, Settings

README = (PROJECT_DIR / "README.md").read_text()


def shown(value) -> str:
    """A default as the README writes it (Python literal, strings in double quotes)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {shown(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def readme_defaults() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in README.splitlines():
        m = re.match(r"^\| `([a-z][a-z0-9_]*)` \| ([^|]*) \|", line)
        if m:
            rows.setdefault(m.group(1), []).append(m.group(2).strip().strip("`"))
    return rows


def test_group_data_all_names_every_setting_and_nothing_else():
    assert sorted(DEFAULTS) == sorted(SETTING_NAMES)


def test_settings_take_their_defaults_from_group_data_all():
    defaults = Settings()
    for name in SETTING_NAMES:
        value = DEFAULTS[name]
        assert getattr(defaults, name) == (tuple(value) if isinstance(value, list) else value), name


def test_the_readme_shows_every_setting_once_with_its_default():
    rows = readme_defaults()
    problems = []
    for name in SETTING_NAMES:
        cells = rows.get(name, [])
        if len(cells) != 1:
            problems.append(f"{name}: {len(cells)} README rows")
        elif cells[0] != shown(DEFAULTS[name]):
            problems.append(f"{name}: README shows {cells[0]}, group_data/all.py has {shown(DEFAULTS[name])}")
    assert problems == []
    assert not set(rows) - set(SETTING_NAMES), "README rows of settings that do not exist"


def test_shown_writes_defaults_as_the_readme_does():
    assert [shown(v) for v in ("basic", 8880, True, [], ["gemma3:1b"], {})] == [
        '"basic"', "8880", "True", "[]", '["gemma3:1b"]', "{}"]


def test_each_choice_tuple_is_defined_once():
    import ast

    from ollama_gate import settings

    choices = {frozenset(t) for t in (settings.TLS_MODES, settings.IMAGE_SOURCES, settings.DOCKER_INSTALL_METHODS,
                                      settings.MODEL_SOURCES, settings.HTPASSWD_SCHEMES, settings.AUTH_MODES)}
    found = []
    for path in (PROJECT_DIR / "ollama_gate").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) > 1 and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                if frozenset(e.value for e in node.elts) in choices and path.name != "settings.py":
                    found.append(f"{path.relative_to(PROJECT_DIR)}:{node.lineno}")
    assert found == []


def test_the_proxy_holds_settings_to_the_settings_own_checks():
    from dataclasses import replace

    import pytest

    from ollama_gate import proxy
    from ollama_gate.settings import setting_error

    # A realm the settings refuse (proxy.py once had a wider pattern of its own).
    assert setting_error("auth_realm", "gate:1") is not None
    with pytest.raises(ValueError, match="auth_realm"):
        proxy.render_proxy_config(replace(Settings(), auth_realm="gate:1"))
