"""Facts about the models an Ollama container holds."""

from __future__ import annotations

import shlex

from typing_extensions import override

from pyinfra.api import FactBase


class OllamaModels(FactBase):
    """
    Returns the names of the models in an Ollama container, as ``ollama list`` prints them
    (``NAME  ID  SIZE  MODIFIED`` columns). ``None`` when the container is missing or Ollama
    does not answer; an empty list when Ollama answers and holds no model.

    + container: name of the container running Ollama

    .. code:: python

        ["gemma3:1b", "llama3.2:latest"]
    """

    @override
    def requires_command(self, container: str) -> str:
        return "docker"

    @override
    def command(self, container: str) -> str:
        return f"docker exec {shlex.quote(container)} ollama list 2>/dev/null || true"

    @override
    def process(self, output) -> list | None:
        lines = [line for line in output if line.strip()]
        if not lines or lines[0].split()[0] != "NAME":
            return None
        return [line.split()[0] for line in lines[1:]]
