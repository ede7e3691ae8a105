"""Pure logic of the images and models concerns."""

import pytest

from ollama_gate.images import archive_filename, missing_archives, normalize_ref, stack_images
from ollama_gate.operations.images import missing_refs
from ollama_gate.operations.models import model_changes, normalize_model, ollama_container
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
    assert stack_images(Settings()) == ["ollama/ollama:0.12.6", "nginx:1.28.0"]
    bearer = Settings(auth_mode="bearer")
    assert stack_images(bearer) == ["ollama/ollama:0.12.6", "openresty/openresty:1.27.1.2-0-bookworm"]


def test_missing_archives(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / archive_filename("nginx:1.28.0")).write_bytes(b"tar")
    settings = Settings(images_source="archive", images_archive_dir="images")
    assert missing_archives(settings, base_dir=str(tmp_path)) == [
        str(tmp_path / "images" / "ollama_ollama_0.12.6.tar"),
    ]
    assert missing_archives(settings, ["nginx:1.28.0"], base_dir=str(tmp_path)) == []
    assert missing_archives(Settings(), base_dir=str(tmp_path)) == []  # registry: nothing needed


def test_model_changes():
    assert model_changes(["gemma3:1b", "llama3.2"], ["llama3.2:latest"]) == (["gemma3:1b"], [])
    assert model_changes(["gemma3"], ["gemma3:latest", "qwen3:0.6b"], prune=True) == ([], ["qwen3:0.6b"])
    assert model_changes(["gemma3:1b"], None, prune=True) == (["gemma3:1b"], [])
    assert normalize_model("hf.co/org/model") == "hf.co/org/model:latest"
    assert normalize_model("hf.co/org/model:Q4_K_M") == "hf.co/org/model:Q4_K_M"


def test_ollama_container():
    assert ollama_container(Settings(stack_project="gate")) == "gate-ollama"
