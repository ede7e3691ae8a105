"""What the proxy must pass and refuse, written down from Ollama's API and the README, not
read from ollama_gate/proxy.py: a route dropped from (or added to) the product's constants
must fail a test instead of silently dropping (or gaining) its test."""

# Pass to Ollama after authentication (README "What the proxy does").
ALLOWED = [
    "/",
    "/api/generate",
    "/api/chat",
    "/api/embed",
    "/api/embeddings",
    "/api/tags",
    "/api/show",
    "/api/ps",
    "/api/version",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
]
# One variable segment (a model name): openai's models.retrieve().
ALLOWED_WITH_MODEL = ["/v1/models/gemma3:1b", "/v1/models/nomic-embed-text", "/v1/models/qwen2.5_coder-7b.Q4"]
# Ollama's administrative API: 403 for everyone, with or without a suffix.
ADMIN = ["/api/pull", "/api/push", "/api/delete", "/api/create", "/api/copy", "/api/blobs"]
