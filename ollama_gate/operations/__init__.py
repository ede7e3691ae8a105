"""Operations ollama-gate runs on its hosts, each beside its facts module of the same name."""
