"""Models in the Ollama container: pulled from a registry, or copied from the operator's models directory; optionally remove the others."""

from __future__ import annotations

import shlex
from io import BytesIO
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, operation

from ollama_gate.facts.models import ModelFiles, OllamaModels
from ollama_gate.model_store import open_store
from ollama_gate.operations.snapshot import fresh, known
from ollama_gate.model_names import model_key
from ollama_gate.operations.util import fail_host


def model_changes(wanted, present, prune=False) -> tuple[list[str], list[str]]:
    """``(to_pull, to_remove)``: the wanted models not present, and (``prune``) the present
    ones not wanted. ``present`` is the OllamaModels fact (``None``: nothing known)."""
    have = {model_key(name): name for name in present or ()}
    want = [model_key(name) for name in wanted]
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
    if isinstance(present, str) or any(model_changes(models, present, prune)):
        # Asked again before acting: `up` may have (re)started Ollama in this run.
        present = fresh(OllamaModels, container=container)
    if isinstance(present, str):
        if host.state.is_executing:
            # Never read "cannot ask" as "no models": that would pull what is there.
            yield from fail_host(f"models: cannot ask Ollama which models it has ({present}); "
                                 "nothing was pulled or removed")
            return
        present = None  # preparing: the container may not run yet; `up` comes first
    to_pull, to_remove = model_changes(models, present, prune)

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


@operation()
def copied(store_path: str, models: list[str], volume: str, stack_dir: str, container: str,
           prune: bool = False):
    """
    Copy models from the operator's models directory or archive into the models volume,
    for hosts that cannot reach a registry: the blobs the host lacks (by digest; each one
    checked with sha256sum on the host before it is moved in), then any manifest that
    differs. Ollama reads manifests from disk, so a copied model is listed and served
    without a restart and without network.

    + store_path: local models directory (``manifests/``, ``blobs/``) or archive of one
    + models: model names, as in ``pulled``
    + volume: the Compose volume on /root/.ollama (``<project>_ollama-models``)
    + stack_dir: the stack directory (uploads are staged in ``<stack_dir>/.models-upload``)
    + container: the Ollama container (for ``prune``)
    + prune: also remove (``ollama rm``) the models that are not in ``models``

    **Example:**

    .. code:: python

        models.copied(
            name="Ensure the models are in place (copied from models_local_path).",
            store_path="models.tar", models=["gemma3:1b"], volume="ollama-gate_ollama-models",
            stack_dir="/opt/ollama-gate", container="ollama-gate-ollama",
        )
    """
    store = open_store(Path(store_path))
    present = host.get_fact(ModelFiles, volume=volume) or {}
    have_blobs = present.get("blobs", {})
    have_manifests = present.get("manifests", {})

    blobs: dict[str, int] = {}
    manifests = []
    for name in models:
        model = store.model(name)
        for blob, size in model.blobs:
            # Content-addressed and moved in only once its sha256 matched: present is complete.
            if blob not in have_blobs:
                blobs[blob] = size
        if have_manifests.get(model.manifest_path) != model.manifest_sha256:
            manifests.append(model)
    to_remove = []
    if prune:
        _, to_remove = model_changes(models, host.get_fact(OllamaModels, container=container), prune=True)

    if not blobs and not manifests and not to_remove:
        host.noop(f"models {', '.join(models)} are already in place")
        return
    if host.state.is_executing:
        size = sum(blobs.values())
        logger.info(f"{host.print_prefix}Copying models: {', '.join(m.name for m in manifests) or 'none'}; "
                    f"{len(blobs)} blob(s) the host lacks, {size / 1e6:.1f} MB")

    staging = f"{stack_dir}/.models-upload"
    mount = f"mp=$(docker volume inspect -f '{{{{.Mountpoint}}}}' {shlex.quote(volume)})"
    yield f"mkdir -p {shlex.quote(staging)} && chmod 700 {shlex.quote(staging)}"
    for blob in sorted(blobs):
        staged = f"{staging}/{blob}"
        yield FileUploadCommand(str(store.blob_path(blob)), staged,
                                remote_temp_filename=host.get_temp_filename(staged))
        hexdigest = blob.removeprefix("sha256-")
        # Blobs are content-addressed: only a file whose sha256 is its name goes in.
        yield (f"cd {shlex.quote(staging)} && echo '{hexdigest}  {blob}' | sha256sum -c --quiet "
               f"&& {mount} && mkdir -p \"$mp/models/blobs\" && mv -f {blob} \"$mp/models/blobs/{blob}\"")
    for index, model in enumerate(manifests):
        staged = f"{staging}/manifest-{index}"
        target_dir, _, leaf = model.manifest_path.rpartition("/")
        yield FileUploadCommand(BytesIO(model.manifest), staged,
                                remote_temp_filename=host.get_temp_filename(staged))
        # Manifests last: Ollama lists a model once its manifest is there, and by then
        # every blob it names is in place.
        yield (f"{mount} && mkdir -p \"$mp/models/{target_dir}\" "
               f"&& mv -f {shlex.quote(staged)} \"$mp/models/{target_dir}/{leaf}\"")
    yield f"rmdir {shlex.quote(staging)}"
    quoted = shlex.quote(container)
    for name in to_remove:
        yield f"docker exec {quoted} ollama rm {shlex.quote(name)}"
