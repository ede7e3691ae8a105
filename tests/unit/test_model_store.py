"""The operator-side model store (models_source = "local"): names to manifest paths, what a
store lacks, archives of listed models with their digests checked."""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import replace

import pytest
import yaml

from ollama_gate.compose import render_compose
from ollama_gate.model_store import ModelStoreError, build_archive, manifest_parts, open_store
from ollama_gate.model_names import model_key
from ollama_gate.settings import Settings


def add_model(root, parts, layers: list[bytes]):
    """Write a model in Ollama's layout: blobs by sha256, a manifest naming them."""
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    entries = []
    for data in layers:
        digest = hashlib.sha256(data).hexdigest()
        (root / "blobs" / f"sha256-{digest}").write_bytes(data)
        entries.append({"mediaType": "x", "digest": f"sha256:{digest}", "size": len(data)})
    manifest = {"schemaVersion": 2, "config": entries[0], "layers": entries[1:]}
    path = root.joinpath("manifests", *parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))


@pytest.fixture
def models_dir(tmp_path):
    root = tmp_path / "models"
    add_model(root, ("registry.ollama.ai", "library", "gemma3", "1b"), [b"cfg-g", b"weights-g", b"shared"])
    add_model(root, ("hf.co", "bartowski", "Llama-3.2-1B-Instruct-GGUF", "Q4_K_M"), [b"cfg-h", b"weights-h", b"shared"])
    add_model(root, ("registry.ollama.ai", "library", "other", "latest"), [b"cfg-o", b"weights-o"])
    return root


def test_names_map_to_ollamas_manifest_paths():
    assert manifest_parts("gemma3:1b") == ("registry.ollama.ai", "library", "gemma3", "1b")
    assert manifest_parts("gemma3") == ("registry.ollama.ai", "library", "gemma3", "latest")
    assert manifest_parts("someone/model:q4") == ("registry.ollama.ai", "someone", "model", "q4")
    assert manifest_parts("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M") == (
        "hf.co", "bartowski", "Llama-3.2-1B-Instruct-GGUF", "Q4_K_M")
    assert model_key("HF.co/Bartowski/X:Q4") == model_key("hf.co/bartowski/x:q4")


def test_store_finds_models_case_insensitively_and_names_what_is_missing(models_dir):
    store = open_store(models_dir)
    model = store.model("hf.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_m")
    assert model.manifest_path == "manifests/hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF/Q4_K_M"
    assert len(model.blobs) == 3
    assert store.missing(["gemma3:1b", "llama3.2:1b"]) == [
        ("llama3.2:1b", "no manifest manifests/registry.ollama.ai/library/llama3.2/1b")]
    next((models_dir / "blobs").glob("sha256-*")).unlink()
    assert any("is missing" in why for _, why in store.missing(["gemma3:1b", "other"]))


def test_archive_holds_only_the_listed_models_and_their_blobs(models_dir, tmp_path):
    out = tmp_path / "models.tar"
    files, size = build_archive(models_dir, ["gemma3:1b", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"], out)
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert sorted(n for n in names if n.startswith("manifests/")) == [
        "manifests/hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF/Q4_K_M",
        "manifests/registry.ollama.ai/library/gemma3/1b"]
    assert len([n for n in names if n.startswith("blobs/")]) == 5  # "shared" once, "other" not at all
    assert files == 7
    # The deploy reads the archive like the directory.
    store = open_store(out)
    assert store.missing(["gemma3:1b"]) == [] and store.missing(["other"])


def test_a_damaged_blob_never_goes_into_an_archive(models_dir, tmp_path):
    blob = open_store(models_dir).model("gemma3:1b").blobs[1][0]
    (models_dir / "blobs" / blob).write_bytes(b"not what the digest says")
    with pytest.raises(ModelStoreError, match="does not match its digest"):
        build_archive(models_dir, ["gemma3:1b"], tmp_path / "x.tar")
    assert not (tmp_path / "x.tar").exists()


def test_an_archive_of_something_else_is_refused(tmp_path):
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        (tmp_path / "etc").write_text("x")
        tar.add(tmp_path / "etc", arcname="../etc")
    with pytest.raises(ModelStoreError, match="not an archive of a models directory"):
        open_store(bad)


def test_local_models_get_an_internal_network():
    local = yaml.safe_load(render_compose(replace(Settings(), models_source="local"), host_memory_mb=8000))
    assert local["networks"]["backend-internal"] == {"internal": True}
    assert local["services"]["ollama"]["networks"] == ["backend-internal"]
    assert local["services"]["proxy"]["networks"] == ["backend-internal", "frontend"]
    registry = yaml.safe_load(render_compose(Settings(), host_memory_mb=8000))
    assert registry["networks"] == {"backend": {}}
