"""Small pieces of the settings module whose exact output other code relies on."""

from pathlib import Path

from ollama_gate.model_names import normalize_model
from ollama_gate.settings import ConfigError, resolve_local_path


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
