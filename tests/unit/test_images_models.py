"""Pure logic of the images and models concerns."""

import pytest

from ollama_gate.images import normalize_ref
from ollama_gate.operations.images import missing_refs
from ollama_gate.compose import container_name
from ollama_gate.operations.models import model_changes
from ollama_gate.model_names import normalize_model
from ollama_gate.settings import Settings


@pytest.mark.parametrize(
    ("ref", "normal"),
    [("nginx:1.28.0", "nginx:1.28.0"),
     ("docker.io/library/nginx:1.28.0", "nginx:1.28.0"),
     ("docker.io/ollama/ollama:0.12.6", "ollama/ollama:0.12.6"),
     ("nginx", "nginx:latest"),
     ("localhost:5000/stand-in", "localhost:5000/stand-in:latest"),
     ("ollama/ollama@sha256:abc", "ollama/ollama@sha256:abc")],
)
def test_normalize_ref(ref, normal):
    assert normalize_ref(ref) == normal


def test_missing_refs_keeps_order_and_spelling():
    present = ["nginx:1.28.0", "ollama/ollama@sha256:abc"]
    refs = ["ollama/ollama:0.12.6", "docker.io/library/nginx:1.28.0", "ollama/ollama@sha256:abc"]
    assert missing_refs(refs, present) == ["ollama/ollama:0.12.6"]
    assert missing_refs(refs, None) == refs


def test_stack_images_follow_the_auth_mode():
    assert Settings().images == ("ollama/ollama:0.12.6", "nginx:1.28.0")
    bearer = Settings(auth_mode="bearer")
    assert bearer.images == ("ollama/ollama:0.12.6", "openresty/openresty:1.27.1.2-0-bookworm")


def test_model_changes():
    assert model_changes(["gemma3:1b", "llama3.2"], ["llama3.2:latest"]) == (["gemma3:1b"], [])
    assert model_changes(["gemma3"], ["gemma3:latest", "qwen3:0.6b"], prune=True) == ([], ["qwen3:0.6b"])
    assert model_changes(["gemma3:1b"], None, prune=True) == (["gemma3:1b"], [])
    assert normalize_model("hf.co/org/model") == "hf.co/org/model:latest"
    assert normalize_model("hf.co/org/model:Q4_K_M") == "hf.co/org/model:Q4_K_M"


def test_container_names_follow_the_project():
    assert container_name(Settings(stack_project="gate"), "ollama") == "gate-ollama"


def test_default_registry_spellings_are_the_same_model():
    # Accepted by the settings, listed by `ollama list` as gemma3:1b: never pulled again.
    for name in ("gemma3:1b", "library/gemma3:1b", "registry.ollama.ai/library/gemma3:1b"):
        assert model_changes([name], ["gemma3:1b"]) == ([], [])
