"""Model naming: Ollama's model names, which registries they may come from, and how two
spellings of one model compare (the models setting, the verification, the model store)."""

from __future__ import annotations

import re
from typing import Any


# Ollama's naming rules (types/model/name.go): [host/][namespace/]model[:tag], where the
# default host is registry.ollama.ai and the default namespace "library".
_MODEL_PART = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}"
_MODEL_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
_MODEL_RE = re.compile(rf"^(?:(?P<host>[^/]+)/)??(?:(?P<ns>{_MODEL_PART})/)?(?P<model>{_MODEL_PART})(?::(?P<tag>{_MODEL_TAG}))?$")
OLLAMA_REGISTRY = "registry.ollama.ai"
# Registries Ollama pulls from by name: its own, and Hugging Face's GGUF repositories
# (`ollama pull hf.co/<user>/<repo>:<quantization>`, docs/import.md).
MODEL_HOSTS = (OLLAMA_REGISTRY, "hf.co", "huggingface.co")


def model_name_error(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__} {value!r}"
    match = _MODEL_RE.match(value)
    if not match:
        return f"{value!r} is not a model name Ollama accepts ([namespace/]model[:tag])"
    host, ns = match["host"], match["ns"]
    if host is None and ns and ("." in ns or ":" in value.split("/")[0]):
        host, ns = ns, None
    if host is not None and host not in MODEL_HOSTS:
        return (f"{value!r} names the registry host {host!r}; models come from "
                f"{', '.join(MODEL_HOSTS)}")
    if host is not None and host != OLLAMA_REGISTRY and not ns:
        return f"{value!r} must be {host}/<user>/<repository>[:<quantization>]"
    return None


def model_key(name: str) -> str:
    """What two spellings of one model compare by: Ollama matches names case-insensitively."""
    return normalize_model(name).lower()


def normalize_model(name: str) -> str:
    """How `ollama list` and /api/tags name a model: without the default registry and namespace, with a tag."""
    for prefix in ("registry.ollama.ai/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name
