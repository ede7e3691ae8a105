"""Pull the configured models into the Ollama container; optionally remove the others."""

from __future__ import annotations

import shlex

from pyinfra import host, logger
from pyinfra.api import operation

from ollama_gate.facts.models import OllamaModels
from ollama_gate.operations.snapshot import fresh, known
from ollama_gate.settings import normalize_model


def model_changes(wanted, present, prune=False) -> tuple[list[str], list[str]]:
    """``(to_pull, to_remove)``: the wanted models not present, and (``prune``) the present
    ones not wanted. ``present`` is the OllamaModels fact (``None``: nothing known)."""
    have = {normalize_model(name): name for name in present or ()}
    want = [normalize_model(name) for name in wanted]
    to_pull = []
    for name, normalized in zip(wanted, want):
        if normalized not in have and name not in to_pull:
            to_pull.append(name)
    to_remove = [name for normalized, name in have.items() if normalized not in want] if prune else []
    return to_pull, to_remove


@operation()
def pulled(container: str, models: list[str], prune: bool = False):
    """
    Pull the models that are missing from the Ollama container, one ``ollama pull`` each.

    + container: the Ollama container (``compose.container_name(settings, "ollama")``)
    + models: model names (``models``); ``gemma3`` means ``gemma3:latest``
    + prune: also remove (``ollama rm``) the models that are not in ``models``

    **Example:**

    .. code:: python

        models.pulled(
            name="Ensure the configured models are pulled.",
            container="ollama-gate-ollama",
            models=["gemma3:1b"],
        )
    """

    present = known(OllamaModels, container=container)
    to_pull, to_remove = model_changes(models, present, prune)
    if to_pull or to_remove:
        # Asked again before pulling: `up` may have (re)started Ollama in this run.
        to_pull, to_remove = model_changes(models, fresh(OllamaModels, container=container), prune)

    if not to_pull and not to_remove:
        host.noop(f"models {', '.join(models)} are already pulled")
        return

    if host.state.is_executing:
        if to_pull:
            logger.info(f"{host.print_prefix}Pulling models: {', '.join(to_pull)}")
        if to_remove:
            logger.info(f"{host.print_prefix}Removing models: {', '.join(to_remove)}")

    quoted = shlex.quote(container)
    for name in to_pull:
        yield f"docker exec {quoted} ollama pull {shlex.quote(name)}"
    for name in to_remove:
        yield f"docker exec {quoted} ollama rm {shlex.quote(name)}"
