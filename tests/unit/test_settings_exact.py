"""Small pieces of the settings module whose exact output other code relies on."""

from pathlib import Path

import pytest

from ollama_gate.model_names import normalize_model
from ollama_gate.settings import ConfigError, resolve_local_path, settings_from_data


def test_config_error_lists_every_problem_on_its_own_line():
    assert str(ConfigError(["a: bad", "b: worse"])) == "  - a: bad\n  - b: worse"
    assert ConfigError(["x"]).errors == ["x"]


def test_model_names_as_ollama_lists_them():
    assert normalize_model("gemma3") == "gemma3:latest"
    assert normalize_model("gemma3:1b") == "gemma3:1b"
    assert normalize_model("library/gemma3:1b") == "gemma3:1b"
    assert normalize_model("registry.ollama.ai/library/gemma3") == "gemma3:latest"
    assert normalize_model("someone/model") == "someone/model:latest"
    # A port in the registry part is not a tag.
    assert normalize_model("localhost:5000/model") == "localhost:5000/model:latest"


def test_local_paths_resolve_against_the_base_directory(tmp_path):
    assert resolve_local_path("tls/gate.crt", tmp_path) == tmp_path / "tls" / "gate.crt"
    assert resolve_local_path("/etc/gate.crt", tmp_path) == Path("/etc/gate.crt")
    assert resolve_local_path("~/gate.crt", tmp_path) == Path.home() / "gate.crt"


@pytest.mark.parametrize("value", [{}, {"OLLAMA_NUM_PARALLEL": 1}, {"OLLAMA_KEEP_ALIVE": "1h", "_X9": ""},
                                   {"A" * 64: "x" * 1024}, {"OLLAMA_ORIGINS": "http://a b, c='d'"}])
def test_ollama_environment_accepted(value):
    assert settings_from_data({"ollama_environment": value}).ollama_environment == value


@pytest.mark.parametrize("value,error", [
    ([("A", "1")], "must be a dict of environment variables, got list"),
    ({"lower": "1"}, "'lower' is not an environment variable name (A-Z, 0-9, _)"),
    ({"9LIVES": "1"}, "'9LIVES' is not an environment variable name (A-Z, 0-9, _)"),
    ({"A" * 65: "1"}, f"'{'A' * 65}' is not an environment variable name (A-Z, 0-9, _)"),
    ({1: "1"}, "1 is not an environment variable name (A-Z, 0-9, _)"),
    ({"A-B": "1"}, "'A-B' is not an environment variable name (A-Z, 0-9, _)"),
    ({"A": True}, None), ({"A": 1.5}, None), ({"A": None}, None), ({"A": "$HOME"}, None),
    ({"A": 'say "hi"'}, None), ({"A": "a\\b"}, None), ({"A": "two\nlines"}, None), ({"A": "x\x7f"}, None),
    ({"A": "x" * 1025}, None),
])
def test_ollama_environment_refused(value, error):
    with pytest.raises(ConfigError) as exc:
        settings_from_data({"ollama_environment": value})
    assert exc.value.errors == [f"ollama_environment: {error or ''}" if error else
                                "ollama_environment: the value of A must be a number or one line of text without "
                                "quotes, backslashes or $ (Compose would read those)"]


@pytest.mark.parametrize("value", ["/opt/Gate", "/srv/ollama-gate_2", "/a.b/c"])
def test_stack_dir_accepted(value):
    assert settings_from_data({"stack_dir": value}).stack_dir == value


@pytest.mark.parametrize("value", ["/opt/..", "/opt/.", "/opt/../etc", "/./opt", "//", "/opt/ga te", "opt"])
def test_stack_dir_refused(value):
    with pytest.raises(ConfigError) as exc:
        settings_from_data({"stack_dir": value})
    assert exc.value.errors[0].startswith("stack_dir: ")
